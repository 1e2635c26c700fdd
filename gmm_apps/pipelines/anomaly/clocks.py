"""Numbers that count time: a column of seconds since the first record (Kaggle's credit-card ``Time``), of
simulation steps (PaySim's ``step``) or of day numbers, in the file's order. Such a column says when a record
came, not how unusual it is, and the records scored later come later: fitted, it would flag every one of them."""

from __future__ import annotations

import logging
import re

import numpy as np

logger = logging.getLogger("gmm_apps.anomaly")

#: headers of a column of dates or times written as numbers (a Unix time stamp is a number like any other)
TIME_HEADER = re.compile(r"time|date|stamp|created|epoch|_at$|^ts$|^when$", re.IGNORECASE)
#: headers of a count of time or steps: those, a step, tick, elapsed time or sequence number, a day or hour
_CLOCK_HEADER = re.compile(
    TIME_HEADER.pattern + r"|step|tick|elapsed|^seq(uence)?\b|^(hour|day|week|month|year)s?$", re.IGNORECASE
)
#: a column counts time only if it takes at least this many values (a handful of batches is a category)
MIN_VALUES = 20


def clock_columns(values, source, *, row_ids=()):
    """The numeric columns that count time: headed like a time, a step or a sequence, and never going back (or never forward) from one row to the next, over at least :data:`MIN_VALUES`
    values. The caller leaves them out of the features unless ``data.columns`` names them; logged here.

    A column in order whose header says nothing of time is kept (an export sorted by its amount is in order
    too), and so are ``row_ids``, which are warned of as row ids (distinct whole numbers in order).

    Parameters
    ----------
    values : dict of str to ndarray
        Each numeric column's values as numbers (NaN where empty).
    source : str
    row_ids : collection of str

    Returns
    -------
    columns : list of str
    """
    out = []
    for c, v in values.items():
        if c in row_ids or not _CLOCK_HEADER.search(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(c)).strip()):
            continue
        v = v[~np.isnan(v)]
        steps = np.diff(v)
        if (np.all(steps >= 0) or np.all(steps <= 0)) and np.unique(v[:: max(1, len(v) // 1000)]).size >= MIN_VALUES:
            out.append(c)
    if out:
        logger.info(
            "%s: column(s) %s count time in the file's order (each row's value at or past the one before): they "
            "say when a record came, not how unusual it is, and records scored later come later, so they are "
            "left out; name them in data.columns to score them",
            source,
            ", ".join(repr(str(c)) for c in out),
        )
    return out
