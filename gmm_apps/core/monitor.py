"""Convergence tracking for EM, as a small object tests can drive directly."""

from __future__ import annotations

import logging
import math

logger = logging.getLogger("gmm_apps.core")


class ConvergenceMonitor:
    """Track the lower bound across EM iterations and decide convergence.

    EM has converged when the absolute change of the (per-sample mean)
    lower bound between two iterations falls below ``tol`` — the rule of
    scikit-learn's ``GaussianMixture``.

    Parameters
    ----------
    tol : float
        Convergence threshold on the absolute change of the lower bound.
    max_iter : int
        Iteration budget.
    verbose : int, default=0
        Log every iteration at INFO level when > 0.
    start : float, default=-inf
        The lower bound before the first iteration (a warm start passes the
        previous fit's bound, so a fit already at its optimum stops at once).

    Attributes
    ----------
    history : list of float
        The lower bound after each reported iteration.
    iter : int
        Number of iterations reported.
    decreases : list of tuple(int, float)
        Iterations where the bound went down by more than rounding, with the drop.

    Examples
    --------
    >>> m = ConvergenceMonitor(tol=1e-3, max_iter=10)
    >>> m.report(-3.0); m.report(-2.5); m.report(-2.4999)
    >>> m.converged
    True
    """

    def __init__(self, tol, max_iter, *, verbose=0, start=-math.inf):
        self.tol = tol
        self.start = start
        self.max_iter = max_iter
        self.verbose = verbose
        self.history = []
        self.decreases = []

    @property
    def iter(self):
        return len(self.history)

    def report(self, lower_bound):
        """Record the lower bound of one iteration.

        Parameters
        ----------
        lower_bound : float
        """
        lower_bound = float(lower_bound)
        if self.history:
            prev = self.history[-1]
            drop = prev - lower_bound
            if drop > 1e-10 * max(1.0, abs(prev)):
                self.decreases.append((len(self.history) + 1, drop))
        self.history.append(lower_bound)
        if self.verbose:
            logger.info(
                "EM iteration %d: lower bound %.8g (change %.3g)",
                self.iter,
                lower_bound,
                self.change,
            )

    @property
    def change(self):
        """Change of the lower bound over the last iteration (``inf`` after the first from ``-inf``)."""
        if not self.history:
            return math.inf
        prev = self.history[-2] if len(self.history) >= 2 else self.start
        return self.history[-1] - prev

    @property
    def converged(self):
        """True when the last change was below ``tol`` in absolute value."""
        return bool(self.history) and abs(self.change) < self.tol

    @property
    def done(self):
        """True when converged or the iteration budget is spent."""
        return self.converged or self.iter >= self.max_iter

    def __repr__(self):
        return (
            f"ConvergenceMonitor(tol={self.tol}, max_iter={self.max_iter}, "
            f"iter={self.iter}, converged={self.converged})"
        )
