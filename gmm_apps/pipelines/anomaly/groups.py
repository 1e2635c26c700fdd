"""Records scored against their own group's usual values (``data.group_column``: a card, a customer, a
merchant, an employee).

A $900 payment is ordinary at a jeweller and odd at a café; a mixture of the amounts of every merchant cannot
tell, since both amounts are common somewhere.  With a group column each numeric feature gets a companion,
``<column> vs <group>``: how far the record's value lies from its group's median, in its group's spread (the
interquartile range of the group's reference records, scaled to a standard deviation), the robust z-score an
analyst computes by hand with a group-by.  A group with fewer than :data:`MIN_GROUP` reference records, or
whose values do not vary, and a group the reference records never had, is measured against all records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: a group needs this many reference records for its own median and spread
MIN_GROUP = 5

#: the interquartile range of a normal distribution, in standard deviations
_IQR_SD = 1.349


def feature_name(column, group):
    return f"{column} vs {group}"


def learn_groups(keys, numbers):
    """``keys``: the group column's cells as text (:func:`.data.category_text`: card 1234 is one group, written
    ``1234`` or ``1234.0``; an empty cell the group ``''``).  Each group's median and spread of each numeric column (``numbers``: column -> values of the reference
    records), and all records' own, as :func:`relative` reads them (lists, for the model file's header)."""
    cols = list(numbers)
    frame = pd.DataFrame({c: np.asarray(numbers[c], dtype=float) for c in cols})
    overall_median = frame.median().to_numpy()
    overall_scale = _spread(frame.quantile(0.75).to_numpy() - frame.quantile(0.25).to_numpy(), frame.std().to_numpy())
    g = frame.groupby(keys.to_numpy(), sort=True)
    size = g.size()
    big = size.index[size.to_numpy() >= MIN_GROUP]
    median = g.median().loc[big]
    iqr = (g.quantile(0.75) - g.quantile(0.25)).loc[big].to_numpy() / _IQR_SD
    scale = np.where(np.isfinite(iqr) & (iqr > 0), iqr, overall_scale)
    return {
        "columns": cols,
        "names": [str(k) for k in big],
        "median": median.to_numpy().tolist(),
        "scale": scale.tolist(),
        "overall_median": overall_median.tolist(),
        "overall_scale": overall_scale.tolist(),
    }


def _spread(iqr, sd):
    """A column's spread in standard deviations: its interquartile range, else its standard deviation, else 1."""
    out = np.where(iqr > 0, iqr / _IQR_SD, sd)
    return np.where(np.isfinite(out) & (out > 0), out, 1.0)


def usual_name(column, group):
    """The scores.csv column of each record's group's usual value of ``column``."""
    return f"{column} usual for {group}"


def usual(keys, stats):
    """Each record's group's median and spread of each column (:func:`learn_groups`), each shape (n, columns); a
    record of a group without its own has all records'."""
    index = {name: i for i, name in enumerate(stats["names"])}
    rows = keys.map(index).to_numpy(dtype=float, na_value=-1).astype(int)
    known = (rows >= 0)[:, None]
    d = len(stats["columns"])
    median = np.asarray(stats["median"], dtype=float).reshape(-1, d)
    scale = np.asarray(stats["scale"], dtype=float).reshape(-1, d)
    centre = np.where(known, median[np.maximum(rows, 0)] if len(median) else 0.0, stats["overall_median"])
    spread = np.where(known, scale[np.maximum(rows, 0)] if len(scale) else 1.0, stats["overall_scale"])
    return centre, spread


def relative(keys, numbers, stats):
    """Each record's numeric values against its group's median and spread (:func:`usual`), shape (n, columns),
    and the medians (each record's group's usual values)."""
    X = np.column_stack([np.asarray(numbers[c], dtype=float) for c in stats["columns"]])
    centre, spread = usual(keys, stats)
    return (X - centre) / spread, centre
