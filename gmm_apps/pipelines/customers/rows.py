"""Which rows of a log are read: the rows of one currency (``data.currency``) and the rows a column says
are purchases (``data.keep``), the others left out before anything else and counted."""

from __future__ import annotations

import logging
import re

import pandas as pd

from ...currency import currencies, named_currency, row_currencies
from ...errors import DataError

logger = logging.getLogger("gmm_apps")


#: an e-mail address, which names one customer however the shop numbers them
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def id_for_missing(raw, missing, id_column):
    """A column of e-mail addresses filled on most rows without a customer id (a shop's guest checkouts, which
    have no customer number but do have an address), as ``(column, rows it names)``; else None.

    Parameters
    ----------
    raw : pandas.DataFrame
        The log's rows as read.
    missing : numpy.ndarray of bool
        The rows without a customer id.
    id_column : str
        The column ``data.id_column`` names (never offered).
    """
    if not missing.any():
        return None
    for c in raw.columns:
        if c == id_column or raw[c].dtype.kind not in "OSU":
            continue
        text = raw[c].astype("string").str.strip()
        filled = text.notna() & text.ne("")
        looks = text[filled].str.fullmatch(EMAIL.pattern)
        named = int((filled.to_numpy() & missing).sum())
        if len(looks) and looks.mean() >= 0.9 and named >= 0.9 * missing.sum() and filled.mean() >= 0.9:
            return str(c), named
    return None


def blank_cells(values):
    """Which cells of a column are empty or blank."""
    text = values.astype("string").str.strip()
    return (text.isna() | text.eq("")).to_numpy()


def ids_from_above(raw, id_column):
    """``raw`` with each blank customer id the nearest one above it (``data.missing_id: above``: a report that
    writes each customer once over their rows), and how many were so given; blanks above the first id stay."""
    blank = blank_cells(raw[id_column])
    if not blank.any():
        return raw, 0
    filled = raw[id_column].mask(blank).ffill()
    raw = raw.assign(**{id_column: filled})
    return raw, int((blank & filled.notna().to_numpy()).sum())


def written_once(values):
    """Whether a customer-id column looks written once over each customer's rows, the rows under it blank (a
    report grouped by customer, saved without its merged cells): the first row has an id, a tenth of the rows
    or more are blank, in two runs or more, and no id is written twice."""
    blank = blank_cells(values)
    if len(blank) < 10 or blank[0] or blank.mean() < 0.1:
        return False
    runs = int((blank[1:] & ~blank[:-1]).sum())
    return runs >= 2 and values[~blank].astype(str).str.strip().is_unique


#: column names that say which currency a row's amount is in
_CURRENCY_COLUMNS = {
    "currency",
    "currencycode",
    "ordercurrency",  # WooCommerce
    "transactioncurrency",
    "curr",
    "ccy",
    "währung",
    "waehrung",
    "devise",
    "moneda",
    "valuta",
}


def currency_column(columns):
    """The log's column naming each row's currency (``Currency``, ``currency_code`` ..., or a nested JSON field
    such as Adyen's ``amount.currency``), or None."""
    return next(
        (c for c in columns if re.sub(r"[\s_-]", "", str(c).lower().rsplit(".", 1)[-1]) in _CURRENCY_COLUMNS), None
    )


def currency_names(cells):
    """A currency column's cells as names (``usd `` and ``USD`` are one), empty cells left out."""
    names = cells.dropna().astype(str).str.strip().str.upper()
    return names[names != ""]


def check_one_currency(path, column, counts):
    """Refuse a log whose currency column names several currencies (``counts``: rows by name): their
    amounts cannot be added."""
    if len(counts) > 1:
        ranked = counts.sort_values(ascending=False)
        shown = ", ".join(f"{k} {v:,} rows" for k, v in ranked.head(5).items())
        raise DataError(
            f"{path}: column {column!r} names {len(counts)} currencies ({shown}); amounts in different currencies "
            f"cannot be added: set data.currency: {ranked.index[0]} to read that currency's rows (the others are "
            "counted), or convert them to one first"
        )


def one_currency(path, raw, wanted, amount=None):
    """The log's rows in one currency: all of them when its currency column names one (or it has none);
    with ``data.currency`` (``wanted``) that currency's rows, and what was left out by currency. Without a
    currency column, the signs or codes written in the ``amount`` column (the amount or price column:
    ``$12.00``, ``12,00 EUR``) say each row's currency.

    Rows keep their index (the file's row numbers, for messages about them); a row whose currency cell is
    empty, or whose amount shows no currency, is read.

    A log that shows no currency (no such column, no signs) is taken to be in ``wanted``, logged; without
    ``wanted``, in the currency the amount column's name gives (``Line Total (€)``), if any.

    Returns
    -------
    raw : pandas.DataFrame
    left : dict or None
        ``{"column", "from", "read", "lines", "by_currency"}`` with ``data.currency`` (``from``: the currency
        ``column``, or the ``signs`` in the amount column ``column``); else None.
    code : str or None
        The currency the amounts read are in (``EUR``), for the report's figures; None when nothing says.
    """
    cur = currency_column(raw.columns)
    want = None if wanted is None else wanted.strip().upper()
    if cur is None and wanted is None:
        cells = raw[amount] if amount in raw.columns else None
        text = cells is not None and not pd.api.types.is_numeric_dtype(cells)  # numbers carry no sign to find
        shown = currencies(cells.dropna().astype(str).unique()) if text else {}
        if not shown:  # numbers without signs: the currency the column's name gives, if any
            return raw, None, named_currency(amount)
        return raw, None, next(iter(shown)) if len(shown) == 1 else None  # several: refused as amounts are read
    if cur is None:
        names = row_currencies(raw[amount]).dropna() if amount in raw.columns else ()
        if not len(names):
            logger.info("%s: the log shows no currency; its amounts are taken to be in %s (data.currency)", path, want)
            return raw, None, want
        cur, read_from = amount, "signs"
    else:
        names, read_from = currency_names(raw[cur]), "column"
    counts = names.value_counts()
    if wanted is None:
        check_one_currency(path, cur, counts)
        return raw, None, str(counts.index[0]) if len(counts) else None
    if want not in counts.index:
        where = f"column {cur!r}" + (" (its currency signs)" if read_from == "signs" else "")
        raise DataError(
            f"{path}: data.currency is {wanted!r}, but {where} names {', '.join(map(str, counts.index))}; "
            "set one of them"
        )
    other = names.index[names != want]
    by = {str(k): int(v) for k, v in counts.drop(want).items()}
    if len(other):
        logger.info(
            "%s: %d row(s) in other currencies left out (data.currency: %s): %s",
            path,
            len(other),
            want,
            ", ".join(f"{k} {v:,}" for k, v in by.items()),
        )
    left = {"column": str(cur), "from": read_from, "read": want, "lines": int(len(other)), "by_currency": by}
    return raw.drop(index=other), left, want


def keep_rows(path, raw, keep):
    """The rows whose columns hold the values ``data.keep`` names (``{column: [values]}``, every column
    matching; values compared as text without case or surrounding spaces), and what was left out.

    Returns
    -------
    raw : pandas.DataFrame
        Rows keep their index (the file's row numbers).
    left : dict or None
        ``{"columns": keep, "lines", "by_value": {column: {value: rows}}}`` with ``data.keep``; else None.
    """
    if not keep:
        return raw, None
    mask = None
    by_value = {}
    for column, values in keep.items():
        if column not in raw.columns:
            raise DataError(
                f"{path}: column {column!r} (data.keep) not found; columns are {', '.join(map(str, raw.columns))}"
            )
        cells = raw[column].astype("string").str.strip().str.lower()
        wanted = {str(v).strip().lower() for v in values}
        hit = cells.isin(wanted).fillna(False).to_numpy(dtype=bool)
        if not hit.any():
            common = ", ".join(repr(str(v)) for v in raw[column].value_counts().index[:6])
            raise DataError(
                f"{path}: no row's {column!r} is one of {sorted(map(str, values))} (data.keep); its values include "
                f"{common}"
            )
        by_value[str(column)] = {str(k): int(n) for k, n in raw.loc[~hit, column].value_counts(dropna=False).items()}
        mask = hit if mask is None else mask & hit
    left = int((~mask).sum())
    if left:
        logger.info(
            "%s: %d row(s) left out by data.keep: %s",
            path,
            left,
            "; ".join(f"{c}: " + ", ".join(f"{v} {n:,}" for v, n in list(b.items())[:5]) for c, b in by_value.items()),
        )
    return raw[mask], {
        "columns": {str(k): [str(v) for v in vs] for k, vs in keep.items()},
        "lines": left,
        "by_value": by_value,
    }


def same_currency(meta, cleaning, source):
    """Refuse a log whose amounts are in another currency than the model learned: its segments and values
    are in that currency's amounts."""
    fitted, given = meta.get("amounts_in"), cleaning.get("amounts_in")
    if fitted and given and fitted != given:
        raise DataError(
            f"{source}: the amounts are in {given}, but the model learned amounts in {fitted}: convert them to "
            f"{fitted} first, or run the pipeline on this log for segments of its own"
        )
