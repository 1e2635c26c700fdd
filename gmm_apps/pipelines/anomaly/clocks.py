"""Columns of time. Time stamps and times of day give their hour of day as a feature; dates alone are left out.
Numbers that count time (a column of seconds since the first record, Kaggle's credit-card ``Time``, of
simulation steps, PaySim's ``step``, or of day numbers, in the file's order) are left out too: such a column
says when a record came, not how unusual it is, and the records scored later come later: fitted, it would
flag every one of them."""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from ...dates import DATE_STYLE, numeric_dates, plain_dates, unreadable
from ...errors import DataError

logger = logging.getLogger("gmm_apps.anomaly")

#: headers of a column of dates or times written as numbers (a Unix time stamp is a number like any other)
TIME_HEADER = re.compile(r"time|date|stamp|created|epoch|_at$|^ts$|^when$", re.IGNORECASE)
#: headers of a column of dates (Excel day numbers are taken for dates under these alone)
_DATE_HEADER = re.compile(r"date|datum|fecha|\bdat[ae]\b|\bday\b|\bjour\b|\btag\b", re.IGNORECASE)
#: Excel's day numbers of 1970-01-01 and 2100-01-01
EXCEL_1970, EXCEL_2100 = 25_569, 73_051
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


#: headers of a column of lengths of time, not times of day
_DURATION_HEADER = re.compile(r"duration|elapsed|length|talk|wait|\bhold|runtime|spent|dauer", re.IGNORECASE)


def is_duration(column):
    """Whether a column's header says it holds lengths of time (``Call Duration``, ``Wait time``, ``Talk
    Time``): ``h:mm:ss`` there is hours, not a time of day."""
    return bool(_DURATION_HEADER.search(str(column)))


#: a time of day inside a cell: 13:05, 1:05 PM, 13:05:59.123 (the first one, before any UTC offset)
_CLOCK = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:[.,]\d+)?)?(?:\s*([AaPp])\.?[Mm]\b\.?)?")


#: a date with its year: 2024-01-31, 31/01/2024, 1.31.24, Jan 31, 2024, 31 January 2024
_DATE_WITH_YEAR = (
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|[A-Za-z]{3,}\.? \d{1,2},? \d{4}|\d{1,2}\.? [A-Za-z]{3,}\.? \d{4}"
)


def hour_of_day(values, *, unit=None):
    """Each cell's time of day in hours (``13:30`` -> 13.5, ``1:30 PM`` -> 13.5), as written (before any UTC
    offset); NaN where a cell holds no time.  Time-stamp columns (from Excel or Parquet) give their own;
    ``unit``: Unix time stamps in that unit (their hour in UTC)."""
    if unit == "excel":  # a day number's fraction is its time of day
        return (pd.to_numeric(values, errors="coerce").to_numpy(dtype=float) % 1) * 24
    if unit is not None:
        return hour_of_day(pd.Series(pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit=unit)))
    if pd.api.types.is_datetime64_any_dtype(values):
        t = values.dt
        return (t.hour + t.minute / 60 + t.second / 3600).to_numpy(dtype=float, na_value=np.nan)
    text = values.astype("string")
    written = text.dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns of a day-first guess; the hour is the same either way
        fmt = guess_datetime_format(written.iloc[0]) if len(written) else None
    if fmt and ("%H" in fmt or "%I" in fmt):  # one format for the whole column: read at C speed
        try:  # a day and month swapped by the guess leave the hour as it is
            return hour_of_day(pd.Series(pd.to_datetime(text, format=fmt)))
        except (ValueError, TypeError):
            pass  # cells written otherwise, or with several UTC offsets: read one by one
    parts = text.str.extract(_CLOCK)
    h, m, sec = (pd.to_numeric(parts[i]).to_numpy(dtype=float, na_value=np.nan) for i in range(3))
    half = parts[3].str.lower().to_numpy(dtype=object, na_value=None)
    pm, am = half == "p", half == "a"
    h = np.where((pm | am) & (h > 12), np.nan, h)  # 13:00 PM is no time
    h = np.where(pm | am, h % 12 + 12 * pm, h)
    return h + m / 60 + np.nan_to_num(sec) / 3600


def time_columns(df, columns, source, *, named):
    """The columns of time stamps or times (their hour of day is a feature) and of dates alone (left out:
    a record's date says when it came, not how unusual it is; records scored later come later).

    A column is one when it is stored as time stamps (Excel, Parquet), or is text whose every non-empty
    cell reads as a date or time (pandas) and either holds a time of day (not always midnight: times) or
    a date with its year (``2024-01-31``, ``31/01/2024``, ``Jan 31, 2024``: dates).
    """
    times, dates, epochs = [], [], {}
    for c in columns:
        s = df[c]
        given = s.notna().to_numpy()
        unit = epoch_unit(s, c)
        if unit == "yyyymmdd" or unit == "excel" and np.all(s.dropna() % 1 == 0):  # days, no time of day
            dates.append(c)
            continue
        if unit is not None:
            times.append(c)
            epochs[c] = unit
            continue
        if pd.api.types.is_datetime64_any_dtype(s):
            hours = hour_of_day(s)
            (dates if np.nanmax(np.abs(hours[given]), initial=0) == 0 else times).append(c)
            continue
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)) or is_duration(c):
            continue
        cells = plain_dates(s.astype(str).str.strip())  # 2024年1月2日 10:30 read as 2024-1-2 10:30
        given = given & (cells != "").to_numpy()
        if not given.any():
            continue
        probe = pd.Series(pd.unique(cells[given])[:500])  # distinct cells, enough to tell a column of times
        timed = ~np.isnan(hour_of_day(probe))
        if timed.mean() < 0.99 and not probe.str.contains(_DATE_WITH_YEAR, regex=True).all():
            continue
        if unreadable(probe[:200]).any():
            continue
        hours = hour_of_day(cells)
        timeless = np.isnan(hours) & given
        clock = not timeless.any()
        if not clock and timeless.sum() <= 0.01 * given.sum():
            i = int(np.flatnonzero(timeless)[0])
            raise DataError(
                f"{source}: column {c!r} holds times of day, but not at data row {i + 1} ({s.iloc[i]!r}); "
                "fix that row, or leave the column out with data.columns"
            )
        if not clock and not cells[given].str.contains(_DATE_WITH_YEAR, regex=True).all():
            continue
        (times if clock and np.abs(hours[given]).max() > 0 else dates).append(c)
    if dates and named:
        raise DataError(
            f"{source}: column {dates[0]!r} (data.columns) holds dates without a time of day; a record's date says "
            "when it came, not how unusual it is (records scored later come later): leave it out of data.columns"
        )
    for c in times:
        logger.info(
            "%s: column %r holds %s: its hour of day is the feature",
            source,
            c,
            DATE_STYLE[epochs[c]] if c in epochs else "time stamps",
        )
    if dates:
        logger.info(
            "%s: column(s) %s hold dates without a time of day and are left out", source, ", ".join(map(repr, dates))
        )
    return times, dates, epochs


def epoch_unit(values, column):
    """How a numeric column headed like a time (``timestamp``, ``created_at``, ``date``) writes its dates
    (:func:`gmm_apps.dates.numeric_dates`: ``'s'``, ``'ms'``, ``'us'``, ``'ns'`` or ``'yyyymmdd'``), or None for
    any other column.  Excel day numbers (``'excel'``) only under a header naming a date (``Date``, ``Datum``),
    from 1970 to 2100: under ``Time`` numbers of that size are as likely seconds."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    dated = bool(_DATE_HEADER.search(str(column)))
    if not (dated or TIME_HEADER.search(str(column).strip())):
        return None
    try:
        style = numeric_dates(values)[1]
    except ValueError:
        return None
    if style == "excel":  # day numbers look like durations in seconds: not guessed
        days = values.dropna()
        return "excel" if dated and EXCEL_1970 <= days.min() and days.max() < EXCEL_2100 else None
    return style
