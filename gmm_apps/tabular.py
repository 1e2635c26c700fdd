"""Numbers and tables written the way spreadsheets and brokers export them, read without guessing silently.

Pure functions on pandas Series of cells as read from a file.  :func:`as_numbers` reads
``2,506.85``, ``$1,234.50``, ``USD 12.50``, ``(12.50)``, ``−12.50``, ``1.234,50-`` and ``1.234,50`` as numbers, deciding the decimal mark
once per column; :func:`read_table` reads a CSV / TSV, Parquet or Excel file told apart by content,
its header found below a report's title rows, or JSON records.  Currency signs are :mod:`gmm_apps.currency`'s,
dates :mod:`gmm_apps.dates`'s.
"""

from __future__ import annotations

import csv
import logging
import re
import zipfile

import pandas as pd
from python_calamine import CalamineError

from .currency import currencies, refuse_mixed_currencies, unformatted
from .errors import DataError
from .json_tables import read_json_records
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

_GROUPED_COMMA = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
#: the Indian grouping: thousands, then lakhs and crores in pairs of digits (``12,34,567.50``)
_GROUPED_LAKH = re.compile(r"^[+-]?\d{1,2}(,\d{2})+,\d{3}(\.\d+)?$")
_GROUPED_DOT = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NUMBER_LIKE = re.compile(r"[+-]?[\d.,]*\d[\d.,]*")


#: cells that stand for no value in a column of numbers (case aside): FRED's ``.``, the UCI archive's ``?``,
#: dashes, ``n/a`` and ``ND``, and the error values of a spreadsheet formula that failed (``#DIV/0!``)
NO_VALUE = frozenset(
    {"", ".", "?", "-", "--", "---", "\u2013", "\u2014", "n.a.", "n/a", "na", "nd", "nan", "null", "none"}
    | {"#n/a", "#n/a n/a", "#na", "#div/0!", "#value!", "#ref!", "#num!", "#name?", "#null!"}
)


def no_value(cells):
    """Which cells stand for no value (:data:`NO_VALUE`, spaces and case aside; an empty cell too): a boolean
    array."""
    values = pd.Series(cells, dtype=object) if not isinstance(cells, pd.Series) else cells
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.isna().to_numpy()
    text = values.astype("string").str.strip().str.lower()
    return (values.isna() | text.isin(NO_VALUE).fillna(False)).to_numpy(dtype=bool)


#: how :func:`as_numbers` read a column, by its decimal mark, for a log line
NUMBER_STYLE = {
    ".": "formatted numbers (currency signs, ',' grouping thousands, a decimal point)",
    ",": "formatted numbers with a decimal comma",
}


#: why a column's commas cannot be read (the caller names the column)
AMBIGUOUS_COMMAS = (
    "commas in it could group thousands or mark decimals (e.g. '1,202'); write the numbers without "
    "thousands separators, or with a decimal point"
)
#: why a column's dots cannot be read: whole amounts in a country that groups thousands with dots ('1.500 €')
AMBIGUOUS_DOTS = (
    "dots in it could group thousands or mark decimals (e.g. '1.500': every one is followed by three digits); "
    "write the numbers without thousands separators, or with a decimal comma"
)
#: the config key that settles it, for the pipelines that read ``data.decimal_mark``
DECIMAL_MARK_HINT = "; or set data.decimal_mark ('.': commas group thousands, ',': dots do)"


def decimal_mark(cells):
    """The decimal mark of a column of number-like text: ``'.'``, ``','``, or None when it cannot be told.

    Decided from the column as a whole: a cell holding both marks shows which comes last; ``1,234,567``
    or ``1,234.5`` show commas grouping thousands; ``12,5`` or ``0,1234`` show a decimal comma;
    ``1.234.567`` shows dots grouping thousands. A column whose only commas are single groups of three
    digits (``1,202``) is None: the same text means one thousand two hundred and two, or a little over
    one; so is a column without commas whose every dot is followed by three digits (``€1.500``).
    """
    return mark_from(mark_evidence(cells))


def mark_evidence(cells):
    """What a set of number-like cells shows about the decimal mark, in a form that parts of one column
    (blocks read apart) can pool: :func:`pool_evidence`, then :func:`mark_from`."""
    has_comma = [c for c in cells if "," in c]
    return {
        "comma": bool(has_comma),
        "last": sorted({"." if c.rfind(".") > c.rfind(",") else "," for c in has_comma if "." in c}),
        "decimal_comma": any(_DECIMAL_COMMA.match(c) and not _thousands(_GROUPED_COMMA, c) for c in has_comma),
        "grouped": any(c.count(",") > 1 for c in has_comma),
        "point": any("." in c for c in cells),
        "dots_grouped": any(c.count(".") > 1 for c in cells if "," not in c),
        "dots_all_thousands": all(_thousands(_GROUPED_DOT, c) for c in cells if "." in c and "," not in c),
    }


def _thousands(grouped, cell):
    """Whether a cell could be a whole number with its thousands grouped (``1.500``; never ``0.125``)."""
    return bool(grouped.match(cell)) and not cell.lstrip("+-").startswith("0")


def why_ambiguous(evidence):
    """Why :func:`mark_from` cannot tell the decimal mark ``evidence`` shows: the message (the caller names
    the column)."""
    return AMBIGUOUS_COMMAS if evidence["comma"] else AMBIGUOUS_DOTS


def pool_evidence(parts):
    """The :func:`mark_evidence` of a whole column from that of its parts."""
    parts = list(parts)
    return {
        "comma": any(p["comma"] for p in parts),
        "last": sorted({m for p in parts for m in p["last"]}),
        "decimal_comma": any(p["decimal_comma"] for p in parts),
        "grouped": any(p["grouped"] for p in parts),
        "point": any(p["point"] for p in parts),
        "dots_grouped": any(p.get("dots_grouped", False) for p in parts),
        "dots_all_thousands": all(p.get("dots_all_thousands", False) for p in parts),
    }


def mark_from(evidence):
    """The decimal mark :func:`mark_evidence` shows: ``'.'``, ``','``, or None when it cannot be told."""
    if not evidence["comma"]:
        if evidence.get("dots_grouped"):
            return ","
        return None if evidence["point"] and evidence.get("dots_all_thousands") else "."
    if evidence["last"]:
        return evidence["last"][0] if len(evidence["last"]) == 1 else None
    if evidence["decimal_comma"]:
        return ","
    if evidence["grouped"] or evidence["point"]:
        return "."
    return None


def _formatted(values):
    """Each distinct cell of a column and the same without currency signs, brackets and spaces, or None
    when there is nothing to unformat (numbers already, plain numbers in text, or text)."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None
    plain = pd.to_numeric(values, errors="coerce")
    if not (plain.isna() & values.notna()).any():
        return None
    text = pd.unique(values.dropna().astype(str))  # each distinct cell once: a category repeats
    cells = [unformatted(c) for c in text]
    if not any("," in c or c != t.strip() for c, t in zip(cells, text)):
        return None
    return text, cells


def number_cells(values):
    """The distinct formatted-number cells of a column (without currency signs, brackets and spaces), or
    None when :func:`as_numbers` has nothing to unformat in it."""
    found = _formatted(values)
    return None if found is None else [c for c in found[1] if _NUMBER_LIKE.fullmatch(c)]


def as_numbers(values, *, mark=None):
    """Cells that are numbers as exported, as floats; any other cell left as it was (for the caller's message).

    Parameters
    ----------
    values : pandas.Series
    mark : {'.', ','}, optional
        The decimal mark, when it is known already (the column of the file a model was fitted on);
        default: decided from ``values``.

    Returns
    -------
    out : pandas.Series
        Float when every non-empty cell is a number; else object, with the numbers converted.
    mark : str or None
        The decimal mark read (``'.'`` or ``','``); None when the column was already numeric or
        held no formatted numbers.

    Raises
    ------
    ValueError
        When commas might group thousands or mark decimals and the column does not say which.
    """
    found = _formatted(values)
    if found is None:
        return values, None  # numbers already, plain numbers in text, or text: nothing to unformat
    text, plain = found
    refuse_mixed_currencies(currencies(text))
    if mark is None:
        evidence = mark_evidence([c for c in plain if _NUMBER_LIKE.fullmatch(c)])
        mark = mark_from(evidence)
        if mark is None:
            raise ValueError(why_ambiguous(evidence))

    def convert(v, c):
        if mark == ",":
            if "." in c and not _GROUPED_DOT.match(c):
                return v
            c = c.replace(".", "").replace(",", ".")
        else:
            if "," in c and not (_GROUPED_COMMA.match(c) or _GROUPED_LAKH.match(c)):
                return v
            c = c.replace(",", "")
        try:
            return float(c)
        except ValueError:
            return v

    read = {t: convert(t, c) for t, c in zip(text, plain)}
    out = values.astype(object).map(lambda v: read.get(v, v) if isinstance(v, str) else v)
    if out.map(lambda v: isinstance(v, str)).any():
        return out.astype(object), mark
    return out.astype(float), mark


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
    if i and path is not None:
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
        return len(filled[i]) >= 2 and not any(_NUMBER.fullmatch(c) for c in filled[i])

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
        return i if len(cells) >= 2 and not any(_NUMBER.fullmatch(c) for c in cells) else None
    return None


def _width(row):
    """How far a row's cells reach: the position of its last filled cell, from 1 (0 for a blank row)."""
    filled = [j for j, c in enumerate(row) if not pd.isna(c) and str(c).strip()]
    return filled[-1] + 1 if filled else 0


def _header_row(rows, header_has):
    """The first of ``rows`` (cells) that ``header_has`` accepts as a header, or None."""
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        cells = {str(c).strip().lower() for c in row if not pd.isna(c)}
        if header_has(cells) and not any(_NUMBER.fullmatch(c) for c in cells):  # names, not a data row
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
            df = without_edges(df, path, keep, retype=dtype is None)
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
        names = fields or (None if skip else data_names(rows[0]))
        if fields:
            logger.info("%s: a Zeek log: its columns from its #fields line, its # lines left out", path)
            source, compression = WithoutDirectives(open_stored(path, compression, "rt", encoding=encoding)), None
        else:
            if names:
                _say_headerless(path, names)
            source = open_stored(path, "zip") if compression == "zip" else path  # pandas reads one-file zips only
        try:
            table = pd.read_csv(
                source,
                sep=sep,
                compression=None if compression == "zip" else compression,
                encoding=encoding,
                skiprows=skip,
                header=None if names else "infer",
                names=names,
                chunksize=chunksize,
                dtype=dtype,
                engine="python" if len(sep) > 1 else "c",
            )
            if chunksize is None:
                return without_edges(table, path, keep, retype=dtype is None)
            return chunks_without_edges(_read_as_they_come(table, path, what), path, keep, retype=dtype is None)
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


def _say_unread_sheets(book, names, first, columns, at, path, key):
    """Warn of a workbook split into sheets (by year, by month) of which only the first was read."""
    same = _same_columns(book, names, first, columns, at)
    if same:
        first = names[first] if isinstance(first, int) else first
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


def sheets_alike(path):
    """The workbook's first sheet and those holding the same columns (a workbook split by year), or None when
    no other sheet does (for ``init --data``)."""
    with open(path, "rb") as fh, pd.ExcelFile(fh, engine=excel_engine(path)) as book:
        names = book.sheet_names
        if len(names) < 2:
            return None
        columns = pd.read_excel(book, sheet_name=0, nrows=0).columns
        same = _same_columns(book, names, 0, columns, 0)
    return [names[0], *same] if same else None


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
        tops = (
            {} if header_has is None else pd.read_excel(book, sheet_name=wanted, header=None, nrows=HEADER_SEARCH_ROWS)
        )
        if sheet is None and tops and len(names) > 1 and _header_row(tops[0].values.tolist(), header_has) is None:
            wanted, tops = _sheet_with_header(book, names, header_has, path, key) or (wanted, tops)
        parts = []
        for s in wanted:
            at = header_position(tops[s].values.tolist(), header_has, f"{path} (sheet {s!r})") if tops else 0
            part = pd.read_excel(book, sheet_name=s, dtype=dtype, header=at)
            if not tops and _short_first_row(part.columns):  # a title or notes read as the header?
                top = pd.read_excel(book, sheet_name=s, header=None, nrows=HEADER_SEARCH_ROWS)
                at = header_position(top.values.tolist(), None, f"{path} (sheet {s!r})")
                part = pd.read_excel(book, sheet_name=s, dtype=dtype, header=at) if at else part
            names = None if at else data_names(part.columns)
            if names:  # its first row was data: read again without a header
                _say_headerless(f"{path} (sheet {s!r})", names)
                part = pd.read_excel(book, sheet_name=s, dtype=dtype, header=None, names=names)
            parts.append(part)
        if sheet is None and len(book.sheet_names) > 1:
            _say_unread_sheets(book, book.sheet_names, wanted[0], parts[0].columns, at, path, key)
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
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
