"""Readable segment names and suggested actions from segment profiles, and amounts written in their currency."""

from __future__ import annotations

import numpy as np
import pandas as pd

ACTIONS = {
    "champions": "Reward them: early access, loyalty perks; ask for reviews and referrals.",
    "loyal": "Upsell and cross-sell; invite them to the loyalty programme.",
    "big spenders": "Premium offers and personal service; protect the relationship.",
    "at risk": "Win them back now: personal outreach and a time-limited offer.",
    "need attention": "Re-engage with recommendations based on what they bought before.",
    "promising": "Nurture towards a habit: a second-purchase incentive and onboarding.",
    "hibernating": "Occasional reminders with best sellers; keep costs low.",
    "lost": "Cheap reactivation only; leave them out of expensive campaigns.",
    "new one-timers": "Convert to a second purchase soon: a welcome offer within 30 days.",
    "lapsed one-timers": "Mass campaigns only; they rarely come back.",
    "one-timers": "Convert to a second purchase; measure who responds.",
}


def profile(features, proba):
    """Probability-weighted mean features of each segment.

    Parameters
    ----------
    features : pandas.DataFrame
        Customers x features (raw units).
    proba : ndarray of shape (n_customers, K)

    Returns
    -------
    profile : pandas.DataFrame
        K rows: weighted means of every feature over the customers for whom it
        is defined (NaN if for none), ``customers`` (expected count) and
        ``one_timer_share``.
    """
    w = proba / np.maximum(proba.sum(axis=0, keepdims=True), 1e-300)
    num = features.select_dtypes("number")
    x = num.to_numpy(dtype=float)
    defined = ~np.isnan(x)
    # undefined values (e.g. gaps since last purchase of one-time buyers) are left out of the means;
    # a segment with no defined value of a feature gets NaN, not 0
    mass = proba.T @ defined
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(mass > 0, (proba.T @ np.where(defined, x, 0.0)) / mass, np.nan)
    prof = pd.DataFrame(means, columns=num.columns)
    prof["customers"] = proba.sum(axis=0)
    prof["one_timer_share"] = w.T @ (features["n_purchases"].to_numpy() == 1).astype(float)
    return prof


def name_segments(prof, population):
    """A name per segment from its profile relative to the population.

    Segments mostly of one-time buyers are 'new one-timers' or 'lapsed
    one-timers' by recency.  Others are named from how frequent, recent and
    big-spending they are relative to the repeat buyers' medians.  Duplicate
    names get a spend qualifier.

    Parameters
    ----------
    prof : pandas.DataFrame
        From :func:`profile`.
    population : pandas.DataFrame
        All customers' features.

    Returns
    -------
    names : list of str
    """
    rep = population[population["n_purchases"] > 1]
    if rep.empty:
        rep = population
    med_n = rep["n_purchases"].median()
    hi_n = rep["n_purchases"].quantile(0.75)
    med_rec = population["recency"].median()
    rep_rec = rep["recency"].median()
    hi_spend = rep["total_spend"].quantile(0.75)
    names = []
    for _, s in prof.iterrows():
        if s["one_timer_share"] >= 0.5:
            names.append("new one-timers" if s["recency"] < med_rec else "lapsed one-timers")
            continue
        recent = s["recency"] <= rep_rec
        if s["n_purchases"] >= hi_n:
            names.append("champions" if recent else "at risk")
        elif s["n_purchases"] >= med_n:
            if s["total_spend"] >= hi_spend and recent:
                names.append("big spenders")
            else:
                names.append("loyal" if recent else "need attention")
        else:
            if recent:
                names.append("promising")
            else:
                names.append("lost" if s["recency"] > 1.5 * rep_rec else "hibernating")
    return _unique(names, prof)


def _unique(names, prof):
    out = list(names)
    for n in set(names):
        idx = [i for i, m in enumerate(names) if m == n]
        if len(idx) < 2:
            continue
        order = sorted(idx, key=lambda i: -prof["total_spend"].iloc[i])
        for rank, i in enumerate(order):
            tag = "high spend" if rank == 0 else ("lower spend" if rank == len(order) - 1 else f"mid spend {rank}")
            out[i] = f"{n} ({tag})"
    return out


def action_for(name):
    """The suggested action for a segment name (qualifiers ignored)."""
    base = name.split(" (")[0]
    return ACTIONS.get(base, "Review this segment's profile before acting.")


#: currencies written as their sign before the amount; others as their code (CHF 1,234.50)
_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "KRW": "₩", "INR": "₹", "RUB": "₽", "TRY": "₺", "ILS": "₪"}


def money(v, code, digits=2):
    """An amount as a marketer reads it: ``$1,234.50``, ``€1,234.50``, ``CHF 1,234.50``; the number alone when
    nothing says the currency (neither the log nor data.currency), so no figure shows a sign it was not in."""
    if not np.isfinite(v):
        return "–"
    text = f"{v:,.{digits}f}" if code != "INR" else _lakhs(v, digits)
    if code is None:
        return text
    return f"{_SIGNS[code]}{text}" if code in _SIGNS else f"{code} {text}"


def _lakhs(v, digits):
    """An amount grouped as India writes rupees: thousands, then lakhs and crores in pairs (``29,77,726.50``)."""
    whole, _, part = f"{abs(v):.{digits}f}".partition(".")
    head, tail = whole[:-3], whole[-3:]
    pairs = [head[max(0, i - 2) : i] for i in range(len(head), 0, -2)][::-1]
    return ("-" if v < 0 else "") + ",".join([*pairs, tail]) + (f".{part}" if part else "")
