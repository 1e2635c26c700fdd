"""Reading transaction logs as users export them.

Formats, decided by content (never by a file name alone) unless ``data.format``
says: the CDNOW text format (a header line, then whitespace-separated id,
YYYYMMDD date, quantity, amount), delimited text (CSV, TSV, ``;`` or ``|``,
plain or gzip), Parquet, and Excel ``.xlsx`` (one sheet).

A log may hold one row per purchase or one row per line item.  The amount of a
line is ``data.amount_column``, or ``data.quantity_column`` x ``data.price_column``.
Lines are turned into purchases in documented steps:

1. rows without a customer id are dropped (counted, with their revenue) or refused (``data.missing_id``);
2. a line is a return when its amount or its quantity is negative, or when its
   order id matches ``data.cancel_pattern``; returns are netted, dropped or
   refused (``data.returns``);
3. the lines of one customer on one day (in ``data.timezone`` when given) are one
   purchase: the day's purchase lines summed (several orders on one day are one
   purchase, the convention of the customer-value literature);
4. with ``returns: net`` each day's returned amount is subtracted from that
   customer's purchase on the same day, then from their earlier purchases, latest
   first; a purchase never goes below zero, and one netted to zero is no longer a
   purchase.  A return with no earlier purchase to net against is left out (counted).
"""

from __future__ import annotations

import gzip
import logging
import re
import zoneinfo
from pathlib import Path

import numpy as np
import pandas as pd

from ...engine import dask_frame
from ...errors import ConfigError, DataError
from ...paths import require_file
from ...tabular import DATE_STYLE, as_numbers, day_month_order, dayfirst, numeric_dates, read_table, sniff_table

logger = logging.getLogger("gmm_apps")

#: amounts, prices and quantities beyond this magnitude are refused (their sums would overflow)
EXTREME = 1e15
#: the customer id under which rows without one are counted until they are dropped
MISSING_ID = "\0missing"
#: the customer-day table every reader returns (before netting)
DAILY_COLUMNS = ["customer_id", "date", "quantity", "amount", "returned", "lines", "return_lines"]
_SEPARATORS = (",", "\t", ";", "|")
_FLOAT_ID = re.compile(r"^-?\d+\.0$")


# --------------------------------------------------------------------------- formats
def sniff(path):
    """How a file is stored, from its first bytes (:func:`gmm_apps.tabular.sniff_table`), and whether a
    text file is in the CDNOW format (no separator in its header, a CDNOW line after it).

    Returns
    -------
    kind : {'cdnow', 'table', 'excel', 'parquet'}
    sep : str or None
        The column separator of a text table.
    compression : {'gzip', None}
    """
    path = Path(path)
    kind, sep, compression = sniff_table(path)
    if kind != "text":
        return kind, None, None
    if sep in _SEPARATORS:
        return "table", sep, compression
    opener = gzip.open if compression else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            lines = [ln for ln in (fh.readline() for _ in range(20)) if ln.strip()][:2]
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if len(lines) > 1 and _looks_like_cdnow(lines[1]):
        return "cdnow", None, compression
    return "table", sep, compression


def _looks_like_cdnow(line):
    parts = line.split()
    if len(parts) != 4 or not re.fullmatch(r"\d{8}", parts[1]):
        return False
    try:
        float(parts[2]), float(parts[3])
    except ValueError:
        return False
    return True


def file_kind(cfg_data, path):
    """``(kind, sep, compression)`` of the log: ``data.format`` when set, else what :func:`sniff` finds."""
    kind, sep, compression = sniff(path)
    want = cfg_data.format
    if want == "auto":
        return kind, sep, compression
    if want == "table" and kind in ("table", "parquet", "cdnow"):
        if kind == "cdnow":  # whitespace-separated named columns
            return "table", r"\s+", compression
        return kind, sep, compression
    if want == "cdnow" and kind in ("table", "cdnow"):
        return "cdnow", None, compression
    if want == kind:
        return kind, sep, compression
    raise DataError(
        f"{path}: data.format is {want!r} but the file holds {'an Excel workbook' if kind == 'excel' else kind}; "
        "set data.format: auto to read it as it is"
    )


def _read_raw(path, kind, compression, cfg_data, text_columns):
    """The file as a DataFrame of the user's columns (id and order columns read as text): CDNOW text here,
    every other kind by :func:`gmm_apps.tabular.read_table`."""
    if kind != "cdnow":
        return read_table(path, sheet=cfg_data.sheet, dtype={c: str for c in text_columns if c is not None})
    try:
        return pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            skiprows=1,
            names=["id", "date", "quantity", "amount"],
            dtype=str,
            engine="python",
            compression=compression,
        )
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError, EOFError) as exc:
        raise DataError(
            f"{path}: cannot read as CDNOW text ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None


# --------------------------------------------------------------------------- the columns a config names
def column_spec(cfg_data, kind):
    """Our column -> the user's column, for the columns the config names (CDNOW: its fixed four)."""
    if kind == "cdnow":
        return {"customer_id": "id", "date": "date", "quantity": "quantity", "amount": "amount"}
    spec = {"customer_id": cfg_data.id_column, "date": cfg_data.date_column}
    if cfg_data.price_column:
        spec["price"] = cfg_data.price_column
    else:
        spec["amount"] = cfg_data.amount_column or "amount"
    for key, col in (("quantity", cfg_data.quantity_column), ("order", cfg_data.order_column)):
        if col:
            spec[key] = col
    return spec


def check_columns(path, spec, columns):
    """Every named column is in the file; else one line naming the key, the column and the columns there are."""
    cols = [str(c) for c in columns]
    for ours, theirs in spec.items():
        if theirs in cols:
            continue
        key = {"customer_id": "id_column"}.get(ours, f"{ours}_column")
        near = [c for c in cols if c.lower() == str(theirs).lower()]
        hint = f"; did you mean {near[0]!r}?" if near else f"; columns are {', '.join(cols)}"
        raise DataError(f"{path}: column {theirs!r} (data.{key}) not found{hint}")


# --------------------------------------------------------------------------- lines -> customer-days
def _row(mask):
    return int(np.flatnonzero(np.asarray(mask))[0])


def _numbers(raw, col, name, path):
    try:
        cells, _ = as_numbers(raw[col])  # "$1,234.50", "1.234,50", "(12.50)" as exported
    except ValueError as exc:
        raise DataError(f"{path}: column {name!r}: {exc}") from None
    v = pd.to_numeric(cells, errors="coerce").astype(float)
    bad = v.isna() | ~np.isfinite(v)
    if bad.any():
        i = _row(bad)
        raise DataError(
            f"{path}: column {name!r} has a non-numeric or missing value {raw[col].iloc[i]!r} at data "
            f"row {i + 1}; fix or remove that row"
        )
    big = np.abs(v.to_numpy()) > EXTREME
    if big.any():
        i = _row(big)
        raise DataError(
            f"{path}: column {name!r} has an extreme value {raw[col].iloc[i]!r} at data row {i + 1} "
            f"(beyond {EXTREME:g}); that is a data error: fix or remove that row"
        )
    return v.to_numpy()


def _ids(values):
    """Customer ids as text, and which are missing; whole-number floats (an id column with gaps read as numbers)
    lose their '.0'."""
    missing = values.isna().to_numpy().copy()
    if pd.api.types.is_float_dtype(values):
        v = values.to_numpy(dtype=float)
        whole = ~missing & (v == np.round(v))
        text = np.array([str(int(x)) if w else str(x) for x, w in zip(v, whole)], dtype=object)
    else:
        text = values.astype(str).str.strip().to_numpy(dtype=object).copy()
        present = text[~missing]
        if len(present) and all(_FLOAT_ID.match(t) for t in present):  # whole numbers written as 17850.0
            text[~missing] = [t[:-2] for t in present]
    missing |= text == ""
    text[missing] = ""
    return text, missing


def _days(s, name, path, cfg_data, first=None):
    """Each line's day: in ``data.timezone`` when given (naive stamps taken as UTC), else as written.
    ``first``: day-first or not, decided on the whole file (a block of it may not show it); None: from ``s``."""
    fmt = cfg_data.date_format
    if not fmt:
        try:
            stamps, style = numeric_dates(s)  # 20230131, Excel day numbers, Unix time stamps
        except ValueError as exc:
            raise DataError(f"{path}: column {name!r} {exc}; set data.date_format (e.g. %Y%m%d)") from None
        if stamps is not None:
            logger.info("%s: column %r read as %s", path, name, DATE_STYLE[style])
            s, first = stamps, False
    if first is None:
        first = False if fmt else _day_first([day_month_order(s)], name, path)
    try:
        if cfg_data.timezone:
            t = pd.to_datetime(s.astype(str) if fmt else s, format=fmt or "mixed", utc=True, dayfirst=first)
            t = t.dt.tz_convert(cfg_data.timezone).dt.tz_localize(None)
        else:
            t = pd.to_datetime(s.astype(str) if fmt else s, format=fmt or "mixed", dayfirst=first)
            if getattr(t.dt, "tz", None) is not None:
                t = t.dt.tz_localize(None)  # the wall-clock day as written
    except (ValueError, TypeError) as exc:
        msg = str(exc).splitlines()[0]
        if "timezone" in msg.lower() or "offset" in msg.lower():
            raise DataError(
                f"{path}: column {name!r} holds timestamps with different UTC offsets; set data.timezone "
                "(e.g. America/New_York) to take each purchase's day in one zone"
            ) from None
        raise DataError(f"{path}: column {name!r} does not hold dates ({msg}); set data.date_format") from None
    if t.isna().any():
        i = _row(t.isna())
        raise DataError(f"{path}: column {name!r} has a missing date at data row {i + 1}; fix or remove that row")
    return t.dt.normalize()


def _day_first(orders, name, path):
    """Day-first or not, from the day/month orders of a column or of its blocks (:func:`gmm_apps.tabular.dayfirst`)."""
    try:
        return dayfirst(None, where=f"{path}: column {name!r}", orders=orders)
    except ValueError as exc:
        raise DataError(f"{exc}; set data.date_format (e.g. %d/%m/%Y %H:%M)") from None


def customer_days(raw, spec, path, cfg_data, first=None):
    """Typed line items of one block of the file, summed per customer and day.

    Rows without a customer id are kept under :data:`MISSING_ID` (with
    ``missing_id: error`` the first is refused); return lines are summed apart
    (``returned``), or refused with ``returns: error``.

    Returns
    -------
    daily : pandas.DataFrame
        Columns :data:`DAILY_COLUMNS`.
    """
    names = dict(spec)
    ids, missing = _ids(raw[spec["customer_id"]])
    if missing.any() and cfg_data.missing_id == "error":
        i = _row(missing)
        raise DataError(
            f"{path}: column {names['customer_id']!r} is empty at data row {i + 1}; set data.missing_id: "
            "drop to leave such rows out (they are counted in the report)"
        )
    ids[missing] = MISSING_ID
    lines = pd.DataFrame({"customer_id": ids})
    lines["date"] = _days(raw[spec["date"]], names["date"], path, cfg_data, first).to_numpy()
    qty = _numbers(raw, spec["quantity"], names["quantity"], path) if "quantity" in spec else np.ones(len(raw))
    if "price" in spec:
        amount = qty * _numbers(raw, spec["price"], names["price"], path)
    else:
        amount = _numbers(raw, spec["amount"], names["amount"], path)
    is_return = amount < 0
    if "quantity" in spec:
        is_return |= qty < 0
    if cfg_data.cancel_pattern and "order" in spec:
        is_return |= raw[spec["order"]].astype(str).str.match(cfg_data.cancel_pattern).to_numpy()
    if is_return.any() and cfg_data.returns == "error":
        i = _row(is_return)
        raise DataError(
            f"{path}: data row {i + 1} is a return or cancellation (amount {amount[i]:g}); set "
            "data.returns: net (subtract returns from the customer's purchases) or drop"
        )
    lines["quantity"] = np.where(is_return, 0.0, qty)
    lines["amount"] = np.where(is_return, 0.0, amount)
    lines["returned"] = np.where(is_return, np.abs(amount), 0.0)
    lines["lines"] = 1
    lines["return_lines"] = is_return.astype(int)
    return lines.groupby(["customer_id", "date"], as_index=False, sort=False)[DAILY_COLUMNS[2:]].sum()


def finish(daily, cfg_data):
    """Customer-day purchases from the summed line items, with what each cleaning rule touched.

    Parameters
    ----------
    daily : pandas.DataFrame
        :func:`customer_days` of the whole file (blocks concatenated; summed again here).
    cfg_data : CustomersData

    Returns
    -------
    purchases : pandas.DataFrame
        ``customer_id``, ``date``, ``quantity``, ``amount``, sorted by customer and date.
    cleaning : dict
        Counts and revenue of rows without an id, returns, and the purchases left.
    """
    daily = daily.groupby(["customer_id", "date"], as_index=False, sort=True)[DAILY_COLUMNS[2:]].sum()
    gone = (daily["customer_id"] == MISSING_ID).to_numpy()
    revenue = float(daily["amount"].sum())
    lost = float(daily.loc[gone, "amount"].sum())
    cleaning = {
        "lines": int(daily["lines"].sum()),
        "missing_id": {
            "rule": cfg_data.missing_id,
            "lines": int(daily.loc[gone, "lines"].sum()),
            "revenue": lost,
            "revenue_share": lost / revenue if revenue > 0 else 0.0,
        },
    }
    daily = daily[~gone].reset_index(drop=True)
    returns = {
        "rule": cfg_data.returns,
        "lines": int(daily["return_lines"].sum()),
        "amount": float(daily["returned"].sum()),
    }
    purchase = (daily["lines"] > daily["return_lines"]).to_numpy().copy()
    if returns["lines"] and cfg_data.returns == "net":
        amount, netted = net_returns(
            daily["customer_id"].to_numpy(),
            daily["amount"].to_numpy(dtype=float),
            daily["returned"].to_numpy(dtype=float),
        )
        cancelled = purchase & (daily["amount"].to_numpy() > 0) & (amount <= 0)
        netted["purchases_cancelled"] = int(cancelled.sum())
        returns.update(netted)
        daily["amount"] = amount
        purchase &= ~cancelled
    purchases = daily.loc[purchase, ["customer_id", "date", "quantity", "amount"]].reset_index(drop=True)
    if purchases.empty:
        raise DataError(
            f"{cfg_data.path}: no purchases left after the cleaning rules (rows without a customer id "
            f"dropped: {cleaning['missing_id']['lines']:,}; return lines: {returns['lines']:,})"
        )
    cleaning["returns"] = returns
    cleaning["purchases"] = len(purchases)
    cleaning["revenue"] = float(purchases["amount"].sum())
    return purchases, cleaning


def net_returns(customers, amount, returned):
    """Each day's returns subtracted from the customer's purchase that day, then from earlier ones, latest first.

    Parameters
    ----------
    customers : ndarray of shape (n,)
        Customer of each customer-day, the rows sorted by customer and date.
    amount : ndarray of shape (n,)
        Purchase amount of each customer-day.
    returned : ndarray of shape (n,)
        Amount returned on that day (positive).

    Returns
    -------
    amount : ndarray of shape (n,)
        After netting; never below zero.
    stats : dict
        ``netted`` (subtracted from purchases) and ``unmatched`` (returns with no
        earlier purchase of the customer's left to net against).
    """
    amount = amount.astype(float).copy()
    starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
    ends = np.r_[starts[1:], len(customers)]
    has = np.add.reduceat(returned, starts) > 0 if len(customers) else np.zeros(0, bool)
    netted = unmatched = 0.0
    for s, e in zip(starts[has], ends[has]):
        for i in range(s, e):
            r, j = returned[i], i
            while r > 0 and j >= s:
                take = min(amount[j], r)
                amount[j] -= take
                r -= take
                netted += take
                j -= 1
            unmatched += r
    amount[amount < 1e-9] = 0.0
    return amount, {"netted": netted, "unmatched": unmatched}


# --------------------------------------------------------------------------- readers
def read_transactions(cfg_data, path=None):
    """Read a transaction log as the config says (``path`` overrides ``data.path``).

    Returns
    -------
    purchases : pandas.DataFrame
        One row per customer and day: ``customer_id`` (str), ``date``, ``quantity``, ``amount``.
    cleaning : dict
        What :func:`finish` counted.
    """
    p = require_file(path or cfg_data.path, key="data.path", expected="transactions")
    kind, _, compression = file_kind(cfg_data, p)
    spec = column_spec(cfg_data, kind)
    raw = _read_raw(p, kind, compression, cfg_data, [spec["customer_id"], spec.get("order")])
    if kind == "cdnow" and raw.isna().any().any():
        i = _row(raw.isna().any(axis=1))
        raise DataError(f"{p}: line {i + 2} has fewer than 4 fields; expected id, YYYYMMDD date, quantity, amount")
    if raw.empty:
        raise DataError(f"{p}: no transactions (only a header?)")
    check_columns(p, spec, raw.columns)
    cfg = cfg_data if kind != "cdnow" else _CdnowData(cfg_data)
    return finish(customer_days(raw, spec, p, cfg), cfg_data)


class _CdnowData:
    """The CDNOW format's fixed reading settings (YYYYMMDD dates, no time zone), other settings as configured."""

    def __init__(self, cfg_data):
        self._cfg = cfg_data

    date_format = "%Y%m%d"
    timezone = None

    def __getattr__(self, name):
        return getattr(self._cfg, name)


def dask_purchases(cfg_data, client, *, chunk_rows, path=None):
    """Per customer-day purchases aggregated on a Dask cluster from a CSV or Parquet log.

    The workers read their own blocks of the file, type them and sum each
    customer's day; only the (much smaller) customer-day table comes back,
    where returns are netted as :func:`finish` does.  CDNOW text and Excel
    files are read locally.

    Returns
    -------
    purchases : pandas.DataFrame
    cleaning : dict

    Or None when the input must be read locally.
    """
    p = Path(path or cfg_data.path)
    require_file(p, key="data.path", allow_empty=True)
    kind, sep, compression = file_kind(cfg_data, p)
    if kind not in ("table", "parquet") or compression or sep not in (None, ","):
        return None
    try:
        ddf = dask_frame(p, chunk_rows=chunk_rows)
    except (ValueError, OSError) as exc:
        raise DataError(f"{p}: cannot read ({str(exc).splitlines()[0]})") from None
    spec = column_spec(cfg_data, kind)
    check_columns(p, spec, ddf.columns)

    first = None
    if cfg_data.date_format is None and day_month_order(ddf[spec["date"]].head(5)) is not None:
        # dates like 01/12/2010: decided on the whole column, as a block of days 1-12 cannot tell
        orders = ddf[spec["date"]].map_partitions(lambda s: pd.Series([day_month_order(s)]), meta=(None, object))
        first = _day_first(client.compute(orders, sync=True).tolist(), spec["date"], p)

    def block(part):
        return customer_days(part.reset_index(drop=True), spec, p, cfg_data, first)

    meta = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "date": pd.Series(dtype="datetime64[ns]"),
            **{c: pd.Series(dtype=float) for c in ("quantity", "amount", "returned")},
            **{c: pd.Series(dtype="int64") for c in ("lines", "return_lines")},
        }
    )
    daily = ddf.map_partitions(block, meta=meta).groupby(["customer_id", "date"])[DAILY_COLUMNS[2:]].sum()
    out = client.compute(daily, sync=True).reset_index()
    if out.empty:
        raise DataError(f"{p}: no transactions (only a header?)")
    out["customer_id"] = out["customer_id"].astype(str)
    return finish(out[DAILY_COLUMNS], cfg_data)


def check_data_keys(cfg_data, source):
    """Keys that contradict each other or the file's format, refused in one line before any work."""
    if cfg_data.amount_column and cfg_data.price_column:
        raise ConfigError(
            f"{source}: data.amount_column and data.price_column are both set; the amount is either a "
            "column or quantity x price: set one of them to null"
        )
    if cfg_data.price_column and not cfg_data.quantity_column:
        raise ConfigError(f"{source}: data.price_column needs data.quantity_column (amount = quantity x price)")
    if cfg_data.cancel_pattern:
        if not cfg_data.order_column:
            raise ConfigError(f"{source}: data.cancel_pattern matches order ids; set data.order_column too")
        try:
            re.compile(cfg_data.cancel_pattern)
        except re.error as exc:
            raise ConfigError(f"{source}: data.cancel_pattern: not a regular expression ({exc})") from None
    if cfg_data.timezone:
        try:
            zoneinfo.ZoneInfo(cfg_data.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{source}: data.timezone: unknown time zone {cfg_data.timezone!r}; use a name like "
                "America/New_York or UTC"
            ) from None


def check_format_keys(cfg_data, kind, source):
    """Refuse keys the file's format does not read (a key is used or refused, never ignored)."""
    defaults = type(cfg_data).model_fields
    if kind == "cdnow":
        table_keys = (
            "id_column",
            "date_column",
            "amount_column",
            "price_column",
            "quantity_column",
            "order_column",
            "cancel_pattern",
            "timezone",
            "date_format",
        )
        for key in table_keys:
            if getattr(cfg_data, key) != defaults[key].default:
                raise ConfigError(
                    f"{source}: data.{key} is set, but {cfg_data.path} is in the CDNOW text format "
                    "(fixed columns id, date, quantity, amount); remove the key, or set data.format: table "
                    "if the file has named columns"
                )
    if cfg_data.sheet is not None and kind != "excel":
        raise ConfigError(f"{source}: data.sheet is set, but {cfg_data.path} is not an Excel workbook; remove the key")
