"""From scores to decisions: the one threshold rule of the package."""

from __future__ import annotations

import math

import numpy as np


def threshold_at_rate(reference_scores, rate):
    """The lowest threshold that at most ``rate`` of the reference scores exceed.

    Decisions then read "score >= threshold" (or "score > threshold"): a record
    flagged as anomalous, an impostor accepted as a known speaker.  On the
    reference scores the share decided that way is at most ``rate`` (an order
    statistic, not an interpolated quantile, so the bound holds exactly).

    Parameters
    ----------
    reference_scores : array-like of shape (n,)
        Scores of the reference population (training records, impostor trials).
    rate : float in (0, 1)

    Returns
    -------
    threshold : float
        Just above the ``ceil((1 - rate) * n)``-th smallest score.

    Raises
    ------
    ValueError
        If there are no finite scores or ``rate`` is outside (0, 1).
    """
    s = np.sort(np.asarray(reference_scores, dtype=np.float64))
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError("no finite reference scores to set a threshold on")
    if not 0 < rate < 1:
        raise ValueError(f"rate must lie in (0, 1), got {rate}")
    k = min(max(math.ceil((1 - rate) * s.size) - 1, 0), s.size - 1)
    return float(np.nextafter(s[k], np.inf))
