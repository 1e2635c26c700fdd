"""Transaction readers: CSV/Parquet tables with named columns, and the CDNOW text format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...config import require_file
from ...errors import DataError

COLUMNS = ["customer_id", "date", "quantity", "amount"]


#: amounts and quantities beyond this magnitude are refused (their sums would overflow)
EXTREME = 1e15


def read_cdnow(path):
    """Read the CDNOW format: a header line, then whitespace-separated id, YYYYMMDD, quantity, amount.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    tx : pandas.DataFrame
        Columns ``customer_id`` (str), ``date`` (datetime64), ``quantity``, ``amount``.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, sep=r"\s+", header=None, skiprows=1, names=COLUMNS, dtype=str, engine="python")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as CDNOW text ({str(exc).splitlines()[0]}); expected id, YYYYMMDD, quantity, amount") from None
    if raw.empty:
        raise DataError(f"{path}: no transactions (only a header?)")
    if raw.isna().any().any():
        i = int(np.flatnonzero(raw.isna().any(axis=1).to_numpy())[0])
        raise DataError(f"{path}: line {i + 2} has fewer than 4 fields; expected id, YYYYMMDD date, quantity, amount")
    return _typed(raw, path, date_format="%Y%m%d", names={"customer_id": "id", "date": "date", "quantity": "quantity", "amount": "amount"})


def _columns(id_column, date_column, amount_column, quantity_column):
    """Our column -> the user's column (``wanted``), and the names used in messages."""
    wanted = {"customer_id": id_column, "date": date_column, "amount": amount_column}
    if quantity_column:
        wanted["quantity"] = quantity_column
    names = {"customer_id": id_column, "date": date_column, "amount": amount_column, "quantity": quantity_column or "quantity"}
    return wanted, names


def _check_columns(path, wanted, columns):
    missing = [f"{v!r} (data.{k if k != 'customer_id' else 'id'}_column)" for k, v in wanted.items() if v not in columns]
    if missing:
        raise DataError(f"{path}: column {', '.join(missing)} not found; columns are {', '.join(map(str, columns))}")


def _select(df, wanted):
    raw = pd.DataFrame({k: df[v] for k, v in wanted.items()})
    if "quantity" not in raw:
        raw["quantity"] = 1
    return raw


def read_table(path, *, id_column, date_column, amount_column, quantity_column=None, date_format=None):
    """Read a CSV or Parquet transactions table with configurable column names.

    Returns
    -------
    tx : pandas.DataFrame
        Columns ``customer_id``, ``date``, ``quantity`` (1 when not given), ``amount``.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype={id_column: str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
    if df.empty:
        raise DataError(f"{path}: no transactions (only a header?)")
    wanted, names = _columns(id_column, date_column, amount_column, quantity_column)
    _check_columns(path, wanted, df.columns)
    return _typed(_select(df, wanted), path, date_format=date_format, names=names)


def _typed(raw, path, *, date_format, names):
    out = pd.DataFrame({"customer_id": raw["customer_id"].astype(str).str.strip()})
    if (out["customer_id"] == "").any() or raw["customer_id"].isna().any():
        i = int(np.flatnonzero((out["customer_id"] == "").to_numpy() | raw["customer_id"].isna().to_numpy())[0])
        raise DataError(f"{path}: column {names['customer_id']!r} is empty at data row {i + 1}")
    try:
        out["date"] = pd.to_datetime(raw["date"].astype(str), format=date_format, errors="raise") if date_format else pd.to_datetime(raw["date"], errors="raise", format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: column {names['date']!r} does not hold dates ({str(exc).splitlines()[0]}); set data.date_format") from None
    for col in ("quantity", "amount"):
        v = pd.to_numeric(raw[col], errors="coerce")
        bad = v.isna() | ~np.isfinite(v.astype(float))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: column {names[col]!r} has a non-numeric or missing value {raw[col].iloc[i]!r} at data row {i + 1}")
        big = np.abs(v.to_numpy(dtype=float)) > EXTREME
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise DataError(f"{path}: column {names[col]!r} has an extreme value {raw[col].iloc[i]!r} at data row {i + 1} "
                            f"(beyond {EXTREME:g}); that is a data error: fix or remove that row")
        out[col] = v.astype(float)
    if (out["amount"] < 0).any():
        i = int(np.flatnonzero((out["amount"] < 0).to_numpy())[0])
        raise DataError(f"{path}: column {names['amount']!r} has a negative amount {out['amount'].iloc[i]} at data row {i + 1}; "
                        "remove refunds or net them per day first")
    return out


def _format(cfg_data, path):
    if cfg_data.format != "auto":
        return cfg_data.format
    return "cdnow" if path.suffix.lower() in (".txt", ".dat") else "table"


def read_transactions(cfg_data, path=None):
    """Read transactions as the config says (``path`` overrides ``data.path``)."""
    p = require_file(path or cfg_data.path, key="data.path", expected="transactions")
    if _format(cfg_data, p) == "cdnow":
        return read_cdnow(p)
    return read_table(p, id_column=cfg_data.id_column, date_column=cfg_data.date_column,
                      amount_column=cfg_data.amount_column, quantity_column=cfg_data.quantity_column,
                      date_format=cfg_data.date_format)


def dask_purchases(cfg_data, client, *, chunk_rows, path=None):
    """Per customer-day purchases aggregated on a Dask cluster from a CSV or Parquet log.

    The workers read their own blocks of the file, type them and sum each
    customer's day; only the (much smaller) customer-day table comes back.
    The CDNOW text format is read locally (it is small by nature).

    Returns
    -------
    purchases : pandas.DataFrame
        As :func:`~gmm_apps.pipelines.customers.features.merge_same_day`
        returns.
    n_transactions : int
        Rows of the log.

    Or None when the input must be read locally.
    """
    from ...engine import dask_frame

    p = Path(path or cfg_data.path)
    require_file(p, key="data.path", allow_empty=True)
    if _format(cfg_data, p) == "cdnow":
        return None
    try:
        ddf = dask_frame(p, chunk_rows=chunk_rows)
    except (ValueError, OSError) as exc:
        raise DataError(f"{p}: cannot read ({str(exc).splitlines()[0]})") from None
    wanted, names = _columns(cfg_data.id_column, cfg_data.date_column, cfg_data.amount_column, cfg_data.quantity_column)
    _check_columns(p, wanted, ddf.columns)

    def typed(part):
        out = _typed(_select(part, wanted), p, date_format=cfg_data.date_format, names=names)
        return out.assign(date=out["date"].dt.normalize())

    meta = pd.DataFrame({"customer_id": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]"),
                         "quantity": pd.Series(dtype=float), "amount": pd.Series(dtype=float)})
    daily = ddf.map_partitions(typed, meta=meta).groupby(["customer_id", "date"])[["quantity", "amount"]].sum()
    out, n_transactions = client.compute([daily, ddf.map_partitions(len).sum()], sync=True)
    out = out.reset_index()
    if out.empty:
        raise DataError(f"{p}: no transactions (only a header?)")
    out["customer_id"] = out["customer_id"].astype(str)
    return out.sort_values(["customer_id", "date"], kind="mergesort").reset_index(drop=True), int(n_transactions)
