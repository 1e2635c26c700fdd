"""A workbook's cells merged down over several rows, read as their value in each of those rows.

A report written for people merges a value over the rows it heads: a customer over the lines of their
orders, a region over its stores, a date over the day's trades.  pandas reads such a value in the first of
those rows only and leaves the others empty, so the lines would lose their customer and be left out as rows
without an id, or a region would be a missing category.  The workbook says which cells were merged; this
module gives each of them the value.
"""

from __future__ import annotations

import logging

import pandas as pd
from python_calamine import CalamineError, CalamineWorkbook

logger = logging.getLogger("gmm_apps")


def merged_down(path, sheet, frame, first_row, where):
    """``frame`` with each value merged down over rows in the workbook written in each of those rows.

    Parameters
    ----------
    path : str or Path
        The workbook.
    sheet : str or int
        The sheet ``frame`` was read from, by name or position from 0.
    frame : DataFrame
        The sheet as pandas read it, its columns from the sheet's column A on and its rows from the sheet's
        row ``first_row`` (from 0) on.
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
    ranges = _merged_ranges(path, sheet)
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


def _merged_ranges(path, sheet):
    """The sheet's merged ranges as ``((first row, first column), (last row, last column))``, from 0; none
    when the workbook's format keeps none that calamine reads."""
    try:
        book = CalamineWorkbook.from_path(str(path))
        ws = book.get_sheet_by_name(sheet) if isinstance(sheet, str) else book.get_sheet_by_index(sheet)
        return ws.merged_cell_ranges or []
    except (CalamineError, ValueError, IndexError, OSError):  # read by pandas already; its merges unknown
        return []
