"""Initialisation of mixture parameters.

Each method yields initial responsibilities, from which the first parameters
are estimated exactly as scikit-learn's ``GaussianMixture`` does, so that the
same ``random_state`` gives the same start.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "hierarchical")
#: rows Ward clustering runs on for ``init_params="hierarchical"`` (an evenly spaced subset beyond this)
HIERARCHICAL_ROWS = 4000


_WARD_CACHE = {}


def _ward(sub):
    """Ward linkage of ``sub``, remembered for the last few arrays (model selection cuts one tree at many K)."""
    from scipy.cluster.hierarchy import linkage  # start-up time: this part of SciPy loads only when used

    key = (sub.shape, hashlib.sha1(np.ascontiguousarray(sub).view(np.uint8)).hexdigest())
    if key not in _WARD_CACHE:
        if len(_WARD_CACHE) >= 4:
            _WARD_CACHE.pop(next(iter(_WARD_CACHE)))
        _WARD_CACHE[key] = linkage(sub, method="ward")
    return _WARD_CACHE[key]


def initial_responsibilities(X, n_components, *, method, sample_weight, random_state, kmeans_n_init=1):
    """Initial responsibilities for EM.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    method : {'kmeans', 'k-means++', 'random', 'random_from_data'}
        'kmeans' runs one k-means (Lloyd) from k-means++ seeds and takes its
        hard labels; 'k-means++' uses the k-means++ seeds alone; 'random'
        draws uniform responsibilities; 'random_from_data' picks
        ``n_components`` distinct rows (with probability proportional to
        ``sample_weight``) as one-point components; 'hierarchical' cuts a
        Ward agglomerative clustering into ``n_components`` groups (as
        mclust initialises): no randomness at all, so every seed starts
        from the same place.  Beyond :data:`HIERARCHICAL_ROWS` rows it
        clusters an evenly spaced subset and gives every other row the
        group of its nearest group mean.
    sample_weight : ndarray of shape (n_samples,) or None
    random_state : numpy.random.RandomState
        The one source of randomness, passed down from the estimator.
    kmeans_n_init : int, default=1
        k-means runs for 'kmeans' (the lowest inertia wins).

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components), dtype of ``X``
    """
    n_samples = X.shape[0]
    if method == "kmeans":
        from sklearn.cluster import KMeans  # start-up time: only for k-means starts
        from sklearn.exceptions import ConvergenceWarning  # start-up time: as above

        resp = np.zeros((n_samples, n_components), dtype=X.dtype)
        with warnings.catch_warnings():
            # duplicated rows make k-means find fewer clusters than asked; EM
            # then re-seeds the empty components itself, with its own warning
            warnings.simplefilter("ignore", ConvergenceWarning)
            label = (
                KMeans(n_clusters=n_components, n_init=kmeans_n_init, random_state=random_state)
                .fit(X, sample_weight=sample_weight)
                .labels_
            )
        resp[np.arange(n_samples), label] = 1
        return resp
    if method == "random":
        resp = random_state.uniform(size=(n_samples, n_components)).astype(X.dtype)
        resp /= resp.sum(axis=1)[:, None]
        return resp
    if method == "random_from_data":
        p = None
        if sample_weight is not None:
            p = sample_weight / sample_weight.sum()
        indices = random_state.choice(n_samples, size=n_components, replace=False, p=p)
        resp = np.zeros((n_samples, n_components), dtype=X.dtype)
        resp[indices, np.arange(n_components)] = 1
        return resp
    if method == "k-means++":
        from sklearn.cluster import kmeans_plusplus  # start-up time: scikit-learn loads only where it does the work

        resp = np.zeros((n_samples, n_components), dtype=X.dtype)
        _, indices = kmeans_plusplus(X, n_components, sample_weight=sample_weight, random_state=random_state)
        resp[indices, np.arange(n_components)] = 1
        return resp
    if method == "hierarchical":
        from scipy.cluster.hierarchy import fcluster  # start-up time: this part of SciPy loads only when used

        rows = np.unique(np.linspace(0, n_samples - 1, min(n_samples, HIERARCHICAL_ROWS)).round().astype(int))
        sub = np.asarray(X[rows], dtype=np.float64)
        groups = fcluster(_ward(sub), t=n_components, criterion="maxclust") - 1
        found = groups.max() + 1
        means = np.stack([sub[groups == g].mean(axis=0) for g in range(found)])
        d2 = ((np.asarray(X, dtype=np.float64)[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
        label = d2.argmin(axis=1)
        label[rows] = groups
        resp = np.zeros((n_samples, n_components), dtype=X.dtype)
        resp[np.arange(n_samples), label] = 1
        return resp
    raise ValueError(f"init_params must be one of {INIT_METHODS}, got {method!r}")
