"""The Gaussian mixture estimator: settings, checks, scoring and criteria.

Where the rest is: the EM loop and its hooks in :mod:`._em` (the seam a backend
overrides is documented in :mod:`gmm_apps.core.backend`), streaming EM in
:mod:`._streaming`, missing values in :mod:`._incomplete`, threads and chunks
in :mod:`._schedule`, saving and loading in :mod:`gmm_apps.core.persistence`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _covariance as cov
from ._em import EMMixin
from ._estimator import DensityEstimator, check_is_fitted, check_random_state, validate_data
from ._incomplete import MissingValuesMixin
from ._missing import empty_rows
from ._schedule import chunk_rows, parallel_map, resolve_n_jobs
from ._stats import logsumexp_rows, prepare, weighted_log_prob
from ._streaming import StreamingMixin
from .backend import Params
from .init import INIT_METHODS
from .monitor import ConvergenceMonitor


class GaussianMixture(EMMixin, StreamingMixin, MissingValuesMixin, DensityEstimator):
    """Gaussian mixture model fitted by expectation-maximisation.

    The EM loop streams the data in row chunks: each chunk's E-step (log
    densities on the Cholesky factors of the precisions, log-sum-exp,
    responsibilities) and its contribution to the M-step's sufficient
    statistics are computed in one pass, so memory beyond the data stays at a
    chunk's working set.  Parameters follow scikit-learn's ``GaussianMixture``
    and the fitted attributes are interchangeable with it.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component its own covariance matrix; 'tied': one shared
        matrix; 'diag': each its own diagonal; 'spherical': each its own variance.
    tol : float, default=1e-3
        EM stops when the per-sample mean log-likelihood gains less than this.
    reg_covar : float, default=1e-6
        Added to the covariance diagonals so they stay positive definite.
    max_iter : int, default=100
        EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the highest lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hierarchical'}, default='kmeans'
        How initial responsibilities are drawn.
    weights_init : array-like of shape (K,), default=None
    means_init : array-like of shape (K, d), default=None
    precisions_init : array-like, default=None
        Initial precisions, shaped by ``covariance_type`` as ``covariances_``.
    random_state : int, RandomState or None, default=None
        The single source of randomness (initialisation and ``sample``).
    warm_start : bool, default=False
        Start each ``fit`` from the previous solution (``n_init`` is then 1).
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the whole EM.  float32 halves the memory; statistics are
        still summed in float64.
    verbose : int, default=0
        Log per-iteration progress (logger ``gmm_apps.core``) when > 0.
    callback : callable or None, default=None
        Called after every EM iteration of ``fit`` as ``callback(n_iter, lower_bound)``
        (``n_iter`` counts from 1 within each initialisation), e.g. to move a
        progress bar.  It must not change the estimator.
    order_by : {None, 'weight', 'mean'}, int or callable, default=None
        Sort components after fitting: 'weight' by decreasing weight, 'mean'
        by increasing mean of the first feature, an int by increasing mean of
        that feature, a callable ``f(model) -> keys`` of shape (K,) by
        increasing key.  Gives labels a stable meaning across refits.
    chunk_size : int, default=None
        Rows per chunk; by default sized so that a chunk's work fits in cache.
    init_sample_size : int or None, default=20_000
        With more rows than this, the initialisation (k-means, k-means++,
        random, random_from_data) runs on a random sample of this many rows
        drawn with ``random_state``, as k-means|| does (for 'kmeans' the best
        of three runs on the sample); EM then uses all rows.  None initialises
        on all rows, exactly as scikit-learn does.
    n_jobs : int, default=None
        Threads that process chunks in parallel (BLAS then runs one thread
        each).  None uses every core, at most 8; -1 every core; 1 runs in
        the calling thread.
        Results do not depend on it.
    missing : {'error', 'marginalize'}, default='error'
        What a NaN in ``X`` means.  'error' refuses it.  'marginalize' treats it
        as a missing entry: every method uses each row's density over its
        observed features, and ``fit`` / ``partial_fit`` run EM for incomplete
        data (the M-step uses the missing entries' conditional means and
        covariances; Ghahramani & Jordan 1994), with rows grouped by their
        pattern of missing features.  A row with no observed feature is an
        error.  ``impute`` fills the missing entries.
    learning_decay : float in (0.5, 1], default=0.7
        ``partial_fit``'s step size for batch ``t`` is ``(t + learning_offset) **
        -learning_decay`` (stepwise online EM, Cappé & Moulines 2009).
    learning_offset : float >= 0, default=10.0
        Slows the first steps of ``partial_fit``.
    forgetting_factor : float in (0, 1) or None, default=None
        For drifting streams: the step of ``partial_fit`` never falls below
        ``1 - forgetting_factor``, so the statistics of a batch fade by this
        factor with every later batch (a memory of about ``1 / (1 -
        forgetting_factor)`` batches).  None: the plain schedule, which weighs
        the whole stream.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, d)
    covariances_ : ndarray
        (K, d, d) 'full', (d, d) 'tied', (K, d) 'diag', (K,) 'spherical'.
    precisions_ : ndarray, shaped as ``covariances_``
    precisions_cholesky_ : ndarray, shaped as ``covariances_``
    converged_ : bool
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : float
        Per-sample (weighted) mean log-likelihood of the best initialisation.
    lower_bounds_ : list of float
        Its lower bound after every iteration.
    monitor_ : ConvergenceMonitor
        The convergence monitor of the best initialisation.
    n_features_in_ : int
    n_reseeds_ : int
        Components re-seeded because they collapsed (0 on healthy data).
    n_steps_ : int
        Batches taken by ``partial_fit`` since it (re)started (0 after ``fit``).

    Examples
    --------
    >>> import numpy as np
    >>> from gmm_apps.core import GaussianMixture
    >>> X = np.r_[np.random.default_rng(0).normal(0, 1, (200, 2)),
    ...           np.random.default_rng(1).normal(6, 1, (200, 2))]
    >>> gm = GaussianMixture(2, random_state=0, order_by="mean").fit(X)
    >>> gm.means_.round(0)[:, 0].tolist()
    [0.0, 6.0]
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        dtype=np.float64,
        verbose=0,
        callback=None,
        order_by=None,
        chunk_size=None,
        init_sample_size=20_000,
        n_jobs=None,
        missing="error",
        learning_decay=0.7,
        learning_offset=10.0,
        forgetting_factor=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.dtype = dtype
        self.verbose = verbose
        self.callback = callback
        self.order_by = order_by
        self.chunk_size = chunk_size
        self.init_sample_size = init_sample_size
        self.n_jobs = n_jobs
        self.missing = missing
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.forgetting_factor = forgetting_factor

    # ------------------------------------------------------------------ checks
    # long: one check per constructor parameter, in the order of the signature, each with its own message
    def _check_params(self, n_features):
        def _int(name, low):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")

        _int("n_components", 1)
        _int("max_iter", 0)
        _int("n_init", 1)
        iss = self.init_sample_size
        if iss is not None and (
            not isinstance(iss, numbers.Integral) or isinstance(iss, bool) or iss < self.n_components
        ):
            raise ValueError(f"init_sample_size must be None or an integer >= n_components, got {iss!r}")
        if self.n_jobs is not None and (not isinstance(self.n_jobs, numbers.Integral) or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be None or a non-zero integer, got {self.n_jobs!r}")
        for name in ("tol", "reg_covar"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not v >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if self._missing_mode() not in ("error", "marginalize"):
            raise ValueError(f"missing must be 'error' or 'marginalize', got {self.missing!r}")
        ld, lo, ff = self.learning_decay, self.learning_offset, self.forgetting_factor
        if not isinstance(ld, numbers.Real) or isinstance(ld, bool) or not 0.5 < ld <= 1:
            raise ValueError(f"learning_decay must be a number in (0.5, 1], got {ld!r}")
        if not isinstance(lo, numbers.Real) or isinstance(lo, bool) or not lo >= 0:
            raise ValueError(f"learning_offset must be a number >= 0, got {lo!r}")
        if ff is not None and (not isinstance(ff, numbers.Real) or isinstance(ff, bool) or not 0 < ff < 1):
            raise ValueError(f"forgetting_factor must be None or a number in (0, 1), got {ff!r}")
        if self.covariance_type not in cov.COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {cov.COVARIANCE_TYPES}, got {self.covariance_type!r}")
        if self.init_params not in INIT_METHODS:
            raise ValueError(f"init_params must be one of {INIT_METHODS}, got {self.init_params!r}")
        if np.dtype(self.dtype) not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be numpy.float64 or numpy.float32, got {self.dtype!r}")
        o = self.order_by
        if not (
            o is None
            or callable(o)
            or o in ("weight", "mean")
            or (isinstance(o, numbers.Integral) and not isinstance(o, bool))
        ):
            raise ValueError(f"order_by must be None, 'weight', 'mean', a feature index or a callable, got {o!r}")
        if isinstance(o, numbers.Integral) and not isinstance(o, bool) and not -n_features <= o < n_features:
            raise ValueError(f"order_by={o} is not a feature index for {n_features} features")
        K, d, ct = self.n_components, n_features, self.covariance_type
        dt = np.dtype(self.dtype)
        out = {}
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, dtype=np.float64)
            if w.shape != (K,):
                raise ValueError(f"weights_init must have shape ({K},), got {w.shape}")
            if np.any(w < 0) or np.any(w > 1) or not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
                raise ValueError(f"weights_init must be in [0, 1] and sum to 1, got sum {w.sum():.6g}")
            out["weights"] = w
        if self.means_init is not None:
            m = np.asarray(self.means_init, dtype=np.float64)
            if m.shape != (K, d):
                raise ValueError(f"means_init must have shape ({K}, {d}), got {m.shape}")
            out["means"] = m
        if self.precisions_init is not None:
            p = np.asarray(self.precisions_init, dtype=np.float64)
            shape = cov.covariance_shape(ct, K, d)
            if p.shape != shape:
                raise ValueError(f"precisions_init must have shape {shape} for '{ct}', got {p.shape}")
            if ct in ("full", "tied"):
                mats = p if ct == "full" else p[None]
                if not np.allclose(mats, np.swapaxes(mats, 1, 2)):
                    raise ValueError("precisions_init must be symmetric")
            try:
                out["precisions_cholesky"] = cov.precision_cholesky_from_precisions(p, ct)
            except np.linalg.LinAlgError:
                raise ValueError(f"precisions_init must be positive definite ('{ct}')") from None
            out["covariances"] = cov.covariances_from_precisions(p, ct)
        return out, dt

    def _validate_X(self, X, *, reset, min_samples=None):
        if self._missing_mode() not in ("error", "marginalize"):
            raise ValueError(f"missing must be 'error' or 'marginalize', got {self.missing!r}")
        X = validate_data(self, X, reset=reset, min_samples=(2 if reset else 1) if min_samples is None else min_samples)
        X = np.asarray(X, dtype=np.dtype(self.dtype))
        if self._missing_mode() == "error":
            nan = np.isnan(X)
            if nan.any():
                i, j = (int(v[0]) for v in np.nonzero(nan))
                raise ValueError(
                    f"X contains NaN (first at row {i}, feature {j}); pass missing='marginalize' to use "
                    "each row's observed features, or drop or impute the missing values first"
                )
        else:
            empty = empty_rows(np.isnan(X))
            if len(empty):
                raise ValueError(
                    f"row {int(empty[0])} has no observed feature (all {X.shape[1]} values are NaN); "
                    f"drop it{f' and the {len(empty) - 1} other such rows' if len(empty) > 1 else ''}"
                )
        return X

    def _weighted_log_prob_complete(self, X):
        out = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        chunk = chunk_rows(X.shape[0], self.n_components, X.shape[1], X.dtype.itemsize, self.chunk_size)
        w = self.weights_.astype(np.float64)
        prep = prepare(
            w,
            self.means_,
            self.precisions_cholesky_,
            self.covariance_type,
            w @ self.means_.astype(np.float64) / w.sum(),
            X.dtype,
        )

        def one(start):
            out[start : start + chunk] = weighted_log_prob(X[start : start + chunk], prep)

        parallel_map(one, range(0, X.shape[0], chunk), resolve_n_jobs(getattr(self, "n_jobs", None)))
        return out

    def component_log_density(self, X):
        """Log density of each sample under each component, ``log N(x | mu_k, Sigma_k)``.

        The mixture weights are not included: ``component_log_density(X) +
        log(weights_)`` summed by log-sum-exp over components is
        :meth:`score_samples`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._weighted_log_prob(X) - np.log(self.weights_.astype(X.dtype))[None, :]

    def covariance_matrices(self):
        """Every component's covariance as a full matrix, shape (n_components, n_features, n_features)."""
        check_is_fitted(self)
        K, d = self.means_.shape
        return cov.full_covariances(self.covariances_, self.covariance_type, K, d)

    def score_samples(self, X):
        """Log density of each sample under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return logsumexp_rows(self._weighted_log_prob(X))

    def score(self, X, y=None, sample_weight=None):
        """Mean (optionally weighted) log-likelihood per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        log_likelihood : float
        """
        ll = self.score_samples(X).astype(np.float64)
        if sample_weight is None:
            return float(ll.mean())
        sw = np.asarray(sample_weight, dtype=np.float64)
        return float(np.dot(ll, sw) / sw.sum())

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to one.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        wlp = self._weighted_log_prob(X)
        with np.errstate(under="ignore"):
            return np.exp(wlp - logsumexp_rows(wlp)[:, None])

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int64
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._weighted_log_prob(X).argmax(axis=1).astype(np.int64)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each sample.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        rng = check_random_state(self.random_state)
        d = self.means_.shape[1]
        counts = rng.multinomial(n_samples, self.weights_.astype(np.float64) / self.weights_.sum())
        ct = self.covariance_type
        parts = []
        for k, c in enumerate(counts):
            z = rng.standard_normal(size=(c, d))
            if ct in ("full", "tied"):
                cv = self.covariances_[k] if ct == "full" else self.covariances_
                parts.append(self.means_[k] + z @ np.linalg.cholesky(cv).T)
            else:
                parts.append(self.means_[k] + z * np.sqrt(self.covariances_[k]))
        X = np.vstack(parts)
        y = np.repeat(np.arange(self.n_components), counts)
        return X, y

    # ------------------------------------------------------ information criteria
    def n_parameters(self):
        """Number of free parameters.

        Returns
        -------
        n : int
        """
        check_is_fitted(self)
        return cov.n_parameters(self.n_components, self.means_.shape[1], self.covariance_type)

    def _n_total(self, X, sample_weight):
        return X.shape[0] if sample_weight is None else float(np.sum(sample_weight))

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion ``-2 log L + p log n`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights count as repeated rows (``n`` is their sum).

        Returns
        -------
        bic : float
        """
        X = np.asarray(X)
        n = self._n_total(X, sample_weight)
        return -2 * self.score(X, sample_weight=sample_weight) * n + self.n_parameters() * math.log(n)

    def aic(self, X, sample_weight=None):
        """Akaike information criterion ``-2 log L + 2 p`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        aic : float
        """
        X = np.asarray(X)
        n = self._n_total(X, sample_weight)
        return -2 * self.score(X, sample_weight=sample_weight) * n + 2 * self.n_parameters()

    def icl(self, X, sample_weight=None):
        """Integrated completed likelihood: BIC plus twice the assignment entropy.

        Penalises overlapping components, so it favours well-separated clusters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        icl : float
            Lower is better, on the BIC scale.
        """
        resp = self.predict_proba(X).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent_rows = -np.where(resp > 0, resp * np.log(resp), 0.0).sum(axis=1)
        ent = ent_rows.sum() if sample_weight is None else float(np.dot(ent_rows, sample_weight))
        return self.bic(X, sample_weight=sample_weight) + 2.0 * ent

    # ----------------------------------------------------------- construction
    @classmethod
    def from_parameters(cls, weights, means, covariances, *, covariance_type="full", **params):
        """Build a fitted model from parameters (no EM is run).

        Parameters
        ----------
        weights : array-like of shape (K,)
        means : array-like of shape (K, d)
        covariances : array-like, shaped by ``covariance_type``
        covariance_type : str, default='full'
        **params
            Other constructor parameters (e.g. ``dtype``).

        Returns
        -------
        model : GaussianMixture
        """
        weights = np.asarray(weights, dtype=np.float64)
        means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        covariances = np.asarray(covariances, dtype=np.float64)
        model = cls(n_components=len(weights), covariance_type=covariance_type, **params)
        if covariance_type not in cov.COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {cov.COVARIANCE_TYPES}")
        K, d = means.shape
        if covariances.shape != cov.covariance_shape(covariance_type, K, d):
            raise ValueError(
                f"covariances must have shape {cov.covariance_shape(covariance_type, K, d)} "
                f"for '{covariance_type}', got {covariances.shape}"
            )
        pc = cov.compute_precision_cholesky(covariances, covariance_type)
        model._set_params(Params(weights, means, covariances, pc), np.dtype(model.dtype))
        model.n_features_in_ = d
        model.converged_ = True
        model.n_iter_ = 0
        model.lower_bound_ = -math.inf
        model.lower_bounds_ = []
        model.monitor_ = ConvergenceMonitor(model.tol, model.max_iter)
        model.n_reseeds_ = 0
        return model

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = self._missing_mode() == "marginalize"
        return tags
