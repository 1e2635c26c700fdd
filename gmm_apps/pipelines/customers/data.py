"""Reading transaction logs as users export them.

Formats, decided by content (never by a file name alone) unless ``data.format``
says: the CDNOW text format (a header line, then whitespace-separated id,
YYYYMMDD date, quantity, amount), delimited text (CSV, TSV, ``;`` or ``|``,
plain, gzip or zipped), Parquet, and Excel ``.xlsx`` / ``.xls`` or OpenDocument ``.ods`` workbooks.

A log may hold one row per purchase or one row per line item; :mod:`.lines` turns the lines
into purchases.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from ...dates import day_month_order, time_stamp_column, unreadable
from ...errors import ConfigError, DataError
from ...number_text import as_numbers
from ...paths import require_file
from ...registry import muted, say_unsettled
from ...sniff import open_stored, sniff_table
from ...table_edges import shown_rows
from ...tabular import header_with, read_table, sheets_alike
from .config import CustomersData
from .headers import LINE_WORDS, LOOKS_LIKE, NOT_ORDER_NUMBER, amount_like, id_look_alike, look_alike
from .lines import (
    SHARED_ORDERS,
    customer_days,
    customer_ids,
    customers_per_order,
    finish,
    first_row,
    placeholder_suspect,
    trailing_totals,
)
from .rows import id_for_missing, ids_from_above, keep_rows, one_currency, written_once
from .status import counted_statuses, refund_column, row_statuses, status_column, status_summary, tally

logger = logging.getLogger("gmm_apps")
_SEPARATORS = (",", "\t", ";", "|")


# --------------------------------------------------------------------------- formats
def sniff(path):
    """How a file is stored, from its first bytes (:func:`gmm_apps.sniff.sniff_table`), and whether a
    text file is in the CDNOW format (no separator in its header, a CDNOW line after it).

    Returns
    -------
    kind : {'cdnow', 'table', 'excel', 'json', 'parquet'}
    sep : str or None
        The column separator of a text table.
    compression : {'gzip', 'zip', None}
    """
    path = Path(path)
    kind, sep, compression = sniff_table(path)
    if kind != "text":
        return kind, None, None
    if sep in _SEPARATORS:
        return "table", sep, compression
    try:
        with open_stored(path, compression, "rt", encoding="utf-8", errors="replace") as fh:
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
        f"{path}: data.format is {want!r} but the file holds "
        f"{ {'excel': 'an Excel workbook', 'json': 'JSON records'}.get(kind, kind) }; "
        "set data.format: auto to read it as it is"
    )


def _read_raw(path, kind, compression, cfg_data, spec):
    """The file as a DataFrame of the user's columns (``spec``: :func:`column_spec`; id and order columns
    read as text): CDNOW text here, every other kind by :func:`gmm_apps.tabular.read_table`."""
    if kind != "cdnow":
        return read_table(
            path,
            sheet=cfg_data.sheet,
            dtype={spec[k]: str for k in ("customer_id", "order") if k in spec},
            header_has=header_with(spec.values()),
            keep=set(spec.values()),
        )
    try:
        with open_stored(path, compression) as fh:
            head = fh.readline()  # CDNOW_master.txt as published has no header; a copy may have one
            fh.seek(0)
            return pd.read_csv(
                fh,
                sep=r"\s+",
                header=None,
                skiprows=0 if _looks_like_cdnow(head.decode("utf-8", "replace")) else 1,
                names=["id", "date", "quantity", "amount"],
                dtype=str,
                engine="python",
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
    if cfg_data.status_column not in (None, "auto"):
        spec["status"] = cfg_data.status_column
    if cfg_data.refund_column not in (None, "auto"):
        spec["refund"] = cfg_data.refund_column
    return spec


def with_payment_columns(spec, columns, cfg_data):
    """``spec`` with the log's payment-status and refunded-amount columns (:func:`.status.status_column`,
    :func:`.status.refund_column`), those it has."""
    out = dict(spec)
    for key, col in (
        ("status", status_column(columns, cfg_data.status_column)),
        ("refund", refund_column(columns, cfg_data.refund_column)),
    ):
        if col is not None:
            out[key] = col
    return out


def statuses_counted(path, spec, counts, cfg_data):
    """The status words read as purchases (:func:`.status.counted_statuses`), logged with what is left out."""
    counted = counted_statuses(path, spec["status"], counts, cfg_data.count_status)
    left = {w: n for w, n in counts.items() if w not in counted}
    logger.info(
        "%s: column %r holds payment statuses; counted as purchases: %s; left out: %s",
        path,
        spec["status"],
        ", ".join(f"{w} ({n:,} rows)" for w, n in counts.items() if w in counted) or "none",
        ", ".join(f"{w} ({n:,} rows)" for w, n in left.items()) or "none",
    )
    return counted


def _order_column(table, id_column, taken):
    """The column of order numbers ``init --data`` writes: the first whose header names an order (invoice,
    basket ...) number, not another of its fields, and whose values are order numbers
    (:func:`_holds_order_numbers`); else, with a customer id column, the one column of any other header
    whose values are order numbers written on each of an order's lines, its lines together (Shopify's ``Name``,
    ``#1001``); None when there is none.  ``taken``: the columns read as something else."""
    words = LINE_WORDS["order_column"]
    for c in (c for c in table.columns if c not in taken):  # order_ts, order_created_at: the date column
        name = c.lower()
        other = any(w in name for w in NOT_ORDER_NUMBER) or re.search(r"(?<![a-z])line", name)  # not "online"
        if any(w in name for w in words) and not other:
            if id_column is None or _holds_order_numbers(table[c], table[id_column], lines=False):
                return c
    if id_column is None:
        return None
    found = [c for c in table.columns if c not in taken and _holds_order_numbers(table[c], table[id_column])]
    return found[0] if len(found) == 1 else None


def _holds_order_numbers(values, customers, *, lines=True):
    """Whether ``values`` are order numbers: each one customer's (at most 5% shared, as a guest's may be), as
    many as half the customers at least (a column of each customer's order count is not), none a date; with
    ``lines``, also some of them on several lines, each order's lines together, more of them than customers (not
    a customer's name in a log sorted by customer)."""
    per_order = customers_per_order(values, customers)
    named = customers.dropna().astype(str).str.strip()
    n_customers = named[named != ""].nunique()
    if not len(per_order) or (per_order > 1).mean() > SHARED_ORDERS or len(per_order) < n_customers / 2:
        return False
    written = values.dropna().astype(str)
    written = written[written.str.strip() != ""]
    if not lines:
        return bool(unreadable(written.head(200), format=None).all())  # no order number is a date
    runs = (written != written.shift()).sum()  # an order's lines together: one run each
    if len(per_order) == len(written) or runs > 1.05 * len(per_order):
        return False
    if len(per_order) < 1.05 * n_customers:  # one a customer: the customer's name, not their orders
        return False
    return bool(unreadable(written.head(200), format=None).all())  # no order number is a date


def suggested_columns(path):
    """The column keys ``init --data`` writes for a log: the columns whose headers look like the customer id, the
    date and the amount (or else a quantity and a unit price), and an order number, and a workbook's sheets
    holding the same columns (split by year); a CDNOW file needs none."""
    kind = sniff(require_file(path, key="--data", expected="a transaction log"))[0]
    if kind == "cdnow":
        return {}
    with muted(logging.WARNING):  # a workbook's other sheets, warned of by the reader, are written below
        table = read_table(path, dtype=str)
    cols = [str(c) for c in table.columns]
    out = {}
    for (ours, _), words in LOOKS_LIKE.items():
        key = {"customer_id": "data.id_column"}.get(ours, f"data.{ours}_column")
        out[key] = look_alike(cols, words, ours)
    if out["data.id_column"] is None:  # no customer named: the company a business sells to, or a phone number
        out["data.id_column"] = id_look_alike(cols)
    if out["data.date_column"] is None:  # a header that says nothing ('ts', 'when'): the column of time stamps
        out["data.date_column"] = time_stamp_column(table.set_axis(cols, axis=1), taken=set(out.values()))
    _say_other_amounts(cols, out["data.amount_column"])
    if out["data.amount_column"] is None:
        out.pop("data.amount_column")
        for key in ("quantity_column", "price_column"):
            out[f"data.{key}"] = look_alike(cols, LINE_WORDS[key])
    taken = {*out.values(), status_column(cols), refund_column(cols)}
    out["data.order_column"] = _order_column(table.set_axis(cols, axis=1), out["data.id_column"], taken)
    out = {k: v for k, v in out.items() if v is not None}
    if out.get("data.id_column") and written_once(table[out["data.id_column"]]):  # a report grouped by customer
        out["data.missing_id"] = "above"
    if kind == "excel" and (alike := sheets_alike(path)):
        out["data.sheet"] = alike
    return {**out, **_suggested_split(path, out)}


def _say_other_amounts(cols, chosen):
    """Say, as ``init --data`` writes the amount column, the other columns that look like amounts: shop and
    till exports write several (Gross Sales, Net Sales, Total Collected; Subtotal, Total; Gross, Net), and which
    one a customer's value is (before tax, after discounts and fees?) only the user knows."""
    others = [c for c in cols if c not in (chosen, refund_column(cols)) and amount_like(c)]
    if chosen is not None and others:
        logger.info(
            "data.amount_column: %s, the first column that looks like amounts paid; others that look like amounts: "
            "%s (set the one that is what each customer paid you)",
            chosen,
            ", ".join(others),
        )


def _suggested_split(path, columns):
    """What ``init --data`` writes from reading the log: the id standing for guests when one looks like it
    (:func:`.lines.placeholder_suspect`), or, where a column of e-mail addresses names the customers of the rows
    without an id (guest checkouts), that column as the id; and for a log shorter than the default 39 + 39 weeks, calibration 39
    weeks when 13 or more follow it (else two thirds of the log, recent spend over half of it), the holdout to
    the log's end."""
    keys = {k.split(".", 1)[1]: v for k, v in columns.items() if k.startswith("data.")}
    try:
        with muted(logging.WARNING):  # what the reading would warn of is written into the config instead
            purchases, cleaning = read_transactions(CustomersData(path=path, **keys))
            suspect = placeholder_suspect(purchases)
            if suspect is not None:  # read again with the guests' id as no id, to see what else names them
                cleaning = read_transactions(CustomersData(path=path, **keys, placeholder_ids=[suspect]))[1]
    except DataError as exc:
        say_unsettled(exc)
        return {}
    out = {} if suspect is None else {"data.placeholder_ids": [suspect]}
    if named := cleaning["missing_id"].get("named_by"):
        out = {"data.id_column": named["column"]}
        logger.info(
            "data.id_column: %s, not %s: it holds an e-mail address on the %d rows without a customer id there "
            "(guest checkouts), so their customers are kept",
            named["column"],
            keys.get("id_column"),
            named["rows"],
        )
    weeks = (purchases["date"].max() - purchases["date"].min()).days / 7
    if weeks >= 78:  # the default: every week before the last 39 learns, the last 39 check
        logger.info(
            "the log spans %.0f weeks: the default split learns the segments on the first %.0f and checks them on "
            "the last 39",
            weeks,
            weeks - 39,
        )
        return out
    if weeks >= 52:
        return {**out, "split.holdout_weeks": "max"}  # calibration_weeks: auto is then 39
    calibration = max(1, int(weeks * 2 / 3))
    return {
        **out,
        "split.calibration_weeks": calibration,
        "split.holdout_weeks": "max",
        "features.recent_weeks": max(1, calibration // 2),
    }


def _line_columns(cols):
    """A line-item log's quantity and unit-price columns (Online Retail's ``Quantity``, ``UnitPrice``), when the
    log has both; else None."""
    q, p = (look_alike(cols, LINE_WORDS[k]) for k in ("quantity_column", "price_column"))
    return (q, p) if q and p and q != p else None


def check_columns(path, spec, columns, table=None):
    """Every named column is in the file; else one line naming the key, the column and the columns there are
    (default names not found: the columns whose headers look like them, or for the dates whose cells are time
    stamps (with ``table``), all at once, or, with no dates at all, that a transaction log is needed)."""
    cols = [str(c) for c in columns]
    missing = []
    for ours, theirs in spec.items():
        if theirs not in cols:
            key = {"customer_id": "id_column"}.get(ours, f"{ours}_column")
            like = look_alike(cols, LOOKS_LIKE.get((ours, theirs), ()), theirs)
            if like is None and (ours, theirs) == ("customer_id", "customer_id"):
                like = id_look_alike(cols)
            if like is None and ours == "date" and table is not None:
                like = time_stamp_column(table.set_axis(cols, axis=1), taken=set(spec.values()))
            missing.append((ours, theirs, key, [like] if like else []))
    sets = {key: f"data.{key}: {like[0]}" for _, _, key, like in missing if like}
    if ("amount", "amount", "amount_column", []) in missing and (line := _line_columns(cols)):
        sets["amount_column"] = (
            f"data.quantity_column: {line[0]}, data.price_column: {line[1]} (amount = quantity x price)"
        )
    if len(missing) > 1 and len(sets) == len(missing):
        named = ", ".join(f"{theirs!r} (data.{key})" for _, theirs, key, _ in missing)
        keys = ", ".join(sets[key] for _, _, key, _ in missing)
        raise DataError(f"{path}: columns {named} not found; the columns that look like them: set {keys}")
    for ours, theirs, key, like in missing:
        if like and like[0].lower() == str(theirs).lower():
            hint = f"; did you mean {like[0]!r}?"
        elif key in sets:
            hint = f"; {like[0]!r} looks like it: set {sets[key]}" if like else f"; a line-item log: set {sets[key]}"
        elif ours == "date" and theirs == "date":
            hint = (
                f" and no column looks like dates (columns are {', '.join(cols)}); the customers pipeline reads a "
                "transaction log, one row per purchase or line item with its date: a list of customers with their "
                "totals cannot tell when each one bought"
            )
        else:
            hint = f"; columns are {', '.join(cols)}"
        raise DataError(f"{path}: column {theirs!r} (data.{key}) not found{hint}")


# --------------------------------------------------------------------------- readers
def read_transactions(cfg_data, path=None, *, date_order=None, decimal_marks=None):
    """Read a transaction log as the config says (``path`` overrides ``data.path``); ``date_order`` (``'day'`` or
    ``'month'``, as the run a model came from read its log) reads dates like 01/12/2024 when the log alone
    cannot tell (a week of new transactions, all in the first twelve days of a month), and ``decimal_marks``
    (column -> ``'.'`` or ``','``, as that run read them) amounts like 1,202 that cannot show their mark.

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
    raw = _read_raw(p, kind, compression, cfg_data, spec)
    sections = raw.attrs.get("sections")  # a report in sections read as a table (gmm_apps.sections)
    if kind == "cdnow" and raw.isna().any().any():
        i = first_row(raw.isna().any(axis=1))
        raise DataError(f"{p}: line {i + 2} has fewer than 4 fields; expected id, YYYYMMDD date, quantity, amount")
    if raw.empty:
        raise DataError(f"{p}: no transactions (only a header?)")
    check_columns(p, spec, raw.columns, raw)
    raw, kept = keep_rows(p, raw, cfg_data.keep)
    raw, currency, code = one_currency(p, raw, cfg_data.currency, spec.get("amount", spec.get("price")))
    totals = trailing_totals(raw, spec)
    if totals:
        logger.info(
            "%s: the last %d row(s) hold a report's totals, not purchases, and are left out: %s",
            p,
            totals,
            shown_rows(raw.tail(totals)),
        )
        raw = raw.iloc[:-totals]
    cfg = cfg_data if kind != "cdnow" else _CdnowData(cfg_data)
    spec = with_payment_columns(spec, raw.columns, cfg_data) if kind != "cdnow" else spec
    above = 0
    if cfg_data.missing_id == "above" and kind != "cdnow":
        raw, above = ids_from_above(raw, spec["customer_id"])
    statuses = counts = counted = None
    if "status" in spec:
        statuses = row_statuses(raw, spec, p)  # once: for the counts, and for the rows without an id below
        counts = tally(statuses.value_counts())
        counted = statuses_counted(p, spec, counts, cfg_data)
    marks = _with_decimal_mark(raw, spec, cfg_data.decimal_mark, decimal_marks or {})
    first, order = _date_order(raw, spec, cfg, p, date_order)
    purchases, cleaning = finish(customer_days(raw, spec, p, cfg, first, counted=counted), cfg_data)
    if cleaning["missing_id"]["lines"] and kind != "cdnow":  # guest checkouts an e-mail column names
        missing = customer_ids(raw[spec["customer_id"]], cfg_data.placeholder_ids)[1]
        if statuses is not None:  # the rows dropped: those of orders paid
            missing &= statuses.isin(counted).to_numpy()
        if found := id_for_missing(raw, missing, spec["customer_id"]):
            cleaning["missing_id"]["named_by"] = {"column": found[0], "rows": found[1]}
        elif written_once(raw[spec["customer_id"]]):
            cleaning["missing_id"]["written_once"] = True
    if above:
        cleaning["missing_id"]["from_above"] = above
    cleaning = {**with_status(cleaning, spec, counts, counted, totals), "date_order": order}
    found = (("kept", kept), ("currency", currency), ("decimal_marks", marks), ("sections", sections))
    rules = {k: v for k, v in found if v}  # summaries as before without them
    code = "USD" if kind == "cdnow" and code is None else code  # CDNOW sold in US dollars
    return purchases, {**cleaning, **rules, "amounts_in": code}


def _with_decimal_mark(raw, spec, mark, known):
    """The number columns written as exported (``1.234,50``) read as numbers once, in place, before the rows are
    typed: with ``data.decimal_mark`` when it names one, else with the mark the run a model came from read in
    that column (``known``), else with the mark the whole column shows.

    Returns
    -------
    decided : dict
        Column -> decimal mark, for the columns whose own cells decided it (what a model file records).
    """
    decided = {}
    for col in dict.fromkeys(spec[k] for k in ("amount", "price", "quantity", "refund") if k in spec):
        if pd.api.types.is_numeric_dtype(raw[col]):
            continue
        given = mark if mark != "auto" else known.get(col)
        try:
            cells, read = as_numbers(raw[col], mark=given)
        except ValueError:
            continue  # typing the rows refuses it, naming the column, the row and the key to set
        if given is not None or pd.api.types.is_float_dtype(cells):
            raw[col] = cells  # a column of numbers and other cells is refused when the rows are typed
        if given is None and read is not None:
            decided[col] = read
    return decided


def _date_order(raw, spec, cfg, path, known):
    """``(first, order)``: whether the log's dates like 01/12/2024 put the day first (None: as the dates show,
    :func:`.lines.customer_days` decides) and which way they were read (``'day'``, ``'month'``, or None for
    dates written otherwise); ``known`` settles a log whose dates never show it, logged."""
    if cfg.date_format is not None:
        return None, None
    order = day_month_order(raw[spec["date"]])
    if order == "ambiguous" and known in ("day", "month"):
        logger.info(
            "%s: column %r does not show whether the day or the month comes first: read %s first, as the run "
            "the model came from read its log",
            path,
            spec["date"],
            known,
        )
        return known == "day", known
    return None, order if order in ("day", "month") else None


def with_status(cleaning, spec, counts, counted, totals):
    """The cleaning counts with what the status and refund rules did (None without such a column) and the
    total rows."""
    left = cleaning.pop("unpaid")
    refunds = cleaning.pop("refunds")
    status = status_summary(spec["status"], counts, counted, left) if "status" in spec else None
    refunds = {"column": str(spec["refund"]), **refunds} if "refund" in spec else None
    return {**cleaning, "status": status, "refunds": refunds, "total_rows": totals}


class _CdnowData:
    """The CDNOW format's fixed reading settings (YYYYMMDD dates, no time zone), other settings as configured."""

    def __init__(self, cfg_data):
        self._cfg = cfg_data

    date_format = "%Y%m%d"
    timezone = None

    def __getattr__(self, name):
        return getattr(self._cfg, name)


#: the keys naming a column of the log, each a role of its own
COLUMN_KEYS = ("id_column", "date_column", "amount_column", "quantity_column", "price_column", "order_column")


def check_data_keys(cfg_data, source):
    """Keys that contradict each other or the file's format, refused in one line before any work."""
    named = {f"data.{k}": getattr(cfg_data, k) for k in COLUMN_KEYS if getattr(cfg_data, k)}
    if not cfg_data.amount_column and not cfg_data.price_column:
        named["data.amount_column (null: 'amount')"] = "amount"
    for k in ("status_column", "refund_column"):
        if getattr(cfg_data, k) not in (None, "auto"):
            named[f"data.{k}"] = getattr(cfg_data, k)
    seen = {}
    for key, column in named.items():
        if column in seen:
            raise ConfigError(
                f"{source}: {seen[column]} and {key} both name the column {column!r}; a column holds one of "
                "them: point the wrong one at another of the log's columns"
            )
        seen[column] = key
    if cfg_data.amount_column and cfg_data.price_column:
        raise ConfigError(
            f"{source}: data.amount_column and data.price_column are both set; the amount is either a "
            "column or quantity x price: set one of them to null"
        )
    if cfg_data.price_column and not cfg_data.quantity_column:
        raise ConfigError(f"{source}: data.price_column needs data.quantity_column (amount = quantity x price)")
    if cfg_data.amount_per != "auto" and (not cfg_data.order_column or cfg_data.price_column):
        raise ConfigError(
            f"{source}: data.amount_per says whether data.amount_column holds line amounts or order totals; "
            + ("set data.order_column too" if not cfg_data.order_column else "with data.price_column remove it")
        )
    if cfg_data.count_status is not None and cfg_data.status_column is None:
        raise ConfigError(
            f"{source}: data.count_status names the statuses that are purchases, but data.status_column is null; "
            "name the status column (or auto), or remove data.count_status"
        )
    if cfg_data.cancel_pattern:
        if not cfg_data.order_column:
            raise ConfigError(f"{source}: data.cancel_pattern matches order ids; set data.order_column too")
        try:
            re.compile(cfg_data.cancel_pattern)
        except re.error as exc:
            raise ConfigError(f"{source}: data.cancel_pattern: not a regular expression ({exc})") from None


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
            "amount_per",
            "cancel_pattern",
            "timezone",
            "date_format",
            "decimal_mark",
            "status_column",
            "count_status",
            "refund_column",
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
