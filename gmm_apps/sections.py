"""A report in sections, read as a table: each group's name on a row of its own over its rows.

Accounting and shop reports group their rows: QuickBooks' *Sales by Customer Detail* writes a customer's name
alone in the first column, the customer's transactions under it with that column blank, and a ``Total for
<name>`` row closing them; *Transaction Detail by Account* nests accounts so.  Read as a table, the rows would
have no customer and the totals would count as sales.  Here each row is given the name of its section (its
path, ``Parent: Child``, when sections nest), and the sections' own rows and totals are left out, logged.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

logger = logging.getLogger("gmm_apps")

#: a row closing a section, or the report: ``Total for Amy's``, ``Total Amy's``, ``TOTAL``, ``Grand total``
_CLOSE = re.compile(r"(?:grand\s+)?total\b(?:\s+for\b)?[\s:]*(.*)", re.IGNORECASE)
#: what a report's title says it is grouped by: ``Sales by Customer Detail`` -> Customer
_BY = re.compile(r"\bby\s+(.+?)(?:\s+(?:detail|summary|report))?\s*$", re.IGNORECASE)
#: the fewest sections, each followed by its rows, that make a report in sections
MIN_SECTIONS = 2


def row_kinds(df):
    """Each row's part in a report in sections, by its first column: ``"name"`` (that cell alone filled: a
    section's name), ``"close"`` (that cell a total, ``Total for ...``), ``"row"`` (that cell blank, others
    filled), ``"blank"`` (nothing filled), or ``"other"`` (that cell and others filled, not a total)."""
    if df.shape[1] < 2 or len(df) == 0:
        return np.array([], dtype=object)
    first = df.iloc[:, 0]
    head = (first.notna() & (first.astype(str).str.strip() != "")).to_numpy()
    rest = df.iloc[:, 1:]
    others = (rest.notna() & (rest.astype(str).apply(lambda c: c.str.strip()) != "")).any(axis=1).to_numpy()
    closes = head & others & first.astype(str).str.strip().str.match(_CLOSE.pattern, case=False).to_numpy()
    kinds = np.where(head, np.where(others, "other", "name"), np.where(others, "row", "blank")).astype(object)
    kinds[closes] = "close"  # a total beside its amount; a name alone (``Total Wine & More``) is a section's
    return kinds


def _may_be_in_sections(df):
    """A quick look before :func:`row_kinds` reads every cell: the first column has blank cells and some row
    has nothing but its first cell."""
    if df.shape[1] < 2 or not df.iloc[:, 0].isna().any():
        return False
    return bool((df.iloc[:, 0].notna() & df.iloc[:, 1:].isna().all(axis=1)).any())


def is_in_sections(kinds):
    """Whether rows of these kinds (:func:`row_kinds`) are a report in sections: no row other than names, totals,
    blank rows and rows under a name, none of those before the first name, and :data:`MIN_SECTIONS` names
    followed by rows."""
    if not len(kinds) or (kinds == "other").any():
        return False
    rows = np.flatnonzero(kinds == "row")
    names = np.flatnonzero(kinds == "name")
    if not len(rows) or not len(names) or rows[0] < names[0]:
        return False
    seen = kinds[kinds != "blank"]
    return int(((seen[:-1] == "name") & (seen[1:] == "row")).sum()) >= MIN_SECTIONS


def shows_sections(df):
    """Whether a table (or its first rows) is a report in sections (:func:`is_in_sections`)."""
    return _may_be_in_sections(df) and is_in_sections(row_kinds(df))


def section_column(first_name, above=()):
    """The name of the column of sections: the first column's own header, or, when it has none, what the report's
    title says it is grouped by (``Sales by Customer Detail``: ``Customer``), else ``Section``."""
    name = str(first_name)
    if name.strip() and not name.startswith("Unnamed:"):
        return name
    for row in above:
        for cell in row:
            found = _BY.search(str(cell)) if not pd.isna(cell) else None
            if found:
                return found[1].strip().title() if found[1].islower() else found[1].strip()
    return "Section"


class Sections:
    """Reads a report's sections in its rows, one table or chunk after another, the open sections carried on.

    Parameters
    ----------
    path : str or Path
        The file, for the log.
    above : list of list, optional
        The rows above the header (the report's title), for the column's name (:func:`section_column`).
    """

    def __init__(self, path, above=()):
        self.path, self.above = path, above
        self.open = []  # the sections a row is in, outermost first
        self.name = None  # the column's name once the first table showed sections
        self.counts = {"names": 0, "closes": 0, "rows": 0}
        self.sections = set()  # those holding rows
        self.previous = None  # the kind of the last row read that was not blank, from chunk to chunk

    def read(self, df, *, first=True):
        """``df`` with its first column the section of each row, its names and totals left out; ``df`` itself
        when it is no report in sections (decided on the ``first`` table or chunk)."""
        if (self.name is None) != first or first and not _may_be_in_sections(df):
            return df
        kinds = row_kinds(df)
        if first:
            if not is_in_sections(kinds):
                return df
            name = section_column(df.columns[0], self.above)
            self.name = name if name not in map(str, df.columns[1:]) else f"{name} (section)"
        elif (kinds == "other").any():
            return df
        labels = []
        for kind, cell in zip(kinds, df.iloc[:, 0]):
            if kind == "name":
                if self.previous == "row" and self.open:
                    self.open.pop()  # a section after rows, with no total closing the one before: its sibling
                self.open.append(str(cell).strip())
                self.counts["names"] += 1
            elif kind == "close":
                self._close(_CLOSE.match(str(cell).strip())[1].strip())
                self.counts["closes"] += 1
            if kind != "blank":
                self.previous = kind
            labels.append(": ".join(self.open) or None if kind == "row" else None)
        keep = kinds == "row"
        self.counts["rows"] += int(keep.sum())
        out = df[keep].copy()
        out.isetitem(0, pd.Series(np.array(labels, dtype=object)[keep], index=out.index, dtype="str"))
        self.sections.update(out.iloc[:, 0])
        return out.set_axis([self.name, *out.columns[1:]], axis=1)

    def _close(self, name):
        """Close the section ``name`` and those inside it (the innermost when no open one is so named, every one
        for the report's own total)."""
        if not name:
            self.open.clear()
        elif name in self.open:
            del self.open[self.open.index(name) :]
        elif self.open:
            self.open.pop()

    def say(self):
        """Log what was read, once the last table or chunk was."""
        if self.name is None:
            return
        c = self.counts
        logger.info(
            "%s: a report in sections: %d sections over their rows (%s), each row given its section in column %r; "
            "%d rows naming a section and %d totals left out, %d rows read",
            self.path,
            len(self.sections),
            ", ".join(map(repr, sorted(self.sections)[:3])) + (", ..." if len(self.sections) > 3 else ""),
            self.name,
            c["names"],
            c["closes"],
            c["rows"],
        )


def in_sections(df, path, above=()):
    """:meth:`Sections.read` on a whole table, logged; what was read in ``attrs["sections"]`` of a report in
    sections (its column, how many sections, rows naming one and totals left out), for a pipeline's summary."""
    sections = Sections(path, above)
    out = sections.read(df)
    sections.say()
    if sections.name is not None:
        c = sections.counts
        out.attrs["sections"] = {
            "column": sections.name,
            "sections": len(sections.sections),
            "names": c["names"],
            "totals": c["closes"],
        }
    return out
