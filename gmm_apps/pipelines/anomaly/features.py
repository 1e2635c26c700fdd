"""Features of records: which columns are features, and the encoding (numbers, times of day, one-hot categories)
applied to every file."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...currency import currencies
from ...errors import DataError
from ...number_text import no_value
from .amounts import running_balances, split_amounts
from .answers import label_column, read_labels, read_verdicts, scored_labels
from .clocks import clock_columns, hour_of_day, time_columns
from .data import EXTREME, BadValueError, ExtremeValueError, category_text, data_rows, shown_columns
from .frequencies import counts_of, feature_name, how_common, mostly_once, too_many_values
from .groups import feature_name as group_feature
from .groups import learn_groups, relative, usual_name
from .units import unformatted

logger = logging.getLogger("gmm_apps.anomaly")

__all__ = ["EXTREME", "Records", "Schema"]


@dataclass
class Records:
    """Feature matrix with ids and optional labels.

    Attributes
    ----------
    X : ndarray of shape (n, d)
    ids : ndarray of shape (n,)
    labels : ndarray of shape (n,) or None
    features : list of str
    verdicts : ndarray of shape (n,) or None
        1.0 = confirmed anomaly, 0.0 = confirmed normal, NaN = unknown; None without a verdict column.
    context : dict of str to ndarray, or None
        What scores.csv shows beside each record's score: with data.group_column, each numeric column's usual
        value in the record's group.
    frame : DataFrame or None
        The columns of the rows as read that the report shows beside the top anomalies (values as written:
        dates and descriptions that are no features included; ids, labels and verdicts aside).
    """

    X: np.ndarray
    ids: np.ndarray
    labels: np.ndarray | None
    features: list
    verdicts: np.ndarray | None = None
    context: dict | None = None
    frame: pd.DataFrame | None = field(default=None, compare=False, repr=False)


class Schema:
    """Which columns are features, how categorical columns are one-hot encoded.

    Learned on the training file and applied unchanged to every file scored later.
    """

    def __init__(
        self,
        numeric,
        categories,
        id_column,
        label_column,
        missing="error",
        verdict_column=None,
        marks=None,
        times=(),
        epochs=None,
        zero_blank=(),
        label_auto=False,
        units=None,
        frequencies=None,
        groups=None,
        measures=None,
    ):
        self.missing = missing
        #: data.group_column's statistics (:func:`.groups.learn_groups`), with ``column``: its name
        self.groups = dict(groups) if groups else None
        #: categorical columns with more values than one-hot takes: each value's count in the reference records
        self.frequencies = {k: dict(v) for k, v in (frequencies or {}).items()}
        #: the currency each numeric column's cells showed (``EUR`` for ``€12.50``): a file in another is refused
        self.units = dict(units or {})
        #: the unit each numeric column written with one is read in (``ms`` for ``20 ms``; :mod:`.units`)
        self.measures = dict(measures or {})
        #: data.label_column was auto and the reference held no labels: a file scored later may (:func:`.scored_labels`)
        self.label_auto = bool(label_auto)
        self._said = set()
        #: numeric columns whose empty cells are 0: one amount written in two columns (:func:`.amounts.split_amounts`)
        self.zero_blank = list(zero_blank)
        #: columns of time stamps (or times): each becomes its hour of day
        self.times = list(times)
        #: those of them written as Unix time stamps, and their unit ('s', 'ms', 'us', 'ns')
        self.epochs = dict(epochs or {})
        #: the decimal mark of each numeric column written as formatted text ('.' or ','), read the same way later
        self.marks = dict(marks or {})
        self.verdict_column = verdict_column
        self.numeric = list(numeric)
        self.categories = {k: list(v) for k, v in categories.items()}
        self.id_column = id_column
        self.label_column = label_column

    @property
    def features(self):
        return (
            self.numeric
            + [f"{c} (hour of day)" for c in self.times]
            + [f"{c}={v}" for c, vals in self.categories.items() for v in vals]
            + [feature_name(c) for c in self.frequencies]
            + ([group_feature(c, self.groups["column"]) for c in self.groups["columns"]] if self.groups else [])
        )

    @classmethod
    def learn(cls, df, cfg, source):
        if len(df) == 0:
            raise DataError(f"{source}: no records (only a header?)")
        idc = _id_column(df, cfg, source)
        verdict = cfg.verdict_name
        lab = label_column(df, cfg.label_column, source, taken=(idc, verdict, *(cfg.columns or ())))
        if verdict is not None and verdict not in df.columns:
            near = [c for c in df.columns if str(c).lower() == str(verdict).lower()]
            raise DataError(
                f"{source}: column {verdict!r} (data.verdict_column) not found"
                + (
                    f", but {near[0]!r} is; set data.verdict_column: {near[0]}"
                    if near
                    else f"; columns are {', '.join(map(str, df.columns))}; name one of them, or set "
                    "data.verdict_column: null"
                )
            )
        if cfg.group_column is not None and cfg.group_column not in df.columns:
            raise _not_found(source, [cfg.group_column], df.columns, key="data.group_column")
        cols = _feature_columns(df, cfg, source, idc=idc, lab=lab, verdict=verdict)
        if not cols:
            raise DataError(f"{source}: no feature columns; set data.columns")
        times, dates, epochs = time_columns(df, cols, source, named=bool(cfg.columns))
        features = [c for c in cols if c not in dates]
        values, marks, units, measures, categories, frequencies, wide = _read_columns(df, features, times, cfg, source)
        numeric, left = list(values), []
        zero_blank = split_amounts(df, numeric, source)
        if not cfg.columns:  # where an account stood, when a record came: not how unusual it is
            left = running_balances(values, zero_blank, source)
            left += clock_columns(values, source, row_ids=[c for c in numeric if _row_counter(df[c])])
            numeric = [c for c in numeric if c not in left]
            _warn_of_row_ids(df, numeric, source)  # time stamps, clocks and balances aside: they are not scored
            marks = {c: m for c, m in marks.items() if c not in left}
            units = {c: u for c, u in units.items() if c not in left}
            measures = {c: u for c, u in measures.items() if c not in left}
        if wide:  # the data.columns offered leave out what is left out unasked
            kept = [c for c in features if c not in left]
            raise too_many_values(source, wide, kept, cfg, df, named=idc is not None)
        if not (numeric or times or categories or frequencies):
            raise DataError(f"{source}: no feature columns; set data.columns")
        label_auto = cfg.label_column == "auto" and lab is None
        groups = None
        if cfg.group_column and not numeric:
            raise DataError(
                f"{source}: data.group_column {cfg.group_column!r} measures numeric features against their group, "
                "and none is numeric; name a numeric column in data.columns, or set data.group_column: null"
            )
        if cfg.group_column:
            keys = category_text(df[cfg.group_column])
            filled = {c: np.nan_to_num(values[c]) if c in zero_blank else values[c] for c in numeric}  # as scored
            groups = {"column": cfg.group_column, **learn_groups(keys, filled)}
        return cls(
            *(numeric, categories, idc, lab, cfg.missing, verdict, marks, times, epochs, zero_blank, label_auto),
            units,
            frequencies,
            groups,
            measures,
        )

    def _numbers(self, df, c, source, rows):
        """Column ``c``'s numbers, read as the reference's were; a bad or extreme value is an error naming its
        row (an empty one is missing with ``data.missing: marginalize``)."""
        if c in self.units:
            _same_currency(df[c], c, self.units[c], source)
        empty = no_value(df[c])  # an empty cell, or one written '?', '-', '#N/A' ...
        cells = df[c].mask(empty) if empty.any() and not pd.api.types.is_numeric_dtype(df[c]) else df[c]
        read = unformatted(cells, c, source, self.marks.get(c), self.measures.get(c))[0]
        v = pd.to_numeric(read, errors="coerce").to_numpy(dtype=float)
        if c in self.zero_blank:
            v = np.where(empty, 0.0, v)
        bad = ~np.isfinite(v)
        if self.missing == "marginalize":  # an empty value is missing; other text or infinity is still an error
            bad &= ~empty
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadValueError(source, c, df[c].iloc[i], int(rows[i]))
        big = np.abs(v) > EXTREME
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise ExtremeValueError(source, c, df[c].iloc[i], int(rows[i]))
        return v

    def records(self, df, source, *, shown=False):
        """Encode a frame into :class:`Records` (the same columns as at training); ``shown``: keep the columns of
        it a report shows (:attr:`Records.frame`). Without ``data.id_column`` a record's id is its place in the
        file, from 0 (its :func:`.data.data_rows` less 1; a Dask partition's are its own, shifted by the caller)."""
        group = [self.groups["column"]] if self.groups else []
        used = [*self.numeric, *self.times, *self.categories, *self.frequencies, *group]
        missing = [c for c in used if c not in df.columns]
        if missing:
            raise _not_found(source, missing, df.columns)
        if self.id_column and self.id_column not in df.columns:
            raise DataError(
                f"{source}: column {self.id_column!r} (data.id_column, the records' ids) not found; columns are "
                f"{', '.join(map(str, df.columns))}; add the ids to the file"
            )
        marginalize = self.missing == "marginalize"
        rows = data_rows(df)
        numbers = {c: self._numbers(df, c, source, rows) for c in self.numeric}
        parts = [numbers[c][:, None] for c in self.numeric]
        for c in self.times:
            v = hour_of_day(df[c], unit=self.epochs.get(c))
            bad = np.isnan(v) & (df[c].notna().to_numpy() if marginalize else True)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise BadValueError(source, c, df[c].iloc[i], int(rows[i]))
            parts.append(v[:, None])
        for c, vals in self.categories.items():
            s = category_text(df[c]).to_numpy()
            block = np.stack([(s == v).astype(float) for v in vals], axis=1)
            _warn_of_new_values(df[c], block, c, len(vals), source)
            if marginalize:
                block[df[c].isna().to_numpy()] = np.nan
            parts.append(block)
        for c, counts in self.frequencies.items():
            parts.append(how_common(df[c], counts, c, source, marginalize=marginalize)[:, None])
        context = None
        if self.groups:
            z, centre = relative(category_text(df[self.groups["column"]]), numbers, self.groups)
            parts.append(z)
            context = {usual_name(c, self.groups["column"]): centre[:, j] for j, c in enumerate(self.groups["columns"])}
        X = np.hstack(parts) if parts else np.zeros((len(df), 0))
        if marginalize and X.shape[1]:
            empty = np.isnan(X).all(axis=1)
            if empty.any():
                i = int(np.flatnonzero(empty)[0])
                raise DataError(f"{source}: data row {rows[i]} has no value in any feature column; drop it")
        ids = df[self.id_column].to_numpy() if self.id_column else rows - 1
        if self.label_auto:
            taken = (
                self.id_column,
                self.verdict_column,
                *self.numeric,
                *self.times,
                *self.categories,
                *self.frequencies,
            )
            labels = scored_labels(df, source, taken, self._said, rows=rows)
        else:
            labels = read_labels(df, self.label_column, source, rows=rows)
        verdicts = None
        if self.verdict_column and self.verdict_column in df.columns:
            verdicts = read_verdicts(df[self.verdict_column], self.verdict_column, source, rows=rows)
        if not shown:
            return Records(X, ids, labels, self.features, verdicts, context)
        return Records(X, ids, labels, self.features, verdicts, context, frame=df[self.shown_columns(df)])

    def shown_columns(self, df):
        """The columns of ``df`` shown beside a record (:func:`.data.shown_columns`): those scored first."""
        scored = {*self.numeric, *self.times, *self.categories, *self.frequencies}
        return shown_columns(df, scored, aside={self.id_column, self.label_column, self.verdict_column})

    def to_dict(self):
        d = {
            "numeric": self.numeric,
            "categories": self.categories,
            "category_order": list(self.categories),  # a model file's header sorts an object's keys
            "id_column": self.id_column,
            "label_column": self.label_column,
            "missing": self.missing,
        }
        if self.verdict_column:  # a schema without verdicts is written as before them
            d["verdict_column"] = self.verdict_column
        if self.marks:  # likewise a schema of plain numbers
            d["marks"] = self.marks
        if self.units:  # and one of numbers without currency
            d["units"] = self.units
        if self.measures:  # or units
            d["measures"] = self.measures
        if self.times:  # and one without times of day
            d["times"] = self.times
        if self.epochs:
            d["epochs"] = self.epochs
        if self.zero_blank:
            d["zero_blank"] = self.zero_blank
        if self.label_auto:
            d["label_auto"] = True
        if self.groups:
            d["groups"] = self.groups
        if self.frequencies:
            d["frequencies"] = self.frequencies
            d["frequency_order"] = list(self.frequencies)  # as category_order
        return d

    @classmethod
    def from_dict(cls, d, features=None):
        """The schema :meth:`to_dict` wrote; ``features`` (the feature names saved beside it) orders the
        categorical columns of a schema written before ``category_order``."""
        return cls(
            d["numeric"],
            _in_written_order(d["categories"], d.get("category_order"), features),
            d["id_column"],
            d["label_column"],
            d.get("missing", "error"),
            d.get("verdict_column"),
            d.get("marks"),
            d.get("times", ()),
            d.get("epochs"),
            d.get("zero_blank", ()),
            d.get("label_auto", False),
            d.get("units"),
            {c: d["frequencies"][c] for c in d.get("frequency_order", ())},
            d.get("groups"),
            d.get("measures"),
        )


def _read_columns(df, columns, times, cfg, source):
    """What each column that is not a time is: numbers (their values, the decimal mark, currency and unit their
    cells showed) or categories (one-hot: their values; many: their counts, with data.many_categories: frequency;
    else ``wide``, refused by the caller)."""
    values, marks, units, measures, categories, frequencies, wide = {}, {}, {}, {}, {}, {}, {}
    for c in (c for c in columns if c not in times):
        s = df[c]
        numbers, mark, unit = _numeric_column(s, c, source, None if cfg.decimal_mark == "auto" else cfg.decimal_mark)
        if numbers is not None:
            values[c] = numbers
            if mark is not None:  # kept, so that every file scored later is read the same way
                marks[c] = mark
            if unit is not None:  # likewise the unit its numbers are read in (20 ms; 4.2 s is 4,200 of them)
                measures[c] = unit
            if code := _currency_of(s):
                units[c] = code
            continue
        if cfg.categorical == "reject":
            raise DataError(
                f"{source}: column {c!r} is not numeric (e.g. {s.dropna().iloc[0]!r}); "
                "remove it from data.columns or set data.categorical: onehot"
            )
        vals = sorted(category_text(s.dropna()).unique())
        if len(vals) <= cfg.max_categories:
            categories[c] = vals
        elif cfg.many_categories == "frequency" and not mostly_once(counts := counts_of(s)):
            frequencies[c] = counts
        else:
            wide[c] = vals
    return values, marks, units, measures, categories, frequencies, wide


def _not_found(source, missing, columns, *, key="used by the model"):
    """The error for feature columns the model was fitted on that a file scored later lacks: all of them, and
    for each one spelled another way in the file (case, spaces) that spelling, else the file's columns."""
    squeezed = {re.sub(r"[\s_]+", "", str(c)).lower(): str(c) for c in columns}
    near = {c: squeezed.get(re.sub(r"[\s_]+", "", str(c)).lower()) for c in missing}
    named = ", ".join(repr(str(c)) for c in missing)
    said = f"{source}: column{'s' if len(missing) > 1 else ''} {named} ({key}) not found"
    if all(near.values()):
        renames = ", ".join(f"{v!r} to {str(c)!r}" for c, v in near.items())
        return DataError(f"{said}; the file spells {'them' if len(missing) > 1 else 'it'} otherwise: rename {renames}")
    return DataError(f"{said}; the file's columns are {', '.join(map(str, columns))}")


def _id_column(df, cfg, source):
    """The column ``data.id_column`` names, or None when the file has no such column (the default, ``id``).

    An id column set explicitly must exist; a name that differs from a column only by case is an error either
    way (that column would otherwise be read as a feature).
    """
    name = cfg.id_column
    if name is None or name in df.columns:
        return name
    near = [c for c in df.columns if str(c).lower() == str(name).lower()]
    if near:
        raise DataError(
            f"{source}: column {name!r} (data.id_column) not found, but {near[0]!r} is; "
            f"set data.id_column: {near[0]} (or null)"
        )
    if "id_column" in cfg.model_fields_set:
        raise DataError(
            f"{source}: column {name!r} (data.id_column) not found; columns are "
            f"{', '.join(map(str, df.columns))}; name one of them, or set data.id_column: null"
        )
    return None


def _feature_columns(df, cfg, source, *, idc, lab, verdict):
    """The feature columns: ``data.columns`` (each in the file, none of them empty or the verdicts), or every
    column but the id, label and verdict columns and those never filled in (logged)."""
    if cfg.columns:
        missing = [c for c in cfg.columns if c not in df.columns]
        if missing:
            raise DataError(
                f"{source}: column {missing[0]!r} (data.columns) not found; columns are {', '.join(map(str, df.columns))}"
            )
        cols = list(cfg.columns)
        empty = _empty_columns(df, cols)
        if empty:
            raise DataError(
                f"{source}: column {empty[0]!r} (data.columns) holds no value in any row; leave it out of data.columns"
            )
        for column, key, what in (
            (verdict, "data.verdict_column", "the verdicts"),
            (idc, "data.id_column", "the records' ids"),
            (lab, "data.label_column", "the labels"),
        ):
            if column is not None and column in cols:
                raise DataError(
                    f"{source}: column {column!r} is both a feature (data.columns) and {what} ({key}); "
                    f"{what} are not scored: leave it out of data.columns, or set {key}: null to score it"
                )
    else:
        cols = [c for c in df.columns if c not in (idc, lab, verdict, cfg.group_column)]
        empty = _empty_columns(df, cols)
        if empty:  # a Notes column never filled in, an unnamed one after a trailing separator
            logger.info(
                "%s: column(s) %s hold no value in any row and are left out",
                source,
                ", ".join(repr(str(c)) for c in empty),
            )
            cols = [c for c in cols if c not in empty]
    return cols


def _empty_columns(df, columns):
    """The columns whose every cell is empty (missing, or only spaces)."""

    def empty(s):
        filled = s.dropna()
        if not (pd.api.types.is_object_dtype(filled) or pd.api.types.is_string_dtype(filled)):
            return filled.empty  # numbers and dates: empty only when missing throughout
        return all(isinstance(v, str) and not v.strip() for v in pd.unique(filled))  # stops at a value

    return [c for c in columns if empty(df[c])]


def _numeric_column(s, column, source, mark=None):
    """A column's numbers (float, NaN where empty) when it holds numbers (at least 99% of its values, the rest
    an error naming the row), else None; and the decimal mark of its formatted text, if any (``mark``: the one
    data.decimal_mark names), and the unit its numbers are in, if written (:mod:`.units`)."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float, na_value=np.nan), None, None
    s_raw, marked = s, no_value(s) & s.notna().to_numpy()
    if marked.any():  # '?', '-', '#DIV/0!': no value, as an empty cell (a column of them alone is none of numbers)
        s = s.mask(marked)
    cells, mark, unit = unformatted(s, column, source, mark)
    conv = pd.to_numeric(cells, errors="coerce")
    if not (conv.notna().sum() >= 0.99 * s.notna().sum() and s.notna().any()):
        return None, None, None
    bad = s[conv.isna() & s.notna()]
    if len(bad):
        i = int(bad.index[0])
        raise DataError(f"{source}: column {column!r} has a non-numeric value {s.loc[i]!r} at data row {i + 1}")
    if marked.any():
        shown = ", ".join(repr(v) for v in pd.unique(s_raw[marked].astype(str).str.strip())[:3])
        logger.info("%s: column %r: %d cell(s) written %s hold no value", source, column, int(marked.sum()), shown)
    return conv.to_numpy(dtype=float, na_value=np.nan), mark, unit


def _currencies_in(values):
    """The currencies a column's text shows, each with its first cell (:func:`gmm_apps.currency.currencies`);
    none for numbers."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return {}
    return currencies(pd.unique(values.dropna()))


def _currency_of(values):
    """The one currency a column of text shows (``EUR`` for ``€12.50``, ``USD`` for ``$12.50`` or ``USD 12.50``),
    or None (numbers, or text without a sign or code)."""
    found = _currencies_in(values)
    return next(iter(found)) if len(found) == 1 else None


def _same_currency(values, column, unit, source):
    """Refuse a column in another currency than the model learned: its numbers would be scored as if they were
    amounts in that one (¥1,200 as €1,200)."""
    other = [(c, cell) for c, cell in _currencies_in(values).items() if c != unit]
    if other:
        code, cell = other[0]
        raise DataError(
            f"{source}: column {column!r} holds amounts in {code} (as in {cell!r}); the model learned amounts in "
            f"{unit}; convert them to {unit}, or fit a model on {code} records"
        )


def _in_written_order(categories, order=None, features=None):
    """The categorical columns in the order their one-hot columns were fitted: ``order`` as written, else the
    order of their first one-hot feature among ``features``, else as given (a JSON header written with sorted
    keys gives them alphabetically, which would read one column's values as another's)."""
    if order is not None and sorted(order) == sorted(categories):
        return {c: categories[c] for c in order}
    if features is None:
        return categories
    where = {f: i for i, f in enumerate(features)}
    first = {
        c: min((where.get(f"{c}={v}", len(features)) for v in vals), default=len(features))
        for c, vals in categories.items()
    }
    return dict(sorted(categories.items(), key=lambda kv: first[kv[0]]))


def _warn_of_new_values(values, block, column, known, source):
    """Records whose category the reference never had: they are scored as none of its categories; say so."""
    new = values.notna().to_numpy() & (block.sum(axis=1) == 0)
    if new.any():
        seen = list(dict.fromkeys(values[new].astype(str)))
        logger.warning(
            "%s: column %r has %d record(s) with a value the reference records never had (%s); they are scored "
            "as none of its %d categories",
            source,
            column,
            int(new.sum()),
            ", ".join(repr(v) for v in seen[:3]) + (", ..." if len(seen) > 3 else ""),
            known,
        )


#: a header naming an identifier or a code, whose numbers are labels, not sizes ("CustomerID", "zip code")
_ID_NAME = re.compile(
    r"(^|[\s_.#-])(id|no|nr|num|number|code|zip|zipcode|postcode|account|acct|phone|iban|sku|ean|upc)$", re.IGNORECASE
)


def _whole_numbers(v):
    """Whether a column holds whole numbers only (as an integer column, or floats with missing cells)."""
    if pd.api.types.is_integer_dtype(v):
        return True
    if not pd.api.types.is_float_dtype(v):
        return False
    x = v.dropna().to_numpy()
    return x.size > 0 and bool(np.all(x == np.round(x)))


def _row_counter(v):
    """Whether a column counts the rows: distinct whole numbers in order, in at least 50 rows."""
    return len(v) >= 50 and pd.api.types.is_integer_dtype(v) and v.is_monotonic_increasing and v.is_unique


def _warn_of_row_ids(df, columns, source):
    """Feature columns that would be scored by their size though it means nothing: a row counter
    (distinct whole numbers in order), and whole numbers under a header that names an id or a code."""
    named = []
    for c in columns:
        v = df[c]
        if _row_counter(v):
            logger.warning(
                "%s: column %r looks like a row id (distinct whole numbers in order) and is scored as a feature; "
                "set data.id_column: %s, or list the features in data.columns",
                source,
                c,
                c,
            )
        elif _ID_NAME.search(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(c))) and _whole_numbers(v) and v.nunique() >= 10:
            named.append(c)
    if named:
        keep = ", ".join(str(c) for c in columns if c not in named)
        logger.warning(
            "%s: column(s) %s are named as ids or codes and hold whole numbers, which are scored by their size; "
            "if the size means nothing, leave them out with data.columns: [%s]",
            source,
            ", ".join(repr(str(c)) for c in named),
            keep,
        )
