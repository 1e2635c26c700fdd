"""Per-customer features from a transaction log, as pure functions.

Conventions (stated in the report too):

- transactions on the same day by the same customer are one purchase;
- ``recency``: days from the last purchase to the last day observed (smaller is more recent);
- ``tenure``: days from the first purchase to the last day observed;
- ``frequency``: repeat purchases (``n_purchases - 1``) with the 'repeat' convention
  (Fader-Hardie), all purchases with 'all';
- ``monetary``: mean value of the repeat purchases ('repeat'; the first purchase's value
  for one-time buyers) or of all purchases ('all');
- ``aov``: total spend / purchases; ``interpurchase_days``: mean days between purchases
  (NaN for one-time buyers); ``gaps_since_last``: recency in units of the customer's own
  inter-purchase time (how many usual gaps have passed without a purchase; NaN for one-time
  buyers); ``recent_spend``: spend in the last ``recent_weeks`` weeks; ``repeat_monetary``: mean value of
  the repeat purchases (NaN for one-time buyers; the purchase model's spend input).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import DataError

FEATURE_COLUMNS = [
    "n_purchases",
    "frequency",
    "recency",
    "tenure",
    "monetary",
    "aov",
    "interpurchase_days",
    "gaps_since_last",
    "total_spend",
    "recent_spend",
]


def merge_same_day(tx):
    """One row per customer and day (quantities and amounts summed).

    Parameters
    ----------
    tx : pandas.DataFrame
        Columns ``customer_id``, ``date``, ``quantity``, ``amount``.

    Returns
    -------
    purchases : pandas.DataFrame
        Same columns, sorted by customer and date.
    """
    day = tx.assign(date=tx["date"].dt.normalize())
    return day.groupby(["customer_id", "date"], as_index=False, sort=True)[["quantity", "amount"]].sum()


def customer_features(purchases, *, as_of, convention="repeat", recent_weeks=26):
    """Features of every customer with a purchase before ``as_of``.

    Parameters
    ----------
    purchases : pandas.DataFrame
        From :func:`merge_same_day`.
    as_of : pandas.Timestamp
        End of the observation window (exclusive).
    convention : {'repeat', 'all'}
    recent_weeks : int

    Returns
    -------
    features : pandas.DataFrame
        Indexed by ``customer_id`` (sorted), columns :data:`FEATURE_COLUMNS`.
    """
    p = purchases[purchases["date"] < as_of]
    if p.empty:
        raise DataError(f"no purchases before {as_of.date()}; check split.start and split.calibration_weeks")
    last_day = as_of - pd.Timedelta(days=1)
    g = p.groupby("customer_id", sort=True)
    first = g["date"].min()
    last = g["date"].max()
    n = g["date"].count()
    total = g["amount"].sum()
    first_value = g["amount"].first()
    recent_from = as_of - pd.Timedelta(weeks=recent_weeks)
    recent = p[p["date"] >= recent_from].groupby("customer_id")["amount"].sum().reindex(n.index, fill_value=0.0)
    f = pd.DataFrame(index=n.index)
    f["n_purchases"] = n.astype(int)
    f["frequency"] = (n - 1 if convention == "repeat" else n).astype(int)
    f["recency"] = (last_day - last).dt.days.astype(int)
    f["tenure"] = (last_day - first).dt.days.astype(int)
    if convention == "repeat":
        f["monetary"] = np.where(n > 1, (total - first_value) / (n - 1).clip(lower=1), first_value)
    else:
        f["monetary"] = total / n
    f["aov"] = total / n
    span = (last - first).dt.days
    f["interpurchase_days"] = np.where(n > 1, span / (n - 1).clip(lower=1), np.nan)
    f["gaps_since_last"] = f["recency"] / f["interpurchase_days"].clip(lower=1)
    f["total_spend"] = total
    f["recent_spend"] = recent
    f["repeat_monetary"] = np.where(n > 1, (total - first_value) / (n - 1).clip(lower=1), np.nan)
    return f


def rfm_scores(features):
    """The marketer's RFM quintile scores (5 = best).

    R from recency (most recent = 5), F from the number of purchases, M from total
    spend; ties are split by customer order (``rank(method='first')``) as a
    spreadsheet would.  ``rfm_score`` is R + F + M; ``rfm_cell`` the code R F M.

    Parameters
    ----------
    features : pandas.DataFrame

    Returns
    -------
    scores : pandas.DataFrame
        Columns ``rfm_R``, ``rfm_F``, ``rfm_M``, ``rfm_score``, ``rfm_cell``.
    """

    def q(x):
        r = x.rank(method="first")
        return np.ceil(r / len(x) * 5).astype(int).clip(1, 5)

    R = q(-features["recency"])
    F = q(features["n_purchases"])
    M = q(features["total_spend"])
    return pd.DataFrame(
        {"rfm_R": R, "rfm_F": F, "rfm_M": M, "rfm_score": R + F + M, "rfm_cell": R * 100 + F * 10 + M},
        index=features.index,
    )


def model_matrix(features, names):
    """``log1p`` of the chosen features, shape (n_customers, len(names)).

    Parameters
    ----------
    features : pandas.DataFrame
    names : list of str

    Returns
    -------
    X : ndarray
    """
    X = features[list(names)].to_numpy(dtype=np.float64)
    if np.isnan(X).any():
        col = names[int(np.flatnonzero(np.isnan(X).any(axis=0))[0])]
        raise DataError(
            f"feature {col!r} is undefined for one-time buyers; use features.one_time_buyers: separate or drop it from features.model"
        )
    return np.log1p(np.clip(X, 0, None))


def holdout_outcomes(purchases, *, start, end, index):
    """Purchases (days) and spend of each customer in ``[start, end)``.

    Returns
    -------
    outcomes : pandas.DataFrame
        Indexed like ``index``, columns ``holdout_purchases``, ``holdout_spend``.
    """
    h = purchases[(purchases["date"] >= start) & (purchases["date"] < end)]
    g = h.groupby("customer_id")
    return pd.DataFrame(
        {
            "holdout_purchases": g["date"].count().reindex(index, fill_value=0).astype(int),
            "holdout_spend": g["amount"].sum().reindex(index, fill_value=0.0),
        }
    )


def capture_curve(value, outcome, *, tie_break=None):
    """Share of ``outcome`` captured by the top fraction of customers ranked by ``value``.

    Parameters
    ----------
    value : ndarray of shape (n,)
        Higher is targeted first.
    outcome : ndarray of shape (n,)
    tie_break : ndarray of shape (n,), optional
        Secondary key for equal values (higher first).

    Returns
    -------
    share_targeted, share_captured : ndarrays of shape (n + 1,)
    """
    return _curve_in_order(ranking_order(value, tie_break=tie_break), outcome)


def _curve_in_order(order, outcome):
    cum = np.r_[0.0, np.cumsum(np.asarray(outcome, dtype=float)[order])]
    total = cum[-1] if cum[-1] > 0 else 1.0
    return np.arange(len(order) + 1) / max(1, len(order)), cum / total


def ranking_order(value, *, tie_break=None):
    """Customers' positions from the first targeted to the last: ``value`` high first, then ``tie_break``
    high first, then the file's order."""
    value = np.asarray(value, dtype=float)
    keys = (np.arange(len(value))[::-1],) + ((np.asarray(tie_break),) if tie_break is not None else ()) + (value,)
    return np.lexsort(keys)[::-1]


def capture_difference_interval(order_a, order_b, outcome, share, *, n_boot=200, level=0.95, random_state=0):
    """Bootstrap interval of (capture by ranking a) - (capture by ranking b), customers resampled.

    Both rankings are scored on the same resamples (Poisson weights, so one
    resample is one weight per customer and the orders need no re-sorting); a
    resample's top ``share`` is its heaviest-ranked customers holding that
    share of its weight.

    Parameters
    ----------
    order_a, order_b : ndarrays of shape (n,)
        :func:`ranking_order` of each ranking.
    outcome : ndarray of shape (n,)
        Each customer's revenue in the period checked.
    share : float
        Top share of customers targeted.

    Returns
    -------
    low, high : float
    """
    rng = np.random.default_rng(random_state)
    y = np.asarray(outcome, dtype=float)
    diffs = []
    for start in range(0, n_boot, 50):
        W = rng.poisson(1.0, size=(min(50, n_boot - start), len(y))).astype(float)
        total = np.maximum(W @ y, np.finfo(float).tiny)
        got = []
        for order in (order_a, order_b):
            w = W[:, order]
            top = np.cumsum(w, axis=1) <= share * w.sum(axis=1, keepdims=True)
            got.append(((w * y[order]) * top).sum(axis=1) / total)
        diffs.append(got[0] - got[1])
    d = np.concatenate(diffs)
    tail = 100 * (1 - level) / 2
    return float(np.percentile(d, tail)), float(np.percentile(d, 100 - tail))


def captured_at(value, outcome, share, *, tie_break=None):
    """Share of ``outcome`` captured by the top ``share`` of customers by ``value``."""
    return captured_in_order(ranking_order(value, tie_break=tie_break), outcome, share)


def captured_in_order(order, outcome, share):
    """:func:`captured_at` for customers already in targeting order (:func:`ranking_order`)."""
    x, y = _curve_in_order(order, outcome)
    return float(y[int(round(share * (len(x) - 1)))])
