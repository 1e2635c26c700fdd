"""One amount written in two columns: money out and money in, as bank statements and bookkeeping exports
write them (``Debit Amount`` / ``Credit Amount``, ``Paid out`` / ``Paid in``), each row filling one."""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger("gmm_apps.anomaly")

#: the share of rows that must fill exactly one of the two columns
EXACTLY_ONE = 0.95


def split_amounts(df, numeric, source):
    """The numeric columns that hold one amount between two of them: pairs never filled in the same row,
    together filling one of the two in at least :data:`EXACTLY_ONE` of the rows, each in some.

    An empty cell in such a column is 0 (a debit row has no credit), not a value nobody knows; the pairs
    are logged. Each column is in one pair at most, the pairs that cover most rows first.

    Parameters
    ----------
    df : DataFrame
        The reference records, as read.
    numeric : list of str
        The columns read as numbers.
    source : str
        The file, for the log.

    Returns
    -------
    columns : list of str
        The columns whose empty cells are 0, pair by pair.
    """
    filled = {c: df[c].notna().to_numpy() for c in numeric}
    sparse = [c for c in numeric if 0 < filled[c].sum() < len(df)]
    pairs = []
    for i, a in enumerate(sparse):
        for b in sparse[i + 1 :]:
            if (filled[a] & filled[b]).any():
                continue
            one = float(np.mean(filled[a] ^ filled[b]))
            if one >= EXACTLY_ONE:
                pairs.append((one, a, b))
    out = []
    for _, a, b in sorted(pairs, key=lambda p: -p[0]):
        if a in out or b in out:
            continue
        out += [a, b]
        logger.info(
            "%s: columns %r and %r are never filled in the same row (one amount in two columns, as statements "
            "write money out and in): an empty cell in them is 0",
            source,
            a,
            b,
        )
    return out
