"""Numbers written the way spreadsheets and brokers export them, read without guessing silently.

Pure functions on pandas Series of cells as read from a file.  :func:`as_numbers` reads ``2,506.85``,
``$1,234.50``, ``USD 12.50``, ``(12.50)``, ``−12.50``, ``1.234,50-`` and ``1.234,50`` as numbers, deciding the
decimal mark once per column; :func:`no_value` tells the cells that stand for none (``.``, ``#N/A``).  Currency
signs are :mod:`gmm_apps.currency`'s.
"""

from __future__ import annotations

import re

import pandas as pd

from .currency import currencies, refuse_mixed_currencies, unformatted

_GROUPED_COMMA = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
#: the Indian grouping: thousands, then lakhs and crores in pairs of digits (``12,34,567.50``)
_GROUPED_LAKH = re.compile(r"^[+-]?\d{1,2}(,\d{2})+,\d{3}(\.\d+)?$")
_GROUPED_DOT = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")
#: a plain number: a header's cell that is one is data, not a column's name
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
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
