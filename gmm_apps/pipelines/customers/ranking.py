"""Which customers to target: the rankings compared (segment value, forward value, RFM, calibration spend and
their combination), the one recommended, chosen on the calibration period alone (an inner split of it), and the
holdout check of them all against what customers really spent."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .features import (
    capture_difference_interval,
    captured_at,
    captured_in_order,
    customer_features,
    holdout_outcomes,
    ranking_order,
    rfm_scores,
)
from .model import PurchaseModel, kmeans_baseline

#: rankings the report compares and the recommendation chooses among, in the order ties are broken
RANKINGS = ("combined", "forward value", "segments", "rfm", "calibration spend")
#: recommended unless the calibration period clearly prefers another
DEFAULT_RANKING = "combined"


def rankings(feats, P, seg, rfm, forward):
    """Each ranking's score per customer (higher first).

    Segment value (posterior-weighted), forward value, RFM (score, then cell),
    calibration spend, and ``combined``: the mean of the first two's and
    calibration spend's percentile ranks (ties share their mean rank).
    """
    scores = {
        "forward value": forward,
        "segments": P @ seg.values,
        "rfm": (rfm["rfm_score"].to_numpy(), rfm["rfm_cell"].to_numpy()),
        "calibration spend": feats["total_spend"].to_numpy(),
    }
    parts = [scores[name] for name in ("segments", "forward value", "calibration spend")]
    scores["combined"] = np.mean([pd.Series(x).rank(method="average").to_numpy() / len(x) for x in parts], axis=0)
    return scores


def _order(score):
    """Targeting order of one of :func:`rankings`' scores (a tuple is a score and its tie-break)."""
    return ranking_order(score[0], tie_break=score[1]) if isinstance(score, tuple) else ranking_order(score)


def _capture(score, outcome, top):
    """Share of ``outcome`` captured by the top ``top`` under one of :func:`rankings`' scores."""
    return captured_in_order(_order(score), outcome, top)


def recommend(purchases, win, seg, cfg, weeks):
    """The ranking to recommend, chosen on the calibration period alone.

    The calibration period is split again: features up to ``weeks`` (at most
    half the calibration) before its end, outcomes in those last weeks.  The
    purchase model is refitted on the inner part; the segmentation (fitted on the
    whole calibration period) scores the inner features.  ``combined`` is
    recommended unless another ranking captures clearly more of the inner
    outcome's revenue in the top share (the 95% bootstrap interval of the
    difference, customers resampled, above zero); then the best such ranking.

    Returns
    -------
    choice : str
    inner : dict or None
        Each ranking's capture on the inner split, the intervals of its
        difference from ``combined``, and the split's dates.
    """
    inner_weeks = min(weeks, (win.cal_end - win.start).days / 14)
    inner_end = win.cal_end - pd.Timedelta(days=int(round(7 * inner_weeks)))
    cal = purchases[purchases["date"] < win.cal_end]
    if inner_weeks < 1 or (cal["date"] < inner_end).sum() == 0:
        return DEFAULT_RANKING, None
    feats = customer_features(
        cal,
        as_of=inner_end,
        convention=cfg.features.rfm_convention,
        recent_weeks=min(cfg.features.recent_weeks, max(1, int(inner_weeks))),
    )
    outcome = holdout_outcomes(cal, start=inner_end, end=win.cal_end, index=feats.index)["holdout_spend"].to_numpy()
    if outcome.sum() <= 0:
        return DEFAULT_RANKING, None
    forward = PurchaseModel().fit(feats).expected_spend(feats, inner_weeks)
    scores = rankings(feats, seg.proba(feats), seg, rfm_scores(feats), forward)
    top = cfg.report.top_share
    orders = {name: _order(scores[name]) for name in RANKINGS}
    caught = {name: captured_in_order(orders[name], outcome, top) for name in RANKINGS}
    margins = {
        name: capture_difference_interval(
            orders[name], orders[DEFAULT_RANKING], outcome, top, random_state=cfg.model.random_state
        )
        for name in RANKINGS
        if name != DEFAULT_RANKING
    }
    clearly = [name for name, (low, _) in margins.items() if low > 0]
    best = max(clearly, key=lambda n: (caught[n], -RANKINGS.index(n))) if clearly else DEFAULT_RANKING
    return best, {
        "start": str(win.start.date()),
        "split": str(inner_end.date()),
        "end": str((win.cal_end - pd.Timedelta(days=1)).date()),
        "captures": caught,
        "difference_from_combined_95": {n: [round(lo, 5), round(hi, 5)] for n, (lo, hi) in margins.items()},
    }


def validate(feats, seg, P, rfm, holdout, cfg, win, forward, recommended):
    """The holdout check: revenue captured by the top share of customers under each ranking, and the forward
    value's errors against what customers really spent."""
    if holdout is None or holdout["holdout_spend"].sum() <= 0:
        return None
    top = cfg.report.top_share
    hs = holdout["holdout_spend"].to_numpy()
    scores = rankings(feats, P, seg, rfm, forward)
    modeled = (feats["n_purchases"] > 1).to_numpy() if seg.separate else np.ones(len(feats), bool)
    Z = seg.standardise(feats[modeled])
    km_val = np.full(len(feats), np.nan)
    km_val[modeled], _ = kmeans_baseline(
        Z, seg.model.n_components, feats["total_spend"].to_numpy()[modeled], cfg.model.random_state
    )
    if seg.separate:
        km_val[~modeled] = seg.values[seg.one_timer_segment]
    caught = {name: _capture(scores[name], hs, top) for name in RANKINGS}
    return {
        "top_share": top,
        "recommended": recommended,
        "capture_recommended": caught[recommended],
        "capture_segments": caught["segments"],
        "capture_forward_value": caught["forward value"],
        "capture_combined": caught["combined"],
        "capture_rfm": caught["rfm"],
        "capture_kmeans": captured_at(km_val, hs, top),
        "capture_calibration_spend": caught["calibration spend"],
        "holdout_revenue": float(hs.sum()),
        "holdout_weeks": round(win.holdout_weeks, 2),
        "holdout_start": str(win.cal_end.date()),
        "holdout_end": str((win.ho_end - pd.Timedelta(days=1)).date()),
        "forward_value": {
            "predicted_total": float(forward.sum()),
            "actual_total": float(hs.sum()),
            "total_error": float(forward.sum() / hs.sum() - 1),
            "mean_absolute_error": float(np.mean(np.abs(forward - hs))),
        },
        "_curves": {**scores, "k-means": km_val},
        "_outcome": hs,
    }
