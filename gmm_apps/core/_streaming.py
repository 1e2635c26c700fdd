"""Streaming EM for :class:`~gmm_apps.core.GaussianMixture`: ``partial_fit`` on running sufficient statistics."""

from __future__ import annotations

import numpy as np

from ..errors import DegenerateDataError
from . import _covariance as cov
from ._estimator import check_sample_weight
from ._missing import recentre
from ._schedule import worker_pool
from ._stats import SufficientStats, m_step
from .backend import Params


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


class StreamingMixin:
    """Stepwise online EM (Cappé & Moulines 2009) on top of :class:`~gmm_apps.core._em.EMMixin`.

    Learned state besides the parameters: ``_stream`` (the running statistics per
    unit weight, about ``_stream_centre``) and ``n_steps_``; both are saved with
    the model (:mod:`gmm_apps.core.persistence`).
    """

    def _start_stream(self, stats, centre):
        """Keep the fit's data, summarised by its last E-step's ``stats`` (None: none), as moments about
        ``centre``: where :meth:`partial_fit` continues from."""
        self.n_steps_ = 0
        self._stream_centre = np.asarray(centre, dtype=np.float64)
        self._stream = (
            None if stats is None else _normalised(recentre(stats, self._stream_centre, self.covariance_type))
        )

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
        self._set_params(Params(weights, means, covariances, pc), dtype)
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
        state = self._in_memory_state(X, sample_weight, X.dtype, fill=False)
        state.centre = self._stream_centre
        with worker_pool(state.n_jobs) as pool:
            state.pool = pool
            stats = self._map_reduce(X, sample_weight, self._current_params(), state)
        return recentre(stats, self._stream_centre, self.covariance_type)
