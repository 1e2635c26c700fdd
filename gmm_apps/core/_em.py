"""The EM loop of :class:`~gmm_apps.core.GaussianMixture`: starts, iterations, re-seeding, convergence.

The loop reaches the rows only through the hooks documented in
:mod:`gmm_apps.core.backend` (``_global_moments``, ``_take_rows``,
``_map_reduce``); everything a fit needs besides the settings travels in one
:class:`~gmm_apps.core.backend.FitState`.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np

from ..errors import DegenerateComponentWarning, DegenerateDataError
from . import _covariance as cov
from ._estimator import ConvergenceWarning, check_sample_weight
from ._incomplete import SplitRows
from ._schedule import chunk_rows, parallel_map, resolve_n_jobs, worker_pool
from ._stats import (
    SufficientStats,
    features_T,
    m_step,
    map_reduce,
    mean_cov_from_moments,
    moments_about,
    moments_only,
    prepare,
    resp_statistics,
)
from .backend import FitState, Params
from .init import initial_responsibilities
from .monitor import ConvergenceMonitor
from .ordering import order_components

logger = logging.getLogger("gmm_apps.core")


class EMMixin:
    """Fitting by EM; :class:`~gmm_apps.core.GaussianMixture` supplies the settings and the checks."""

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
        state = self._in_memory_state(X, sample_weight, dtype, fill=True)
        with worker_pool(state.n_jobs) as pool:
            state.pool = pool
            # initialisation, the data's centre and re-seeding see missing entries as column means
            Xf = X if state.incomplete is None else state.incomplete.filled
            best = self._fit_loop(Xf, sample_weight, init, state)
        self._finish_fit(best, state.dtype)
        self._start_stream(state.best_stats, state.centre)

    def _in_memory_state(self, X, sample_weight, dtype, *, fill):
        """The :class:`FitState` of an in-memory fit or batch: chunking, threads and rows with missing entries."""
        n, d = X.shape
        chunk = chunk_rows(n, self.n_components, d, np.dtype(dtype).itemsize, self.chunk_size)
        state = FitState.start(self, n, d, dtype, chunk=chunk, n_jobs=resolve_n_jobs(self.n_jobs) if n > chunk else 1)
        mask = self._missing_mask(X)
        state.incomplete = None if mask is None else SplitRows(X, mask, sample_weight, fill=fill)
        return state

    def _fit_loop(self, X, sample_weight, init, state):
        """EM from ``n_init`` starts (or from the fitted model with ``warm_start``); returns the best.

        Returns
        -------
        best : tuple
            ``(lower_bound, params, monitor, n_reseeds)`` for :meth:`_finish_fit`.
        """
        state.centre, state.global_cov = self._global_moments(X, sample_weight, state)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        best = None
        for i_init in range(n_init):
            if do_init:
                params = self._initial_parameters(X, sample_weight, init, state)
            else:
                params = self._current_params()
            monitor = ConvergenceMonitor(
                self.tol,
                self.max_iter,
                verbose=self.verbose,
                start=-math.inf if do_init else self.lower_bound_,
            )
            reseeds = 0
            lower_bound = -math.inf if do_init else self.lower_bound_
            while monitor.iter < self.max_iter:
                stats = self._map_reduce(X, sample_weight, params, state)
                lower_bound = stats.loglik / stats.weight
                params, n_new = self._m_step(stats, X, state)
                reseeds += n_new
                if reseeds > 3 * self.n_components + 10:
                    self._raise_degenerate(X, sample_weight)
                monitor.report(lower_bound)
                if self.callback is not None:
                    self.callback(monitor.iter, lower_bound)
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
                state.best_stats = stats if monitor.iter else None
        return best

    def _finish_fit(self, best, dtype):
        """Set the fitted attributes from :meth:`_fit_loop`'s best start; warn if it did not converge."""
        lower_bound, params, monitor, reseeds = best
        self._set_params(params, dtype)
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
            order_components(self, self.order_by)

    def _global_moments(self, X, sample_weight, state):
        """Hook: weighted mean (the statistics' centre) and covariance of the data, in float64.

        One pass: moments about the first row (so that large offsets do not
        cancel), combined across chunks.
        """
        ref = X[0].astype(np.float64)
        chunk = state.chunk

        def one(start):
            sw = None if sample_weight is None else sample_weight[start : start + chunk]
            return moments_about(X[start : start + chunk], ref, sw)

        parts = parallel_map(one, range(0, X.shape[0], chunk), state.n_jobs, executor=state.pool)
        return mean_cov_from_moments(sum(parts), ref)

    def _initial_parameters(self, X, sample_weight, init, state):
        """Starting :class:`Params`: the ``*_init`` settings, completed by ``init_params`` on all rows or a sample."""
        if {"weights", "means", "precisions_cholesky"} <= init.keys():
            return Params(init["weights"], init["means"], init["covariances"], init["precisions_cholesky"])
        n, rng = state.n_samples, state.rng
        if self.init_sample_size is None or n <= self.init_sample_size:
            rows, weights = self._take_rows(X, sample_weight, None)
            return self._init_from_rows(rows, weights, init, state, 1)
        if self.init_params == "hierarchical":  # evenly spaced rows: no randomness
            idx = np.unique(np.linspace(0, n - 1, self.init_sample_size).round().astype(int))
        else:
            idx = np.sort(rng.choice(n, self.init_sample_size, replace=False))
        rows, weights = self._take_rows(X, sample_weight, idx)
        # a sample is cheap: take the best of three k-means starts
        return self._init_from_rows(rows, weights, init, state, 3)

    def _take_rows(self, X, sample_weight, idx):
        """Hook: rows ``idx`` (all rows when None) and their weights, in memory."""
        if idx is None:
            return X, sample_weight
        return X[idx], None if sample_weight is None else sample_weight[idx]

    def _init_from_rows(self, X, sample_weight, init, state, runs):
        """Initial parameters from in-memory rows (all the data or a sample of it)."""
        ct, eps = self.covariance_type, state.eps
        chunk = state.chunk or max(1, X.shape[0])
        resp = initial_responsibilities(
            X,
            self.n_components,
            method=self.init_params,
            sample_weight=sample_weight,
            random_state=state.rng,
            kmeans_n_init=runs,
        )
        # moments about the global centre (the quadratic-form layout)
        prep = moments_only(state.centre, self.n_components, ct, X.dtype)

        def one(start):
            sl = slice(start, start + chunk)
            XT, Q = features_T(X[sl], prep)
            R = resp[sl].T if sample_weight is None else resp[sl].T * sample_weight[sl]
            nk, s1, s2, centre = resp_statistics(XT, Q, R, None if sample_weight is None else sample_weight[sl], prep)
            return SufficientStats(nk, s1, s2, 0.0, 0.0, centre)

        parts = parallel_map(one, range(0, X.shape[0], chunk), state.n_jobs, executor=state.pool)
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
            return Params(weights, means, init["covariances"], init["precisions_cholesky"])
        try:
            pc = cov.compute_precision_cholesky(covariances, ct)
        except cov.IllDefinedCovarianceError:
            raise DegenerateDataError(
                "the initial covariances are not positive definite; increase reg_covar "
                f"(now {self.reg_covar}), use fewer components or scale the data"
            ) from None
        return Params(weights, means, covariances, pc)

    def _map_reduce(self, X, sample_weight, params, state):
        """Hook: one E-step over all rows, as :class:`SufficientStats` about ``state.centre``."""
        prep = prepare(
            params.weights, params.means, params.precisions_cholesky, self.covariance_type, state.centre, X.dtype
        )
        if state.incomplete is None:
            return map_reduce(X, sample_weight, prep, chunk_rows=state.chunk, n_jobs=state.n_jobs, executor=state.pool)
        return state.incomplete.statistics(prep, params, self.covariance_type, state.chunk, state.n_jobs, state.pool)

    def _m_step(self, stats, X, state):
        """New :class:`Params` from ``stats``, collapsed components re-seeded; returns ``(params, n_reseeded)``."""
        ct = self.covariance_type
        K, eps = self.n_components, state.eps
        weights, means, covariances, nk = m_step(stats, covariance_type=ct, reg_covar=self.reg_covar, eps=eps)
        unit = stats.weight / max(1, state.n_samples)
        dead = set(np.flatnonzero(nk < 1e-6 * unit).tolist()) if K > 1 else set()
        try:
            pc = cov.compute_precision_cholesky(covariances, ct)
        except cov.IllDefinedCovarianceError as exc:
            if ct == "tied" or K == 1:
                self._raise_degenerate(X, None, ill_defined=True)
            dead |= set(exc.components)
            pc = None
        if not dead:
            return Params(weights, means, covariances, pc), 0
        # re-seed collapsed components at the worst-explained rows
        dead = sorted(dead)
        rows = [stats.worst_index] + list(state.rng.randint(0, state.n_samples, size=len(dead) - 1))
        seeds, _ = self._take_rows(X, None, np.asarray(rows))
        global_cov = state.global_cov
        gvar = np.diag(global_cov) + self.reg_covar
        for k, seed in zip(dead, seeds):
            means[k] = seed
            if ct == "full":
                covariances[k] = global_cov + self.reg_covar * np.eye(state.n_features)
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
        return Params(weights, means, covariances, pc), len(dead)

    def _raise_degenerate(self, X, sample_weight, ill_defined=False):
        small = isinstance(X, np.ndarray) and X.shape[0] <= 2_000_000
        n_distinct = len(np.unique(X, axis=0)) if small else None
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

    def _current_params(self):
        """The fitted parameters as float64 :class:`Params` (where a warm start or a batch begins)."""
        return Params(
            self.weights_.astype(np.float64),
            self.means_.astype(np.float64),
            self.covariances_.astype(np.float64),
            self.precisions_cholesky_.astype(np.float64),
        )

    def _set_params(self, params, dtype):
        """Set ``weights_``, ``means_``, ``covariances_`` and the precisions from :class:`Params`, in ``dtype``."""
        weights, means, covariances, pc = params
        self.weights_ = np.asarray(weights, dtype=dtype)
        self.means_ = np.asarray(means, dtype=dtype)
        self.covariances_ = np.asarray(covariances, dtype=dtype)
        self.precisions_cholesky_ = np.asarray(pc, dtype=dtype)
        self.precisions_ = cov.precisions_from_cholesky(self.precisions_cholesky_, self.covariance_type)
