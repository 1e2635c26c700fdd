"""Reading a price file's columns as written: numbers and dates as exported, long files of several series,
yfinance's saved downloads, and prices that were never adjusted for a split."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from ...dates import DATE_STYLE, dayfirst, implausible_date, not_dates, numeric_dates, plain_dates, without_offsets
from ...errors import DataError
from ...number_text import NO_VALUE, NUMBER_STYLE, as_numbers, no_value

logger = logging.getLogger("gmm_apps.regimes")


def _plain(name):
    """A header as compared: case, spaces, underscores and dots aside, and the marks exports add: MetaTrader's
    angle brackets (``<CLOSE>``), Yahoo's page footnote stars (``Adj Close**``), a unit (``Close (USD)``,
    ``收盘价（元）`` in full-width brackets),
    Alpha Vantage's numbering (``4. close``)."""
    return re.sub(r"[*<>.\s_]+", "", re.sub(r"\(.*?\)|（.*?）|^\s*\d+\.\s+", "", str(name).lower()))


def pick_column(columns, wanted, candidates, what, source):
    """The column ``wanted`` (matched as :func:`_plain` compares headers when not exact), else the first of
    ``candidates`` present, else None."""
    cols = list(columns)
    low = {}
    for c in cols:
        low.setdefault(_plain(c), c)
    if wanted is not None:
        if wanted in cols:
            return wanted
        if _plain(wanted) in low:
            return low[_plain(wanted)]
        key = {"prices": "data.price_column", "volume": "data.volume_column"}.get(what, what)
        raise DataError(
            f"{source}: column {wanted!r} ({what}) not found; columns are {', '.join(map(str, cols))}; set {key} to "
            f"one of them (applying a run, which reads the column it was made from: give a file with a column {wanted!r})"
        )
    return next((low[_plain(c)] for c in candidates if _plain(c) in low), None)


#: price columns found without data.price_column, first found first: Yahoo's, Nasdaq.com's, Bloomberg's,
#: futures settlements
PRICE_COLUMNS = [
    "Adj Close",
    "Adj_Close",
    "adj_close",
    "adjusted close",
    "Close",
    "close",
    "Close/Last",
    "price",
    "Price",
    "Last",
    "PX_LAST",
    "Settle",
    "prices",
    # brokers' and Investing.com's exports in German, French, Spanish, Italian, Portuguese and Dutch
    *("Schlusskurs", "Schluss", "Zuletzt", "Dernier", "Clôture", "Cloture", "Último", "Ultimo", "Cierre"),
    *("Chiusura", "Fechamento", "Slot", "Slotkoers"),
    # Chinese (simplified, traditional), Japanese and Korean exchanges' and brokers' exports
    *("收盘价", "收盘", "收盤價", "收盤", "終値", "종가"),
]
#: a bar's fields other than its close, which name no series either
_FIELDS = {"open", "high", "low", "mid", "bid", "ask", "value", "rate", "nav"}


def names_a_series(column):
    """Whether a price column's header names its series (``Japan``, ``DCOILWTICO``: a wide file's column) rather
    than a field of one (``Close``, ``Adj Close``, ``PX_LAST``, ``Open``), which the file's name says instead."""
    plain = _plain(column)
    return plain not in _FIELDS and plain not in {_plain(c) for c in PRICE_COLUMNS}


#: volume columns found without data.volume_column (CoinGecko's total_volumes; Chinese, Japanese, Korean)
VOLUME_COLUMNS = ["Volume", "Vol.", "Vol", "total_volumes", "Volumen", "成交量", "成交股數", "出来高", "거래량"]
#: bars with one-letter columns (Polygon's, Finnhub's, TradingView's o, h, l, c, v)
_LETTER_BARS = {"o", "h", "l", "c"}


def dates_column(df, date_column, source, *, utc=False):
    """The date column's name and its dates: ``date_column``, else one named like dates, else the first column,
    else the one column whose cells are dates in order (Polygon's ``t``, Unix milliseconds; its first column,
    volumes, may hold numbers the size of Unix times, out of order); refused, naming data.date_column, when there
    is none.  ``utc``: stamps whose UTC offsets change are read as the instants they are (to be taken in
    ``data.timezone``), not as their wall clocks."""
    dcol = pick_column(df.columns, date_column, ["Date", "date", "Datetime", "timestamp", "time"], "dates", source)
    if dcol is not None:
        return dcol, read_dates(df[dcol], dcol, source, utc=utc)
    first = df.columns[0]
    named = f"no column is named Date (or date, Datetime, timestamp, time), and the first, {first!r},"
    fix = f"name the date column with data.date_column (columns: {', '.join(map(str, df.columns))})"
    if _in_order(df[first]) is not False:
        try:
            return first, read_dates(df[first], first, source, utc=utc)
        except DataError as exc:
            found = _dates_by_content(df)
            if found is None:
                raise DataError(f"{source}: {named} holds no dates; {fix}") from exc
    else:
        found = _dates_by_content(df)
        if found is None:  # numbers out of order, a column of volumes as like as unsorted dates
            raise DataError(f"{source}: {named} holds numbers out of order, not dates by day; {fix}, or sort by date")
    logger.info("%s: dates read from column %r, the one holding dates in order", source, found)
    return found, read_dates(df[found], found, source, utc=utc)


def _in_order(cells):
    """Whether cells written as numbers (Unix times, YYYYMMDD, Excel days) or ISO dates are distinct dates in
    order; None when they are not written so (day-first text, say: the date reader decides)."""
    try:
        stamps, _ = numeric_dates(cells)
        if stamps is None and not pd.api.types.is_numeric_dtype(cells):
            # as text: a column mixing numbers and text (a workbook's notes above its table) is no epoch
            stamps = pd.to_datetime(cells.astype("string"), errors="coerce", format="ISO8601", utc=True)
    except (ValueError, TypeError):
        return None
    if stamps is None or len(stamps) < 2 or stamps.isna().any():
        return None
    return bool(stamps.is_unique and (stamps.is_monotonic_increasing or stamps.is_monotonic_decreasing))


def _dates_by_content(df):
    """The one column after the first whose cells are distinct dates in order, or None (a column of volumes or
    prices may hold numbers the size of Unix times or Excel days, never in order)."""
    found = [c for c in df.columns[1:] if _in_order(df[c])]
    return found[0] if len(found) == 1 else None


def price_columns(df, price_column, volume_column, source):
    """The price column (``price_column``; else a known header; else the one column of numbers) and the volume
    column (``volume_column``; else a known header; else None)."""
    letters = _LETTER_BARS <= {_plain(c) for c in df.columns}
    pcol = pick_column(df.columns, price_column, PRICE_COLUMNS + ["c"] * letters, "prices", source)
    if letters and price_column is None and _plain(pcol) == "c":
        logger.info("%s: bars with one-letter columns (o, h, l, c): the close read from %r", source, pcol)
    if pcol is None and price_column is None:
        pcol = _close_of_bars(df, source) or _close_by_name(df.columns, source)
    if pcol is None:
        numeric = [c for c in df.columns if df.shape[1] == 1 or _numbers_in(df[c])]
        if len(numeric) != 1:
            exc = DataError(
                f"{source}: cannot tell which column holds prices (columns: {', '.join(map(str, df.columns))}); "
                "set data.price_column to one (or a list, modelled together), or give the file to run --each to "
                "run each series of it as a run of its own"
            )
            exc.series = [c for c in numeric if df[c].notna().any()]  # what --each runs, one series a run
            exc.empty = [c for c in numeric if c not in exc.series]  # a retired currency's column
            raise exc
        pcol = numeric[0]
    vcol = pick_column(df.columns, volume_column, VOLUME_COLUMNS + ["v"] * letters, "volume", source)
    return pcol, vcol


def closes_by_name(columns):
    """The columns whose header is a series' name and a price word, before or after it (``WTI Close``, ``Brent
    Adj Close``, ``Close SPY``: a report's groups over their fields, read as one header), per series, the price
    word first in :data:`PRICE_COLUMNS` taken (``Adj Close`` before ``Close``)."""
    rank = {_plain(c): i for i, c in reversed(list(enumerate(PRICE_COLUMNS)))}
    found = {}
    for column in columns:
        words = re.split(r"[\s_]+", str(column).strip())
        sizes = range(min(3, len(words) - 1), 0, -1)
        splits = [(words[-k:], words[:-k]) for k in sizes] + [(words[:k], words[k:]) for k in sizes]
        for field, series in sorted(splits, key=lambda fs: -len(fs[0])):  # the longest price word: Adj Close
            r, series = rank.get(_plain(" ".join(field))), " ".join(series)
            if r is None or _plain(series) in _NOT_SERIES:
                continue
            if r < found.get(series, (len(rank), None))[0]:
                found[series] = (r, column)
            break
    return {series: column for series, (_, column) in found.items()}


#: words beside a price word that name no series: the day before's close
_NOT_SERIES = {"prev", "previous", "prior", "yesterday", "yesterdays", "last", "open", "settlement"}


def _close_by_name(columns, source):
    """The one column a series' name and a price word head (:func:`closes_by_name`), logged; None when there is
    none; refused, naming them, when several series have one."""
    closes = closes_by_name(columns)
    if len(closes) > 1:
        named = list(closes.values())
        exc = DataError(
            f"{source}: columns {', '.join(map(repr, named))} hold the prices of {len(named)} series; set "
            f"data.price_column to one, or to [{', '.join(named)}] to model them together, or give the file to run "
            "--each to run each as a run of its own"
        )
        exc.series, exc.empty = named, []  # what --each runs: the series' prices, not their volumes
        raise exc
    if closes:
        column = next(iter(closes.values()))
        logger.info("%s: prices read from %r, the one column named for a series' prices", source, column)
        return column
    return None


def _close_of_bars(df, source):
    """A file without a header (``column_1`` ...) holding bars as MetaTrader 4 and Binance write them: four
    columns of numbers side by side whose second is each row's highest and third its lowest are open, high,
    low and close; the close's column, logged, or None."""
    cols = list(df.columns)
    if not all(re.fullmatch(r"column_\d+", str(c)) for c in cols):
        return None
    for i in range(len(cols) - 3):
        block = df[cols[i : i + 4]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        if np.isnan(block).any():
            continue
        o, h, lo, c = block.T
        if (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all() and (h > lo).any():
            logger.info(
                "%s: columns %s to %s hold open, high, low and close (each row's high and low between them): "
                "the close read from %r",
                source,
                cols[i],
                cols[i + 3],
                cols[i + 3],
            )
            return cols[i + 3]
    return None


def _numbers_in(cells):
    """Whether a column holds numbers, as exported (``1,234.50``) or with days marked missing (FRED's ``.``)."""
    if pd.api.types.is_bool_dtype(cells):
        return False
    if pd.api.types.is_numeric_dtype(cells):
        return True
    present = cells.mask(no_value(cells)).dropna()
    try:
        out, _ = as_numbers(present)
    except ValueError:
        return False
    return not present.empty and bool(pd.to_numeric(out, errors="coerce").notna().all())


#: a row of a corporate action among the prices, as Yahoo's history page writes them: ``0.24 Dividend``,
#: ``2:1 Stock Splits``, ``1.5 Capital Gain``
_EVENT = re.compile(r"\s*[\d.,:/ ]+\s+(dividends?|stock splits?|splits?|capital gains?)\s*", re.IGNORECASE)


def without_events(df, dates, source):
    """The rows that are prices, without a history page's rows of dividends and splits (one cell saying the
    event, the others empty), which repeat a trading day's date and hold no price; logged.

    Returns
    -------
    df : DataFrame
    dates : DatetimeIndex
    """
    texts = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    lone = df.notna().sum(axis=1).to_numpy() == 1  # a reader leaves empty cells empty: few rows to look at
    if df.shape[1] < 2 or not texts or not lone.any():
        return df, dates
    cells = df.loc[lone, texts].bfill(axis=1).iloc[:, 0].astype("string").str.strip()
    event = np.zeros(len(df), dtype=bool)
    event[np.flatnonzero(lone)] = cells.str.fullmatch(_EVENT).fillna(False).to_numpy(dtype=bool)
    if not event.any():
        return df, dates
    logger.info(
        "%s: %d row(s) of dividends and splits (as a history page writes them among the prices) are left out, e.g. %s",
        source,
        int(event.sum()),
        cells[event[lone]].iloc[0],
    )
    keep = ~event
    return df[keep], pd.DatetimeIndex(dates)[keep]


def with_time_column(df, dates, source):
    """Dates and times in two columns (MetaTrader's ``<DATE>`` and ``<TIME>``, many brokers' Date, Time):
    when the dates repeat and a column is headed Time, each row's stamp is its date plus its time.

    Returns
    -------
    dates : DatetimeIndex
    df : DataFrame
        Without the time column when it was used.
    """
    tcol = pick_column(df.columns, None, ["time"], "times", source)
    if tcol is None or not pd.DatetimeIndex(dates).has_duplicates:
        return dates, df
    text = df[tcol].astype(str).str.strip().str.replace(r"^(\d{1,2}:\d\d)$", r"\1:00", regex=True)
    times = pd.to_timedelta(text.where(text.str.fullmatch(r"\d{1,2}:\d\d:\d\d(\.\d+)?")), errors="coerce")
    if times.isna().any():
        i = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(
            f"{source}: column {tcol!r} holds {df[tcol].iloc[i]!r} at data row {i + 1}, not a time of day "
            "(HH:MM or HH:MM:SS); fix that row"
        )
    logger.info("%s: dates and times read from two columns (times from %r)", source, tcol)
    return pd.DatetimeIndex(dates) + pd.TimedeltaIndex(times.to_numpy()), df.drop(columns=[tcol])


def yfinance_tables(df):
    """Each ticker's table of a file as yfinance saves a download (``yf.download(...).to_csv()``): a row
    of fields (``Price,Close,High,...``), a row naming each column's ticker (``Ticker,AAPL,...``; blank
    before yfinance 0.2.48) and a row ``Date`` with nothing else, or the same as two column levels
    (Parquet), or its columns named by field and ticker (``Close QQQ``: the rows read as one header of groups);
    None for any other table.

    Returns
    -------
    dict of str -> DataFrame or None
        Per ticker, in the order written: a ``Date`` column and its fields.
    """
    if isinstance(df.columns, pd.MultiIndex):
        if df.columns.nlevels != 2:
            return None
        flat = df.reset_index()
        return {
            str(t): pd.concat(
                [flat.iloc[:, 0].rename("Date"), df.xs(t, axis=1, level=1).reset_index(drop=True)], axis=1
            )
            for t in dict.fromkeys(df.columns.get_level_values(1))
        }
    fields = [_YF_FIELD.fullmatch(str(c)) for c in df.columns[1:]]
    if df.shape[1] > 1 and all(fields) and str(df.columns[0]).strip() in ("Date", "Datetime"):
        # the two rows of fields and tickers read as one (gmm_apps.tabular.grouped_header): Close QQQ, ...
        tickers = [f[2] for f in fields]
        return {
            t: df.iloc[:, [0] + [i + 1 for i, tt in enumerate(tickers) if tt == t]].set_axis(
                ["Date"] + [f[1] for f in fields if f[2] == t], axis=1
            )
            for t in dict.fromkeys(tickers)
        }
    if len(df) < 3 or df.shape[1] < 2:
        return None
    first = df.iloc[:2, 0].fillna("").astype(str).str.strip().tolist()
    if first[0] not in ("Ticker", "") or first[1] != "Date" or df.iloc[1, 1:].notna().any():
        return None
    fields = [re.sub(r"\.\d+$", "", str(c)) for c in df.columns[1:]]  # pandas wrote Close, Close.1 ...
    tickers = df.iloc[0, 1:].astype(str).str.strip().tolist()
    body = df.iloc[2:].reset_index(drop=True)
    out = {}
    for t in dict.fromkeys(tickers):
        cols = [i for i, tt in enumerate(tickers) if tt == t]
        frame = body.iloc[:, [0] + [i + 1 for i in cols]]
        frame.columns = ["Date"] + [fields[i] for i in cols]
        out[t] = frame
    return out


#: a column of a yfinance download read with its field and ticker in one name (``Adj Close ^GSPC``)
_YF_FIELD = re.compile(r"(Adj Close|Close|High|Low|Open|Volume|Dividends|Stock Splits|Capital Gains) (\S+)")


def yfinance_choice(tables, price_column, source):
    """Which tickers of a yfinance download to read (``data.price_column`` names them; a field such as
    ``Close`` reads the only ticker's), and the price column within each (None: found as usual).

    Returns
    -------
    list of (ticker, DataFrame, str or None)
    """
    names = list(tables)
    if price_column is None or (len(names) == 1 and isinstance(price_column, str) and price_column not in names):
        if len(names) > 1:
            exc = DataError(
                f"{source}: a yfinance download of {len(names)} tickers ({', '.join(names[:5])}); choose with "
                f"data.price_column: [{names[0]}] (its close), or list several, or give the file to run --each to "
                "run each ticker as a run of its own"
            )
            exc.series = names  # what --each runs
            raise exc
        return [(names[0], tables[names[0]], price_column)]
    wanted = [price_column] if isinstance(price_column, str) else list(price_column)
    for w in wanted:
        if w not in names:
            raise DataError(
                f"{source}: no ticker {w!r} (data.price_column) in this yfinance download; it holds {', '.join(names)}"
            )
    return [(w, tables[w], None) for w in wanted]


#: k of a k-for-1 split (or a 1-for-k reverse split)
SPLIT_FACTORS = (2, 3, 4, 5, 8, 10, 15, 20, 25, 50, 100)


def warn_of_splits(arr, dates, column, source):
    """Warn of steps that look like splits the prices were not adjusted for: a day's price within 4% of 1/k
    (or k) times the day before's, k in :data:`SPLIT_FACTORS`, the five days on each side level with their
    own side (a spike that reverts, as gas and volatility indices show, is no split)."""
    ratio = np.log(arr[1:] / arr[:-1])
    near = np.abs(np.abs(ratio)[:, None] - np.log(SPLIT_FACTORS)) < np.log(1.04)
    level = np.log(1.15)

    def step(i):
        before, after = arr[max(0, i - 4) : i + 1], arr[i + 1 : i + 6]
        return (np.abs(np.log(before / arr[i])) < level).all() and (np.abs(np.log(after / arr[i + 1])) < level).all()

    days = [i for i in np.flatnonzero(near.any(axis=1) & (np.abs(ratio) > np.log(1.8))) if step(i)]
    if days:
        said = [
            f"{pd.Timestamp(dates[i + 1]).date()} ({arr[i]:g} to {arr[i + 1]:g}, "
            f"{'1/' if ratio[i] < 0 else ''}{SPLIT_FACTORS[int(near[i].argmax())]} times the day before)"
            for i in days[:3]
        ]
        logger.warning(
            "%s: column %r moves as an unadjusted stock split does on %s; if these are splits, use split-adjusted "
            "prices (a column like Adj Close), or the model will see a crash or a surge that never happened",
            source,
            column,
            "; ".join(said) + (f" and {len(days) - 3} more" if len(days) > 3 else ""),
        )


def long_series(df, column, wanted, source):
    """The rows of each wanted series of a long table, in the order asked for.

    Returns
    -------
    list of (name, DataFrame)
        Each series' rows without ``column``.
    """
    if column not in df.columns:
        raise DataError(
            f"{source}: column {column!r} (data.series_column) not found; columns are {', '.join(map(str, df.columns))}"
        )
    names = df[column].astype(str).where(df[column].notna())
    present = list(dict.fromkeys(names.dropna()))
    if wanted is None:
        if len(present) != 1:
            shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
            raise DataError(
                f"{source}: column {column!r} names {len(present)} series ({shown}); choose with data.series, "
                f"e.g. data.series: [{present[0] if present else 'NAME'}]"
            )
        wanted = present
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    for w in wanted:
        if w not in present:
            near = [p for p in present if p.lower() == w.lower()]
            hint = f"did you mean {near[0]!r}?" if near else f"it names {len(present)}, e.g. {', '.join(present[:5])}"
            raise DataError(f"{source}: no series {w!r} (data.series) in column {column!r}; {hint}")
    return [(w, df[names == w].drop(columns=[column])) for w in wanted]


def refuse_long(df, dates, column, source):
    """Repeated dates because each row is one of several series (a long file): say which key reads it."""
    for c in df.columns:
        if pd.api.types.is_numeric_dtype(df[c]) or df[c].nunique() > 10_000:
            continue
        if not pd.MultiIndex.from_arrays([dates, df[c].astype(str)]).has_duplicates:
            exc = DataError(
                f"{source}: column {column!r} repeats each date once per series named in column {c!r} "
                f"({df[c].nunique()} series, a long file); set data.series_column: {c} and data.series, or give "
                "the file to run --each to run each series as a run of its own"
            )
            exc.series_column, exc.series = c, list(dict.fromkeys(df[c].dropna().astype(str)))  # what --each runs
            raise exc


def read_dates(cells, column, source, *, utc=False):
    """A date column as written: ISO, day or month first as the whole column shows, or numbers
    (YYYYMMDD, Excel day numbers, Unix time stamps: :func:`gmm_apps.dates.numeric_dates`); stamps whose UTC
    offsets change (summer time) as their wall clocks, or with ``utc`` as the instants they are; dates written
    ``2024年1月2日`` as ``2024-1-2`` (:func:`gmm_apps.dates.plain_dates`)."""
    cells = plain_dates(cells)
    try:
        stamps, style = numeric_dates(cells)
    except ValueError as exc:
        raise DataError(f"{source}: column {column!r} {exc}; write the dates as YYYY-MM-DD") from None
    if stamps is not None:
        logger.info("%s: column %r read as %s", source, column, DATE_STYLE[style])
        if stamps.isna().any():
            i = int(np.flatnonzero(stamps.isna().to_numpy())[0])
            raise DataError(f"{source}: column {column!r} has no date at data row {i + 1}; fix or remove that row")
        return pd.DatetimeIndex(stamps)
    try:
        first = dayfirst(cells, where=f"{source}: column {column!r}")
    except ValueError as exc:
        raise DataError(f"{exc}; write the dates as YYYY-MM-DD") from None
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(cells, errors="raise", format="mixed", dayfirst=first))
    except (ValueError, TypeError) as exc:
        plain = without_offsets(cells)
        if ("timezone" in str(exc).lower() or "offset" in str(exc).lower()) and not plain.equals(cells.astype(str)):
            if utc:
                return pd.DatetimeIndex(pd.to_datetime(cells, errors="raise", format="mixed", utc=True, dayfirst=first))
            # -05:00 in winter, -04:00 in summer: each day as written, its offset set aside
            logger.info("%s: column %r holds UTC offsets that change (summer time): read as written", source, column)
            return read_dates(plain, column, source)
        why = dict(row=lambda i: i + 1, fix="set data.date_column", why=str(exc).splitlines()[0])
        raise DataError(not_dates(cells, f"{source}: column {column!r}", **why, dayfirst=first)) from None
    if said := implausible_date(stamps, cells, f"{source}: column {column!r}", row=lambda i: i + 1):
        raise DataError(said)
    return stamps


def read_numbers(values, column, source):
    """A column's cells as numbers, read as exported (``2,506.85``, ``$1,234.50``, ``1.234,50``)."""
    try:
        out, mark = as_numbers(values)
    except ValueError as exc:
        raise DataError(f"{source}: column {column!r}: {exc}") from None
    if mark is not None:
        logger.info("%s: column %r read as %s", source, column, NUMBER_STYLE[mark])
    return out


#: volumes as Investing.com writes them: 812.5K, 1.23M, 2.1B
_SCALED = re.compile(r"^\s*([\d.,]+)\s*([KMB])\s*$", re.IGNORECASE)


def volume_numbers(cells, column, source):
    """A volume column's cells as numbers: as exported (``1,234``), with Investing.com's suffixes (``1.23M``
    is 1,230,000), NaN for a missing one (``-``) or any cell that is no number."""

    def scaled(v):
        m = _SCALED.match(v) if isinstance(v, str) else None
        if m is None:
            return np.nan if isinstance(v, str) and v.strip().lower() in NO_VALUE else v
        digits = m.group(1).replace(",", "." if "." not in m.group(1) else "")
        return float(digits) * {"k": 1e3, "m": 1e6, "b": 1e9}[m.group(2).lower()]

    if not pd.api.types.is_numeric_dtype(cells):
        cells = cells.astype(object).map(scaled)
    return pd.to_numeric(read_numbers(cells, column, source), errors="coerce").to_numpy(dtype=float)


def volumes(cells, keep, index, column, source, *, named):
    """The volumes of the kept rows (:func:`volume_numbers`), or None when a column found by its header
    (``Volume``, ``Vol.``) has a day without a volume or a negative one (logged: it is left out); such a day
    in a column named in ``data.volume_column`` is refused."""
    v = volume_numbers(cells, column, source)[keep]
    bad = ~np.isfinite(v) | (v < 0)
    if not bad.any():
        return pd.Series(v, index=index)
    i = int(np.flatnonzero(bad)[0])
    cell = cells.to_numpy()[keep][i]
    shown = "an empty cell" if pd.isna(cell) else repr(str(cell))  # not numpy's np.float64(nan)
    what = f"a negative volume {v[i]:g}" if v[i] < 0 else f"no volume ({shown})"
    day = pd.Timestamp(index[i]).date()
    if not named:
        logger.info("%s: column %r is not read as volumes: %s on %s", source, column, what, day)
        return None
    raise DataError(
        f"{source}: column {column!r} (data.volume_column) holds {what} on {day}; volumes count shares traded: "
        "fill that day, or leave data.volume_column unset and volume_z out of features.use"
    )


def daily_closes(df, stamps, days, volume_column, source):
    """Intraday bars as one row a day: the day's last row (its close), the day's volumes summed.

    Only when the time stamps are distinct and in order while their days repeat; any other table is
    returned as it was (repeated dates are then refused, with the row).

    Returns
    -------
    df : DataFrame
    days : DatetimeIndex
    """
    if not days.has_duplicates or stamps.has_duplicates or not stamps.is_monotonic_increasing:
        return df, days
    last = ~days.duplicated(keep="last")
    out = df.iloc[last].copy()
    if volume_column is not None:
        v = pd.Series(volume_numbers(df[volume_column], volume_column, source))
        out[volume_column] = v.groupby(days.to_numpy()).sum(min_count=1).to_numpy()
    logger.info(
        "%s: %d rows on %d days (intraday bars): each day's last price is its close%s",
        source,
        len(days),
        int(last.sum()),
        ", its volumes summed" if volume_column is not None else "",
    )
    return out, days[last]
