"""Price loaders: the S&P 500 bundled with ``arch``, CSV/Parquet files, Yahoo Finance.

Every loader returns a :class:`PriceData`: a date-indexed DataFrame with a
``price`` column per ticker and optionally ``volume``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...dates import wall_clock
from ...errors import DataError
from ...number_text import no_value
from ...paths import require_file
from ...tabular import header_with, read_table
from .columns import (
    PRICE_COLUMNS,
    daily_closes,
    dates_column,
    long_series,
    names_a_series,
    price_columns,
    read_numbers,
    refuse_long,
    volumes,
    warn_of_splits,
    with_time_column,
    without_events,
    yfinance_choice,
    yfinance_tables,
)

logger = logging.getLogger("gmm_apps.regimes")

#: ``init --data`` suggests ``data.nonpositive: drop`` for a series at most this share of whose days are at or
#: below zero (a misprint, a contract's one negative settle); beyond it the series is a level, not a price
RARE_NONPOSITIVE = 0.01


@dataclass
class PriceData:
    """Prices by date.

    Attributes
    ----------
    prices : pandas.DataFrame
        Index: sorted unique dates; one column per ticker (positive prices).
    volume : pandas.DataFrame or None
        Same index; one column per ticker.
    source : str
        A description of where the data came from.
    breaks : pandas.DatetimeIndex
        Dates whose return would span a day left out for a non-positive price
        (``data.nonpositive: drop``): no return is taken there.
    cleaning : dict
        Rows each cleaning rule left out (``missing``, ``nonpositive``,
        ``repeated``), summed over the series.
    """

    prices: pd.DataFrame
    volume: pd.DataFrame | None
    source: str
    breaks: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))
    cleaning: dict = field(default_factory=dict)

    def subset(self, keep):
        """The same data on the rows where the boolean array ``keep`` is true."""
        idx = self.prices.index[keep]
        return PriceData(
            self.prices[keep],
            None if self.volume is None else self.volume[keep],
            self.source,
            self.breaks.intersection(idx),
            dict(self.cleaning),
        )

    @property
    def primary(self):
        """Name of the first ticker: its returns order and name the regimes and drive the backtest."""
        return self.prices.columns[0]


def align(parts, source):
    """Several price series on their common dates (an inner join, logged).

    Parameters
    ----------
    parts : list of PriceData
    source : str

    Returns
    -------
    data : PriceData
    """
    if len(parts) == 1:
        return parts[0]
    names = [c for p in parts for c in p.prices.columns]
    if len(set(names)) != len(names):
        raise DataError(f"{source}: a price series is named twice ({', '.join(map(str, names))})")
    P = pd.concat([p.prices for p in parts], axis=1, join="inner")
    vols = [p.volume for p in parts if p.volume is not None]
    V = pd.concat(vols, axis=1).reindex(P.index) if vols else None
    longest = max(len(p.prices) for p in parts)
    breaks, cleaning = _merged_cleaning(parts, P.index)
    logger.info(
        "%s: %d dates common to %s (inner join; %d of the longest series' %d dates dropped)",
        source,
        len(P),
        ", ".join(map(str, names)),
        longest - len(P),
        longest,
    )
    if len(P) < 2:
        raise DataError(
            f"{source}: the series {', '.join(map(str, names))} share {len(P)} dates; they need a common history"
        )
    return PriceData(P, V, source, breaks, cleaning)


def _merged_cleaning(parts, index):
    """The breaks (on ``index``) and the rows each cleaning rule left out, of several series together."""
    breaks = pd.DatetimeIndex(sorted(set().union(*(p.breaks for p in parts)))).intersection(index)
    cleaning = {}
    for p in parts:
        for rule, n in p.cleaning.items():
            cleaning[rule] = cleaning.get(rule, 0) + n
    return breaks, cleaning


#: values beyond this magnitude are refused (they overflow the model's sums of squares)
EXTREME = 1e100
#: a price moving by more than this factor from one row to the next is taken for a data error
MAX_DAILY_RATIO = 1e4


def clean_prices(values, column, source, *, missing="refuse", nonpositive="refuse", repeated="keep"):
    """Apply the cleaning rules to one price series, in this order.

    ``missing: drop`` leaves out rows without a price (an empty cell, or one of
    :data:`gmm_apps.number_text.NO_VALUE`: ``.`` as FRED writes it, ``#N/A``
    as Excel does ...); the next return spans the gap, as over a weekend.
    ``nonpositive: drop`` leaves out rows with a price at or below zero *and* the
    return that would span them (the next kept date is returned in ``breaks``).
    ``repeated: drop`` leaves out a row repeating the previous kept price (a
    holiday row carrying the last close); its zero return merges into the next.

    Returns
    -------
    values : pandas.Series
        The rows kept (still to be checked by :func:`_check_series`).
    keep : ndarray of bool
        Which input rows were kept.
    breaks : pandas.DatetimeIndex
    counts : dict
        Rows left out by each rule that was set to drop.
    """
    raw = values if pd.api.types.is_numeric_dtype(values) else values.mask(no_value(values))
    num = pd.to_numeric(raw, errors="coerce")
    keep = np.ones(len(values), dtype=bool)
    counts = {}
    gone = raw.isna().to_numpy()
    if missing == "drop":
        keep &= ~gone
        counts["missing"] = int(gone.sum())
    arr = num.to_numpy(dtype=float)
    nonpos = np.isfinite(arr) & (arr <= 0)
    breaks = pd.DatetimeIndex([])
    if nonpositive == "drop":
        keep &= ~nonpos
        counts["nonpositive"] = int(nonpos.sum())
        kept = np.flatnonzero(keep)
        after = np.searchsorted(kept, np.flatnonzero(nonpos))  # the next kept row after each dropped one
        breaks = pd.DatetimeIndex(values.index[kept[np.unique(after[after < len(kept)])]])
        if nonpos.any():
            logger.info(
                "%s: %d row(s) of %r with a price at or below zero left out (data.nonpositive: drop), and "
                "the return across each",
                source,
                counts["nonpositive"],
                column,
            )
    if repeated == "drop":
        kept = np.flatnonzero(keep & np.isfinite(arr))
        same = np.zeros(len(values), dtype=bool)
        same[kept[1:]] = arr[kept[1:]] == arr[kept[:-1]]
        keep &= ~same
        counts["repeated"] = int(same.sum())
    return raw[keep], keep, breaks, counts


def _check_series(values, column, source, *, positive):
    s = pd.to_numeric(values, errors="coerce")
    bad = s.isna() & values.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: column {column!r} has a non-numeric value {values.iloc[i]!r} at data row {i + 1}; "
            "fix or remove that row"
        )
    arr = s.to_numpy(dtype=float)
    nonfinite = ~np.isfinite(arr)
    if nonfinite.any():
        i = int(np.flatnonzero(nonfinite)[0])
        exc = DataError(
            f"{source}: column {column!r} has a missing or infinite value at data row {i + 1} "
            f"(date {pd.Timestamp(s.index[i]).date()}); set data.missing: drop to leave such rows out, or fill them"
        )
        exc.fix = {"data.missing": "drop"} if np.isnan(arr).all(where=nonfinite) else None  # what init writes
        raise exc
    if positive and (arr <= 0).any():
        i = int(np.flatnonzero(arr <= 0)[0])
        exc = DataError(
            f"{source}: column {column!r} must hold positive prices, got {arr[i]:g} at data row {i + 1} "
            f"(date {pd.Timestamp(s.index[i]).date()}); set data.nonpositive: drop to leave such days "
            "and the returns across them out, or, for a yield, a rate or a spread, data.values: levels"
        )
        # init writes drop for a price's rare misprint (WTI's -37.63); a series often at or below zero is a level
        exc.fix = {"data.nonpositive": "drop"} if (arr <= 0).mean() <= RARE_NONPOSITIVE else None
        raise exc
    big = np.abs(arr) > EXTREME
    if big.any():
        i = int(np.flatnonzero(big)[0])
        raise DataError(
            f"{source}: column {column!r} has an extreme value {arr[i]:g} at data row {i + 1} "
            f"(date {pd.Timestamp(s.index[i]).date()}); fix or remove that row"
        )
    if positive and len(arr) > 1:
        jump = np.abs(np.diff(np.log(arr))) > np.log(MAX_DAILY_RATIO)
        if jump.any():
            i = int(np.flatnonzero(jump)[0]) + 1
            raise DataError(
                f"{source}: column {column!r} jumps from {arr[i - 1]:g} to {arr[i]:g} at data row {i + 1} "
                f"(date {pd.Timestamp(s.index[i]).date()}), a factor of more than {MAX_DAILY_RATIO:g} "
                "in one step; that is a data error (or an unadjusted split): fix the row or use adjusted prices"
            )
        warn_of_splits(arr, s.index, column, source)
    return pd.Series(arr, index=s.index)


def _check_dates(index, column, source):
    if index.hasnans:
        i = int(np.flatnonzero(index.isna())[0])
        raise DataError(
            f"{source}: column {column!r} has a missing or unreadable date at data row {i + 1}; fix or remove that row"
        )
    if index.has_duplicates:
        d = index[index.duplicated()][0]
        n = int((index == d).sum())
        raise DataError(
            f"{source}: column {column!r} has duplicated dates ({d.date()} appears {n} times); keep one row per date"
        )
    if not index.is_monotonic_increasing:
        pos = int(np.flatnonzero(np.diff(index.asi8) < 0)[0])
        raise DataError(
            f"{source}: dates in column {column!r} are not in increasing order "
            f"({index[pos + 1].date()} follows {index[pos].date()} at data row {pos + 2}); sort the file by date"
        )


def _say_shifted_week(stamps, days, source):
    """Warn when time stamps with a time of day, dated by their day as written, put a market's sessions on the
    wrong days: Sundays and no Saturday (sessions opening before midnight UTC, as Sydney's and Auckland's do,
    stamped in UTC: those days a day early), or Saturdays and no Sunday (closes after midnight UTC: a day late);
    with the key that takes the days in the market's zone.  A market open every day has both; one open from
    Sunday, dated in its own zone, is told apart by setting that zone."""
    if len(days) < 20 or bool((stamps == stamps.normalize()).all()):
        return
    weekday = pd.Series(days.day_of_week)
    share = weekday.value_counts(normalize=True)
    for day, other, side, example in (
        (6, 5, "opening before midnight UTC (Sydney's, Auckland's), dated a day early", "Australia/Sydney"),
        (5, 6, "closing after midnight UTC, dated a day late", "America/New_York"),
    ):
        if share.get(day, 0.0) >= 0.05 and share.get(other, 0.0) < 0.01:
            names = {5: "Saturday", 6: "Sunday"}
            logger.warning(
                "%s: %d of the %d days fall on a %s and none on a %s: the time stamps look like a market's "
                "sessions %s by their day in UTC; set data.timezone to the market's zone (e.g. %s)",
                source,
                int((weekday == day).sum()),
                len(days),
                names[day],
                names[other],
                side,
                example,
            )


def frame_to_prices(df, *, source, date_column=None, price_column=None, volume_column=None, ticker="price", rules=None):
    """Turn a table (a date column plus a price column, or OHLCV) into :class:`PriceData`.

    Parameters
    ----------
    df : pandas.DataFrame
        Raw table; the dates may be a column or the index.
    source : str
        File name for messages.
    date_column, price_column, volume_column : str, optional
        Column names; found automatically when not given (``Date``; the first of
        :data:`PRICE_COLUMNS`; ``Volume``).
    ticker : str
        Name of the price column in the result.
    rules : dict, optional
        Cleaning rules for :func:`clean_prices` (``missing``, ``nonpositive``,
        ``repeated``); default: refuse missing and non-positive prices, keep
        repeated ones. ``levels``: the series are levels (yields, rates), which may be zero or negative.

    Returns
    -------
    data : PriceData
    """
    if df.shape[0] == 0:
        raise DataError(f"{source}: no data rows (only a header?); expected dates and prices")
    rules = dict(rules or {})
    zone = rules.pop("timezone", None)
    if isinstance(df.index, pd.DatetimeIndex) and date_column is None:
        dates = df.index
        dcol = df.index.name or "index"
    else:
        df = df.reset_index(drop=not (df.index.name or isinstance(df.index, pd.DatetimeIndex)))
        dcol, dates = dates_column(df, date_column, source, utc=zone is not None)
        df = df.drop(columns=[dcol])
        dates, df = with_time_column(*without_events(df, dates, source), source)
    stamps = wall_clock(pd.DatetimeIndex(dates), zone)
    if len(stamps) > 1 and stamps.is_monotonic_decreasing and not stamps.has_duplicates:
        logger.info("%s: dates run newest first; read oldest first", source)
        stamps, df = stamps[::-1], df.iloc[::-1]
    dates = stamps.normalize()
    if df.shape[1] == 0:
        raise DataError(f"{source}: only a date column ({dcol!r}); expected a column of prices beside it")
    pcol, vcol = price_columns(df, price_column, volume_column, source)
    df, dates = daily_closes(df, stamps, dates, vcol, source)
    values = pd.Series(read_numbers(df[pcol], pcol, source).to_numpy(), index=dates)
    if dates.has_duplicates:
        refuse_long(df, dates, dcol, source)
    _check_dates(dates, dcol, source)
    if zone is None:
        _say_shifted_week(stamps, dates, source)
    levels = rules.pop("levels", False)  # yields, rates, spreads: zero and below are values like any other
    values, keep, breaks, counts = clean_prices(values, pcol, source, **rules)
    prices = _check_series(values, pcol, source, positive=not levels).to_frame(ticker)
    vol = None if vcol is None else volumes(df[vcol], keep, values.index, vcol, source, named=volume_column is not None)
    volume = None if vol is None else vol.to_frame(ticker)
    if len(prices) < 2:
        raise DataError(f"{source}: only {len(prices)} price row(s); need a price history")
    return PriceData(prices, volume, source, breaks, counts)


def load_arch(name="sp500", *, rules=None):
    """Daily prices bundled with the ``arch`` package (offline).

    Parameters
    ----------
    name : {'sp500', 'nasdaq'} or list of them
        Several names give one column each, on their common dates.
    rules : dict, optional
        Cleaning rules (:func:`clean_prices`).

    Returns
    -------
    data : PriceData
    """
    names = [name] if isinstance(name, str) else list(name)
    parts = []
    for nm in names:
        df = importlib.import_module(f"arch.data.{nm}").load()
        parts.append(
            frame_to_prices(
                df, source=f"arch.data.{nm}", ticker={"sp500": "S&P 500", "nasdaq": "NASDAQ"}[nm], rules=rules
            )
        )
    return align(parts, "arch.data." + "+".join(names))


def _header_has(named, price_column):
    """A header below a title: the row holding the named columns and a known price column, never
    yfinance's row of tickers under its row of fields."""
    known = {c.lower() for c in PRICE_COLUMNS}
    has = header_with(named)
    return lambda cells: (
        (has is None or has(cells))
        and (price_column or known & cells)
        and not ("ticker" in cells and not known & cells and "date" not in cells)
    )


def load_file(
    path,
    *,
    date_column=None,
    price_column=None,
    volume_column=None,
    rules=None,
    sheet=None,
    series_column=None,
    series=None,
):
    """Prices from a CSV / TSV (plain, gzip or zipped), Parquet or Excel file (:func:`gmm_apps.tabular.read_table`).

    Parameters
    ----------
    path : str or Path
    date_column, price_column, volume_column : str, optional
    rules : dict, optional
        Cleaning rules (:func:`clean_prices`), applied to each series.
    sheet : str or int, optional
        An Excel workbook's sheet (default the first).
    series_column : str, optional
        A long file (one row per date and series): the column naming each row's series.
    series : str or list of str, optional
        With ``series_column``, the series to read (default: the file's only one).

    Returns
    -------
    data : PriceData
    """
    path = require_file(path, key="data.path", expected="a header and rows of dates and prices")
    named = [date_column, volume_column, series_column]
    named += list(price_column) if isinstance(price_column, (list, tuple)) else [price_column]
    df = read_table(path, sheet=sheet, header_has=_header_has(named, price_column), keep=named)
    tables = yfinance_tables(df) if series_column is None else None
    if tables is not None:  # a saved yfinance download: each ticker's own OHLCV
        chosen = yfinance_choice(tables, price_column, str(path))
        parts = [
            frame_to_prices(
                t, source=f"{path} ({n})", price_column=p, volume_column=volume_column, ticker=n, rules=rules
            )
            for n, t, p in chosen
        ]
        return align(parts, str(path))
    if series_column is not None:
        parts = [
            frame_to_prices(
                part,
                source=f"{path} (series {name!r})",
                date_column=date_column,
                price_column=price_column,
                volume_column=volume_column,
                ticker=name,
                rules=rules,
            )
            for name, part in long_series(df, series_column, series, str(path))
        ]
        return align(parts, str(path))
    if isinstance(price_column, (list, tuple)):  # several series: one column each, named by the column
        missing = [c for c in price_column if c not in df.columns]
        if missing:
            raise DataError(
                f"{path}: price column {missing[0]!r} (data.price_column) not found; columns are "
                f"{', '.join(map(str, df.columns))}"
            )
        parts = [
            frame_to_prices(
                df.drop(columns=[c for c in price_column if c != col]),
                source=str(path),
                date_column=date_column,
                price_column=col,
                volume_column=None,
                ticker=col,
                rules=rules,
            )
            for col in price_column
        ]
        return align(parts, str(path))
    return frame_to_prices(
        df,
        source=str(path),
        date_column=date_column,
        price_column=price_column,
        volume_column=volume_column,
        ticker=price_column if isinstance(price_column, str) and names_a_series(price_column) else path.stem,
        rules=rules,
    )


def load_yfinance(
    tickers, *, start=None, end=None, interval="1d", cache_dir=".gmm_apps_cache", download=None, rules=None
):
    """Prices from Yahoo Finance through ``yfinance``, cached on disk.

    Parameters
    ----------
    tickers : list of str
    start, end : date, optional
    interval : str
    cache_dir : str or Path
        Responses are cached as Parquet keyed by the request.
    download : callable, optional
        Replacement for ``yfinance.download`` (tests pass recorded responses).
    rules : dict, optional
        Cleaning rules (:func:`yfinance_frame_to_prices`).

    Returns
    -------
    data : PriceData
    """
    key = json.dumps({"t": list(tickers), "s": str(start), "e": str(end), "i": interval}, sort_keys=True)
    cache = Path(cache_dir) / f"yfinance-{hashlib.sha256(key.encode()).hexdigest()[:16]}.parquet"
    if cache.is_file():
        logger.info("reading cached Yahoo Finance prices %s", cache)
        raw = pd.read_parquet(cache)
    else:
        if download is None:
            try:
                import yfinance  # optional: not a dependency; the user installs it for data.source: yfinance
            except ImportError:
                raise DataError(
                    f"data.source is 'yfinance' ({', '.join(tickers)}) but the yfinance package is not installed; "
                    "pip install yfinance, or use data.path with a CSV of prices"
                ) from None
            download = yfinance.download
        logger.info("downloading %s from Yahoo Finance", ", ".join(tickers))
        try:
            raw = download(
                list(tickers),
                start=None if start is None else str(start),
                end=None if end is None else str(end),
                interval=interval,
                auto_adjust=False,
                progress=False,
                group_by="column",
                threads=False,
            )
        except Exception as exc:  # network errors come in many types
            raise DataError(
                f"Yahoo Finance download of {', '.join(tickers)} failed ({type(exc).__name__}: {exc}); "
                "check the network, or use data.path with a CSV of prices"
            ) from None
        if raw is None or len(raw) == 0:
            raise DataError(
                f"Yahoo Finance returned no prices for {', '.join(tickers)} ({start} to {end}); "
                "check the ticker symbols and dates, and the network"
            )
        cache.parent.mkdir(parents=True, exist_ok=True)
        raw.to_parquet(cache)
    return yfinance_frame_to_prices(raw, tickers, rules=rules)


def yfinance_frame_to_prices(raw, tickers, *, rules=None):
    """Convert ``yfinance.download`` output (flat or two-level columns) to :class:`PriceData`.

    Days a ticker has no price are left out whatever ``data.missing`` says (Yahoo
    pads its tickers to a common calendar); the other cleaning rules apply.
    """
    source = f"Yahoo Finance ({', '.join(tickers)})"
    rules = {**(rules or {}), "missing": "drop"}
    prices, volumes, parts = {}, {}, []
    for t in tickers:
        if isinstance(raw.columns, pd.MultiIndex):
            lv = raw.columns.get_level_values(1)
            if t not in set(lv):
                raise DataError(f"{source}: no prices for ticker {t!r}; check the symbol")
            sub = raw.xs(t, axis=1, level=1)
        else:
            sub = raw
        sub = sub.dropna(how="all")
        if len(sub) == 0 or sub.drop(columns=[c for c in sub.columns if str(c).lower() == "volume"]).isna().all().all():
            raise DataError(f"{source}: no prices for ticker {t!r}; check the symbol")
        d = frame_to_prices(sub.dropna(subset=[_price_col(sub)]), source=f"{source} {t}", ticker=t, rules=rules)
        prices[t] = d.prices[t]
        parts.append(d)
        if d.volume is not None:
            volumes[t] = d.volume[t]
    full = pd.DataFrame(prices)
    P = full.dropna()  # the tickers' common dates
    if len(prices) > 1:
        logger.info(
            "%s: %d dates common to %s (inner join; %d dropped)", source, len(P), ", ".join(prices), len(full) - len(P)
        )
    V = pd.DataFrame(volumes).reindex(P.index) if volumes else None
    return PriceData(P, V, source, *_merged_cleaning(parts, P.index))


def _price_col(df):
    for c in ("Adj Close", "Close"):
        if c in df.columns:
            return c
    return df.columns[0]
