"""How a detector's score becomes a flag: the thresholds for the reference records and for new ones, and the
probability of being an outlier."""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from ...core import threshold_at_rate


class ThresholdsMixin:
    """Thresholds and probabilities of :class:`~.model.GMMDetector`, from its ``decision_scores_`` and
    ``decision_function``."""

    def set_threshold(self, *, rate=None, value=None, held_out=None):
        """Set ``threshold_`` so that at most ``rate`` of the training records are flagged
        (the expected contamination), or to a fixed score ``value``; and ``threshold_new_``, for records
        the detector was not fitted on.

        Parameters
        ----------
        rate : float, optional
        value : float, optional
        held_out : ndarray of shape (n_train,), optional
            The training records' scores by detectors fitted without them
            (cross-fitted).  With a ``rate``, ``threshold_new_`` is the score
            at most ``rate`` of them exceed, so that about ``rate`` of new
            records like the training ones are flagged; otherwise it is
            ``threshold_``.

        Returns
        -------
        self
        """
        s = self.decision_scores_
        self.threshold_rate_ = None if value is not None else rate
        if value is not None:
            self.threshold_ = float(value)
        else:
            self.threshold_ = threshold_at_rate(s, rate)
        unseen = held_out is not None and value is None
        self.threshold_new_ = threshold_at_rate(np.asarray(held_out, float), rate) if unseen else self.threshold_
        self.labels_ = (s > self.threshold_).astype(int)
        return self

    def predict(self, X):
        """1 for records scored above ``threshold_new_`` (``X`` are new records), else 0."""
        return (self.decision_function(X) > self.threshold_new_).astype(int)

    def predict_proba(self, X):
        """Probability of being an outlier, PyOD's 'unify' method: the Gaussian CDF of the
        score standardised by the training scores' mean and deviation.  Shape (n, 2)."""
        return self.proba_from_scores(self.decision_function(X))

    def proba_from_scores(self, scores):
        """:meth:`predict_proba` from scores already computed by :meth:`decision_function`."""
        p = np.clip(erf((np.asarray(scores) - self.score_mean_) / (self.score_std_ * np.sqrt(2))), 0, 1)
        return np.c_[1 - p, p]
