"""Line items into purchases: amounts, returns, ids and days, in documented steps.

A log may hold one row per purchase or one row per line item.  The amount of a
line is ``data.amount_column``, or ``data.quantity_column`` x ``data.price_column``.
Lines are turned into purchases in these steps:

0. with a payment-status column, rows of orders not paid (pending, failed, refunded ...) are left out,
   counted with their revenue (:mod:`.status`);
1. rows without a customer id are dropped (counted, with their revenue) or refused (``data.missing_id``);
2. a line is a return when its amount or its quantity is negative, or when its
   order id matches ``data.cancel_pattern``; returns are netted, dropped or
   refused (``data.returns``); a paid order's refunded amount (``data.refund_column``) is
   subtracted from the order, never below zero (an order refunded whole is no purchase);
3. the lines of one customer on one day (in ``data.timezone`` when given) are one
   purchase: the day's purchase lines summed (several orders on one day are one
   purchase, the convention of the customer-value literature);
4. with ``returns: net`` each day's returned amount is subtracted from that
   customer's purchase on the same day, then from their earlier purchases, latest
   first; a purchase never goes below zero, and one netted to zero is no longer a
   purchase.  A return with no earlier purchase to net against is left out (counted).
"""

from __future__ import annotations

import functools
import logging
import re

import numpy as np
import pandas as pd

from ...dates import (
    DATE_STYLE,
    day_month_order,
    dayfirst,
    implausible_date,
    not_dates,
    numeric_dates,
    plain_dates,
    summer_time,
    wall_clock,
    without_offsets,
)
from ...errors import DataError
from ...number_text import DECIMAL_MARK_HINT, as_numbers
from ...table_edges import TOTAL_LABEL
from .rows import EMAIL
from .status import data_row, row_statuses

logger = logging.getLogger("gmm_apps")

#: amounts, prices and quantities beyond this magnitude are refused (their sums would overflow)
EXTREME = 1e15
#: the customer id under which rows without one are counted until they are dropped
MISSING_ID = "\0missing"
#: the customer id (and day) under which rows of orders not paid are counted until they are left out
UNPAID_ID, UNPAID_DAY = "\0unpaid", pd.Timestamp(0)
#: the customer-day table every reader returns (before netting)
DAILY_COLUMNS = [
    "customer_id",
    "date",
    "quantity",
    "amount",
    "returned",
    "lines",
    "return_lines",
    "refunded",
    "refund_lines",
]
_FLOAT_ID = re.compile(r"^-?\d+\.0$")
#: how many rows at the end of a log may be a report's totals
TOTAL_ROWS = 5


def trailing_totals(raw, spec):
    """How many of a log's last rows are a report's totals, not purchases.

    Such a row has no date, and either no customer id or a cell saying ``Total`` (``Grand total``,
    ``Sum``, ``Summe``, ``Gesamt`` ...); only the last :data:`TOTAL_ROWS` rows are looked at, and each
    row after a total row must be one too.
    """
    tail = raw.tail(TOTAL_ROWS)
    labelled = [any(isinstance(v, str) and TOTAL_LABEL.match(v) for v in row) for row in tail.to_numpy()]
    total = _blank(tail[spec["date"]]) & (_blank(tail[spec["customer_id"]]) | np.array(labelled, dtype=bool))
    return len(total) - 1 - int(np.flatnonzero(~total)[-1]) if (~total).any() else len(total)


def first_row(mask):
    return int(np.flatnonzero(np.asarray(mask))[0])


def _blank(cells):
    return (cells.isna() | (cells.astype(str).str.strip() == "")).to_numpy()


def _shown(cell):
    """A cell as a message shows it: ``(an empty cell)`` for one pandas read as missing (``n/a``, ``NULL``)."""
    return "(an empty cell)" if pd.isna(cell) else repr(cell)


def _numbers(raw, col, name, path, *, blank=None, hint="fix or remove that row"):
    """A column's cells as numbers; ``blank``: cells left empty on purpose (NaN), any other gap is refused."""
    try:
        cells, _ = as_numbers(raw[col])  # "$1,234.50", "1.234,50", "(12.50)" as exported
    except ValueError as exc:
        hint = "; data.currency (e.g. USD) reads one currency's rows" if "several currencies" in str(exc) else ""
        hint = hint or (DECIMAL_MARK_HINT if "could group" in str(exc) else "")
        raise DataError(f"{path}: column {name!r}: {exc}{hint}") from None
    v = pd.to_numeric(cells, errors="coerce").astype(float)
    bad = v.isna() | ~np.isfinite(v)
    if blank is not None:
        bad &= ~blank
    if bad.any():
        i = first_row(bad)
        raise DataError(
            f"{path}: column {name!r} has a non-numeric or missing value {_shown(raw[col].iloc[i])} at data "
            f"row {data_row(raw, i)}; {hint}"
        )
    big = np.abs(v.to_numpy()) > EXTREME
    if big.any():
        i = first_row(big)
        raise DataError(
            f"{path}: column {name!r} has an extreme value {raw[col].iloc[i]!r} at data row {data_row(raw, i)} "
            f"(beyond {EXTREME:g}); that is a data error: fix or remove that row"
        )
    return v.to_numpy()


def customer_ids(values, placeholders=()):
    """Customer ids as text, and which are missing (empty, or one of ``placeholders``, case aside); whole-number
    floats (an id column with gaps read as numbers) lose their '.0', and e-mail addresses their case."""
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
    if len(placeholders):  # a shop's guest checkouts under 0, a till's walk-ins under "Walk-in"
        missing |= pd.Series(text).str.lower().isin({str(p).strip().lower() for p in placeholders}).to_numpy()
    text[missing] = ""
    distinct = pd.unique(text[~missing])
    if len(distinct) and all(EMAIL.fullmatch(t) for t in distinct):  # Ann@x.com and ann@x.com: one customer
        lower = {t: t.lower() for t in distinct}
        merged = len(lower) - len(set(lower.values()))
        if merged:
            logger.info("%d customer e-mail address(es) differ from another only in case: read as one", merged)
        text[~missing] = pd.Series(text[~missing]).map(lower).to_numpy(dtype=object)
    return text, missing


def _days(s, name, path, cfg_data, first=None):
    """Each line's day: in ``data.timezone`` when given (naive stamps taken as UTC), else as written.
    ``first``: day-first or not, decided on the whole file (a block of it may not show it); None: from ``s``.
    Dates written ``2024年1月2日`` are read as ``2024-1-2`` (:func:`gmm_apps.dates.plain_dates`)."""
    fmt = cfg_data.date_format
    s = s if fmt else plain_dates(s)
    if not fmt:
        stamps, style = number_dates(s, name, path)
        if stamps is not None:
            logger.info("%s: column %r read as %s", path, name, DATE_STYLE[style])
            s, first = stamps, False
    if first is None:
        first = False if fmt else day_first([day_month_order(s)], name, path)
    try:
        utc = bool(cfg_data.timezone)  # offsets that differ are one instant each, then days in the zone
        t = pd.to_datetime(s.astype(str) if fmt else s, format=fmt or "mixed", utc=utc, dayfirst=first)
    except (ValueError, TypeError) as exc:
        msg = str(exc).splitlines()[0]
        if ("timezone" in msg.lower() or "offset" in msg.lower()) and not cfg_data.timezone and summer_time(s):
            logger.info("%s: column %r holds UTC offsets an hour apart (summer time): days as written", path, name)
            return _days(without_offsets(s), name, path, cfg_data, first)
        if "timezone" in msg.lower() or "offset" in msg.lower():
            raise DataError(
                f"{path}: column {name!r} holds timestamps with different UTC offsets; set data.timezone "
                "(e.g. America/New_York) to take each purchase's day in one zone"
            ) from None
        cells, written = (s.astype(str), f" as data.date_format {fmt!r} writes them") if fmt else (s, "")
        where, row = f"{path}: column {name!r}", functools.partial(data_row, s)
        why = dict(row=row, fix="set data.date_format", why=msg, written=written)
        raise DataError(not_dates(cells, where, **why, format=fmt or "mixed", dayfirst=first)) from None
    if t.isna().any():
        i = first_row(t.isna())
        raise DataError(
            f"{path}: column {name!r} has a missing date at data row {data_row(t, i)}; fix or remove that row"
        )
    if said := implausible_date(t, s, f"{path}: column {name!r}", row=functools.partial(data_row, t)):
        raise DataError(said)
    return wall_clock(t, cfg_data.timezone).dt.normalize()


def number_dates(s, name, path):
    """:func:`gmm_apps.dates.numeric_dates` of a log's date column (20230131, Excel day numbers, Unix time
    stamps), numbers that are none of them refused naming the column."""
    try:
        return numeric_dates(s)
    except ValueError as exc:
        raise DataError(f"{path}: column {name!r} {exc}; set data.date_format (e.g. %Y%m%d)") from None


def day_first(orders, name, path):
    """Day-first or not, from the day/month orders of a column or of its blocks (:func:`gmm_apps.dates.dayfirst`)."""
    try:
        return dayfirst(None, where=f"{path}: column {name!r}", orders=orders)
    except ValueError as exc:
        raise DataError(f"{exc}; set data.date_format (e.g. %d/%m/%Y %H:%M)") from None


#: an order column may have this share of its values under several customers (a guest's, say), and no more
SHARED_ORDERS = 0.05


def customers_per_order(orders, customers):
    """How many customers each order number's lines name (rows without either left out)."""
    pairs = pd.DataFrame({"o": np.asarray(orders, dtype=object), "c": np.asarray(customers, dtype=object)})
    pairs = pairs[pairs["o"].notna() & pairs["c"].notna()]
    pairs = pairs[(pairs["o"].astype(str).str.strip() != "") & (pairs["c"].astype(str).str.strip() != "")]
    return pairs.groupby("o", sort=False)["c"].nunique()


def _check_orders(orders, ids, name, path):
    """Refuse an order column whose values are not order numbers: more than :data:`SHARED_ORDERS` of them
    shared by several customers (each customer's order count, a column of order dates), which would read one
    customer's status, refund and order total onto another's lines."""
    per_order = customers_per_order(orders, ids)
    shared = per_order[per_order > 1]
    if len(per_order) and len(shared) > SHARED_ORDERS * len(per_order):
        top = shared.sort_values(ascending=False, kind="stable")
        raise DataError(
            f"{path}: column {name!r} (data.order_column) does not hold order numbers: {len(shared)} of its "
            f"{len(per_order)} values are each shared by several customers (e.g. {str(top.index[0])!r}, by "
            f"{int(top.iloc[0])}); set data.order_column to the order or invoice number, or null"
        )


def customer_days(raw, spec, path, cfg_data, first=None, counted=None):
    """Typed line items of one block of the file, summed per customer and day.

    Rows of orders not paid (``spec['status']``, a status word not in ``counted``) are kept under
    :data:`UNPAID_ID`; rows without a customer id under :data:`MISSING_ID` (with ``missing_id:
    error`` the first is refused); return lines are summed apart (``returned``), or refused with
    ``returns: error``.

    Returns
    -------
    daily : pandas.DataFrame
        Columns :data:`DAILY_COLUMNS`.
    """
    names = dict(spec)
    ids, missing = customer_ids(raw[spec["customer_id"]], cfg_data.placeholder_ids)
    if "order" in spec:  # before the statuses, which an order's first line gives its others
        _check_orders(raw[spec["order"]], np.where(missing, None, ids), spec["order"], path)
    paid = np.ones(len(raw), dtype=bool)
    if "status" in spec:
        paid = row_statuses(raw, spec, path).isin(counted).to_numpy()
    missing &= paid
    if missing.any() and cfg_data.missing_id == "error":
        i = first_row(missing)
        raise DataError(
            f"{path}: column {names['customer_id']!r} is empty at data row {data_row(raw, i)}; set data.missing_id: "
            "drop to leave such rows out (they are counted in the report)"
        )
    ids[missing] = MISSING_ID
    ids[~paid] = UNPAID_ID
    lines = pd.DataFrame({"customer_id": ids})
    dates = _order_dates(raw, spec, path, paid)
    days = _days(dates, names["date"], path, cfg_data, first).to_numpy(dtype="datetime64[ns]")  # one unit:
    lines["date"] = np.where(paid, days, UNPAID_DAY.to_datetime64())  # mixed with a Timestamp, ns ones were ints
    qty = _numbers(raw, spec["quantity"], names["quantity"], path) if "quantity" in spec else np.ones(len(raw))
    if "price" in spec:
        amount, level = qty * _numbers(raw, spec["price"], names["price"], path), "line"
    else:
        amount, level = _amounts(raw, spec, path, cfg_data.amount_per)
        if level == "order" and cfg_data.amount_per == "auto":
            logger.info(
                "%s: column %r holds each order's total, counted once per order (data.amount_per: line sums it "
                "over the lines)",
                path,
                spec["amount"],
            )
    scale = cfg_data.amount_scale or 1.0  # amounts in cents: 0.01
    amount = amount * scale
    is_return = amount < 0
    if "quantity" in spec:
        is_return |= qty < 0
    if cfg_data.cancel_pattern and "order" in spec:
        is_return |= raw[spec["order"]].astype(str).str.match(cfg_data.cancel_pattern).to_numpy()
    is_return &= paid  # an order not paid is left out whole, whatever its sign
    if is_return.any() and cfg_data.returns == "error":
        i = first_row(is_return)
        raise DataError(
            f"{path}: data row {data_row(raw, i)} is a return or cancellation (amount {amount[i]:g}); set "
            "data.returns: net (subtract returns from the customer's purchases) or drop"
        )
    refunded = _refunds(raw, spec, path, np.where(paid & ~is_return, amount, 0.0), scale)
    lines["quantity"] = np.where(is_return, 0.0, qty)
    lines["amount"] = np.where(is_return, 0.0, amount) - refunded
    lines["returned"] = np.where(is_return, np.abs(amount), 0.0)
    lines["lines"] = 1
    lines["return_lines"] = is_return.astype(int)
    lines["refunded"] = refunded
    lines["refund_lines"] = (refunded > 0).astype(int)
    daily = lines.groupby(["customer_id", "date"], as_index=False, sort=False)[DAILY_COLUMNS[2:]].sum()
    daily.attrs["amount_per"] = level
    return daily


def _refunds(raw, spec, path, bought, scale=1.0):
    """The amount refunded on each line's order (``spec['refund']``), as much of it as the order's purchase
    lines ``bought`` hold, on the order's first line (with ``spec['order']``; blank cells are no refund, and
    an order's refund is read once, from its first line or repeated on every line); zeros without such a
    column."""
    if "refund" not in spec:
        return np.zeros(len(raw))
    col = spec["refund"]
    blank = _blank(raw[col])
    r = scale * np.abs(np.nan_to_num(_numbers(raw, col, col, path, blank=blank)))  # Shopify: 0 or blank; some, -12.50
    if "order" not in spec:
        return np.minimum(r, np.maximum(bought, 0.0))
    orders = raw[spec["order"]].astype(str).to_numpy()
    held = pd.Series(bought).groupby(orders, sort=False).transform("sum").clip(lower=0.0).to_numpy()
    return np.minimum(once_per_order(np.where(blank, np.nan, r), orders), held)


def _order_dates(raw, spec, path, paid):
    """The date column, where a line left blank takes the date of its order's other lines (exports that
    write an order's fields on its first line only); rows of orders not paid may have none (never read)."""
    s = raw[spec["date"]]
    blank = _blank(s)
    if not blank.any():
        return s
    if "order" in spec:
        filled = s.mask(blank).groupby(raw[spec["order"]].astype(str).to_numpy(), sort=False).transform("first")
        took = int((blank & filled.notna().to_numpy()).sum())
        if took:
            logger.info("%s: %d lines without a date take the date of their order (data.order_column)", path, took)
        s, blank = filled, filled.isna().to_numpy()
    gap = blank & ~paid
    if gap.any() and not blank.all():
        s = s.where(~gap, s[~blank].iloc[0])  # any date: these rows are counted apart, under UNPAID_DAY
    return s


#: multi-line orders that must all repeat one amount on every line before it is read as the order's total
REPEATED_ORDERS = 5
_BLANK_HINT = (
    "fix or remove that row; if the column holds each order's total on the order's first line only, "
    "set data.order_column (and data.amount_per: order)"
)


def amount_level(values, orders, per="auto"):
    """Whether an amount column holds each line's amount or each order's total.

    Shop exports write an order's total either on its first line only (the other lines blank) or
    repeated on every line; summed as line amounts it would be refused or counted once per line.
    With ``per='auto'`` the column is read as order totals when every blank cell belongs to an order
    that shows one amount elsewhere, or, with no blank cells, when every multi-line order (at least
    :data:`REPEATED_ORDERS` of them) repeats one amount on all its lines.

    Parameters
    ----------
    values : numpy.ndarray
        The amounts, NaN where a cell is blank.
    orders : numpy.ndarray
        Each line's order id.
    per : {'auto', 'line', 'order'}
        ``data.amount_per``.

    Returns
    -------
    level : {'line', 'order'}
    odd : int or None
        With ``per='order'``, the first line whose order shows no amount or several; else None.
    """
    if per == "line":
        return "line", None
    by = pd.Series(values).groupby(orders, sort=False)
    distinct = by.transform("nunique").to_numpy()
    if per == "order":
        odd = np.flatnonzero(distinct != 1)
        return "order", (int(odd[0]) if len(odd) else None)
    if np.isnan(values).any():
        return ("order" if (distinct == 1).all() else "line"), None
    multi = by.transform("size").to_numpy() > 1
    repeated = multi.any() and (distinct[multi] == 1).all() and len(set(orders[multi])) >= REPEATED_ORDERS
    return ("order" if repeated else "line"), None


def _amounts(raw, spec, path, per):
    """Each line's amount (``data.amount_column``); an order's total (:func:`amount_level`) counted once,
    on the order's first line.

    Returns
    -------
    amount : numpy.ndarray
    level : {'line', 'order'}
    """
    col = spec["amount"]
    if "order" not in spec:
        return _numbers(raw, col, col, path, hint=_BLANK_HINT), "line"
    blank = _blank(raw[col])
    values = _numbers(raw, col, col, path, blank=blank)
    orders = raw[spec["order"]].astype(str).to_numpy()
    level, odd = amount_level(values, orders, per)
    if level == "line":
        if blank.any():
            _numbers(raw, col, col, path, hint=_BLANK_HINT)  # refuses the first blank cell
        return values, level
    if odd is not None:
        raise DataError(
            f"{path}: order {orders[odd]!r} (column {spec['order']!r}) has no amount or several different "
            f"amounts in column {col!r}; data.amount_per: order reads each order's total from its first "
            "line or from every line"
        )
    return once_per_order(values, orders), level


def once_per_order(values, orders):
    """An order's value (its first non-blank cell, NaN blank: written on its first line only or repeated on
    every line) on the order's first line, zero on its other lines, so that summing lines counts it once."""
    value = pd.Series(values).groupby(orders, sort=False).transform("first").fillna(0.0).to_numpy()
    return np.where(~pd.Series(orders).duplicated().to_numpy(), value, 0.0)


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
        Counts and revenue of rows of orders not paid (``unpaid``), rows without an id, returns, and the
        purchases left.
    """
    amount_per = daily.attrs.get("amount_per", "line")
    daily = daily.groupby(["customer_id", "date"], as_index=False, sort=True)[DAILY_COLUMNS[2:]].sum()
    unpaid = (daily["customer_id"] == UNPAID_ID).to_numpy()
    left = {"lines": int(daily.loc[unpaid, "lines"].sum()), "revenue": float(daily.loc[unpaid, "amount"].sum())}
    lines = int(daily["lines"].sum())
    daily = daily[~unpaid].reset_index(drop=True)
    gone = (daily["customer_id"] == MISSING_ID).to_numpy()
    revenue = float(daily["amount"].sum())
    lost = float(daily.loc[gone, "amount"].sum())
    cleaning = {
        "lines": lines,
        "unpaid": left,
        "amount_per": amount_per,
        **({"amount_scale": cfg_data.amount_scale} if cfg_data.amount_scale is not None else {}),
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
    refunds = {"lines": int(daily["refund_lines"].sum()), "amount": float(daily["refunded"].sum())}
    whole = (daily["refunded"] > 0).to_numpy() & (daily["amount"] <= 1e-9).to_numpy()
    refunds["purchases_cancelled"] = int(whole.sum())  # an order refunded whole is no purchase
    purchase = (daily["lines"] > daily["return_lines"]).to_numpy() & ~whole
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
    _warn_of_cents(purchases["amount"].to_numpy(dtype=float), cfg_data)
    _warn_of_placeholder(purchases, cfg_data)
    if purchases.empty:
        raise DataError(
            f"{cfg_data.path}: no purchases left after the cleaning rules (rows of orders not paid: "
            f"{left['lines']:,}; rows without a customer id dropped: {cleaning['missing_id']['lines']:,}; return "
            f"lines: {returns['lines']:,})"
        )
    cleaning["returns"] = returns
    cleaning["refunds"] = refunds
    cleaning["purchases"] = len(purchases)
    cleaning["revenue"] = float(purchases["amount"].sum())
    return purchases, cleaning


def placeholder_suspect(purchases):
    """The customer id that looks like a stand-in for guests rather than a customer (WooCommerce writes 0 for
    every guest checkout): one holding at least 2% of the purchases and ten times the next customer's, or None."""
    counts = purchases["customer_id"].value_counts()
    if len(counts) < 3 or counts.iloc[0] < 0.02 * len(purchases) or counts.iloc[0] < 10 * counts.iloc[1]:
        return None
    return counts.index[0]


def _warn_of_placeholder(purchases, cfg_data):
    """One customer with a great share of the purchases is usually every guest's orders under one id: its
    purchases, spend and forward value would be those of a customer no marketer can reach."""
    suspect = placeholder_suspect(purchases)
    if suspect is None:
        return
    counts = purchases["customer_id"].value_counts()
    logger.warning(
        "%s: customer %r has %s purchases, %.0f%% of all and %.0f times the next customer's: if it stands for "
        "guest or walk-in orders, set data.placeholder_ids: [%s] to count its rows as without a customer id",
        cfg_data.path,
        suspect,
        f"{counts.iloc[0]:,}",
        100 * counts.iloc[0] / len(purchases),
        counts.iloc[0] / counts.iloc[1],
        suspect,
    )


def _warn_of_cents(amounts, cfg_data):
    """Amounts in cents (Stripe's and Adyen's APIs) read as dollars make every figure a hundred times too
    large, silently: warned of when every purchase is a whole number and their median is 100 or more, unless
    ``data.amount_scale`` says how to read them."""
    if cfg_data.amount_scale is not None or len(amounts) < 20 or not np.all(amounts == np.round(amounts)):
        return
    median = float(np.median(amounts))
    if median >= 100:
        logger.warning(
            "%s: every purchase is a whole number (median %s): if the amounts are in cents, as Stripe's and "
            "Adyen's APIs write them, set data.amount_scale: 0.01; data.amount_scale: 1 reads them as written "
            "without this warning",
            cfg_data.path,
            f"{median:,.0f}",
        )


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
