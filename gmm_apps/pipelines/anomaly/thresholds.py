"""How a detector's score becomes a flag: the thresholds for the reference records and for new ones, and the
probability of being an outlier."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

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
        self.score_spread_ = score_spread(s, self.threshold_)
        return self

    def predict(self, X):
        """1 for records scored above ``threshold_new_`` (``X`` are new records), else 0."""
        return (self.decision_function(X) > self.threshold_new_).astype(int)

    def predict_proba(self, X):
        """Probability of being an outlier of new records: the normal distribution function of how far the score
        lies above ``threshold_new_``, in units of ``score_spread_`` (see :func:`score_spread`), so that a
        record :meth:`predict` flags has more than 0.5 and one that is not, less.  Shape (n, 2)."""
        return self.proba_from_scores(self.decision_function(X))

    def proba_from_scores(self, scores, *, reference=False):
        """:meth:`predict_proba` from scores already computed by :meth:`decision_function`; ``reference``: the
        scores are the reference's own (``decision_scores_``), whose threshold is ``threshold_``."""
        t = self.threshold_ if reference else self.threshold_new_
        p = ndtr((np.asarray(scores, dtype=float) - t) / self.score_spread_)
        return np.c_[1 - p, p]


def score_spread(scores, threshold):
    """The scale on which a score becomes a probability: the normal distribution function of
    ``(score - threshold) / spread`` gives a record at the threshold 0.5 and the reference's median record the
    share ``r`` of the reference above the threshold (the contamination it was set at):
    ``spread = (threshold - median) / z(1 - r)``.  Taken from the median and the threshold, not from the scores'
    mean and deviation (PyOD's 'unify'), so one extreme record cannot squeeze every other record's probability
    towards 0.  With no record above the threshold, or half or more, the scores' IQR / 1.349 (the standard
    deviation where they are normal), else 1."""
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    if not s.size:
        return 1.0
    m = float(np.median(s))
    r = float(np.mean(s > threshold))
    if 0 < r < 0.5 and threshold > m:
        return (threshold - m) / float(ndtri(1 - r))
    q75, q25 = np.percentile(s, [75, 25])
    return float(q75 - q25) / 1.349 if q75 > q25 else 1.0
