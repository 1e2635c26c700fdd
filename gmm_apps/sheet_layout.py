"""What a workbook's layout says beside its values: cells merged down over several rows, read as their value in
each of those rows, and rows hidden, which are read like the others and said.

A report written for people merges a value over the rows it heads: a customer over the lines of their
orders, a region over its stores, a date over the day's trades.  pandas reads such a value in the first of
those rows only and leaves the others empty, so the lines would lose their customer and be left out as rows
without an id, or a region would be a missing category.  The workbook says which cells were merged; this
module gives each of them the value.  A row hidden by a filter, or in a collapsed group, is read as any other:
what is hidden is the user's to leave out, and the log says how many there are.  A hidden sheet (lists a
workbook's drop-downs read from) is not the one a user means by "the first".
"""

from __future__ import annotations

import logging
import re
import zipfile
from html import unescape
from posixpath import dirname, join, normpath

import pandas as pd
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

logger = logging.getLogger("gmm_apps")


def merged_down(frame, ranges, first_row, where):
    """``frame`` with each value merged down over rows in the workbook written in each of those rows.

    Parameters
    ----------
    frame : DataFrame
        The sheet as pandas read it, its columns from the sheet's column A on and its rows from the sheet's
        row ``first_row`` (from 0) on.
    ranges : list
        The sheet's merged ranges (:func:`sheet_layout`).
    first_row : int
        The sheet row of ``frame``'s first row (the row under its header).
    where : str
        The file and sheet, for the log line naming the columns filled.

    Returns
    -------
    DataFrame
        ``frame`` itself, its merged cells filled: only a range one column wide whose first cell holds a value
        and whose other cells were read empty (as pandas reads a merge); any other is left as it was read.
    """
    filled = {}
    for (r0, c0), (r1, c1) in ranges:
        k0, k1 = r0 - first_row, r1 - first_row
        if c0 != c1 or k1 == k0 or k0 < 0 or k1 >= len(frame) or c0 >= frame.shape[1]:
            continue  # across columns, one cell, in the header, or past the rows read
        column = frame.iloc[:, c0]
        if pd.isna(column.iloc[k0]) or column.iloc[k0 + 1 : k1 + 1].notna().any():
            continue  # not a merge as pandas reads one: left as read
        frame.iloc[k0 + 1 : k1 + 1, c0] = column.iloc[k0]
        filled[frame.columns[c0]] = filled.get(frame.columns[c0], 0) + k1 - k0
    if filled:
        logger.info(
            "%s: values merged down over several rows (a report's %r written once over its rows) read in each "
            "of those rows: %s",
            where,
            next(iter(filled)),
            ", ".join(f"{n:,} cells of {c!r}" for c, n in filled.items()),
        )
    return frame


def sheet_layout(path, sheet):
    """A sheet's merged ranges, as ``((first row, first column), (last row, last column))`` from 0, and the rows
    it hides, from 0: of an ``.xlsx`` sheet both from one pass over its XML; of another format the merges
    calamine reads, and no hidden rows; neither when the workbook cannot be looked into."""
    try:
        with zipfile.ZipFile(path) as z:
            member = _sheet_member(z, sheet)
            if member is not None:
                return _scanned(z, member)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        pass  # Excel 97-2003: no zip
    try:
        book = CalamineWorkbook.from_path(str(path))
        ws = book.get_sheet_by_name(sheet) if isinstance(sheet, str) else book.get_sheet_by_index(sheet)
        return ws.merged_cell_ranges or [], []
    except (CalamineError, ValueError, IndexError, OSError):  # read by pandas already; its merges unknown
        return [], []


def _scanned(z, member):
    """The merged ranges and hidden rows of the sheet XML ``member``, read in blocks."""
    merged, hidden, tail = [], [], b""
    with z.open(member) as fh:
        while block := fh.read(1 << 22):
            text = tail + block
            end = text.rfind(b">") + 1  # an element cut at the block's end is read with the next
            hidden += [int(m[1]) - 1 for m in _ROW.finditer(text, 0, end) if _HIDDEN.search(m[0])]
            merged += [(_cell(m[1], m[2]), _cell(m[3], m[4])) for m in _MERGE.finditer(text, 0, end)]
            tail = text[end:]
    return merged, hidden


def _cell(letters, digits):
    """A cell reference's (row, column) from 0: ``B12`` is (11, 1)."""
    column = 0
    for ch in letters.upper():
        column = column * 26 + ch - ord("A") + 1
    return int(digits) - 1, column - 1


def hidden_rows_said(hidden, first_row, where):
    """Warn of the ``hidden`` rows of a sheet (:func:`sheet_layout`) below its header (``first_row``, from 0),
    hidden by a filter or a collapsed group: read like the others, which a user who filtered them out may not
    expect."""
    hidden = [r for r in hidden if r >= first_row]
    if hidden:
        shown = ", ".join(str(r + 1) for r in hidden[:5]) + (", ..." if len(hidden) > 5 else "")
        logger.warning(
            "%s: %d row(s) hidden in the workbook (a filter, a collapsed group), rows %s, are read like the "
            "others; to leave them out, delete them, or copy the visible rows to a sheet of their own",
            where,
            len(hidden),
            shown,
        )


#: a row element of a sheet's XML, and its hidden attribute; a merged range's element
_ROW = re.compile(rb'<row\b[^>]*?\br="(\d+)"[^>]*>')
_HIDDEN = re.compile(rb'\bhidden="(?:1|true)"')
_MERGE = re.compile(rb'<mergeCell\b[^>]*?\bref="([A-Za-z]+)(\d+):([A-Za-z]+)(\d+)"')


def _sheet_member(z, sheet):
    """The zip member holding the sheet ``sheet`` (a name, or a position from 0), or None."""
    names = set(z.namelist())
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return None
    book = z.read("xl/workbook.xml").decode("utf-8", "replace")
    sheets = re.findall(r'<sheet\b[^>]*?\bname="([^"]*)"[^>]*?\br:id="([^"]*)"', book)
    if not sheets:  # attributes in another order
        sheets = [(n, i) for i, n in re.findall(r'<sheet\b[^>]*?\br:id="([^"]*)"[^>]*?\bname="([^"]*)"', book)]
    found = [i for k, (n, i) in enumerate(sheets) if sheet in (unescape(n), k)]  # R&amp;D is R&D
    if not found:
        return None
    rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    for attrs in re.findall(r"<Relationship\b([^>]*)>", rels):
        if f'Id="{found[0]}"' in attrs:
            target = re.search(r'Target="([^"]*)"', attrs)[1]
            member = (
                target.lstrip("/") if target.startswith("/") else normpath(join(dirname("xl/workbook.xml"), target))
            )
            return member if member in names else None
    return None


def shown_sheets(path):
    """The workbook's worksheets a user sees, in order (hidden ones, and chart sheets, left out); None when the
    workbook cannot be looked into."""
    try:
        meta = CalamineWorkbook.from_path(str(path)).sheets_metadata
    except (CalamineError, ValueError, OSError):
        return None
    return [m.name for m in meta if m.visible == SheetVisibleEnum.Visible and m.typ == SheetTypeEnum.WorkSheet]
