"""Readers for records to score: CSV, Parquet (streamed in chunks) and ODDS ``.mat``."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from ...errors import DataError
from ...number_text import no_value
from ...paths import require_file
from ...table_edges import balance_rows, shown_rows, trailing_total_rows
from ...tabular import header_with, read_table

logger = logging.getLogger("gmm_apps.anomaly")

#: columns of a record the report shows beside each top anomaly (ids, labels aside)
SHOWN = 6
#: records looked at to tell a column the same in every record (one not shown)
SAME_CHECKED = 10_000


def read_frame(path, *, chunksize=None, sheet=None, named=()):
    """A DataFrame (or an iterator of chunks) from a table file (CSV / TSV, Parquet or an Excel workbook's
    ``sheet``: :func:`gmm_apps.tabular.read_table`; below title rows, the header is the row holding the
    ``named`` columns), or a .mat file's X and y."""
    p = require_file(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".mat":
            from scipy.io import loadmat  # start-up time: this part of SciPy loads only when used

            m = loadmat(p)
            if "X" not in m:
                raise DataError(f"{p}: .mat file has no array 'X' (ODDS format: X and y)")
            if np.iscomplexobj(m["X"]) or not np.issubdtype(np.asarray(m["X"]).dtype, np.number):
                raise DataError(
                    f"{p}: array 'X' holds {np.asarray(m['X']).dtype} values; expected real numbers "
                    "(split complex values into real and imaginary columns first)"
                )
            X = np.asarray(m["X"], dtype=float)
            if X.ndim != 2:
                raise DataError(f"{p}: array 'X' has shape {X.shape}; expected records x features")
            df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
            if "y" in m:
                df["outlier"] = np.asarray(m["y"]).ravel().astype(int)
            df.insert(0, "id", np.arange(len(df)))
            return df if chunksize is None else iter([df])
        table = read_table(
            p, sheet=sheet, chunksize=chunksize, header_has=header_with(named) if named else None, keep=named
        )
        return _without_totals(table, p) if chunksize is None else (_without_totals(c, p) for c in table)
    except DataError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(f"{p}: cannot read ({str(exc).splitlines()[0]})") from None


def _without_totals(df, path):
    """The records without a statement's balance rows (opening, closing, brought forward) and a report's total rows
    at the end (the chunk of a file read in chunks that holds them), logged: a total or a balance is no record, and
    scored as one it would top the anomalies."""
    df, balance = without_balance_rows(df)
    say_balance_rows(path, len(balance), balance)
    n = trailing_total_rows(df)
    if n:
        logger.info(
            "%s: the last %d row(s) hold a report's totals, not records, and are left out: %s",
            path,
            n,
            shown_rows(df.tail(n)),
        )
    return df.iloc[: len(df) - n] if n else df


def without_balance_rows(df):
    """The records without a statement's balance rows (:func:`gmm_apps.table_edges.balance_rows`), and those rows
    (on a Dask worker: the first few travel back to be logged)."""
    balance = balance_rows(df)
    return (df[~balance], df[balance]) if balance.any() else (df, df.iloc[:0])


def say_balance_rows(path, count, first):
    """Log ``count`` balance rows left out of ``path``, showing the ``first`` of them."""
    if count:
        logger.info(
            "%s: %d row(s) hold a statement's balance, not records, and are left out: %s",
            path,
            count,
            shown_rows(first.head(3)) + ("; ..." if count > 3 else ""),
        )


def ends_in_totals(tail):
    """Whether a table's last rows (``tail``) hold a report's totals: such a file is read in one process, which
    leaves them out (:func:`gmm_apps.engine.dask_frame`'s ``local_if``)."""
    return trailing_total_rows(tail) > 0


def data_rows(df):
    """Each record's data row in the file it was read from, from 1 for the row under the header, as messages name
    rows: the frame's index (which a local read keeps through the rows it leaves out, a statement's balance rows,
    a repeated header, and continues from chunk to chunk; a Dask partition's counts from its first) plus 1; a
    frame indexed otherwise counts from 1."""
    index = df.index
    if pd.api.types.is_integer_dtype(index.dtype) and index.is_monotonic_increasing and index.is_unique:
        return index.to_numpy(dtype=np.int64) + 1
    return np.arange(1, len(df) + 1, dtype=np.int64)


class BadValueError(DataError):
    """A missing, infinite or non-numeric value; ``row`` counts data rows from the start of what was read."""

    def __init__(self, source, column, value, row):
        self.source, self.column, self.value, self.row = source, column, value, row
        empty = bool(no_value([value])[0])  # empty, or written '?', '-', '#N/A' ...
        #: what ``init --data`` writes into the config it suggests: an empty value is scored by the other features
        self.fix = {"data.missing": "marginalize"} if empty else None
        shown = "(empty)" if pd.isna(value) else repr(str(value))  # the same text whatever dtype the reader chose
        hint = "; fill or drop such rows" + (
            ", or set data.missing: marginalize to score by the other features" if empty else ""
        )
        super().__init__(
            f"{source}: column {column!r} has a missing, infinite or non-numeric value {shown} at data row {row}{hint}"
        )

    def __reduce__(self):  # crosses process boundaries (Dask workers) intact
        return type(self), (self.source, self.column, self.value, self.row)

    def shifted(self, rows):
        """The same error with ``rows`` earlier rows counted in."""
        return type(self)(self.source, self.column, self.value, self.row + rows)


#: beyond this magnitude a value cannot be squared in float64 without overflow in the mixture's sums
EXTREME = 1e100


class ExtremeValueError(BadValueError):
    """A value too large in magnitude to score (e.g. 1e308)."""

    fix = None  # no setting scores it

    def __init__(self, source, column, value, row):
        self.source, self.column, self.value, self.row = source, column, value, row
        DataError.__init__(
            self,
            f"{source}: column {column!r} has an extreme value {value!s} at data row {row} "
            f"(beyond +-{EXTREME:g}); fix or drop the row, or rescale the column",
        )


#: headers of a column naming each record (``id``, ``txn_id``, ``Transaction ID``, ``order no``, ``key``)
_ID_HEADER = re.compile(r"(^|[\s_.-])(id|key|no|nr|number|uuid)$|^id([\s_.-]|$)", re.IGNORECASE)


def suggested_id_column(frame):
    """The column ``init --data`` names as the records' ids: the first whose header says so and whose values are
    all different; None (the rows are numbered) when there is none."""
    for c in frame.columns:
        cells = frame[c].dropna()
        if _ID_HEADER.search(str(c).strip()) and len(cells) == len(frame) and cells.is_unique:
            return str(c)
    return None


def category_text(values):
    """A categorical column's cells as the text compared across files; an empty cell is ``''``.  Whole numbers
    are written without a decimal point, so code 1234 is one value whether a file holds it as ``1234`` or,
    beside an empty cell, as ``1234.0``."""
    text = values.astype(str)
    if pd.api.types.is_float_dtype(values):
        x = values.to_numpy(dtype=float)
        whole = np.isfinite(x) & (x == np.round(x)) & (np.abs(x) < 2**53)
        cells = text.to_numpy(dtype=object)
        cells[whole] = x[whole].astype(np.int64).astype(str)
        text = pd.Series(cells, index=values.index)
    return text.where(values.notna(), "")


def shown_columns(df, scored, *, aside=()):
    """Up to :data:`SHOWN` columns of ``df`` in file order, those in ``aside`` (ids, labels) left out: the
    ``scored`` ones first (a statement's amount, however far right), then the others (its dates); a column
    empty, or the same in every record (a statement's ``Lastschrift``), tells none apart and is not shown."""
    head = df.head(SAME_CHECKED)
    least = 2 if len(head) > 1 else 1  # one record alone: every column it fills
    varied = [
        c for c in df.columns if c not in aside and head[c].notna().any() and head[c].nunique(dropna=False) >= least
    ]
    chosen = set(sorted(varied, key=lambda c: c not in scored)[:SHOWN])
    return [c for c in df.columns if c in chosen]
