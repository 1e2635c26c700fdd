"""A transaction log read on a Dask cluster, block by block.

The workers read their own blocks of a CSV or Parquet log, type them and sum each customer's day; what a
block alone cannot tell (whether 01/12 puts the day first, a column's decimal mark, the log's one
currency, how many rows hold each payment status) is decided on the whole log first, in one pass.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ...currency import currencies, named_currency, refuse_mixed_currencies
from ...dates import DATE_STYLE, day_month_order
from ...engine import dask_frame
from ...errors import DataError
from ...number_text import (
    DECIMAL_MARK_HINT,
    as_numbers,
    mark_evidence,
    mark_from,
    number_cells,
    pool_evidence,
    why_ambiguous,
)
from ...paths import require_file
from ...tabular import header_with
from .data import check_columns, column_spec, file_kind, statuses_counted, with_payment_columns, with_status
from .lines import DAILY_COLUMNS, customer_days, day_first, finish, number_dates, trailing_totals
from .rows import check_one_currency, currency_column, currency_names
from .status import row_statuses, tally

logger = logging.getLogger("gmm_apps")


def _read_locally(cfg_data, p):
    """Whether the config reads rows that a block alone cannot (logged, saying why)."""
    if cfg_data.missing_id == "above":
        logger.info("%s: read locally: data.missing_id: above reads each row after the one above it", p)
    elif cfg_data.currency is not None or cfg_data.keep:
        logger.info("%s: read locally: data.currency and data.keep leave out rows before the blocks are typed", p)
    elif cfg_data.order_column and not cfg_data.price_column and cfg_data.amount_per != "line":
        logger.info(
            "%s: read locally: an order's total may span the workers' blocks (data.amount_per: line reads "
            "line amounts on the cluster)",
            p,
        )
    else:
        return False
    return True


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
    if _read_locally(cfg_data, p):
        return None
    try:
        spec = column_spec(cfg_data, kind)
        ddf = dask_frame(
            p,
            chunk_rows=chunk_rows,
            header_has=header_with(spec.values()),
            keep=set(spec.values()),
            local_if=lambda tail: (
                {spec["date"], spec["customer_id"]} <= set(tail.columns) and trailing_totals(tail, spec)
            ),
        )  # a report's total rows at the end: read locally, which leaves them out
    except (ValueError, OSError) as exc:
        raise DataError(f"{p}: cannot read ({str(exc).splitlines()[0]})") from None
    if ddf is None:  # UTF-16 text, title rows above the header
        return None
    spec = with_payment_columns(spec, ddf.columns, cfg_data)
    check_columns(p, spec, ddf.columns)
    if "order" in spec and ("status" in spec or "refund" in spec):
        paid = "status" if "status" in spec else "refund"
        logger.info("%s: read locally: an order's payment %s may span the workers' blocks", p, paid)
        return None

    head = ddf[spec["date"]].head(1000)  # the first block's dates, read once for what they show
    first, marks, counts, code = _whole_log_readings(ddf, spec, cfg_data, p, client, head)
    counted = statuses_counted(p, spec, counts, cfg_data) if counts is not None else None

    def block(part):
        part = part.reset_index(drop=True)
        for col, mark in marks.items():  # decided on the whole column: a block of '1,234' alone cannot tell
            part[col] = as_numbers(part[col], mark=mark)[0]
        return customer_days(part, spec, p, cfg_data, first, counted)

    _say_number_dates(head, spec["date"], p, cfg_data)
    daily = ddf.map_partitions(block, meta=_daily_meta()).groupby(["customer_id", "date"])[DAILY_COLUMNS[2:]].sum()
    out = client.compute(daily, sync=True).reset_index()
    if out.empty:
        raise DataError(f"{p}: no transactions (only a header?)")
    out["customer_id"] = out["customer_id"].astype(str)
    purchases, cleaning = finish(out[DAILY_COLUMNS], cfg_data)
    order = None if first is None else "day" if first else "month"
    cleaning = {**with_status(cleaning, spec, counts, counted, 0), "date_order": order}
    if marks and cfg_data.decimal_mark == "auto":  # decided by the columns themselves, as read_transactions says
        cleaning["decimal_marks"] = marks
    return purchases, {**cleaning, "amounts_in": code}


def _say_number_dates(dates, name, path, cfg_data):
    """Say how dates written as numbers are read (Excel day numbers, Unix time stamps), as a local read says it:
    the workers read them, and what they log is not heard."""
    if cfg_data.date_format is None and (style := number_dates(dates, name, path)[1]):
        logger.info("%s: column %r read as %s", path, name, DATE_STYLE[style])


def _daily_meta():
    """The empty frame of what :func:`.lines.customer_days` returns, as Dask wants it."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "date": pd.Series(dtype="datetime64[ns]"),
            **{c: pd.Series(dtype=float) for c in ("quantity", "amount", "returned", "refunded")},
            **{c: pd.Series(dtype="int64") for c in ("lines", "return_lines", "refund_lines")},
        }
    )[DAILY_COLUMNS]


def _whole_log_readings(ddf, spec, cfg_data, path, client, head):
    """What a block alone cannot tell, decided on the whole log in one pass over the blocks: whether dates
    like 01/12/2010 put the day first, the decimal mark of each formatted-number column (read as text;
    :func:`gmm_apps.number_text.mark_evidence`), that the log holds one currency (its currency column, and
    the signs in its amounts: one block of dollars and another of euros are refused as one column is), and
    how many rows hold each payment status.  ``head``: the first block's dates, already read.

    Returns
    -------
    first : bool or None
        None: the dates say it themselves (or ``data.date_format`` does).
    marks : dict
        Column -> decimal mark, for the formatted-number columns only.
    counts : pandas.Series or None
        Rows by payment status (:func:`.status.row_statuses`); None without a status column.
    code : str or None
        The currency the amounts are in (the currency column's one name, or the amounts' one sign, or the one
        their column's name gives).
    """
    date = spec["date"] if cfg_data.date_format is None and day_month_order(head.head(5)) else None
    cols = [
        spec[k]
        for k in ("amount", "price", "quantity", "refund")
        if k in spec and not pd.api.types.is_numeric_dtype(ddf[spec[k]].dtype)
    ]
    cur = currency_column(ddf.columns)
    status = spec.get("status")
    titled = named_currency(spec.get("amount", spec.get("price")))  # numbers without signs: the column's name
    if date is None and not cols and cur is None and status is None:
        return None, {}, None, titled

    def evidence(part):
        found = {c: number_cells(part[c]) for c in cols}
        marks = {c: None if v is None else mark_evidence(v) for c, v in found.items()}
        signs = {c: currencies(pd.unique(part[c].dropna().astype(str))) for c in cols}
        names = currency_names(part[cur]).value_counts() if cur is not None else None
        words = row_statuses(part, spec, path).value_counts() if status is not None else None
        return pd.Series([(day_month_order(part[date]) if date else None, marks, signs, names, words)])

    used = [date] if date else []
    used = list(dict.fromkeys(used + cols + [c for c in (cur, status) if c is not None]))
    parts = client.compute(ddf[used].map_partitions(evidence, meta=(None, object)), sync=True).tolist()
    code = None
    if cur is not None:
        named = pd.concat([n for *_, n, _ in parts]).groupby(level=0).sum()
        check_one_currency(path, cur, named)
        code = str(named.index[0]) if len(named) else None
    counts = None
    if status is not None:
        counts = tally(pd.concat([w for *_, w in parts]))
    first = day_first([o for o, *_ in parts], date, path) if date else None
    marks = {}
    for c in cols:
        signs = {}
        for _, _, found, *_ in parts:
            for k, cell in found[c].items():
                signs.setdefault(k, cell)
        try:
            refuse_mixed_currencies(signs)  # blocks of dollars and blocks of euros: refused as one column is
        except ValueError as exc:
            raise DataError(f"{path}: column {c!r}: {exc}") from None
        if code is None and c == spec.get("amount", spec.get("price")) and len(signs) == 1:
            code = next(iter(signs))
        seen = [e[c] for _, e, *_ in parts if e[c] is not None]
        if cfg_data.decimal_mark != "auto":
            marks[c] = cfg_data.decimal_mark
        elif seen:
            marks[c] = mark_from(evidence := pool_evidence(seen))
            if marks[c] is None:
                raise DataError(f"{path}: column {c!r}: {why_ambiguous(evidence)}{DECIMAL_MARK_HINT}")
    return first, marks, counts, code or titled
