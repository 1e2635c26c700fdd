"""Stable component order: sort a fitted model's components, align refits."""

from __future__ import annotations

import numbers

import numpy as np

from ._covariance import full_covariances, precisions_from_cholesky


def permute_components(model, order):
    """Reorder a fitted model's components in place.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    order : array-like of shape (K,)
        ``order[i]`` is the old index of the component that becomes component i.

    Returns
    -------
    model : GaussianMixture
        The same object.
    """
    order = np.asarray(order, dtype=np.int64)
    K = model.weights_.shape[0]
    if sorted(order.tolist()) != list(range(K)):
        raise ValueError(f"order must be a permutation of range({K}), got {order.tolist()}")
    model.weights_ = model.weights_[order]
    model.means_ = model.means_[order]
    if model.covariance_type != "tied":
        model.covariances_ = model.covariances_[order]
        model.precisions_cholesky_ = model.precisions_cholesky_[order]
        model.precisions_ = precisions_from_cholesky(model.precisions_cholesky_, model.covariance_type)
    return model


def component_order(model, order_by):
    """The permutation that sorts components by ``order_by``.

    Parameters
    ----------
    model : GaussianMixture
    order_by : {'weight', 'mean'}, int or callable
        'weight': decreasing weight; 'mean': increasing mean of feature 0;
        int i: increasing mean of feature i; callable ``f(model)`` returning
        K keys: increasing key.  Ties keep the fitted order.

    Returns
    -------
    order : ndarray of shape (K,)
    """
    if order_by == "weight":
        keys = -np.asarray(model.weights_, dtype=np.float64)
    elif order_by == "mean":
        keys = model.means_[:, 0]
    elif isinstance(order_by, numbers.Integral) and not isinstance(order_by, bool):
        keys = model.means_[:, order_by]
    elif callable(order_by):
        keys = np.asarray(order_by(model), dtype=np.float64)
        if keys.shape != model.weights_.shape:
            raise ValueError(f"order_by callable must return {model.weights_.shape[0]} keys, got shape {keys.shape}")
    else:
        raise ValueError(f"unknown order_by {order_by!r}")
    return np.argsort(keys, kind="stable")


def order_components(model, order_by):
    """Sort a fitted model's components in place by ``order_by`` (see :func:`component_order`).

    Returns
    -------
    model : GaussianMixture
    """
    return permute_components(model, component_order(model, order_by))


def _full_covariances(model):
    K, d = model.means_.shape
    return full_covariances(model.covariances_, model.covariance_type, K, d)


def bhattacharyya_distances(model_a, model_b):
    """Bhattacharyya distance between every component of two models.

    Parameters
    ----------
    model_a, model_b : GaussianMixture
        Fitted on the same features.

    Returns
    -------
    D : ndarray of shape (K_a, K_b)
    """
    ma, mb = model_a.means_.astype(np.float64), model_b.means_.astype(np.float64)
    ca, cb = _full_covariances(model_a), _full_covariances(model_b)
    if ma.shape[1] != mb.shape[1]:
        raise ValueError(f"models have {ma.shape[1]} and {mb.shape[1]} features")
    logdet_a = np.linalg.slogdet(ca)[1]
    logdet_b = np.linalg.slogdet(cb)[1]
    D = np.empty((len(ma), len(mb)))
    for i in range(len(ma)):
        for j in range(len(mb)):
            s = 0.5 * (ca[i] + cb[j])
            diff = ma[i] - mb[j]
            D[i, j] = 0.125 * diff @ np.linalg.solve(s, diff) + 0.5 * (
                np.linalg.slogdet(s)[1] - 0.5 * (logdet_a[i] + logdet_b[j])
            )
    return D


def align_components(model, reference):
    """Permute ``model``'s components to best match ``reference``'s, in place.

    Components are matched one-to-one by minimum total Bhattacharyya distance
    (Hungarian algorithm), so a refit keeps the meaning of each label.  When
    the models have different K, unmatched components of ``model`` go last in
    their current order.

    Parameters
    ----------
    model : GaussianMixture
        The new fit.
    reference : GaussianMixture
        The model whose labels to keep.

    Returns
    -------
    order : ndarray of shape (K,)
        The permutation applied (``order[i]`` is the old index now at i).
    """
    D = bhattacharyya_distances(reference, model)
    from scipy.optimize import linear_sum_assignment  # reason: start-up (0.3 s); only alignment needs it

    rows, cols = linear_sum_assignment(D)
    K = model.weights_.shape[0]
    matched = dict(zip(rows.tolist(), cols.tolist()))
    order = [matched[r] for r in sorted(matched)]
    order += [k for k in range(K) if k not in set(order)]
    order = np.asarray(order, dtype=np.int64)
    permute_components(model, order)
    return order


def adjusted_rand_score(labels_a, labels_b):
    """Adjusted Rand index of two labelings of the same rows (1: the same partition).

    The pair-counting form of Hubert & Arabie (1985), as ``sklearn.metrics``
    computes it, without importing scikit-learn.

    Parameters
    ----------
    labels_a, labels_b : array-like of shape (n_samples,)

    Returns
    -------
    ari : float
    """
    a, b = np.asarray(labels_a).ravel(), np.asarray(labels_b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"labelings of {a.size} and {b.size} rows; they must label the same rows")
    n = a.size
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    cells = np.bincount(ia * (ib.max(initial=0) + 1) + ib).astype(np.int64)
    rows = np.bincount(ia).astype(np.int64)
    cols = np.bincount(ib).astype(np.int64)
    squares = int((cells**2).sum())
    same_both = squares - n
    same_a = int((rows**2).sum()) - squares
    same_b = int((cols**2).sum()) - squares
    differ_both = n * n - same_a - same_b - squares
    if same_a == 0 and same_b == 0:
        return 1.0
    num = 2.0 * (same_both * differ_both - same_a * same_b)
    return num / ((same_both + same_a) * (same_a + differ_both) + (same_both + same_b) * (same_b + differ_both))
