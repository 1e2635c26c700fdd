"""The Gaussian mixture estimator: one EM loop for all covariance types."""

from __future__ import annotations

import logging
import math
import numbers
import warnings

import numpy as np

from ..errors import DegenerateComponentWarning, DegenerateDataError
from . import _covariance as cov
from ._estimator import (
    ConvergenceWarning,
    DensityEstimator,
    check_is_fitted,
    check_random_state,
    check_sample_weight,
    validate_data,
)
from ._missing import (
    IncompleteRows,
    diag_log_prob,
    diag_posterior,
    empty_rows,
    missing_patterns,
    pattern_entropy,
    pattern_impute,
    pattern_log_prob,
    recentre,
)
from ._stats import (
    SufficientStats,
    features_T,
    logsumexp_rows,
    m_step,
    map_reduce,
    mean_cov_from_moments,
    moments_about,
    moments_only,
    parallel_map,
    prepare,
    resp_statistics,
    weighted_log_prob,
    worker_pool,
)
from .init import INIT_METHODS, initial_responsibilities
from .monitor import ConvergenceMonitor

logger = logging.getLogger("gmm_apps.core")

#: working-set target of one chunk, in bytes (per row: d + d(d+1)/2 + 2K values)
_CHUNK_BYTES = 6 * 2**20


def _chunk_rows(n_samples, n_components, n_features, itemsize, chunk_size=None):
    if chunk_size is not None:
        return max(1, int(chunk_size))
    d = n_features
    per_row = (2 * d + d * (d + 1) // 2 + 3 * n_components) * itemsize
    return int(min(max(n_samples, 1), max(512, _CHUNK_BYTES // per_row)))


def _n_jobs(n_jobs):
    import os

    if n_jobs is None:
        return max(1, min(os.cpu_count() or 1, 8))
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


def _normalised(stats):
    """Statistics per unit of weight (so batches of any size average)."""
    w = stats.weight
    return SufficientStats(stats.nk / w, stats.s1 / w, stats.s2 / w, stats.loglik / w, 1.0, stats.centre)


def _blend(old, new, step):
    """``(1 - step) * old + step * new`` of normalised statistics about the same centre."""
    keep = 1.0 - step
    return SufficientStats(
        keep * old.nk + step * new.nk,
        keep * old.s1 + step * new.s1,
        keep * old.s2 + step * new.s2,
        keep * old.loglik + step * new.loglik,
        1.0,
        old.centre,
    )


class _IncompleteRows:
    """A batch of rows split for the E-step: complete rows take the chunked fast path, rows with NaN go by pattern.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    mask : ndarray of shape (n, d), bool
        True where ``X`` is missing.
    sample_weight : ndarray of shape (n,) or None
    fill : bool
        Also make ``filled`` (missing entries replaced by the observed column
        means), which a fit's initialisation and re-seeding use.
    """

    def __init__(self, X, mask, sample_weight, *, fill=True):
        inc = mask.any(axis=1)
        self.X, self.sample_weight = X, sample_weight
        self.complete = np.flatnonzero(~inc)
        self.Xc = np.ascontiguousarray(X[self.complete])
        self.wc = None if sample_weight is None else sample_weight[self.complete]
        rows_inc = np.flatnonzero(inc)
        self.incomplete = IncompleteRows(
            X[rows_inc], rows_inc, None if sample_weight is None else sample_weight[rows_inc]
        )
        if fill:
            w = np.ones(len(X)) if sample_weight is None else sample_weight.astype(np.float64)
            seen = (~mask) * w[:, None]
            counts = seen.sum(axis=0)
            if np.any(counts <= 0):
                j = int(np.flatnonzero(counts <= 0)[0])
                raise ValueError(
                    f"feature {j} has no observed value (it is NaN in every row with positive weight); "
                    "drop that feature"
                )
            col_means = (np.where(mask, 0.0, X) * seen).sum(axis=0) / counts
            self.filled = np.where(mask, col_means, X).astype(X.dtype)

    def statistics(self, prep, params, covariance_type, chunk, n_jobs, executor):
        """Sufficient statistics of all rows about ``prep.shift`` (float64), complete and incomplete added."""
        weights, means, covariances, _ = params
        shift = np.asarray(prep.shift, dtype=np.float64)
        w64, mu64 = np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64)
        full = cov.full_covariances(np.asarray(covariances, dtype=np.float64), covariance_type, *mu64.shape)
        parts = [self.incomplete.statistics(w64, mu64, full, covariance_type, shift, n_jobs, executor)]
        if len(self.complete):
            st = map_reduce(self.Xc, self.wc, prep, chunk_rows=chunk, n_jobs=n_jobs, executor=executor)
            st.worst_index = int(self.complete[st.worst_index])
            parts.insert(0, recentre(st, shift, covariance_type))
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total


class GaussianMixture(DensityEstimator):
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
        self.order_by = order_by
        self.chunk_size = chunk_size
        self.init_sample_size = init_sample_size
        self.n_jobs = n_jobs
        self.missing = missing
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.forgetting_factor = forgetting_factor

    # ------------------------------------------------------------------ checks
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

    def _missing_mode(self):
        return getattr(self, "missing", "error")

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

    def _missing_mask(self, X):
        """The NaN mask of ``X`` when it has missing entries to marginalise, else None."""
        if self._missing_mode() != "marginalize":
            return None
        mask = np.isnan(X)
        return mask if mask.any() else None

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight acts as that many copies
            of the row.

        Returns
        -------
        self : GaussianMixture
        """
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        init, dtype = self._check_params(n_features)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X)
            n_support = int(np.count_nonzero(sample_weight))
        else:
            n_support = n_samples
        if n_support < self.n_components:
            raise DegenerateDataError(
                f"n_components={self.n_components} is more than the {n_support} rows with "
                f"positive weight; use n_components <= {n_support}"
            )
        self._fit(X, sample_weight, init, dtype)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then label the same rows with the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def _fit(self, X, sample_weight, init, dtype):
        n_samples, n_features = X.shape
        eps = float(np.finfo(dtype).eps)
        rng = check_random_state(self.random_state)
        chunk = _chunk_rows(n_samples, self.n_components, n_features, dtype.itemsize, self.chunk_size)
        self._chunk = chunk
        self._jobs = _n_jobs(self.n_jobs) if X.shape[0] > chunk else 1
        mask = self._missing_mask(X)
        self._incomplete = None if mask is None else _IncompleteRows(X, mask, sample_weight)
        with worker_pool(self._jobs) as pool:
            self._pool = pool
            try:
                # initialisation, the data's centre and re-seeding see missing entries as column means
                Xf = X if self._incomplete is None else self._incomplete.filled
                best = self._fit_loop(Xf, sample_weight, init, dtype, rng, chunk, eps)
            finally:
                self._pool = None
                self._incomplete = None
        self._finish_fit(best, dtype)
        stats, self._best_stats = getattr(self, "_best_stats", None), None
        self._start_stream(stats, self._fit_centre)

    def _start_stream(self, stats, centre):
        """Keep the fit's data, summarised by its last E-step's ``stats`` (None: none), as moments about
        ``centre``: where :meth:`partial_fit` continues from."""
        self.n_steps_ = 0
        self._stream_centre = np.asarray(centre, dtype=np.float64)
        self._stream = (
            None if stats is None else _normalised(recentre(stats, self._stream_centre, self.covariance_type))
        )

    def _fit_loop(self, X, sample_weight, init, dtype, rng, chunk, eps):
        shift, global_cov = self._global_moments(X, sample_weight, chunk)
        self._fit_centre = shift

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        best = None
        for i_init in range(n_init):
            if do_init:
                params = self._initial_parameters(X, sample_weight, init, rng, shift, eps)
            else:
                params = self._get_params_tuple()
            monitor = ConvergenceMonitor(
                self.tol,
                self.max_iter,
                verbose=self.verbose,
                start=-math.inf if do_init else self.lower_bound_,
            )
            reseeds = 0
            lower_bound = -math.inf if do_init else self.lower_bound_
            while monitor.iter < self.max_iter:
                stats = self._map_reduce(X, sample_weight, params, shift, chunk)
                lower_bound = stats.loglik / stats.weight
                params, n_new = self._m_step(stats, params, shift, global_cov, X, rng, eps)
                reseeds += n_new
                if reseeds > 3 * self.n_components + 10:
                    self._raise_degenerate(X, sample_weight)
                monitor.report(lower_bound)
                if monitor.converged and not n_new:
                    break
            if self.verbose:
                logger.info(
                    "init %d/%d: lower bound %.8g after %d iterations (converged: %s)",
                    i_init + 1,
                    n_init,
                    lower_bound,
                    monitor.iter,
                    monitor.converged,
                )
            if best is None or lower_bound > best[0]:
                best = (lower_bound, params, monitor, reseeds)
                self._best_stats = stats if monitor.iter else None
        return best

    def _finish_fit(self, best, dtype):
        lower_bound, params, monitor, reseeds = best
        self._set_params_tuple(params, dtype)
        self.converged_ = bool(monitor.converged)
        self.n_iter_ = monitor.iter
        self.lower_bound_ = float(lower_bound)
        self.lower_bounds_ = list(monitor.history)
        self.monitor_ = monitor
        self.n_reseeds_ = int(reseeds)
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations "
                f"(last change {monitor.change:.3g} >= tol={self.tol}); "
                "increase max_iter or tol, or check for degenerate data",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.order_by is not None:
            from .ordering import order_components

            order_components(self, self.order_by)

    def _global_moments(self, X, sample_weight, chunk):
        """Weighted mean (the statistics' centre) and covariance of the data, in float64.

        One pass: moments about the first row (so that large offsets do not
        cancel), combined across chunks.
        """
        ref = X[0].astype(np.float64)

        def one(start):
            sw = None if sample_weight is None else sample_weight[start : start + chunk]
            return moments_about(X[start : start + chunk], ref, sw)

        parts = parallel_map(one, range(0, X.shape[0], chunk), self._jobs, executor=self._pool)
        return mean_cov_from_moments(sum(parts), ref)

    def _initial_parameters(self, X, sample_weight, init, rng, shift, eps):
        if {"weights", "means", "precisions_cholesky"} <= init.keys():
            return (init["weights"], init["means"], init["covariances"], init["precisions_cholesky"])
        n = X.shape[0]
        if self.init_sample_size is None or n <= self.init_sample_size:
            rows, weights = self._init_rows(X, sample_weight, None)
            return self._init_from_rows(rows, weights, init, rng, shift, eps, 1)
        if self.init_params == "hierarchical":  # evenly spaced rows: no randomness
            idx = np.unique(np.linspace(0, n - 1, self.init_sample_size).round().astype(int))
        else:
            idx = np.sort(rng.choice(n, self.init_sample_size, replace=False))
        rows, weights = self._init_rows(X, sample_weight, idx)
        # a sample is cheap: take the best of three k-means starts
        return self._init_from_rows(rows, weights, init, rng, shift, eps, 3)

    def _init_rows(self, X, sample_weight, idx):
        """The rows (and weights) initialisation runs on, in memory: ``idx`` (sorted) or all of them."""
        if idx is None:
            return X, sample_weight
        return X[idx], None if sample_weight is None else sample_weight[idx]

    def _init_from_rows(self, X, sample_weight, init, rng, shift, eps, runs):
        """Initial parameters from in-memory rows (all the data or a sample of it)."""
        ct = self.covariance_type
        chunk = self._chunk or max(1, X.shape[0])
        resp = initial_responsibilities(
            X,
            self.n_components,
            method=self.init_params,
            sample_weight=sample_weight,
            random_state=rng,
            kmeans_n_init=runs,
        )
        # moments about the global centre (the quadratic-form layout)
        prep = moments_only(shift, self.n_components, ct, X.dtype)

        def one(start):
            sl = slice(start, start + chunk)
            XT, Q = features_T(X[sl], prep)
            R = resp[sl].T if sample_weight is None else resp[sl].T * sample_weight[sl]
            nk, s1, s2, centre = resp_statistics(XT, Q, R, None if sample_weight is None else sample_weight[sl], prep)
            return SufficientStats(nk, s1, s2, 0.0, 0.0, centre)

        parts = parallel_map(one, range(0, X.shape[0], chunk), self._jobs, executor=self._pool)
        stats = parts[0]
        for p in parts[1:]:
            stats = stats + p
        nk = stats.nk
        weights, means, covariances, _ = m_step(stats, covariance_type=ct, reg_covar=self.reg_covar, eps=eps)
        # as scikit-learn: initial weights are counts over n (not renormalised)
        weights = (nk + 10 * eps) / (sample_weight.sum() if sample_weight is not None else X.shape[0])
        weights = init.get("weights", weights)
        means = init.get("means", means)
        if "precisions_cholesky" in init:
            return (weights, means, init["covariances"], init["precisions_cholesky"])
        try:
            pc = cov.compute_precision_cholesky(covariances, ct)
        except cov.IllDefinedCovarianceError:
            raise DegenerateDataError(
                "the initial covariances are not positive definite; increase reg_covar "
                f"(now {self.reg_covar}), use fewer components or scale the data"
            ) from None
        return (weights, means, covariances, pc)

    def _map_reduce(self, X, sample_weight, params, shift, chunk):
        weights, means, _, pc = params
        prep = prepare(weights, means, pc, self.covariance_type, shift, X.dtype)
        inc = getattr(self, "_incomplete", None)
        if inc is None:
            return map_reduce(X, sample_weight, prep, chunk_rows=chunk, n_jobs=self._jobs, executor=self._pool)
        return inc.statistics(prep, params, self.covariance_type, chunk, self._jobs, self._pool)

    def _m_step(self, stats, params, shift, global_cov, X, rng, eps):
        ct = self.covariance_type
        K = self.n_components
        weights, means, covariances, nk = m_step(stats, covariance_type=ct, reg_covar=self.reg_covar, eps=eps)
        unit = stats.weight / max(1, X.shape[0])
        dead = set(np.flatnonzero(nk < 1e-6 * unit).tolist()) if K > 1 else set()
        try:
            pc = cov.compute_precision_cholesky(covariances, ct)
        except cov.IllDefinedCovarianceError as exc:
            if ct == "tied" or K == 1:
                self._raise_degenerate(X, None, ill_defined=True)
            dead |= set(exc.components)
            pc = None
        if not dead:
            return (weights, means, covariances, pc), 0
        # re-seed collapsed components at the worst-explained rows
        dead = sorted(dead)
        rows = [stats.worst_index] + list(rng.randint(0, X.shape[0], size=len(dead) - 1))
        gvar = np.diag(global_cov) + self.reg_covar
        for k, row in zip(dead, rows):
            means[k] = X[row]
            if ct == "full":
                covariances[k] = global_cov + self.reg_covar * np.eye(X.shape[1])
            elif ct == "diag":
                covariances[k] = gvar
            elif ct == "spherical":
                covariances[k] = gvar.mean()
            weights[k] = 1.0 / K
        weights = weights / weights.sum()
        warnings.warn(
            f"mixture component(s) {dead} collapsed (no data or a singular covariance) and "
            "were re-seeded; if this repeats, use fewer components, a larger reg_covar or scale the data",
            DegenerateComponentWarning,
            stacklevel=4,
        )
        try:
            pc = cov.compute_precision_cholesky(covariances, ct)
        except cov.IllDefinedCovarianceError:
            self._raise_degenerate(X, None, ill_defined=True)
        return (weights, means, covariances, pc), len(dead)

    def _raise_degenerate(self, X, sample_weight, ill_defined=False):
        n_distinct = len(np.unique(X, axis=0)) if X.shape[0] <= 2_000_000 else None
        what = f"the data has {n_distinct} distinct rows" if n_distinct is not None else "the data"
        if ill_defined:
            raise DegenerateDataError(
                f"the covariance became singular ({what}); increase reg_covar "
                f"(now {self.reg_covar}), use fewer components or scale the data"
            )
        raise DegenerateDataError(
            f"mixture components keep collapsing: n_components={self.n_components} but {what}; "
            "use fewer components, a larger reg_covar or scale the data"
        )

    def _get_params_tuple(self):
        return (
            self.weights_.astype(np.float64),
            self.means_.astype(np.float64),
            self.covariances_.astype(np.float64),
            self.precisions_cholesky_.astype(np.float64),
        )

    def _set_params_tuple(self, params, dtype):
        weights, means, covariances, pc = params
        self.weights_ = np.asarray(weights, dtype=dtype)
        self.means_ = np.asarray(means, dtype=dtype)
        self.covariances_ = np.asarray(covariances, dtype=dtype)
        self.precisions_cholesky_ = np.asarray(pc, dtype=dtype)
        self.precisions_ = cov.precisions_from_cholesky(self.precisions_cholesky_, self.covariance_type)

    # -------------------------------------------------------------- streaming
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one mini-batch (stepwise online EM).

        The model keeps running averages of the sufficient statistics (counts,
        first and second moments per component).  Each call computes the
        batch's statistics under the current parameters (its E-step), moves the
        running averages towards them by the step ``(t + learning_offset) **
        -learning_decay`` (never below ``1 - forgetting_factor`` when that is
        set) and takes the M-step from the averages (Cappé & Moulines 2009).
        The first call on an unfitted model fits the batch with ``fit``'s
        settings (``means_init`` and the other ``*_init`` included); after
        ``fit``, the fitted data's statistics are the starting averages.  Works
        with every covariance type and with ``missing='marginalize'``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : GaussianMixture
            ``lower_bound_`` is the batch's mean log-likelihood under the
            parameters before the update (also appended to ``lower_bounds_``).
        """
        if not hasattr(self, "means_"):
            self.fit(X, sample_weight=sample_weight)
            self.n_steps_ = 1
            return self
        X = self._validate_X(X, reset=False, min_samples=1)
        _, dtype = self._check_params(X.shape[1])
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X)
        if getattr(self, "_stream_centre", None) is None:  # e.g. a loaded model: centre on this batch
            self._stream_centre = np.nanmean(X.astype(np.float64), axis=0)
        stats = self._batch_statistics(X, sample_weight)
        if stats.weight <= 0:
            raise ValueError("the batch has no row with positive weight")
        batch = _normalised(stats)
        step = (getattr(self, "n_steps_", 0) + self.learning_offset) ** -self.learning_decay
        if self.forgetting_factor is not None:
            step = max(step, 1.0 - self.forgetting_factor)
        current = self._stream_of_current_components()
        self._stream = batch if current is None else _blend(current, batch, step)
        self.n_steps_ = getattr(self, "n_steps_", 0) + 1
        eps = float(np.finfo(dtype).eps)
        weights, means, covariances, _ = m_step(
            self._stream, covariance_type=self.covariance_type, reg_covar=self.reg_covar, eps=eps
        )
        try:
            pc = cov.compute_precision_cholesky(covariances, self.covariance_type)
        except cov.IllDefinedCovarianceError:
            raise DegenerateDataError(
                f"the covariance became singular after batch {self.n_steps_}; increase reg_covar "
                f"(now {self.reg_covar}), use fewer components or scale the data"
            ) from None
        self._set_params_tuple((weights, means, covariances, pc), dtype)
        self.lower_bound_ = float(stats.loglik / stats.weight)
        self.lower_bounds_ = [*getattr(self, "lower_bounds_", []), self.lower_bound_]
        return self

    def _stream_of_current_components(self):
        """The running statistics, permuted to the current component order (None if they no longer fit the model).

        Components may have been reordered since the statistics were taken
        (``order_by``, :func:`gmm_apps.core.align_components`); the statistics'
        own means identify them.  Parameters set by hand start a new stream.
        """
        stream = getattr(self, "_stream", None)
        if stream is None:
            return None
        implied = stream.centre + stream.s1 / (stream.nk + 10 * np.finfo(np.float64).eps)[:, None]
        means = self.means_.astype(np.float64)
        dist = np.abs(means[:, None, :] - implied[None, :, :]).max(axis=2)
        order = dist.argmin(axis=1)
        tol = 1e3 * np.finfo(self.means_.dtype).eps * (1.0 + np.abs(means).max())
        if sorted(order.tolist()) != list(range(len(order))) or dist[np.arange(len(order)), order].max() > tol:
            return None
        s2 = stream.s2 if self.covariance_type == "tied" else stream.s2[order]
        return SufficientStats(stream.nk[order], stream.s1[order], s2, stream.loglik, stream.weight, stream.centre)

    def _batch_statistics(self, X, sample_weight):
        """One E-step over ``X`` under the current parameters, as moments about the stream's centre."""
        n, d = X.shape
        chunk = _chunk_rows(n, self.n_components, d, X.dtype.itemsize, self.chunk_size)
        jobs = _n_jobs(self.n_jobs) if n > chunk else 1
        mask = self._missing_mask(X)
        self._incomplete = None if mask is None else _IncompleteRows(X, mask, sample_weight, fill=False)
        self._jobs = jobs
        with worker_pool(jobs) as pool:
            self._pool = pool
            try:
                stats = self._map_reduce(X, sample_weight, self._get_params_tuple(), self._stream_centre, chunk)
            finally:
                self._pool = None
                self._incomplete = None
        return recentre(stats, self._stream_centre, self.covariance_type)

    # ---------------------------------------------------------------- predict
    def _weighted_log_prob(self, X):
        """``log pi_k + log N(x | k)`` for all rows, shape (n_samples, K); over the observed features of rows with NaN."""
        mask = self._missing_mask(X)
        if mask is None:
            return self._weighted_log_prob_complete(X)
        out = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        inc = mask.any(axis=1)
        if not inc.all():
            out[~inc] = self._weighted_log_prob_complete(X[~inc])
        rows_inc = np.flatnonzero(inc)
        w, mu = self.weights_.astype(np.float64), self.means_.astype(np.float64)
        if self.covariance_type in ("diag", "spherical"):
            c = mu.mean(axis=0)
            out[rows_inc] = diag_log_prob(X[rows_inc].astype(np.float64) - c, w, mu - c, self._variances())
            return out
        covs = self.covariance_matrices().astype(np.float64)
        for observed, rows in missing_patterns(mask[inc]):
            out[rows_inc[rows]] = pattern_log_prob(X, rows_inc[rows], observed, w, mu, covs)
        return out

    def _variances(self):
        """Per component and feature variances, (K, d) float64 ('diag' and 'spherical')."""
        v = self.covariances_.astype(np.float64)
        return v if self.covariance_type == "diag" else np.repeat(v[:, None], self.means_.shape[1], axis=1)

    def _weighted_log_prob_complete(self, X):
        out = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        chunk = _chunk_rows(X.shape[0], self.n_components, X.shape[1], X.dtype.itemsize, self.chunk_size)
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

        parallel_map(one, range(0, X.shape[0], chunk), _n_jobs(getattr(self, "n_jobs", None)))
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

    def impute(self, X):
        """``X`` with each missing entry (NaN) replaced by its conditional mean under the fitted mixture.

        For a row with observed features ``o``, the missing part becomes
        ``sum_k p(k | x_o) E[x_m | x_o, k]``: each component's regression of the
        missing features on the observed ones, weighted by the posterior of the
        component given the observed features.  Needs ``missing='marginalize'``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), float64
        """
        check_is_fitted(self)
        if self._missing_mode() != "marginalize":
            raise ValueError(
                "impute needs missing='marginalize' (set it with set_params; the fitted model is unchanged)"
            )
        X = self._validate_X(X, reset=False)
        out = np.array(X, dtype=np.float64)
        mask = np.isnan(out)
        inc = np.flatnonzero(mask.any(axis=1))
        if not len(inc):
            return out
        w, mu = self.weights_.astype(np.float64), self.means_.astype(np.float64)
        if self.covariance_type in ("diag", "spherical"):  # a missing entry's conditional mean is mu_kj
            R = diag_posterior(out[inc], w, mu, self._variances())
            out[inc] = np.where(mask[inc], R @ mu, out[inc])
            return out
        covs = self.covariance_matrices().astype(np.float64)
        for observed, rows in missing_patterns(mask[inc]):
            filled, m = pattern_impute(out, inc[rows], observed, w, mu, covs)
            out[np.ix_(inc[rows], m)] = filled
        return out

    def missing_entropy(self, X):
        """Expected information in each row's missing entries: ``E[-log p(x_m | x_o)]`` (0 for complete rows).

        The posterior-weighted entropy of the missing part given the observed
        part (each component's conditional Gaussian).  ``-score_samples(X) +
        missing_entropy(X)`` is then the expected negative log-likelihood of
        the complete row given what was observed, comparable across rows with
        different numbers of missing entries (the anomaly detector scores with
        it).  Needs ``missing='marginalize'``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        entropy : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        if self._missing_mode() != "marginalize":
            raise ValueError("missing_entropy needs missing='marginalize'")
        X = self._validate_X(X, reset=False)
        out = np.zeros(X.shape[0])
        mask = np.isnan(X)
        inc = np.flatnonzero(mask.any(axis=1))
        if not len(inc):
            return out
        w, mu = self.weights_.astype(np.float64), self.means_.astype(np.float64)
        if self.covariance_type in ("diag", "spherical"):  # sum over the missing features of 1/2 log(2 pi e v_kj)
            v = self._variances()
            R = diag_posterior(X[inc].astype(np.float64), w, mu, v)
            out[inc] = (R * (mask[inc].astype(np.float64) @ (0.5 * np.log(2.0 * math.pi * math.e * v)).T)).sum(axis=1)
            return out
        covs = self.covariance_matrices().astype(np.float64)
        for observed, rows in missing_patterns(mask[inc]):
            out[inc[rows]] = pattern_entropy(X, inc[rows], observed, w, mu, covs)
        return out

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
        model._set_params_tuple((weights, means, covariances, pc), np.dtype(model.dtype))
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
