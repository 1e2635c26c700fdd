"""Categorical columns with too many values to one-hot encode (merchants, countries, devices), scored by how
common each record's value was among the reference records (``data.many_categories: frequency``).

The feature is the value's rank among the reference records' values, from the most common (0) down; a value
they never had ranks one past the rarest.  Each value then takes one unit of the feature's axis, so the
density of records along it is each value's share: a mixture of the feature finds a merchant that few
records went to unusual.  (The log of each value's share would not: two hundred rare merchants sit at
nearly the same share, and together they are common.)  A column whose values are mostly seen once (ids,
notes, free text) says nothing this way: every value would be rare.  Without ``frequency`` such columns are
refused, all named at once (:func:`too_many_values`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ...dates import unreadable
from ...errors import DataError
from .data import category_text
from .groups import MIN_GROUP

logger = logging.getLogger("gmm_apps.anomaly")

#: a column in which at least this share of the records hold a value no other record has is an id or free
#: text, not a category: how common its values are says nothing
MOSTLY_ONCE = 0.5


def counts_of(values):
    """How many records hold each value of a column (a pandas Series, as :func:`.data.category_text` writes its
    cells: an empty cell is the value ``''``, no merchant being a value too): value -> count."""
    counts = category_text(values).value_counts(sort=False)
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
    keys = category_text(values)
    known = keys.map(counts)
    new = known.isna().to_numpy() & (values.notna().to_numpy() if marginalize else True)
    if new.any():
        seen = [v or "an empty cell" for v in dict.fromkeys(keys[new])]
        logger.warning(
            "%s: column %r has %d record(s) with a value the reference records never had (%s); they rank as rarer "
            "than any they had",
            source,
            column,
            int(new.sum()),
            ", ".join(v if v == "an empty cell" else repr(v) for v in seen[:3]) + (", ..." if len(seen) > 3 else ""),
        )
    rank = {v: i for i, v in enumerate(sorted(counts, key=lambda v: (-counts[v], v)))}
    out = keys.map(rank).to_numpy(dtype=float, na_value=float(len(rank)))
    if marginalize:
        out[values.isna().to_numpy()] = np.nan
    return out


def too_many_values(source, wide, columns, cfg, df, *, named):
    """Columns with more categories than one-hot takes (ids, notes, codes, merchants), all named at once, and the
    data.columns that leaves them out, or data.many_categories: frequency for those whose values repeat; a
    column with a different value in every row is offered as data.id_column when none is set (``named``: the
    id column was found)."""
    limit, rows = cfg.max_categories, len(df)

    def what(values):
        sample = pd.Series(values[:: max(1, len(values) // 20)][:20])
        dates = not unreadable(sample).any()
        return f"{len(values):,} values, {'dates, ' if dates else ''}e.g. {values[0]!r}"

    listed = " and ".join(f"{c!r} ({what(v)})" for c, v in wide.items())
    ids = [c for c, v in wide.items() if len(v) == rows]
    kept = [str(x) for x in columns if x not in wide]
    keep = ", ".join(kept)
    several = len(wide) > 1
    said = f"{source}: column{'s' if several else ''} {listed} {'are' if several else 'is'} categorical with more "
    said += f"than data.max_categories={limit} values; "
    if ids and not named and not several and _free_text(wide[ids[0]]):
        err = DataError(
            f"{said}it holds free text, a different one in every row (a log line, a note): leave it out with "
            f"data.columns: [{keep}], or, if it names each record, set data.id_column: {ids[0]}"
        )
        err.fix = {"data.columns": kept}  # what init --data writes
        return err
    if ids and not named and not several:
        err = DataError(f"{said}it has a different value in every row, as an id does: set data.id_column: {ids[0]}")
    elif ids and not named:
        said += f"set data.id_column: {ids[0]} (a different value in every row) and leave the others out with "
        others = {c: v for c, v in wide.items() if c not in ids}
        err = DataError(f"{said}data.columns: [{keep}], or raise data.max_categories{how_common_hint(others, cfg, df)}")
    else:
        err = DataError(
            f"{said}leave {'them' if several else 'it'} out with data.columns: [{keep}], or raise data.max_categories"
            + how_common_hint(wide, cfg, df)
        )
    err.fix = {"data.id_column": ids[0]} if ids and not named else {}  # what init --data writes
    if not (ids and not named and not several):
        err.fix["data.columns"] = kept
    return err


def _free_text(values):
    """Whether a column's values are free text (most of three words or more: a log line, a description), not
    codes or ids (``TX-10293``, ``a3f9...``)."""
    sample = [str(v) for v in values[:1000]]
    return bool(sample) and sum(len(v.split()) >= 3 for v in sample) >= 0.5 * len(sample)


def how_common_hint(wide, cfg, df):
    """What data.many_categories offers for these columns: scoring how common each value is where values repeat
    (merchants, countries), nothing where they are mostly seen once (ids, notes)."""
    repeat = [c for c in wide if not mostly_once(counts_of(df[c]))]
    if cfg.many_categories == "frequency" and wide:
        return "; with data.many_categories: frequency too: most of its records hold a value seen once, as ids and notes do"
    if not repeat:
        return ""
    said = f", or score how common each value of {', '.join(map(repr, repeat))} is: data.many_categories: frequency"
    group = next((c for c in repeat if _grouped(counts_of(df[c]))), None) if cfg.group_column is None else None
    if group is not None:
        said += (
            f", or, if {group!r} says whose or where each record is (a card, a customer, a merchant), score each "
            f"record against its group's usual values: data.group_column: {group}"
        )
    return said


def _grouped(counts):
    """Whether most records hold a value that at least :data:`.groups.MIN_GROUP` records hold (a group with
    fewer is scored against all records, so a column of mostly small groups says little as data.group_column)."""
    n = sum(counts.values())
    return n > 0 and sum(v for v in counts.values() if v >= MIN_GROUP) >= 0.5 * n
