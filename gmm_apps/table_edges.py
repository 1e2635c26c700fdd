"""What a table holds beside its records, found and left out: a report's total rows and closing notes, columns
with neither a name nor a value, and the row index a table was saved with.

Pure functions on the DataFrame a reader made of a file (:func:`gmm_apps.tabular.read_table`); each logs what it
leaves out.
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pandas as pd

from .sections import Sections, in_sections

logger = logging.getLogger("gmm_apps")

#: a report's total row says so in one of its cells, as a bank statement's closing balance does
TOTAL_LABEL = re.compile(
    r"^\s*((grand\s*)?(sub\s*)?(totals?|sum|summe|gesamt\w*|totaal|totale|somme)"
    r"|((closing|opening|ending|final|new|neuer|alter|nouveau)\s+)?(balance|saldo|kontostand|solde)"
    r"|(end|anfangs|schluss)saldo)\b",
    re.IGNORECASE,
)


#: a statement's balance row says so in the whole of one of its cells, wherever the cell is (its date comes
#: first) and wherever the row is (each month of a statement may open with one): Opening balance, Closing
#: balance, Balance brought forward, Anfangssaldo, Saldo anterior, Solde initial
BALANCE_ROW = re.compile(
    r"^\s*((opening|closing|starting|beginning|ending|final|previous)\s+balance(\s+(brought|carried)\s+"
    r"(forward|down))?|balance\s+(brought|carried)\s+(forward|down)|(anfangs|end|schluss)saldo|saldo\s+"
    r"(anterior|inicial|final|vortrag)|solde\s+(initial|final|pr[ée]c[ée]dent|d'ouverture|de\s+cl[ôo]ture))\s*$",
    re.IGNORECASE,
)


def balance_rows(df):
    """Which rows are a statement's balance (opening, closing, brought forward), wherever they are: a cell is left
    empty (a balance moves no amount) and a text cell is all of one (:data:`BALANCE_ROW`); a boolean array. Only
    the rows with an empty cell are read, each distinct cell once."""
    said = df.isna().any(axis=1).to_numpy().copy()
    if not said.any():
        return said
    rows = df[said]
    found = np.zeros(len(rows), dtype=bool)
    for j in range(rows.shape[1]):
        col = rows.iloc[:, j]
        if pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(col.dtype):
            words = {v for v in pd.unique(col.to_numpy(dtype=object)) if isinstance(v, str) and BALANCE_ROW.match(v)}
            if words:
                found |= col.isin(words).to_numpy(dtype=bool)
    said[said] = found
    return said


def _filled(row):
    """A row's cells that hold something (not missing, not blank)."""
    return [v for v in row if not pd.isna(v) and str(v).strip()]


def shown_rows(rows):
    """Rows as a log shows them, for a message: their filled cells, a row after another (an empty row, as a
    blank line before a report's totals, shows nothing)."""
    cells = (
        ", ".join(f"{v:.10g}" if isinstance(v, float) else str(v) for v in _filled(row)) for row in rows.to_numpy()
    )
    return "; ".join(c for c in cells if c)


def trailing_total_rows(df, limit=5):
    """How many of a table's last rows (``limit`` at most) are a report's totals: the first filled cell says so
    (``Total``, ``Grand total``, ``Summe`` ...) and a cell is left empty (a total has no id, date or category);
    each row after a total row must be one too."""
    tail = df.tail(limit).to_numpy(dtype=object)

    def is_total(row):
        filled = _filled(row)
        return (
            len(filled) < len(row)
            and bool(filled)
            and isinstance(filled[0], str)
            and bool(TOTAL_LABEL.match(filled[0]))
        )

    total = [is_total(row) for row in tail]
    n = 0
    while n < len(total) and total[len(total) - 1 - n]:
        n += 1
    return n


def without_empty_unnamed(df):
    """A table without the columns that have neither a name nor a value (``Unnamed: 4``: every line ending in
    a separator, as the ECB's exchange-rate history does; an empty column beside a sheet's table)."""
    empty = [
        c
        for c in df.columns
        if isinstance(c, str)
        and c.startswith("Unnamed: ")
        and df[c].map(lambda v: pd.isna(v) or not str(v).strip()).all()
    ]
    return df.drop(columns=empty) if empty and len(empty) < df.shape[1] else df


def without_notes(df, path):
    """A table without the notes a report ends with (Barchart's "Downloaded from Barchart.com as of ...", a
    "Source: ..." line): its last rows, five at most, each holding one cell of words (two or more words of
    letters, no date) in a table of two or more columns; logged."""
    n = trailing_notes(df)
    if not n:
        return df
    logger.info(
        "%s: the last %d row(s) are a note, not data, and are left out: %s",
        path,
        n,
        " / ".join(str(_filled(row)[0]) for row in df.tail(n).to_numpy(dtype=object)),
    )
    return df.iloc[:-n]


def trailing_notes(df):
    """How many of a table's last rows (five at most) are notes (:func:`without_notes`); 0 when all would be."""
    if df.shape[1] < 2 or df.empty:
        return 0
    n = 0
    for row in df.tail(5).to_numpy(dtype=object)[::-1]:
        filled = _filled(row)
        if not (len(filled) == 1 and isinstance(filled[0], str) and _is_note(filled[0])):
            break
        n += 1
    return 0 if n == len(df) else n


def _is_note(text):
    words = [w for w in text.split() if w.isalpha() and len(w) > 1]
    if len(text.split()) < 3 or len(words) < 2:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns that it guesses the format: a guess is all this is
        return pd.isna(pd.to_datetime(text, errors="coerce"))


#: pandas' name for a first column whose header is blank
BLANK_FIRST = "Unnamed: 0"


def is_saved_index(df):
    """Whether a table's first column is the row index it was saved with: pandas' ``to_csv`` and ``to_excel``
    and R's ``write.csv`` write one, under a blank header, before the data.

    That is a first column with no name, in a table of two or more columns, holding whole numbers that
    increase down the rows and start within the table's length (0 or 1, or the rows kept of a filtered frame;
    years or amounts start well above it). Files saved so and joined end to end number their rows again from
    where the first began: each run then starts there, and runs are :data:`MIN_RUN` rows long or more.
    """
    if df.shape[1] < 2 or not len(df) or str(df.columns[0]) != BLANK_FIRST:
        return False
    values = pd.to_numeric(df.iloc[:, 0], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if not (np.isfinite(values).all() and (values == np.round(values)).all() and 0 <= values[0] < len(values)):
        return False
    again = np.flatnonzero(np.diff(values) <= 0) + 1  # where the numbering starts again, if it does
    runs = np.diff(np.r_[0, again, len(values)])
    return bool((values[again] == values[0]).all() and (len(again) == 0 or runs[:-1].min() >= MIN_RUN))


#: the fewest rows of a file joined to another whose row numbers are taken for a saved index
MIN_RUN = 10


def without_saved_index(df, path, keep=()):
    """A table without the row index it was saved with (:func:`is_saved_index`), logged; a first column named in
    ``keep`` (a config names it: ``data.id_column: Unnamed: 0``) stays."""
    if BLANK_FIRST in keep or not is_saved_index(df):
        return df
    first = pd.to_numeric(df.iloc[:, 0]).to_numpy(dtype=float)
    again = int((np.diff(first) <= 0).sum())
    logger.info(
        "%s: the first column has no name and numbers the rows (%d to %d%s): a row index saved with the table, as "
        "pandas and R write one, not data; left out",
        path,
        first[0],
        first.max(),
        f", from {first[0]:.0f} again {again} time(s): files joined end to end" if again else "",
    )
    return df.drop(columns=df.columns[0])


def chunks_without_edges(chunks, path, keep=(), *, retype=True, above=()):
    """The chunks of a table read in parts, each without the notes it ends with and the rows that repeat the
    header (:func:`without_repeated_headers`) and, when the first chunk shows one, the saved row index
    (:func:`without_saved_index`) and a report's sections (:class:`gmm_apps.sections.Sections`, the open
    sections carried from a chunk to the next), so that every chunk has the same columns."""
    drop, sections = None, Sections(path, above)
    for chunk in chunks:
        chunk = without_repeated_headers(big_whole_numbers_as_text(chunk), path, retype=retype)
        first = drop is None
        if first:
            drop = BLANK_FIRST not in keep and is_saved_index(chunk)
            if drop:
                chunk = without_saved_index(chunk, path)
        elif drop:
            chunk = chunk.drop(columns=chunk.columns[0])
        read = sections.read(without_notes(chunk, path), first=first)
        yield _as_numbers_again(read) if retype and sections.name else read
    sections.say()


def repeated_header_rows(df):
    """The rows that repeat the table's header: each cell is its column's name as read (blank under an unnamed
    column), as a boolean array; None when no row does (or can: a column of numbers holds no header)."""
    if not len(df):
        return None
    same = np.ones(len(df), dtype=bool)
    for j, name in enumerate(df.columns):  # the repeated line is the header's text: each cell is its name as read
        col = df.iloc[:, j]
        if str(name).startswith("Unnamed: "):
            same &= col.isna().to_numpy()
        elif pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(col.dtype):
            same &= (col == name).fillna(False).to_numpy(dtype=bool)
        else:
            return None
        if not same.any():
            return None
    return same


def say_repeated_headers(path, count, first):
    """Log that ``count`` rows repeating the header, the first at data row ``first``, are left out."""
    logger.info(
        "%s: %d row(s) repeat the header (files joined end to end, or a header on every page), the first at data "
        "row %d; left out",
        path,
        count,
        first,
    )


def without_edges(df, path, keep=(), *, retype=True, above=()):
    """A whole table without its empty unnamed columns, the rows that repeat its header, its saved row index and
    closing notes, a report's sections read (:mod:`gmm_apps.sections`; ``above``: the rows above its header)
    (``retype``: columns the repeated header or the sections' totals made text read again as numbers)."""
    df = without_repeated_headers(big_whole_numbers_as_text(df), path, retype=retype)
    df = without_notes(without_saved_index(without_empty_unnamed(df), path, keep), path)
    read = in_sections(df, path, above)
    return _as_numbers_again(read) if retype and read is not df else read


def without_repeated_headers(df, path, *, retype=True):
    """A table without the rows that repeat its header, logged: files joined end to end (``cat jan.csv feb.csv``)
    or a report that repeats its header on every page (:func:`repeated_header_rows`). ``retype``: a column the
    repeated header made text, whose every other cell is a number, is read again as numbers, as pandas would
    have read it (not when the caller asked for text)."""
    same = repeated_header_rows(df)
    if same is None:
        return df
    say_repeated_headers(path, int(same.sum()), int(np.flatnonzero(same)[0]) + 1)
    df = df[~same]
    return _as_numbers_again(df) if retype else df


def _as_numbers_again(df):
    """A table whose text columns holding only numbers, once rows were left out, are numbers, as pandas would
    have read them without those rows."""
    df = df.copy()
    for j in range(df.shape[1]):
        col = df.iloc[:, j]
        if pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(col.dtype):
            try:
                df.isetitem(j, pd.to_numeric(col.astype(object)))
            except (ValueError, TypeError):
                pass  # text, dates: as read
    return df


def big_whole_numbers_as_text(df):
    """A column holding a whole number beyond 64 bits (a 25-digit account number, a cell of hundreds of 9s),
    which pandas reads as Python integers that no conversion to numbers takes, as the text it was written as:
    ids keep every digit, and a feature's reader sees a number too large (or reads it as one)."""
    big = [
        j
        for j in range(df.shape[1])
        if pd.api.types.is_object_dtype(df.dtypes.iloc[j])
        and pd.api.types.infer_dtype(df.iloc[:, j], skipna=True) in ("integer", "mixed-integer", "mixed-integer-float")
        and df.iloc[:, j].map(_beyond_64_bits).any()
    ]
    if not big:
        return df
    df = df.copy()
    for j in big:
        col = df.iloc[:, j]
        df.isetitem(j, col.where(col.isna(), col.astype(str)))
    return df


def _beyond_64_bits(v):
    return isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**64


def index_as_columns(df, path, *, said=False):
    """A frame read from Parquet with the index pandas saved in it as columns, as a text file would hold them:
    named levels (``df.set_index("tx_id").to_parquet(...)``: the ids) and an unnamed index of dates or text
    become the first columns (the unnamed one ``index``); unnamed whole numbers (the rows kept of a filtered
    frame) are a saved row index, left out (logged unless ``said``), as :func:`without_saved_index` leaves
    out a text file's. A frame of several header rows (a yfinance download: fields over tickers) keeps its
    index, which its reader reads."""
    idx = df.index
    if isinstance(df.columns, pd.MultiIndex):
        return df
    if isinstance(idx, pd.RangeIndex) and idx.name is None:
        return df.reset_index(drop=True) if idx.start or idx.step != 1 else df
    if idx.nlevels == 1 and idx.name is None and pd.api.types.is_integer_dtype(idx.dtype):
        if not said:
            logger.info(
                "%s: the rows are numbered %s to %s (a row index saved with the table, as pandas writes one), not "
                "data; left out",
                path,
                idx[0],
                idx[-1],
            )
        return df.reset_index(drop=True)
    if any(n is not None and n in df.columns for n in idx.names):  # a column holds it already
        return df.reset_index(drop=True)
    return df.reset_index()


def chunks_with_index_as_columns(chunks, path):
    """:func:`index_as_columns` on each chunk of a Parquet file, logged once, the rows numbered on from one chunk
    to the next as the CSV reader numbers them (a bad value's data row is its row in the file)."""
    start = 0
    for chunk in chunks:
        chunk = index_as_columns(chunk, path, said=start > 0)
        chunk.index = pd.RangeIndex(start, start + len(chunk))
        start += len(chunk)
        yield chunk
