"""One amount written in two columns: money out and money in, as bank statements and bookkeeping exports
write them (``Debit Amount`` / ``Credit Amount``, ``Paid out`` / ``Paid in``), each row filling one."""

from __future__ import annotations

import logging
import re

import numpy as np

logger = logging.getLogger("gmm_apps.anomaly")

#: the share of rows that must fill exactly one of the two columns (or move a balance by an amount)
EXACTLY_ONE = 0.95
#: rows whose variety of steps and amounts is looked at
SCREEN = 2000
#: rows a running balance is first looked for in, before all rows confirm it
GLANCE = 200


#: headers of money moving (the pair's both): two sensors read in turn are not one amount, and keep their gaps
_MONEY = re.compile(
    r"debit|credit|withdraw|deposit|paid|payment|charge|refund|amount|money|\b(in|out)\b|spent|received|sent"
    r"|soll|haben|belastung|gutschrift|zahlung|eingang|ausgang|betrag|montant|débit|crédit|cargo|abono",
    re.IGNORECASE,
)


def split_amounts(df, numeric, source):
    """The numeric columns that hold one amount between two of them: pairs whose headers speak of money
    (:data:`_MONEY`), never filled in the same row, together filling one of the two in at least
    :data:`EXACTLY_ONE` of the rows, each in some.

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
    sparse = [c for c in numeric if 0 < filled[c].sum() < len(df) and _MONEY.search(str(c))]
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


def running_balances(values, zero_blank, source):
    """The numeric columns that are a running balance: from row to row they change by another column's
    amount, either sign (or by money in less money out, for a pair of :func:`split_amounts`), in at
    least :data:`EXACTLY_ONE` of the rows it fills (at least half of them: a statement leaves it empty on a
    payment pending or reverted, which did not move it), the file oldest or newest first.

    A balance says where the account stood, not how unusual a record is (as a date says when it came),
    so the caller leaves it out of the features unless ``data.columns`` names it; logged here.

    Parameters
    ----------
    values : dict of str to ndarray
        Each numeric column's values as numbers (NaN where empty).
    zero_blank : list of str
        The pairs of :func:`split_amounts`, one after the other.
    source : str

    Returns
    -------
    columns : list of str
    """
    values = {c: np.nan_to_num(v) if c in zero_blank else v for c, v in values.items()}
    moves = dict(values)
    moves.update({f"{b} - {a}": values[b] - values[a] for a, b in zip(zero_blank[::2], zero_blank[1::2])})
    moves = {k: (m, tol) for k, m in moves.items() if (tol := _amount_tolerance(m)) is not None}
    out = []
    for c, level in values.items():
        # a row it leaves empty (a payment pending, or reverted) did not move it: the rows it fills are compared
        filled = np.isfinite(level)
        level = level[filled]
        steps = np.diff(level[:SCREEN])
        if len(level) < max(10, 0.5 * filled.size) or c in zero_blank or np.unique(steps[steps != 0]).size < 3:
            continue  # a balance moves by varied amounts; a row counter (steps of one) is no balance
        # first on a few rows, loosely, then on all: a pair of columns costs a few hundred operations
        cut = {k: (m[filled], tol) for k, (m, tol) in moves.items() if k != c}
        near = {k: m for k, m in cut.items() if _moves_by(level[:GLANCE], m[0][:GLANCE], m[1], 0.8)}
        if any(_moves_by(level, move, tol, EXACTLY_ONE) for move, tol in near.values()):
            out.append(c)
    if out:
        logger.info(
            "%s: column(s) %s are running totals (each row's value is the one before plus another column's "
            "amount, as a bank balance is) and are left out: a total says where the account stood, not how "
            "unusual a record is; name it in data.columns to score it",
            source,
            ", ".join(repr(str(c)) for c in out),
        )
    return out


def _amount_tolerance(move):
    """How near a balance's step must come to ``move`` to be it: half a cent on money, a thousandth of the
    typical amount on small numbers; None for a column that is no amount (empty on half the rows, or
    moving by fewer than three different amounts, as a count of ones does)."""
    moved = np.abs(move[np.isfinite(move) & (move != 0)])
    if moved.size < 0.5 * move.size or np.unique(moved[:SCREEN]).size < 3:
        return None
    return min(0.005, 1e-3 * float(np.median(moved)))


def _moves_by(level, move, tol, share):
    """Whether ``level`` changes from row to row by ``move``, either sign, within ``tol`` (and a billionth of
    the level), in at least ``share`` of the rows, the file oldest or newest first."""
    step = np.diff(level)
    near = tol + 1e-9 * np.abs(level[1:])
    # oldest first, b_t - b_(t-1) = a_t; newest first, b_(t-1) - b_t = a_(t-1); money out counts down
    for amount in (move[1:], move[:-1]):
        for sign in (1, -1):
            if np.mean(np.abs(sign * step - amount) <= near) >= share:
                return True
    return False
