"""Numbers written as text with what they measure: percentages, lengths of time, sizes, rates, temperatures.

Dashboards (Grafana's CSV export of formatted data), device logs and spreadsheets write a measure with its
unit: ``20 ms``, ``1.2 GiB``, ``36.5 °C``, ``12.5%``. A column whose every value is a number with a unit is
read as numbers in one unit, the one most of its cells are written in (``ms`` for a latency column of ``ms``
and a few ``s``); its other cells are converted to it when they measure the same thing (``4.2 s`` is
4,200 ms; lengths of time, bytes, bits or bytes a second, hertz, watts, watt-hours, volts, amperes, grams
and pounds, litres, °C and °F), and a number without a unit is taken to be in it. The unit is kept with the
model: a file scored later is converted to it (a latency written in seconds is not read as milliseconds),
and a unit it cannot be converted from is refused.
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from ...currency import currencies
from ...errors import DataError
from ...number_text import DECIMAL_MARK_HINT, as_numbers
from .clocks import is_duration

logger = logging.getLogger("gmm_apps.anomaly")

__all__ = ["unformatted"]


_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_IEC = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
#: lengths of time in seconds
_TIME = {
    **{"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3},
    **{u: 1.0 for u in ("s", "sec", "secs", "second", "seconds")},
    **{u: 60.0 for u in ("min", "mins", "minute", "minutes")},
    **{u: 3600.0 for u in ("h", "hr", "hrs", "hour", "hours")},
    **{"d": 86400.0, "day": 86400.0, "days": 86400.0, "week": 604800.0, "weeks": 604800.0},
}
#: each unit's value in its kind's base unit, as (factor, offset, kind): x unit = factor * x + offset base units
_UNITS = {
    **{u: (f, 0.0, "s") for u, f in _TIME.items()},
    **{f"{p}B": (f, 0.0, "B") for p, f in {**_SI, **_IEC}.items()},
    **{f"{p}B/s": (f, 0.0, "B/s") for p, f in {**_SI, **_IEC}.items()},
    **{f"{p}{u}": (f, 0.0, "bit/s") for p, f in _SI.items() for u in ("bps", "b/s", "bit/s")},
    **{f"{p}Hz": (f, 0.0, "Hz") for p, f in _SI.items()},
    **{f"{p}{u}": (f, 0.0, u) for p, f in {**_SI, "m": 1e-3}.items() for u in ("W", "Wh", "V", "A")},
    **{"mg": (1e-3, 0.0, "g"), "g": (1.0, 0.0, "g"), "kg": (1e3, 0.0, "g")},
    **{"oz": (28.349523125, 0.0, "g"), "lb": (453.59237, 0.0, "g"), "lbs": (453.59237, 0.0, "g")},
    **{
        "ml": (1e-3, 0.0, "l"),
        "mL": (1e-3, 0.0, "l"),
        "cl": (1e-2, 0.0, "l"),
        "l": (1.0, 0.0, "l"),
        "L": (1.0, 0.0, "l"),
    },
    **{u: (1.0, 0.0, "\u00b0C") for u in ("\u00b0C", "\u2103", "\u00b0 C")},
    **{u: (5 / 9, -160 / 9, "\u00b0C") for u in ("\u00b0F", "\u2109", "\u00b0 F")},
    **{"bytes": (1.0, 0.0, "B"), "KB": (1e3, 0.0, "B")},
}
#: a number with a unit after it: after a space any word (``12 pcs``, ``230 V``), without one a unit the table
#: above knows (:func:`_known_unspaced`)
_WITH_UNIT = re.compile(r"^\s*([+-]?\d[\d.,]*)(\s*)(°\s?[CF]|[^\d\s.,+-]\S*)\s*$")
#: a number written as a percentage (``12.5%``, ``-3,2 %``): the number
_PERCENT = re.compile(r"^\s*([+-]?[\d.,\s]*\d)\s*%\s*$")
#: a length of time as pandas writes one (``0 days 00:05:32``, ``2 days 01:00:00.5``)
_DAYS = re.compile(r"^\s*(\d+) days? (\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)\s*$")
#: a length of time written as hours, minutes and seconds (``0:05:32``, ``27:10``)
_HOURS = re.compile(r"^\s*(\d+):([0-5]\d)(?::([0-5]\d))?\s*$")


def unformatted(values, column, source, mark=None, unit=None):
    """A column's numbers as exported (``$1,234.50``, ``1.234,50``, ``12.5%`` as 12.5, ``20 ms``) read as
    plain numbers, other cells unchanged; the decimal mark read (``mark``: the one learned on the training
    file) and the unit (``unit``: the one learned; None: none, or the one most cells are written in).
    Lengths of time written as such are hours: a column stored as such (Parquet, a DataFrame), or written as
    pandas writes one (``0 days 00:05:32``), or as ``0:05:32`` under a header that says length of time."""
    if pd.api.types.is_timedelta64_dtype(values):
        return values.dt.total_seconds() / 3600, None, None
    if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
        cells = [c for c in pd.unique(values.dropna()) if isinstance(c, str)]
        plain = {c: m.group(1) for c in cells if (m := _PERCENT.match(c))}
        plain.update(
            {
                c: str(int(m[1]) * 24 + int(m[2]) + int(m[3]) / 60 + float(m[4]) / 3600)
                for c in cells
                if (m := _DAYS.match(c))
            }
        )
        if is_duration(column):  # a call's 0:05:32, a job's 27:10:00: hours
            plain.update(
                {c: str(int(m[1]) + int(m[2]) / 60 + int(m[3] or 0) / 3600) for c in cells if (m := _HOURS.match(c))}
            )
        if plain:  # each distinct cell matched once; a cell that is no text (a number from Excel) kept as it is
            values = values.map(lambda v: plain.get(v, v) if isinstance(v, str) else v)
        elif cells:
            values, mark, unit = _measures(values, cells, column, source, mark, unit)
    return (*_as_numbers(values, mark, column, source), unit)


def _as_numbers(values, mark, column, source):
    """:func:`gmm_apps.number_text.as_numbers`, a column that cannot show its decimal mark refused naming it."""
    try:
        return as_numbers(values, mark=mark)
    except ValueError as exc:
        hint = DECIMAL_MARK_HINT if "could group" in str(exc) else ""
        raise DataError(f"{source}: column {column!r}: {exc}{hint}") from None


def _measures(values, cells, column, source, mark, unit):
    """``values`` with each cell of a number and its unit (``cells``: the distinct ones) as its number in
    ``unit``, or, when ``unit`` is None and every cell is a number, most with one unit, in that unit (None:
    none, and ``values`` unchanged); the decimal mark; the unit."""
    found = {c: (m[1], m[3]) for c in cells if (m := _WITH_UNIT.match(c)) and (m[2] or _known_unspaced(m[3]))}
    found = {c: nu for c, nu in found.items() if not currencies([nu[1]])}  # 12.50 EUR: an amount, read as such
    if not found:
        return values, mark, unit
    learning = unit is None
    if learning:
        if (
            len(found) < len(cells)
            and pd.to_numeric(pd.Series([c for c in cells if c not in found]), errors="coerce").isna().any()
        ):
            return values, mark, None  # text besides: no column of measures
        written = values[values.isin(list(found))].map(lambda c: found[c][1])
        unit = written.value_counts().index[0]
        if any(not _convertible(u, unit) for u in written.unique()):
            return values, mark, None  # '3 apples', '4 pears': words, not units
    numbers, read = _as_numbers(pd.Series([n for n, _ in found.values()], dtype=object), mark, column, source)
    mark = read or mark
    plain = {}
    for (c, (_, u)), x in zip(found.items(), numbers):
        if not _convertible(u, unit):
            raise DataError(
                f"{source}: column {column!r} holds {c!r}, in {u}, where the model learned {unit}; write the "
                f"column in {unit}, or fit a model on this file"
            )
        plain[c] = repr(_converted(float(x), u, unit))
    if learning:
        written = ", ".join(sorted({u for _, u in found.values()}))
        logger.info("%s: column %r: numbers with their unit (%s), read in %s", source, column, written, unit)
    return values.map(lambda v: plain.get(v, v) if isinstance(v, str) else v), mark, unit


def _known_unspaced(u):
    """Whether a unit written without a space is one (``20ms``, ``3.2GiB``, ``5s``): one of two letters or more
    the table knows, or the time's ``s``, ``h``, ``d``; not ``A`` or ``B`` (``101A``, a flat, is no current)."""
    return u in _UNITS and (len(u) > 1 or u in "shd")


def _convertible(u, unit):
    """Whether a number in ``u`` can be written in ``unit``: the same unit, or two of one kind (ms and s)."""
    return u == unit or (u in _UNITS and unit in _UNITS and _UNITS[u][2] == _UNITS[unit][2])


def _converted(x, u, unit):
    """``x`` in ``u``, written in ``unit``."""
    if u == unit:
        return x
    f, o, _ = _UNITS[u]
    g, p, _ = _UNITS[unit]
    return (f * x + o - p) / g
