"""Categorical columns with too many values to one-hot encode (merchants, countries, devices), scored by how
common each record's value was among the reference records (``data.many_categories: frequency``).

The feature is the value's rank among the reference records' values, from the most common (0) down; a value
they never had ranks one past the rarest.  Each value then takes one unit of the feature's axis, so the
density of records along it is each value's share: a mixture of the feature finds a merchant that few
records went to unusual.  (The log of each value's share would not: two hundred rare merchants sit at
nearly the same share, and together they are common.)  A column whose values are mostly seen once (ids,
notes, free text) says nothing this way: every value would be rare.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger("gmm_apps.anomaly")

#: a column in which at least this share of the records hold a value no other record has is an id or free
#: text, not a category: how common its values are says nothing
MOSTLY_ONCE = 0.5


def _keys(values):
    """A column's cells as the text counted: an empty cell is the value ``''`` (no merchant is a value too)."""
    return values.astype(str).where(values.notna(), "")


def counts_of(values):
    """How many records hold each value of a column (a pandas Series; empty cells as ``''``): value -> count."""
    counts = _keys(values).value_counts(sort=False)
    return {str(k): int(v) for k, v in sorted(counts.items())}


def mostly_once(counts):
    """Whether most of the records holding a value hold one that no other record has (ids, notes)."""
    n = sum(counts.values())
    return n == 0 or sum(1 for v in counts.values() if v == 1) >= MOSTLY_ONCE * n


def feature_name(column):
    return f"{column} (rarity rank)"


def how_common(values, counts, column, source, *, marginalize=False):
    """The feature of a column's cells (a pandas Series): each value's rank in the reference records (``counts``,
    from :func:`counts_of`), the most common 0, ties in the values' order; a value they never had ranks one past
    the rarest (and is said, with how many records held one); an empty cell is a value of its own, or NaN with
    ``marginalize`` (scored without it)."""
    known = _keys(values).map(counts)
    new = known.isna().to_numpy() & (values.notna().to_numpy() if marginalize else True)
    if new.any():
        seen = [v or "an empty cell" for v in dict.fromkeys(_keys(values[new]))]
        logger.warning(
            "%s: column %r has %d record(s) with a value the reference records never had (%s); they rank as rarer "
            "than any they had",
            source,
            column,
            int(new.sum()),
            ", ".join(v if v == "an empty cell" else repr(v) for v in seen[:3]) + (", ..." if len(seen) > 3 else ""),
        )
    rank = {v: i for i, v in enumerate(sorted(counts, key=lambda v: (-counts[v], v)))}
    out = _keys(values).map(rank).to_numpy(dtype=float, na_value=float(len(rank)))
    if marginalize:
        out[values.isna().to_numpy()] = np.nan
    return out
