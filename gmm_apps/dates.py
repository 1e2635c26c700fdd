"""Dates written the way spreadsheets and brokers export them, read without guessing silently.

:func:`day_month_order` tells whether dates like ``01/12/2010`` put the day or the month first, from
the column as a whole, so that no date is read one way and its neighbour the other; :func:`numeric_dates`
tells YYYYMMDD numbers, Excel day numbers and Unix time stamps apart by their size.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

_SLASHED = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})(?!\d)")


_CJK_DATE = re.compile(r"^\s*(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?")


def plain_dates(values):
    """Dates written the Chinese, Japanese or Korean way (``2024年1月2日``, ``2024년 1월 2일``, a time of day
    after them kept) as ``2024-1-2``, which every reader takes; any other column as it is."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    first = values.dropna().astype(str).head(1)
    if first.empty or not _CJK_DATE.match(first.iloc[0]):
        return values
    return values.astype("string").str.replace(_CJK_DATE, r"\1-\2-\3", regex=True).astype(object)


def day_month_order(values):
    """Whether dates like ``01/12/2010`` (or with ``.`` or ``-``) put the day or the month first.

    Returns
    -------
    order : {'day', 'month', 'ambiguous', 'inconsistent'} or None
        None when the cells are not written that way (ISO dates, month names, timestamps);
        'ambiguous' when no first or second field exceeds 12; 'inconsistent' when both do.
    """
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None  # datetimes or numbers (YYYYMMDD), as the file's reader typed them
    text = values.dropna().astype(str)
    if text.empty or not _SLASHED.match(text.iloc[0]):
        return None  # ISO dates, month names, ...: pandas reads them unambiguously
    parts = pd.Series(text.unique()).str.extract(_SLASHED)  # a log repeats its dates: each once
    if parts[0].isna().any():
        return None
    first, second = parts[0].astype(int).to_numpy(), parts[1].astype(int).to_numpy()
    day_first, month_first = bool(np.any(first > 12)), bool(np.any(second > 12))
    if day_first and month_first:
        return "inconsistent"
    if day_first:
        return "day"
    if month_first:
        return "month"
    return "ambiguous"


#: Unix time stamps by unit: the range a stamp between 1973 and 2286 falls in
_EPOCH_UNITS = (("s", 1e8, 1e10), ("ms", 1e11, 1e13), ("us", 1e14, 1e16), ("ns", 1e17, 1e19))
#: how :func:`numeric_dates` read a column, for a log line
DATE_STYLE = {
    "yyyymmdd": "numbers written YYYYMMDD",
    "excel": "Excel serial day numbers (days since 1899-12-30)",
    "s": "Unix time stamps in seconds (UTC)",
    "ms": "Unix time stamps in milliseconds (UTC)",
    "us": "Unix time stamps in microseconds (UTC)",
    "ns": "Unix time stamps in nanoseconds (UTC)",
}
_DIGITS = re.compile(r"^\s*\d+(\.\d*)?\s*$")


def numeric_dates(values):
    """Dates written as numbers, told apart by their size: ``20230131`` (YYYYMMDD), Excel serial day
    numbers (``44957``, unformatted date cells), or Unix time stamps in seconds, milliseconds,
    microseconds or nanoseconds (``1675123200``, ``1675123200000``, ...).

    pandas reads every one of these as nanoseconds after 1970, so a column of them would silently
    become dates in January 1970.

    Parameters
    ----------
    values : pandas.Series
        Cells as read: numbers, or text holding only digits.

    Returns
    -------
    dates : pandas.Series of datetime64 or None
        None when the cells are not numbers (text dates, datetimes), for the caller's own reading.
    style : str or None
        A :data:`DATE_STYLE` key.

    Raises
    ------
    ValueError
        Numbers that are none of these, or of more than one (the caller names the column and the fix).
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return None, None
    if not pd.api.types.is_numeric_dtype(values):
        text = values.dropna().astype(str)
        short = text.str.strip().str.len().max() <= 8 and text.str.strip().str.split(".").str[0].str.len().min() != 5
        if text.empty or not text.str.match(_DIGITS).all() or short:
            return None, None  # text dates; eight digits alone pandas reads as YYYYMMDD itself (five: Excel's)
    v = pd.to_numeric(values, errors="coerce").astype(float)
    present = v.dropna().to_numpy()
    if not len(present):
        return None, None
    lo, hi = float(present.min()), float(present.max())
    whole = bool(np.all(present == np.round(present)))
    if whole and 19000101 <= lo and hi <= 21001231:
        out = pd.to_datetime(v.astype("Int64").astype(str), format="%Y%m%d", errors="coerce")
        if out.notna().sum() == len(present):
            return out, "yyyymmdd"
    if 10_000 <= lo and hi < 100_000:  # 1927-05-18 to 2173-10-14
        return pd.Timestamp("1899-12-30") + pd.to_timedelta(v, unit="D"), "excel"
    for unit, a, b in _EPOCH_UNITS:
        if a <= lo and hi < b:
            return pd.to_datetime(v, unit=unit), unit
    raise ValueError(
        f"holds numbers from {lo:g} to {hi:g}, which are not dates written YYYYMMDD, Excel day numbers or "
        "Unix time stamps of one unit"
    )


def dayfirst(values, *, where, orders=None):
    """Whether to read a column of dates day-first, as the whole column shows (:func:`day_month_order`).

    Parameters
    ----------
    values : pandas.Series or None
    where : str
        Names the column for messages, e.g. ``"prices.csv: column 'Date'"``.
    orders : list, optional
        The :func:`day_month_order` of each part of a column read in blocks, in place of ``values``.

    Returns
    -------
    bool
        For ``pandas.to_datetime(..., dayfirst=)``; False for ISO dates and other unambiguous forms.

    Raises
    ------
    ValueError
        Dates written both ways, or a column that does not say which way (the caller adds the fix).
    """
    seen = set(orders if orders is not None else [day_month_order(values)]) - {None}
    if "inconsistent" in seen or {"day", "month"} <= seen:
        raise ValueError(f"{where} has dates with the day first (e.g. 13/01) and with the month first (e.g. 01/13)")
    if seen == {"ambiguous"}:
        raise ValueError(
            f"{where}: no date shows whether the day or the month comes first (no number above 12 in either place)"
        )
    return "day" in seen


#: a time stamp's UTC offset at its end, after its time (``-05:00``, ``+0100``, ``-05``, ``Z``): the
#: seconds' fraction before it, then the offset's sign, hours and minutes
_OFFSET = r"(?<=:\d\d)(\.\d+)?\s*(?:Z|UTC|GMT|([+-])(\d{2}):?(\d{2})?)$"


#: the years a date of a price or a purchase falls in; pandas reads "-1" as the year -1 and "99999" as a year
PLAUSIBLE_YEARS = (1700, 2199)


def implausible(stamps):
    """The position of the first time stamp outside :data:`PLAUSIBLE_YEARS` (a cell like ``-1`` read as a date),
    or None."""
    years = pd.DatetimeIndex(stamps).year
    out = (years < PLAUSIBLE_YEARS[0]) | (years > PLAUSIBLE_YEARS[1])
    return int(np.flatnonzero(out)[0]) if out.any() else None


def without_offsets(cells):
    """Time stamps as text without the UTC offsets written at their end: each as its wall clock read
    (``2020-03-09 00:15:00-04:00`` -> ``2020-03-09 00:15:00``)."""
    return cells.astype(str).str.replace(_OFFSET, r"\1", regex=True)


def summer_time(cells):
    """Whether a column's UTC offsets are at most an hour apart (one zone's winter and summer time, as a
    shop's log spanning March writes them), rather than several zones'."""
    parts = cells.astype(str).str.extract(_OFFSET).dropna(subset=[1])
    if parts.empty:
        return False
    minutes = (parts[2].astype(int) * 60 + parts[3].fillna("0").astype(int)) * parts[1].map({"+": 1, "-": -1})
    return int(minutes.max() - minutes.min()) <= 60


def zone_problem(zone):
    """Why ``zone`` is no time zone name (a one-line reason), or None when it is one (``America/New_York``,
    ``UTC``)."""
    import zoneinfo  # reason: only configs that name a time zone

    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {zone!r}; use a name like America/New_York, Australia/Sydney or UTC"
    return None


def wall_clock(stamps, zone):
    """Time stamps as the wall clock of ``zone`` reads them, without a zone: stamps without an offset taken as
    UTC (as Unix times are); stamps that are all midnight in UTC are days as written (a column of dates alone, a
    crypto exchange's UTC days), never moved to the evening before west of UTC.  Without ``zone``, each stamp as
    written, its offset set aside.

    Parameters
    ----------
    stamps : DatetimeIndex or Series of datetime64, with a zone or none
    zone : str or None

    Returns
    -------
    stamps : the same type, naive
    """
    series = isinstance(stamps, pd.Series)
    idx = pd.DatetimeIndex(stamps)
    if zone is not None:
        utc = idx.tz_convert("UTC") if idx.tz is not None else idx.tz_localize("UTC")
        at_midnight = bool(((utc == utc.normalize()) | utc.isna()).all())
        idx = utc if at_midnight else utc.tz_convert(zone)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return pd.Series(idx, index=stamps.index, name=stamps.name) if series else idx


def unreadable(cells, **how):
    """Which cells pandas cannot read as a date or time stamp (``how``: ``pandas.to_datetime``'s arguments;
    default: each cell in whatever format it is written): a boolean array, empty cells included.  UTC offsets
    may differ from cell to cell (an export spanning a change to summer time, ``-0500`` then ``-0400``), which
    pandas refuses to read into one column unless told to take them to UTC."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it cannot infer one format: a guess is all this is
        read = pd.to_datetime(
            pd.Series(cells, dtype=object), errors="coerce", **{"format": "mixed", **how, "utc": True}
        )
    return read.isna().to_numpy()


#: the share of a column's filled cells that must read as dates for the others to be named as mistakes
MOSTLY_DATES = 0.9


def not_dates(cells, where, *, row, fix, why, written="", **how):
    """The message refusing a column that pandas refused to read as dates (``how``: the arguments it was read
    with; ``where``: the file and column; ``row(i)``: the file's data row of position ``i``): when
    :data:`MOSTLY_DATES` of its filled cells are dates, its first cell that is not, named with its row; else the
    column, with that cell (or pandas' reason ``why``) and the key that settles it (``fix``)."""
    text = pd.Series(cells, dtype=object)
    filled = text.notna().to_numpy() & (text.astype(str).str.strip() != "").to_numpy()
    try:
        bad = unreadable(text, **how) & filled
    except (ValueError, TypeError):
        bad = np.zeros(len(text), dtype=bool)
    if not bad.any():
        return f"{where} does not hold dates{written} ({why}); {fix}"
    i = int(np.flatnonzero(bad)[0])
    if (~bad).sum() >= MOSTLY_DATES * filled.sum():
        return f"{where} has {text.iloc[i]!r} at data row {row(i)}, not a date{written}; fix or remove that row"
    return f"{where} does not hold dates{written} (e.g. {text.iloc[i]!r} at data row {row(i)}); {fix}"


def implausible_date(stamps, cells, where, *, row):
    """The message refusing the first of ``stamps`` outside :data:`PLAUSIBLE_YEARS`, as ``cells`` wrote it
    (:func:`not_dates`' ``where`` and ``row``), or None."""
    i = implausible(stamps)
    if i is None:
        return None
    year = pd.DatetimeIndex(stamps)[i].year
    return (
        f"{where} has {cells.iloc[i]!r} at data row {row(i)}, read as a date in the year {year}; fix or remove that row"
    )


def time_stamp_column(table, taken=()):
    """The first column (not ``taken``) holding time stamps: typed as such (Parquet, a workbook's date cells), or
    text of which nine in ten of the first 200 filled cells read as ISO dates or time stamps; else None."""
    for c in table.columns:
        if c in taken:
            continue
        cells = table[c]
        if pd.api.types.is_datetime64_any_dtype(cells):
            return c
        text = cells.dropna().astype(str).head(200)
        if len(text) and not pd.to_numeric(text, errors="coerce").notna().any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a format guessed per cell: a guess is all this is
                read = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
            if read.notna().mean() >= 0.9:
                return c
    return None
