"""Retention by month of first purchase: of the customers who first bought in a month (a cohort), the share
who bought in each month after (``cohorts.csv``, a heatmap in the report, averages in ``summary.json``).

A month a cohort has not reached by the log's last purchase is not observed (empty), never 0.  The log's
first month holds, besides its new customers, those who had bought before the log began: that cohort looks
more loyal than it is, and the averages leave it out.  The last month may be partial (the log ends within
it), so each cohort's latest share may be low.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: months after the first purchase shown
MAX_MONTHS = 12

#: a log spanning fewer months than this has no retention table
MIN_MONTHS = 3

#: the months after the first purchase averaged in summary.json
SUMMARY_MONTHS = (1, 3, 6, 12)


def _month(dates):
    """Months counted from year 0, so that their differences are whole months."""
    return dates.dt.year.to_numpy() * 12 + dates.dt.month.to_numpy() - 1


def retention(purchases, *, max_months=MAX_MONTHS):
    """Each cohort's size and the share of it buying in each month after its first (``month_0`` is 1).

    Parameters
    ----------
    purchases : pandas.DataFrame
        ``customer_id`` and ``date`` of each purchase.

    Returns
    -------
    table : pandas.DataFrame or None
        ``cohort`` (``YYYY-MM``), ``customers``, ``month_0`` ... ``month_{max_months}``; None when the log spans
        fewer than :data:`MIN_MONTHS` months.
    """
    month = _month(purchases["date"])
    if month.size == 0 or month.max() - month.min() + 1 < MIN_MONTHS:
        return None
    ids = purchases["customer_id"].to_numpy()
    first = pd.Series(month).groupby(ids).transform("min").to_numpy()
    active = pd.DataFrame({"id": ids, "cohort": first, "after": month - first}).drop_duplicates()
    counts = active.groupby(["cohort", "after"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=range(max_months + 1), fill_value=0)
    shares = counts.div(counts[0], axis=0)
    observed = np.arange(max_months + 1)[None, :] <= (month.max() - counts.index.to_numpy())[:, None]
    shares = shares.where(observed)
    table = shares.rename(columns=lambda k: f"month_{k}")
    table.insert(0, "customers", counts[0].to_numpy())
    table.insert(0, "cohort", [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in counts.index])
    return table.reset_index(drop=True)


def averages(table):
    """The share of a cohort buying again 1, 3, 6 and 12 months after its first purchase, weighted by the
    cohorts' sizes, over the cohorts that reached that month (the log's first cohort left out)."""
    if table is None or len(table) < 2:
        return None
    later = table.iloc[1:]
    out = {}
    for k in SUMMARY_MONTHS:
        col = f"month_{k}"
        if col not in later:
            continue
        seen = later[col].notna()
        if seen.any():
            w = later.loc[seen, "customers"]
            out[col] = float((later.loc[seen, col] * w).sum() / w.sum())
    return out or None
