"""Model selection: choose K and the covariance type by BIC, AIC, ICL or cross-validation."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DegenerateDataError
from ._covariance import COVARIANCE_TYPES, compute_precision_cholesky, precisions_from_cholesky
from ._estimator import ConvergenceWarning, check_random_state
from .mixture import GaussianMixture

logger = logging.getLogger("gmm_apps.core")

CRITERIA = ("bic", "aic", "icl", "cv", "dp")


@dataclass
class SelectionResult:
    """Outcome of :func:`select_model`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate: ``n_components``, ``covariance_type``,
        ``log_likelihood`` (total), ``n_parameters``, ``bic``, ``aic``, ``icl``,
        ``cv_log_likelihood`` (held-out mean per sample, 'cv' only; NaN
        otherwise), ``converged``, ``n_iter``.
    best_model : GaussianMixture
        The chosen candidate, fitted on all the data.
    best_index : int
        Row of ``table`` that was chosen.
    criterion : str
    """

    table: pd.DataFrame
    best_model: GaussianMixture
    best_index: int
    criterion: str
    models: dict = field(default_factory=dict, repr=False)

    @property
    def best(self):
        """The chosen row of ``table`` as a dict."""
        return self.table.iloc[self.best_index].to_dict()

    def ranking(self):
        """Rows of ``table`` from most to least preferred by the criterion.

        Lowest ``bic``/``aic``/``icl`` first ('dp': lowest BIC among the
        covariance types), highest ``cv_log_likelihood`` first for 'cv'; ties
        keep table order and NaN scores come last.

        Returns
        -------
        order : ndarray of shape (n_candidates,)
        """
        return _preference(self.table, self.criterion)


def _preference(table, criterion):
    if criterion == "cv":
        return np.argsort(-table["cv_log_likelihood"].to_numpy(), kind="stable")
    return np.argsort(table["bic" if criterion == "dp" else criterion].to_numpy(), kind="stable")


def fit_metrics(model, X, sample_weight=None):
    """A fitted mixture's figures on its data: log-likelihood, parameters, BIC, AIC, ICL, convergence.

    The one place these figures are computed: model selection tables and the
    reports' model-evaluation block both use it.

    Parameters
    ----------
    model : GaussianMixture
    X : ndarray of shape (n, d)
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    metrics : dict
        ``n_components``, ``covariance_type``, ``log_likelihood`` (total),
        ``n_parameters``, ``bic``, ``aic``, ``icl``, ``converged``, ``n_iter``.
    """
    n = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
    ll = model.score(X, sample_weight=sample_weight) * n
    return {
        "n_components": int(model.n_components),
        "covariance_type": model.covariance_type,
        "log_likelihood": float(ll),
        "n_parameters": int(model.n_parameters()),
        "bic": float(model.bic(X, sample_weight=sample_weight)),
        "aic": float(model.aic(X, sample_weight=sample_weight)),
        "icl": float(model.icl(X, sample_weight=sample_weight)),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
    }


def select_model(
    X,
    *,
    n_components=range(1, 11),
    covariance_types=COVARIANCE_TYPES,
    criterion="bic",
    n_init=1,
    random_state=None,
    sample_weight=None,
    cv=5,
    progress=None,
    **model_params,
):
    """Fit candidate mixtures and choose one.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : iterable of int, default=range(1, 11)
        Candidate K (for 'dp': the largest K the variational fit may use).
    covariance_types : iterable of str, default=('full', 'tied', 'diag', 'spherical')
    criterion : {'bic', 'aic', 'icl', 'cv', 'dp'}, default='bic'
        'bic', 'aic', 'icl': lowest wins; 'cv': highest held-out mean
        log-likelihood over ``cv`` folds wins; 'dp': a Dirichlet-process
        variational mixture per covariance type picks K itself (components
        with weight below 1% dropped), then BIC picks the covariance type.
    n_init : int, default=1
        Restarts per candidate.
    random_state : int, RandomState or None
        Passed to every candidate (and the folds), so results are reproducible.
    sample_weight : array-like of shape (n_samples,), optional
    cv : int, default=5
        Folds for 'cv'.
    progress : callable, optional
        Called as ``progress(done, total)`` after each candidate.
    **model_params
        Other :class:`GaussianMixture` parameters (``tol``, ``reg_covar``,
        ``max_iter``, ``dtype``, ``order_by`` ...).

    Returns
    -------
    result : SelectionResult
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    X = np.asarray(X)
    ks = sorted({int(k) for k in np.atleast_1d(list(n_components))})
    ctypes = list(covariance_types)
    for ct in ctypes:
        if ct not in COVARIANCE_TYPES:
            raise ValueError(f"covariance type must be one of {COVARIANCE_TYPES}, got {ct!r}")
    if not ks or ks[0] < 1:
        raise ValueError(f"n_components must be positive integers, got {ks}")
    n_support = X.shape[0] if sample_weight is None else int(np.count_nonzero(sample_weight))
    ks_ok = [k for k in ks if k <= n_support]
    if not ks_ok:
        raise DegenerateDataError(
            f"every candidate n_components {ks} exceeds the {n_support} rows; use fewer components"
        )
    ks = ks_ok
    seed = random_state
    if isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(2**31 - 1))
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)

    if criterion == "dp":
        return _select_dp(X, max(ks), ctypes, n_init, seed, sw, progress, model_params)

    rows, models = [], {}
    total = len(ks) * len(ctypes)
    done = 0
    for ct in ctypes:
        for k in ks:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m = GaussianMixture(k, covariance_type=ct, n_init=n_init, random_state=seed, **model_params).fit(
                    X, sample_weight=sw
                )
            row = fit_metrics(m, X, sw)
            row["cv_log_likelihood"] = (
                _cv_score(X, sw, k, ct, n_init, seed, cv, model_params) if criterion == "cv" else np.nan
            )
            rows.append(row)
            models[(k, ct)] = m
            done += 1
            logger.debug("candidate K=%d %s: bic %.1f", k, ct, row["bic"])
            if progress is not None:
                progress(done, total)
    table = pd.DataFrame(rows)
    best = int(_preference(table, criterion)[0])
    r = table.iloc[best]
    return SelectionResult(table, models[(int(r.n_components), r.covariance_type)], best, criterion, models)


def _cv_score(X, sw, k, ct, n_init, seed, cv, model_params):
    from sklearn.model_selection import KFold  # start-up time: scikit-learn loads only where it does the work

    scores, weights = [], []
    kf = KFold(
        n_splits=min(cv, X.shape[0]),
        shuffle=True,
        random_state=check_random_state(seed).randint(2**31 - 1) if seed is None else seed,
    )
    for tr, te in kf.split(X):
        if (len(tr) if sw is None else np.count_nonzero(sw[tr])) < max(k, 2):
            return np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = GaussianMixture(k, covariance_type=ct, n_init=n_init, random_state=seed, **model_params)
            m.fit(X[tr], sample_weight=None if sw is None else sw[tr])
        wt = None if sw is None else sw[te]
        scores.append(m.score(X[te], sample_weight=wt))
        weights.append(len(te) if sw is None else float(sw[te].sum()))
    return float(np.average(scores, weights=weights))


def variational_mixture(
    X,
    *,
    max_components=10,
    covariance_type="full",
    weight_threshold=0.01,
    n_init=1,
    random_state=None,
    max_iter=500,
    **model_params,
):
    """Choose K automatically with a Dirichlet-process variational mixture.

    Fits scikit-learn's ``BayesianGaussianMixture`` (stick-breaking prior),
    keeps the components whose weight is at least ``weight_threshold``, and
    refines them with a few EM steps of the core engine.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    max_components : int, default=10
    covariance_type : str, default='full'
    weight_threshold : float, default=0.01
    n_init : int, default=1
    random_state : int or None
    max_iter : int, default=500
    **model_params
        Passed to the core :class:`GaussianMixture` of the refinement.

    Returns
    -------
    model : GaussianMixture
        Fitted core model with the surviving components.
    """
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning  # reason: scikit-learn's VB
    from sklearn.mixture import BayesianGaussianMixture  # reason: scikit-learn's VB, loaded only for 'dp'

    X = np.asarray(X, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        vb = BayesianGaussianMixture(
            n_components=min(max_components, X.shape[0]),
            covariance_type=covariance_type,
            weight_concentration_prior_type="dirichlet_process",
            n_init=n_init,
            max_iter=max_iter,
            random_state=random_state,
        ).fit(X)
    keep = np.flatnonzero(vb.weights_ >= weight_threshold)
    if keep.size == 0:
        keep = np.array([int(np.argmax(vb.weights_))])
    w = vb.weights_[keep] / vb.weights_[keep].sum()
    covs = vb.covariances_ if covariance_type == "tied" else vb.covariances_[keep]

    pc = compute_precision_cholesky(covs, covariance_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = GaussianMixture(
            len(keep),
            covariance_type=covariance_type,
            weights_init=w,
            means_init=vb.means_[keep],
            precisions_init=precisions_from_cholesky(pc, covariance_type),
            random_state=random_state,
            **model_params,
        ).fit(X)
    return m


def _select_dp(X, kmax, ctypes, n_init, seed, sw, progress, model_params):
    if sw is not None:
        raise ValueError("criterion='dp' does not support sample_weight; use 'bic' or 'icl'")
    rows, models = [], {}
    for i, ct in enumerate(ctypes):
        m = variational_mixture(
            X, max_components=kmax, covariance_type=ct, n_init=n_init, random_state=seed, **model_params
        )
        row = fit_metrics(m, X, None)
        row["cv_log_likelihood"] = np.nan
        rows.append(row)
        models[(m.n_components, ct)] = m
        if progress is not None:
            progress(i + 1, len(ctypes))
    table = pd.DataFrame(rows)
    best = int(_preference(table, "dp")[0])
    r = table.iloc[best]
    return SelectionResult(table, models[(int(r.n_components), r.covariance_type)], best, "dp", models)
