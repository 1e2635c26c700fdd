"""JSON as the table it holds, in the shapes databases, APIs and pandas write.

:func:`read_json_records` reads records (a list of objects, one object a line), the one table under a key (or a few) of an
API's answer (beside its metadata), rows keyed by date (Alpha Vantage's ``"Time Series (Daily)"``,
``to_json(orient="index")``), columns keyed by row (pandas' ``to_json``), columns as arrays (Finnhub's and
TradingView's candles, ``{"t": [...], "c": [...], "s": "ok"}``) and series as ``[time, value]`` pairs
(CoinGecko's ``{"prices": [[ms, p], ...], "total_volumes": [...]}``), rows as lists (Binance's klines, Google
Sheets' ``values``) and one record's columns as arrays nested in it (Yahoo Finance's chart answer).  Anything
else is refused in one line.
"""

from __future__ import annotations

import json
import logging
import re

import pandas as pd

from .errors import DataError
from .sniff import data_names, open_stored, text_encoding

logger = logging.getLogger("gmm_apps")

#: a row label that is a date (``2024-01-02``, with a time or not) or a number (a row number, a Unix time)
_DATE_LABEL = re.compile(r"^\d{4}-\d{2}-\d{2}([ T][\d:.]+(Z|[+-]\d\d:?\d\d)?)?$")
_NUMBER_LABEL = re.compile(r"^\d+$")


def read_json_records(path, compression=None, *, dtype=None):
    """JSON as a DataFrame, in the shapes the module lists. Nested objects become columns named by their path
    (``customer.id``); row labels that are dates become a ``date`` column, other labels an ``index`` column,
    row numbers are dropped;
    ``dtype=str`` (or a mapping of columns to ``str``) reads those columns' values as text."""
    with open_stored(path, compression, "rt", encoding=text_encoding(path, compression)) as fh:
        text = fh.read().lstrip("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if exc.msg != "Extra data" or len(lines) < 2:
            raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        try:
            data = [json.loads(ln) for ln in lines]
        except json.JSONDecodeError as line_exc:
            raise DataError(f"{path}: JSON Lines, but line {line_exc.doc[:40]!r} is not valid JSON") from None
    table = _table(data, path)
    if table is None and isinstance(data, dict) and len(several := _table_paths(data)) > 1:
        shown = ", ".join(" > ".join(map(repr, p)) for p in several[:4])
        raise DataError(
            f"{path}: JSON holding several tables (under {shown}); save the one to read as a file of its own"
        )
    if table is None:
        raise DataError(f"{path}: JSON holding {_shape(data)}, not a table; {_EXPECTED}")
    table = _lists_as_text(table, path)
    text_columns = list(table.columns) if dtype is str else [c for c, t in (dtype or {}).items() if t is str]
    for c in (c for c in text_columns if c in table.columns):
        table[c] = table[c].map(_as_text)
    return table.reset_index(drop=True)


_EXPECTED = (
    "expected a list of objects ([{...}, ...]), one object a line, rows keyed by date, columns as arrays or "
    "[time, value] pairs, or one such table under a key"
)


def _shape(data):
    if isinstance(data, dict):
        return f"an object with keys {', '.join(map(repr, list(data)[:5]))}"
    if isinstance(data, list) and data and all(isinstance(r, list) for r in data):
        return "a list of lists (rows without column names)"
    return f"a {type(data).__name__}"


def _table(data, path, depth=0):
    """The table ``data`` holds, or None."""
    if isinstance(data, list):
        return pd.json_normalize(_unwrapped(data), sep=".") if _is_records(data) else _rows_of_lists(data)
    if not isinstance(data, dict) or not data:
        return None
    for shape in (_pandas_split, _pairs, _arrays, _rows_by_label, _columns_by_row):
        table = shape(data)
        if table is not None:
            return table
    tables = [k for k, v in data.items() if _holds_table(v)]
    other = [k for k, v in data.items() if isinstance(v, (list, dict)) and k not in tables and not _is_metadata(v)]
    if len(tables) != 1 or other or depth:
        if depth:
            return None
        table = _nested_arrays(data, path)
        return table if table is not None else _deeper(data, path)
    logger.info("%s: the table is the one under %r", path, tables[0])
    return _table(data[tables[0]], path, depth + 1)


#: how many objects deep a table is looked for in an API's answer (``{"data": {"orders": [...]}}``)
_DEPTH = 4


def _table_paths(data, depth=0):
    """The key paths under which ``data``'s objects hold a table, at most :data:`_DEPTH` objects deep."""
    found = []
    for k, v in data.items():
        if _holds_table(v):
            found.append((k,))
        elif isinstance(v, dict) and depth + 1 < _DEPTH:
            found.extend((k, *rest) for rest in _table_paths(v, depth + 1))
    return found


def _deeper(data, path):
    """The one table nested in an API's answer below its first level (``{"data": {"orders": [...]}, "meta":
    {...}}``), or None when there is none or more than one."""
    paths = _table_paths(data)
    if len(paths) != 1:
        return None
    where = paths[0]
    logger.info("%s: the table is the one under %s", path, " > ".join(map(repr, where)))
    inner = data
    for k in where:
        inner = inner[k]
    return _table(inner, path, depth=1)


def _unwrapped(records):
    """Records each wrapped alone under one key, as GraphQL's ``edges`` hold them (``[{"node": {...}}, ...]``):
    the records themselves."""
    keys = {k for r in records for k in r}
    if len(keys) == 1 and all(len(r) == 1 and isinstance(next(iter(r.values())), dict) for r in records):
        return [next(iter(r.values())) for r in records]
    return records


def _is_plain(v):
    return not isinstance(v, (list, dict))


def _rows_of_lists(rows):
    """Rows as lists of plain values: Binance's klines (every row data: columns ``column_1`` ...) or Google
    Sheets' ``values`` (a header row first; rows cut short after their last filled cell are filled out)."""
    if len(rows) < 2 or not all(isinstance(r, list) and r and all(map(_is_plain, r)) for r in rows):
        return None
    width = max(map(len, rows))
    first = [str(c) for c in rows[0]] + [""] * (width - len(rows[0]))
    names = data_names(first)
    head, body = (names, rows) if names else (first, rows[1:])
    return pd.DataFrame([list(r) + [None] * (width - len(r)) for r in body], columns=head)


def _is_records(v):
    return isinstance(v, list) and bool(v) and all(isinstance(r, dict) for r in v)


def _is_metadata(v):
    """An API's note beside its table (Alpha Vantage's ``"Meta Data"``): an object of plain values."""
    return isinstance(v, dict) and all(_is_plain(x) for x in v.values())


def _holds_table(v):
    if isinstance(v, list):
        return _is_records(v) or _rows_of_lists(v) is not None
    shapes = (_pandas_split, _pairs, _arrays, _rows_by_label)
    return isinstance(v, dict) and bool(v) and any(s(v) is not None for s in shapes)


def _label_kind(keys):
    """``'dates'`` when every key is a date or a Unix time (digits beyond eight), ``'numbers'`` when the keys are
    the row numbers 0, 1, 2, ..., else None."""
    keys = [str(k) for k in keys]
    if keys == [str(i) for i in range(len(keys))]:
        return "numbers"
    if all(_DATE_LABEL.match(k) for k in keys) or all(_NUMBER_LABEL.match(k) and len(k) > 8 for k in keys):
        return "dates"
    return None


def _labelled(frame, kind):
    """A frame whose index holds its row labels: row numbers dropped, dates as a first ``date`` column, other
    labels (ids) as a first ``index`` column, as pandas names an index it writes out."""
    if kind == "numbers":
        return frame.reset_index(drop=True)
    return frame.rename_axis("date" if kind == "dates" else "index").reset_index()


def _same_plain_objects(data):
    """Whether every value is an object of plain values, all with the same keys."""
    inner = list(data.values())
    if not all(isinstance(v, dict) and v for v in inner):
        return False
    keys = list(inner[0])
    return all(list(v) == keys and all(_is_plain(x) for x in v.values()) for v in inner)


def _rows_by_label(data):
    """``{"2024-01-02": {"4. close": "185.6", ...}, ...}``: one object a row, keyed by date (or row number)."""
    if len(data) < 2 or not _same_plain_objects(data):
        return None
    kind = _label_kind(data)
    if kind is None or _label_kind(next(iter(data.values()))) is not None:
        return None
    return _labelled(pd.DataFrame.from_dict(data, orient="index"), kind)


def _columns_by_row(data):
    """pandas' ``to_json``: ``{column: {row: value}}``, its row labels kept as :func:`_labelled` says."""
    if not _same_plain_objects(data):
        return None
    frame = pd.DataFrame(data)
    return _labelled(frame, _label_kind(frame.index))


def _pandas_split(data):
    """Rows with their column names beside them: pandas' ``to_json(orient="split")`` (``{"columns": [...],
    "index": [...], "data": [[...], ...]}``), Nasdaq Data Link's (Quandl's) datasets (``"column_names"``, with
    metadata beside) and datatables (``"columns": [{"name": ...}, ...]``); and pandas' ``orient="table"``
    (``{"schema": {...}, "data": [{...}, ...]}``, the index among the records' fields)."""
    rows = data.get("data")
    if set(data) == {"schema", "data"} and isinstance(data["schema"], dict) and "fields" in data["schema"]:
        return pd.json_normalize(rows, sep=".") if _is_records(rows) else None
    columns = data.get("columns", data.get("column_names"))
    if isinstance(columns, list) and all(isinstance(c, dict) and "name" in c for c in columns):
        columns = [c["name"] for c in columns]
    if not (isinstance(columns, list) and isinstance(rows, list) and all(_is_plain(c) for c in columns)):
        return None
    if not all(isinstance(r, list) and len(r) == len(columns) and all(map(_is_plain, r)) for r in rows):
        return None
    frame = pd.DataFrame(rows, columns=columns)
    index = data.get("index")
    if not isinstance(index, list) or len(index) != len(frame):
        return frame
    return _labelled(frame.set_axis(index), _label_kind(index))


def _arrays(data):
    """``{"t": [...], "c": [...], "s": "ok"}``: two or more arrays of plain values of one length are the columns
    (the plain values beside them, a status, are left)."""
    arrays = {k: v for k, v in data.items() if isinstance(v, list)}
    if len(arrays) < 2 or any(isinstance(v, dict) for v in data.values()):
        return None
    lengths = {len(v) for v in arrays.values()}
    if len(lengths) != 1 or 0 in lengths or not all(_is_plain(x) for v in arrays.values() for x in v):
        return None
    return pd.DataFrame(arrays)


def _nested_arrays(data, path):
    """One record's columns as arrays nested in its objects (Yahoo Finance's chart answer: ``chart.result[0]``'s
    ``timestamp`` beside ``indicators.quote[0].close`` ... and ``indicators.adjclose[0].adjclose``): the arrays of
    plain values of the one length most of them share, named by their keys (by their paths where two keys are
    alike), logged; None unless three or more share it and no other length is as common."""
    found = []
    stack = [((), data)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, dict):
            stack.extend((where + (str(k),), x) for k, x in reversed(v.items()))
        elif isinstance(v, list) and len(v) == 1 and isinstance(v[0], (dict, list)):
            stack.append((where + ("0",), v[0]))  # a list of one record: the record
        elif isinstance(v, list) and v and all(map(_is_plain, v)) and where:
            found.append((where, v))
    lengths = pd.Series([len(v) for _, v in found]).value_counts()
    if lengths.empty or lengths.iloc[0] < 3 or (len(lengths) > 1 and lengths.iloc[1] == lengths.iloc[0]):
        return None
    columns = [(where, v) for where, v in found if len(v) == lengths.index[0]]
    names = [w[-1] for w, _ in columns]
    names = [n if names.count(n) == 1 else ".".join(w) for n, (w, _) in zip(names, columns)]
    logger.info(
        "%s: columns read from the arrays of %d values nested in it (%s)", path, lengths.index[0], ", ".join(names)
    )
    return pd.DataFrame({n: v for n, (_, v) in zip(names, columns)})


def _pairs(data):
    """``{"prices": [[t, v], ...], "total_volumes": [[t, v], ...]}``: every value a series of ``[time, value]``
    pairs; one ``time`` column and a column per series, joined on the times."""
    if not all(isinstance(v, list) and v for v in data.values()):
        return None
    if not all(isinstance(p, list) and len(p) == 2 and all(_is_plain(x) for x in p) for v in data.values() for p in v):
        return None
    series = []
    for name, pairs in data.items():
        s = pd.Series([p[1] for p in pairs], index=[p[0] for p in pairs], name=name)
        if s.index.has_duplicates:
            return None
        series.append(s)
    return pd.concat(series, axis=1, join="outer").rename_axis("time").reset_index()


def _lists_as_text(table, path):
    """Cells holding a list or an object (an event's ``"tags": ["a", "b"]``) as their compact JSON text, so
    that every cell is a plain value; logged by column."""
    nested = [
        c
        for c in table.columns
        if table[c].dtype == object and table[c].map(lambda v: isinstance(v, (list, dict))).any()
    ]
    for c in nested:
        table[c] = table[c].map(
            lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")) if isinstance(v, (list, dict)) else v
        )
    if nested:
        logger.info("%s: column(s) %s hold lists: read as their JSON text", path, ", ".join(map(repr, nested)))
    return table


def _as_text(v):
    """A JSON value as a text table's cell: missing stays missing; a whole number (``7``, or ``7.0`` where a
    column with gaps became float) as ``7``."""
    if v is None or v != v:  # v != v: NaN
        return v
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
