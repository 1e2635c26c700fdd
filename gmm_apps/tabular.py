"""Tables written the way spreadsheets, banks and brokers export them, read without guessing silently.

:func:`read_table` reads a CSV / TSV, Parquet or Excel file told apart by content, its header found below a
report's title rows or an export's notes, or JSON records.  The numbers in their cells are
:mod:`gmm_apps.number_text`'s, currency signs :mod:`gmm_apps.currency`'s, dates :mod:`gmm_apps.dates`'s.
"""

from __future__ import annotations

import csv
import logging
import re
import zipfile

import pandas as pd
from python_calamine import CalamineError

from .errors import DataError
from .json_tables import read_json_records
from .number_text import NUMBER
from .sheet_layout import hidden_rows_said, merged_down, sheet_layout, shown_sheets
from .sniff import (
    HEADER_SEARCH_ROWS,
    WithoutDirectives,
    data_names,
    excel_engine,
    log_fields,
    open_stored,
    sniff_table,
    text_encoding,
)
from .table_edges import (
    big_whole_numbers_as_text,
    chunks_with_index_as_columns,
    chunks_without_edges,
    index_as_columns,
    without_edges,
)

logger = logging.getLogger("gmm_apps")


# ----------------------------------------------------------------------------- files
def header_position(rows, header_has, path=None):
    """Where a table's header is: the first of its first rows that ``header_has`` accepts, else 0.

    Parameters
    ----------
    rows : list of list
        The file's first rows, as cells.
    header_has : callable or None
        Takes a row's cells (a set of stripped, lower-case texts) and says whether they hold the
        columns the config names; None: the header is the first row.
    path : str or Path, optional
        For the log line saying which rows above the header were left out (None: no log line).
    """
    i = None if header_has is None else _header_row(rows, header_has)
    if i is None:
        i = below_title(rows)
    if i is None:
        i = below_preamble(rows)
    i, grouped = _grouped_near(rows, i or 0)
    if grouped and path is not None:
        names, end = grouped
        logger.info(
            "%s: the header is rows %d-%d, groups over their columns (a report's merged cells, pandas' grouped "
            "columns)%s: the columns are named %s",
            path,
            i,
            end,
            {0: "", 1: "", 2: "; the row above it"}.get(i, f"; the {i - 1} rows above it")
            + (" (a title, an export's notes?) left out" if i > 1 else ""),
            ", ".join(repr(n) for n in names if not n.startswith("Unnamed: ")),  # a margin's column: left out
        )
    elif i and path is not None:
        above = (
            "the row above it (a title, an export's note?) is"
            if i == 1
            else f"the {i} rows above it (a title, an export's notes?) are"
        )
        logger.info("%s: the header is row %d; %s left out", path, i + 1, above)
    return i or 0


def _short_first_row(columns):
    """Whether a sheet's columns as read include unnamed ones (``Unnamed: 1`` ...): its first row did not span
    the table (a report's title in A1, an export's notes, or a saved index's blank corner)."""
    return any(str(c).startswith("Unnamed:") for c in columns)


def below_title(rows):
    """The row under a report's title block, or None: the first rows holding one filled cell at most (a title,
    a date, a blank line) and then a row of two or more names (no numbers among them).  When that row is
    followed by more of the title block (a row of one cell at most: FRED's series and its title, then
    ``Frequency: Daily``), a later row of names that data follows is the header, if there is one."""
    filled = [[str(c).strip() for c in row if not pd.isna(c) and str(c).strip()] for row in rows[:HEADER_SEARCH_ROWS]]

    def names(i):
        return len(filled[i]) >= 2 and not any(NUMBER.fullmatch(c) for c in filled[i])

    def next_width(i):
        return next((len(f) for f in filled[i + 1 :] if f), None)

    i = 0
    while i < len(filled) and len(filled[i]) <= 1:
        i += 1
    if not (0 < i < len(filled) and names(i)):
        return None
    if (next_width(i) or 2) <= 1:
        later = [j for j in range(i + 1, len(filled)) if names(j) and (next_width(j) or 0) >= 2]
        return later[0] if later else i
    return i


def below_preamble(rows):
    """The header under an export's notes, or None: a bank's statement opens with its account number, period
    and balance, a row each (``Kontonummer:;DE12 ...``), before the table.  The header is the first row of two
    or more names spanning the table (as wide as the median row below it), every row above it narrower."""
    widths = [_width(row) for row in rows[:HEADER_SEARCH_ROWS]]
    for i in range(1, len(widths)):
        below = sorted(w for w in widths[i + 1 :] if w)
        if len(below) < 2 or widths[i] < below[len(below) // 2]:
            continue
        if max(widths[:i]) >= below[len(below) // 2]:
            return None  # a row as wide as the table above it: the table starts higher
        cells = [str(c).strip() for c in rows[i] if not pd.isna(c) and str(c).strip()]
        return i if len(cells) >= 2 and not any(NUMBER.fullmatch(c) for c in cells) else None
    return None


def grouped_header(rows, at):
    """The columns' names when the header row ``at`` sits under a row of groups, and the first data row; or None.

    A report's header often has two rows: groups (``Sales``, ``Returns``, merged across their columns) over
    the columns' own names (``Units``, ``Revenue``, ``Units``, ``Value``), and a column named once in the row of
    groups (``Store``, merged down).  Read from its lower row alone, the table would have an unnamed column
    and two ``Units``.  The rows are taken for such a header when the upper row holds two names or more, each
    group's columns are named in the lower row, every column is named in one row or the other, and the two
    levels show: a lower name found under two groups, or a column named in the upper row alone beside a group
    of two columns or more.  The names are the group's and the column's, joined by a space (``Sales Units``);
    columns blank in both rows and the row under them, left of the header (a margin: the report starts at column
    B), keep pandas' name (``Unnamed: 0``).
    pandas writes a table of grouped columns (``groupby(...).agg(...)``) so, its index named on a row of its own
    under the header (``store,,,``): that row names the columns left of the groups.

    Returns
    -------
    (names, end) or None
        ``end`` is the row after the header (``at + 1``, or ``at + 2`` past pandas' index row).
    """
    if rows is None or not 0 < at < len(rows):
        return None
    upper, lower, below = (_texts(rows[k]) if k < len(rows) else [] for k in (at - 1, at, at + 1))
    width = max(_width(lower), _width(upper))
    upper, lower, below = (r + [""] * (width - len(r)) for r in (upper, lower, below))
    margin = next((j for j in range(width) if upper[j] or lower[j] or below[j]), width)  # a report from column B
    upper, lower, below, width = upper[margin:], lower[margin:], below[margin:], width - margin
    starts = [j for j in range(width) if upper[j]]
    if len(starts) < 2 or any(NUMBER.fullmatch(c) for c in lower if c) or any(c.endswith(":") for c in upper):
        return None  # one group at most, numbers below, or an export's notes above (``Account:``)
    names, end = lower[: starts[0]], at + 1
    if not all(names):  # pandas' index named on the row under the header?
        if any(names) or not all(below[: starts[0]]) or any(below[starts[0] :]):
            return None
        names, end = below[: starts[0]], at + 2
    under, alone, wide = {}, False, False
    for start, stop in zip(starts, [*starts[1:], width]):
        span = lower[start:stop]
        if stop - start == 1 and not span[0]:
            names.append(upper[start])  # a column named in the upper row alone
            alone = True
            continue
        if not all(span):
            return None  # a group over a column without a name: not a header of groups
        wide = wide or stop - start > 1
        for name in span:
            under.setdefault(name.lower(), set()).add(start)
            names.append(name if name.lower().startswith(upper[start].lower()) else f"{upper[start]} {name}")
    repeated = any(len(g) > 1 for g in under.values())
    names = [f"Unnamed: {j}" for j in range(margin)] + names  # pandas' name, left out when empty throughout
    return (names, end) if repeated or alone and wide else None


def _grouped_near(rows, i):
    """The header row ``i`` found, moved to the lower row of a header of groups found beside it, and that
    header (:func:`grouped_header`, or None).  The row of groups is found first when it is as wide as the table,
    or wider than a title above it; pandas' index row (``store,,,``) when the config names the index; either is
    taken when numbers follow the header."""
    grouped = grouped_header(rows, i)
    if grouped:
        return i, grouped
    for at in (i + 1, i - 1):
        grouped = grouped_header(rows, at)
        if grouped and (at > i or grouped[1] == i + 1) and grouped[1] < len(rows):
            if any(NUMBER.fullmatch(c) for c in _texts(rows[grouped[1]])):
                return at, grouped
    return i, None


def _texts(row):
    """A row's cells as stripped text, blank for an empty cell."""
    return ["" if pd.isna(c) else str(c).strip() for c in row]


def _width(row):
    """How far a row's cells reach: the position of its last filled cell, from 1 (0 for a blank row)."""
    filled = [j for j, c in enumerate(row) if not pd.isna(c) and str(c).strip()]
    return filled[-1] + 1 if filled else 0


def _header_row(rows, header_has):
    """The first of ``rows`` (cells) that ``header_has`` accepts as a header, or None."""
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        cells = {str(c).strip().lower() for c in row if not pd.isna(c)}
        if header_has(cells) and not any(NUMBER.fullmatch(c) for c in cells):  # names, not a data row
            return i
    return None


def _say_headerless(where, names):
    logger.info(
        "%s: the first row holds data, not column names: read as a row; the columns are named column_1 to %s",
        where,
        names[-1],
    )


def header_with(names):
    """A ``header_has`` for :func:`read_table`: a row holding every one of ``names`` (None ones ignored),
    whatever their case; None when no name is given (every row would hold them)."""
    wanted = {str(n).strip().lower() for n in names if n is not None}
    return (lambda cells: wanted <= cells) if wanted else None


def first_text_rows(path, sep, compression, encoding):
    """The first rows of a delimited text file, split into cells as the CSV reader would."""
    with open_stored(path, compression, "rt", encoding=encoding, errors="replace", newline="") as fh:
        lines = [fh.readline() for _ in range(HEADER_SEARCH_ROWS)]
    if sep == r"\s+":
        return [ln.split() for ln in lines]
    return [next(csv.reader([ln], delimiter=sep), []) for ln in lines]


def read_table(path, *, sheet=None, chunksize=None, sheet_key="data.sheet", dtype=None, header_has=None, keep=()):
    """A table file as a DataFrame, or an iterator of DataFrames with ``chunksize`` rows (one for Excel).

    CSV / TSV / ``;`` or ``|`` separated (plain, gzip or zipped), Parquet, or a workbook (Excel ``.xlsx`` or
    ``.xls``, OpenDocument ``.ods``)
    (``sheet``: a name or a position from 0; default the first; other files have no sheets, and a
    config that names one for them is refused by :func:`check_sheet`), told apart by content.
    ``dtype`` goes to the CSV and Excel readers (``str`` keeps ids such as ``007`` as written).
    ``header_has`` finds a header below a report's title rows (:func:`header_position`).  A report's closing
    notes, empty unnamed columns and the row index a table was saved with are left out
    (:mod:`gmm_apps.table_edges`), a column named in ``keep`` (those a config names) aside.

    Raises
    ------
    DataError
        One line naming the file, what it was read as and why it could not be.
    """
    kind, sep, compression = sniff_table(path)
    what = {"excel": "an Excel workbook", "parquet": "Parquet", "json": "JSON records", "text": "a delimited table"}
    what = what[kind]
    try:
        if kind == "json":
            df = big_whole_numbers_as_text(read_json_records(path, compression, dtype=dtype))
            return df if chunksize is None else iter([df])
        if kind == "excel":
            df = read_sheets(path, sheet, key=sheet_key, dtype=dtype, header_has=header_has)
            df = without_edges(df, path, keep, retype=dtype is None, above=df.attrs.pop("above", ()))
            return df if chunksize is None else iter([df])
        if kind == "parquet":
            if chunksize is None:
                return index_as_columns(pd.read_parquet(path), path)
            import pyarrow.parquet as pq  # only for Parquet input

            batches = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunksize))
            return chunks_with_index_as_columns(batches, path)
        encoding = text_encoding(path, compression)
        rows = first_text_rows(path, sep, compression, encoding)
        fields = log_fields(rows) if sep == "\t" else None
        skip = 0 if fields else header_position(rows, header_has, path)
        grouped = None if fields else grouped_header(rows, skip)
        names = fields or (grouped and grouped[0]) or (None if skip else data_names(rows[0]))
        if fields:
            logger.info("%s: a Zeek log: its columns from its #fields line, its # lines left out", path)
            source, compression = WithoutDirectives(open_stored(path, compression, "rt", encoding=encoding)), None
        else:
            if names and not grouped:
                _say_headerless(path, names)
            source = open_stored(path, "zip") if compression == "zip" else path  # pandas reads one-file zips only
        try:
            table = pd.read_csv(
                source,
                sep=sep,
                compression=None if compression == "zip" else compression,
                encoding=encoding,
                skiprows=grouped[1] if grouped else skip,
                header=None if names else "infer",
                names=names,
                chunksize=chunksize,
                dtype=dtype,
                engine="python" if len(sep) > 1 else "c",
            )
            if chunksize is None:
                return without_edges(table, path, keep, retype=dtype is None, above=rows[:skip])
            table = _read_as_they_come(table, path, what)
            return chunks_without_edges(table, path, keep, retype=dtype is None, above=rows[:skip])
        finally:
            if source is not path and chunksize is None:
                source.close()
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(f"{path}: reading {what} needs {exc.name} ({exc}); pip install {exc.name}") from None
    except _UNREADABLE as exc:
        raise unreadable_error(path, what, exc) from None


#: what reading a table raises when its bytes are not the table they were taken for
_UNREADABLE = (
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    OSError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    CalamineError,
)
#: pandas' words for a line with more cells than the header
_TOO_MANY = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def unreadable_error(path, what, exc):
    """The one-line error for a table that cannot be read as ``what``: a line with more cells than its header is
    named with the likely cause; any other reason is the reader's own first line."""
    said = str(exc).splitlines()[0] if str(exc) else repr(exc)
    if m := _TOO_MANY.search(said):
        return DataError(
            f"{path}: line {m[2]} has {m[3]} cells where the header has {m[1]} (a separator inside a cell that is "
            "not in quotes, such as a comma in an address?); put that cell in quotes, or fix the line"
        )
    return DataError(f"{path}: cannot read as {what} ({said})")


def _read_as_they_come(chunks, path, what):
    """A reader's chunks, its errors met on the way (a bad line far into the file) raised as :func:`read_table`
    raises them."""
    try:
        yield from chunks
    except _UNREADABLE as exc:
        raise unreadable_error(path, what, exc) from None


def check_sheet(path, sheet, *, key="data.sheet"):
    """Refuse a sheet named for a file that is not a workbook (it would change nothing)."""
    if sheet is not None and sniff_table(path)[0] != "excel":
        raise DataError(f"{path}: {key} is set, but the file is not an Excel workbook; remove the key")


def _sheet_with_header(book, names, header_has, path, key):
    """The first sheet after the first whose top rows hold the header ``header_has`` looks for (a workbook
    whose first sheet is a summary), logged, as ``([name], {name: top rows})``; None when there is none."""
    for name in names[1:]:
        top = pd.read_excel(book, sheet_name=name, header=None, nrows=HEADER_SEARCH_ROWS)
        if _header_row(top.values.tolist(), header_has) is not None:
            logger.info(
                "%s: the first sheet %r does not hold the columns the config names; sheet %r does, and is read "
                "(%s names another)",
                path,
                names[0],
                name,
                key,
            )
            return [name], {name: top}
    return None


def _sheet_after_notes(book, names, at, tops, path, key):
    """The first sheet holding a table when the first (``names[0]``, at position ``at``) holds notes only (FRED's
    workbook opens with a README sheet: the series' title, source and units, a line each), logged, as
    ``([name], tops)``; None otherwise."""
    first = tops[at] if tops else pd.read_excel(book, sheet_name=at, header=None, nrows=HEADER_SEARCH_ROWS)
    if not _notes_only(first):
        return None
    for name in names[1:]:
        top = pd.read_excel(book, sheet_name=name, header=None, nrows=HEADER_SEARCH_ROWS)
        if len(top) > 1 and not _notes_only(top):
            logger.info(
                "%s: the first sheet %r holds notes, not a table (a line of text a row); sheet %r is read (%s names "
                "another)",
                path,
                names[0],
                name,
                key,
            )
            return [name], ({name: top} if tops else tops)
    return None


def _notes_only(top):
    """Whether a sheet's top rows are notes: one filled cell a row at most, text and no number or date (a
    one-column table of numbers is a table)."""
    rows = [[c for c in row if not pd.isna(c) and str(c).strip()] for row in top.values.tolist()]
    cells = [c for row in rows for c in row]
    return (
        bool(cells)
        and max(map(len, rows)) <= 1
        and all(isinstance(c, str) and not NUMBER.fullmatch(c.strip()) for c in cells)
    )


def _same_columns(book, names, first, columns, at):
    """The sheets other than ``first`` whose header (at row ``at``) names the same ``columns``."""
    first = names[first] if isinstance(first, int) else first
    same = []
    for n in (n for n in names if n != first):
        try:
            cols = pd.read_excel(book, sheet_name=n, header=at, nrows=0).columns
        except (ValueError, IndexError):  # an empty sheet, a chart sheet
            continue
        if list(map(str, cols)) == list(map(str, columns)):
            same.append(n)
    return same


def _say_unread_sheets(book, names, shown, first, columns, at, path, key):
    """Warn of a workbook split into sheets (by year, by month) of which only the first, ``first``, was read; log the
    hidden ones holding the same columns (a backup, a template), not offered."""
    alike = _same_columns(book, names, first, columns, at)
    same, hidden = [n for n in alike if n in shown], [n for n in alike if n not in shown]
    if same:
        every = ", ".join(map(repr, [first, *same]))
        logger.warning(
            "%s: sheet(s) %s hold the same columns as the sheet read, %r, and were not read; set %s: [%s] to stack "
            "them (rows that continue each other, a log split by month), give the workbook to run --each to run "
            "each sheet as a run of its own (an asset or a store a sheet), or name the one sheet to read to say so",
            path,
            ", ".join(map(repr, same)),
            first,
            key,
            every.replace("'", ""),
        )
    if hidden:
        logger.info(
            "%s: hidden sheet(s) %s hold the same columns and are not read (hidden in Excel: a backup, a template); "
            "name them in %s to read them",
            path,
            ", ".join(map(repr, hidden)),
            key,
        )


def _one_sheet(book, path, s, top, header_has, dtype):
    """The sheet ``s`` read below its header, found in its ``top`` rows (without ``header_has``: below a title its
    first row shows), its merged cells filled and its hidden rows said, as ``(frame, header row)``; the rows above
    the header in ``frame.attrs["above"]``."""
    where = f"{path} (sheet {s!r})"
    at = header_position(top, header_has, where) if top is not None else 0
    part = None if top is not None else pd.read_excel(book, sheet_name=s, dtype=dtype)
    if part is not None and _short_first_row(part.columns):  # a title or notes read as the header?
        top = pd.read_excel(book, sheet_name=s, header=None, nrows=HEADER_SEARCH_ROWS).values.tolist()
        at = header_position(top, None, where)
        part = part if at == 0 else None
    grouped = grouped_header(top, at)
    if part is None:
        part = _sheet_below(book, s, dtype, at, grouped)
    first_row = grouped[1] if grouped else at + 1
    merged, hidden = sheet_layout(path, s)
    part = merged_down(part, merged, first_row, where)
    hidden_rows_said(hidden, first_row, where)
    names = None if at else data_names(part.columns)
    if names:  # its first row was data: read again without a header
        _say_headerless(where, names)
        part = pd.read_excel(book, sheet_name=s, dtype=dtype, header=None, names=names)
    part.attrs["above"] = (top or [])[:at]
    return part, at


def _sheet_below(book, sheet, dtype, at, grouped):
    """A sheet read with its header at row ``at``, or under the header of groups ``grouped`` ending there
    (:func:`grouped_header`)."""
    if grouped:  # a header of two rows: groups over their columns' names
        names, end = grouped
        return pd.read_excel(book, sheet_name=sheet, dtype=dtype, header=None, skiprows=end, names=names)
    return pd.read_excel(book, sheet_name=sheet, dtype=dtype, header=at)


def sheets_alike(path):
    """The workbook's first sheet shown and the shown sheets holding the same columns (a workbook split by year),
    or None when no other sheet does (for ``init --data`` and ``run --each``); hidden ones alike are not offered
    (a backup, a template: rows a user does not see would be counted unasked; reading the workbook says them)."""
    with open(path, "rb") as fh, pd.ExcelFile(fh, engine=excel_engine(path)) as book:
        names = book.sheet_names
        if len(names) < 2:
            return None
        shown = shown_sheets(path) or names
        columns = pd.read_excel(book, sheet_name=shown[0], nrows=0).columns
        same = _same_columns(book, shown, shown[0], columns, 0)
    return [shown[0], *same] if same else None


def workbook_sheets(path):
    """:func:`sheets_alike` of the file at ``path`` when it is an Excel workbook; else None."""
    try:
        return sheets_alike(path) if sniff_table(path)[0] == "excel" else None
    except (OSError, ValueError):  # not readable as a workbook: its run says why
        return None


def read_sheets(path, sheet=None, *, key="data.sheet", dtype=None, header_has=None):
    """One sheet of an Excel workbook, or several with the same columns one after another.

    Parameters
    ----------
    path : str or Path
    sheet : str, int, list of them, or None
        A sheet's name or position from 0 (default the first); a list reads each in turn (a workbook
        split by year, say) and stacks their rows.
    key : str
        The config key that named the sheet, for messages.
    dtype : dict, optional
        Passed to ``pandas.read_excel`` (e.g. ids kept as text).
    header_has : callable, optional
        Finds each sheet's header below title rows (:func:`header_position`).
    """
    wanted = sheet if isinstance(sheet, list) else [0 if sheet is None else sheet]
    engine = excel_engine(path)  # a file object: the readers judge a path by its name, we by the content
    with open(path, "rb") as fh, pd.ExcelFile(fh, engine=engine) as book:
        names = book.sheet_names
        for s in wanted:
            if isinstance(s, str) and s not in names or isinstance(s, int) and not 0 <= s < len(names):
                raise DataError(f"{path}: no sheet {s!r} ({key}); the workbook has {', '.join(names)}")
        shown = (shown_sheets(path) or names) if sheet is None else names
        if shown[0] != names[0]:  # a hidden first sheet (a drop-down's lists): the first one shown is read
            wanted = [names.index(shown[0])]
            logger.info(
                "%s: the first sheet %r is hidden; %r, the first shown, is read (%s names another)",
                path,
                names[0],
                shown[0],
                key,
            )
        first = wanted[0]
        tops = (
            {} if header_has is None else pd.read_excel(book, sheet_name=wanted, header=None, nrows=HEADER_SEARCH_ROWS)
        )
        if sheet is None and tops and len(shown) > 1 and _header_row(tops[first].values.tolist(), header_has) is None:
            wanted, tops = _sheet_with_header(book, shown, header_has, path, key) or (wanted, tops)
        if sheet is None and len(shown) > 1 and wanted == [first]:
            wanted, tops = _sheet_after_notes(book, shown, first, tops, path, key) or (wanted, tops)
        parts = []
        for s in wanted:
            part, at = _one_sheet(book, path, s, tops[s].values.tolist() if tops else None, header_has, dtype)
            if parts:  # the rows above the first sheet's header only: a report's title, for its sections' name
                part.attrs.pop("above")
            parts.append(part)
        if sheet is None and len(book.sheet_names) > 1:
            read = names[wanted[0]] if isinstance(wanted[0], int) else wanted[0]
            _say_unread_sheets(book, names, shown, read, parts[0].columns, at, path, key)
    for s, part in zip(wanted[1:], parts[1:]):
        if list(part.columns) != list(parts[0].columns):
            raise DataError(
                f"{path}: sheet {s!r} ({key}) has the columns {', '.join(map(str, part.columns))}, sheet "
                f"{wanted[0]!r} {', '.join(map(str, parts[0].columns))}; stacked sheets need the same columns"
            )
    if len(parts) > 1:
        logger.info(
            "%s: sheets %s stacked (%s rows)",
            path,
            ", ".join(map(repr, wanted)),
            ", ".join(f"{len(p):,}" for p in parts),
        )
    if len(parts) == 1:
        return parts[0]
    above = parts[0].attrs.pop("above")
    stacked = pd.concat(parts, ignore_index=True)
    stacked.attrs["above"] = above
    return stacked
