"""Segment migration: which customers moved between segments since the run, as a marketer asks after a quarter.

The run's ``customers.csv`` holds each customer's segment as of the end of its calibration period; ``apply`` on a
later log assigns them again. Segments are numbered by value (0 the most valuable), so a move to a lower number is
a move up. Pure functions on the two assignments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["segment_moves", "moves_sentence"]

#: the row and column of the table for customers only one of the two assignments has
NEW, ABSENT = "new customers", "not in the new log"


def segment_moves(before, after, names):
    """The customers in each segment then and now.

    Parameters
    ----------
    before, after : pandas.Series
        Segment numbers indexed by customer id: the run's, and the new log's.
    names : list of str
        Segment names by number.

    Returns
    -------
    table : pandas.DataFrame
        Customers by segment then (rows, then ``new customers``) and now (columns, then ``not in the new log``).
    moves : dict
        ``customers_in_both``, ``stayed``, ``up`` (to a segment of more value: a lower number; one-timers who
        bought again and became "lost" move up, as lost customers were worth more), ``down``, ``new``, ``absent`` and
        ``largest``: the three largest moves between two segments, each ``{from, to, customers}``.
    """
    both = before.index.intersection(after.index)
    then, now = before.loc[both].to_numpy(dtype=int), after.loc[both].to_numpy(dtype=int)
    k = len(names)
    counts = np.zeros((k + 1, k + 1), dtype=int)
    np.add.at(counts, (then, now), 1)
    counts[k, :k] = np.bincount(after.drop(both).to_numpy(dtype=int), minlength=k)
    counts[:k, k] = np.bincount(before.drop(both).to_numpy(dtype=int), minlength=k)
    table = pd.DataFrame(counts, index=[*names, NEW], columns=[*names, ABSENT]).rename_axis("segment then")
    off = [(int(counts[i, j]), i, j) for i in range(k) for j in range(k) if i != j and counts[i, j]]
    largest = sorted(off, key=lambda t: (-t[0], t[1], t[2]))[:3]
    moves = {
        "customers_in_both": len(both),
        "stayed": int(np.sum(then == now)),
        "up": int(np.sum(now < then)),
        "down": int(np.sum(now > then)),
        "new": int(counts[k, :k].sum()),
        "absent": int(counts[:k, k].sum()),
        "largest": [{"from": names[i], "to": names[j], "customers": c} for c, i, j in largest],
    }
    return table, moves


def moves_sentence(moves, since):
    """What the headline adds: 'since 1997-09-30, 719 of 2,357 customers changed segment (326 loyal -> lost, 139
    one-timers -> loyal, 88 loyal -> champions)'."""
    if not moves["customers_in_both"]:
        return f"none of the run's customers (as of {since}) is in the new log"
    moved = moves["customers_in_both"] - moves["stayed"]
    said = f"since {since}, {moved:,} of {moves['customers_in_both']:,} customers changed segment"
    if moves["largest"]:
        said += " (" + ", ".join(f"{m['customers']:,} {m['from']} -> {m['to']}" for m in moves["largest"]) + ")"
    return said
