"""The seam between the EM loop and where the rows live.

:class:`~gmm_apps.core.GaussianMixture` runs EM without touching the rows
itself: every pass over the data goes through three methods, which a backend
(a subclass that keeps its rows somewhere else: a Dask cluster, files read
block by block, a database cursor) overrides:

``_global_moments(X, sample_weight, state) -> (mean, covariance)``
    The data's weighted mean and covariance in float64, once per fit.  The mean
    becomes ``state.centre``, about which all statistics are taken; the
    covariance re-seeds collapsed components.
``_take_rows(X, sample_weight, idx) -> (rows, weights)``
    Rows ``idx`` (all rows when None) as an in-memory array, with their weights
    (None for unit weights).  Initialisation runs on them (all rows, or a
    sample of ``init_sample_size``), and re-seeding takes single rows.
``_map_reduce(X, sample_weight, params, state) -> SufficientStats``
    One E-step over every row under ``params``: the summed
    :class:`SufficientStats` about ``state.centre``.  Build the per-iteration
    constants with :func:`prepare` and add partial results in a fixed order, so
    that a fit does not depend on scheduling.

A backend's ``fit`` validates its input, makes a :class:`FitState`
(:meth:`FitState.start`), and calls ``self._fit_loop(X, sample_weight, init,
state)`` and ``self._finish_fit(best, state.dtype)``; the loop does initialisation,
the EM iterations, re-seeding, convergence and the choice among ``n_init``
starts.  docs/engine.md shows a complete backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from ._estimator import check_random_state
from ._schedule import chunk_rows, parallel_map, resolve_n_jobs, worker_pool
from ._stats import SufficientStats, map_reduce, mean_cov_from_moments, moments_about, prepare

__all__ = [
    "FitState",
    "Params",
    "SufficientStats",
    "chunk_rows",
    "map_reduce",
    "mean_cov_from_moments",
    "moments_about",
    "parallel_map",
    "prepare",
    "resolve_n_jobs",
    "worker_pool",
]


class Params(NamedTuple):
    """A mixture's parameters while EM runs (float64; shapes follow the covariance type)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


@dataclass
class FitState:
    """Everything one fit needs besides the estimator's settings and the rows; passed to every hook.

    Nothing of it stays on the estimator after the fit.

    Attributes
    ----------
    n_samples, n_features : int
    dtype : numpy.dtype
        The working precision of the data and the fitted parameters.
    eps : float
        Machine epsilon of ``dtype``.
    random_state : None, int or numpy.random.RandomState
        The estimator's ``random_state``.
    rng : numpy.random.RandomState
        The fit's one source of randomness, made from ``random_state`` when
        first used (a ``partial_fit`` batch, which draws nothing, never makes it).
    chunk : int or None
        Rows per chunk for in-memory backends (None where the backend's own blocks decide).
    n_jobs : int
        Threads sharing the chunks.
    pool : concurrent.futures.Executor or None
        The fit's thread pool (None with one thread).
    incomplete : object or None
        Rows with missing entries, split for the E-step (``missing='marginalize'``).
    centre, global_cov : ndarray or None
        The data's mean and covariance, set by the loop from ``_global_moments``.
    best_stats : SufficientStats or None
        The last E-step of the best start (where streaming continues from).
    """

    n_samples: int
    n_features: int
    dtype: np.dtype
    eps: float
    random_state: Any
    chunk: int | None = None
    n_jobs: int = 1
    pool: Any = None
    incomplete: Any = None
    centre: np.ndarray | None = None
    global_cov: np.ndarray | None = None
    best_stats: SufficientStats | None = None

    @cached_property
    def rng(self):
        return check_random_state(self.random_state)

    @classmethod
    def start(cls, model, n_samples, n_features, dtype, *, chunk=None, n_jobs=1):
        """A fresh state for ``model`` (its ``random_state`` drawn from here on)."""
        dtype = np.dtype(dtype)
        return cls(
            n_samples=int(n_samples),
            n_features=int(n_features),
            dtype=dtype,
            eps=float(np.finfo(dtype).eps),
            random_state=model.random_state,
            chunk=chunk,
            n_jobs=n_jobs,
        )
