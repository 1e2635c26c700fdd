"""The answers a file may carry beside its features: labels (which records are anomalies, for evaluation only)
and an analyst's verdicts (used to fit). Which column holds the labels, and how both are read."""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DataError

logger = logging.getLogger("gmm_apps.anomaly")

#: verdicts and labels written as words (any case; spaces and hyphens as underscores), as spreadsheets and case
#: tools write them: yes / no, true / false, and an analyst's findings (Fraud / Legit, Confirmed / False
#: positive, TP / FP, Anomaly / Normal ...; in German, French and Spanish too)
VERDICT_WORDS = {
    **dict.fromkeys(("yes", "y", "true"), 1.0),
    **dict.fromkeys(("no", "n", "false"), 0.0),
    **dict.fromkeys(("fraud", "fraudulent", "confirmed", "confirmed_fraud", "true_positive", "tp"), 1.0),
    **dict.fromkeys(("anomaly", "anomalous", "outlier", "malicious", "positive"), 1.0),
    **dict.fromkeys(("betrug", "fraude"), 1.0),
    **dict.fromkeys(("legit", "legitimate", "genuine", "not_fraud", "no_fraud", "non_fraud", "false_positive"), 0.0),
    **dict.fromkeys(("fp", "normal", "benign", "inlier", "negative", "not_anomaly", "not_an_anomaly"), 0.0),
    **dict.fromkeys(("cleared", "dismissed", "confirmed_legitimate", "confirmed_genuine"), 0.0),  # an alert closed
    **dict.fromkeys(("kein_betrug", "pas_de_fraude", "no_fraude", "légitime", "legitime", "legítimo"), 0.0),
}
_WORD_GAPS = re.compile(r"[\s\-]+")

#: a header naming the answers, once case, spaces and punctuation are set aside: outlier, Class, label, target,
#: is_anomaly, isFraud (credit-card and payment benchmarks), fraudulent, anomaly_label, ground truth; not
#: isFlaggedFraud (a system's own flag)
_LABEL_NAME = re.compile(r"(is)?(outliers?|class|labels?|target|anomal(y|ies|ous)|fraud(ulent)?)(labels?)?|groundtruth")


def parse_verdicts(column):
    """Verdicts as floats (1.0, 0.0, NaN for unknown) and the position of the first value that is none of
    1, 0 (or :data:`VERDICT_WORDS`) or empty (None if every value is one of them)."""
    text = column.astype(object).map(lambda v: _WORD_GAPS.sub("_", v.strip().lower()) if isinstance(v, str) else v)
    num = pd.to_numeric(text.map(lambda v: VERDICT_WORDS.get(v, v) if isinstance(v, str) else v), errors="coerce")
    num = num.to_numpy(dtype=float)
    blank = column.isna().to_numpy() | (column.astype(str).str.strip() == "").to_numpy()
    bad = ~blank & ~np.isin(num, (0.0, 1.0))
    return np.where(blank, np.nan, num), (int(np.flatnonzero(bad)[0]) if bad.any() else None)


def read_verdicts(column, name, source, *, rows=None):
    """The verdicts of ``data.verdict_column`` (:func:`parse_verdicts`); any other value is an error naming it."""
    verdicts, bad = parse_verdicts(column)
    if bad is not None:
        raise DataError(
            f"{source}: column {name!r} (data.verdict_column) has {_shown(column.iloc[bad])} at data row "
            f"{bad + 1 if rows is None else rows[bad]}; expected 1, yes or fraud (confirmed anomaly), 0, no or false positive (confirmed normal) or empty "
            "(unknown)"
        )
    return verdicts


def join_verdicts(df, data, source):
    """``df`` with the verdicts of the table ``data.verdicts`` (a case tool's export) in column ``data.verdict_name``,
    matched by record id (ids compared as text: ``17`` and ``17.0`` are one); records it does not name are unknown
    (empty). The table's ids are its ``data.id_column`` column, or else the one column most of whose values are
    ids of ``df`` (a case tool's ``Transaction ID``), logged. Records without an id column (``data.id_column``
    null, or its default not in the file) are named by their place in the file, as ``scores.csv`` names them
    (its ``id`` column, so an analyst's verdicts written beside a run's scores are read back). Its rows that name
    no record of ``df`` are counted in the log; an id given two different verdicts, or a verdict column the
    records already hold, is an error."""
    idc, name, path = data.id_column, data.verdict_name, data.verdicts
    by_place = idc is None or (idc not in df.columns and "id_column" not in data.model_fields_set)
    if not by_place and idc not in df.columns:
        raise DataError(f"{source}: column {idc!r} (data.id_column) not found; data.verdicts names records by it")
    if name in df.columns:
        raise DataError(
            f"{source}: the records hold a column {name!r} and data.verdicts ({path}) gives verdicts in one of that "
            "name; rename one, or leave data.verdicts out to read the records' own column"
        )
    stat = Path(path).stat()
    table = _verdict_table(str(path), (stat.st_size, stat.st_mtime_ns))
    if name not in table.columns:
        raise DataError(
            f"{path}: column {name!r} (data.verdict_column) not found; columns are {', '.join(table.columns)}; name "
            "the column of verdicts with data.verdict_column"
        )
    keys = (pd.Series(df.index, index=df.index) if by_place else df[idc]).map(_id_text)
    own = "id" if by_place else idc  # scores.csv's column of records named by their place
    ids = own if own in table.columns else _id_column_of(table, name, set(keys.dropna()), path, own)
    if by_place:
        logger.info("%s: the records have no id column: column %r names them by their place in %s", path, ids, source)
    verdicts, bad = parse_verdicts(table[name])
    if bad is not None:
        raise DataError(
            f"{path}: column {name!r} (data.verdict_column) has {_shown(table[name].iloc[bad])} at data row "
            f"{bad + 1}; expected 1, yes or fraud (confirmed anomaly), 0, no or false positive (confirmed normal) or empty "
            "(unknown)"
        )
    given = pd.DataFrame({"id": table[ids].map(_id_text), "v": verdicts}).dropna()
    twice = given.groupby("id")["v"].nunique()
    if (twice > 1).any():
        raise DataError(f"{path}: record {twice[twice > 1].index[0]!r} has two different verdicts; keep one")
    by_id = given.drop_duplicates("id").set_index("id")["v"]
    found = keys.isin(by_id.index)
    missing = sorted(set(by_id.index) - set(keys))
    logger.info(
        "%s: %d verdicts (%d confirmed anomalies) for %d of the records of %s%s",
        path,
        len(by_id),
        int((by_id == 1).sum()),
        int(found.sum()),
        source,
        f"; {len(missing)} name records not there (e.g. {missing[0]!r})" if missing else "",
    )
    return df.assign(**{name: keys.map(by_id).where(found)})


def _id_column_of(table, name, ids, path, idc):
    """The column of a table of verdicts naming the records: of the columns beside the verdicts, the one holding
    the most ids of the records (logged; a table that grows with each batch names many records not in this one);
    refused when none holds any, or two hold as many."""
    hits = {c: int(table[c].dropna().map(_id_text).isin(ids).sum()) for c in table.columns if c != name}
    best = max(hits.values(), default=0)
    fits = [c for c, n in hits.items() if n == best]
    if best == 0 or len(fits) > 1:
        raise DataError(
            f"{path}: no column {idc!r} (data.id_column) to name the records by, and "
            + ("no column holds their ids" if best == 0 else f"columns {', '.join(map(repr, fits))} hold as many")
            + f"; columns are {', '.join(table.columns)}; give the table a column {idc!r} of the records' ids"
        )
    logger.info("%s: column %r names the records (%d of its values are their ids)", path, fits[0], best)
    return fits[0]


@functools.lru_cache(maxsize=4)
def _verdict_table(path, stamp):
    """A table of verdicts as text (read once per file version, ``stamp``, for records scored in blocks)."""
    from ...tabular import read_table  # reason: only with a table of verdicts

    return read_table(path, dtype=str)


def _id_text(v):
    """A record id as text, for matching: a whole number read as a float (``17.0``) as ``17``."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    t = str(v).strip()
    return t[:-2] if t.endswith(".0") and t[:-2].lstrip("-").isdigit() else t


def read_labels(df, name, source, *, rows=None):
    """The labels in column ``name`` of ``df`` (None without one) as integers: 1 (or yes, true) an anomaly,
    0 (or no, false) or empty a normal record. Any other value is an error naming it: -1 and 1 (scikit-learn's
    convention, where -1 is the outlier) or a class name would otherwise be read as answers they are not."""
    if name is None:
        return None
    if name not in df.columns:
        _check_case(df, name, source)
        return None
    column = df[name]
    labels, bad = parse_verdicts(column)
    if bad is not None:
        raise DataError(
            f"{source}: column {name!r} (data.label_column) has {_shown(column.iloc[bad])} at data row "
            f"{bad + 1 if rows is None else rows[bad]}; "
            "expected 1 (or yes, true) for an anomaly and 0 (or no, false) for a normal record; write the labels "
            "that way, or set data.label_column: null to evaluate nothing"
        )
    return np.nan_to_num(labels, nan=0.0).astype(int)


def label_column(df, name, source, *, taken=()):
    """The column holding the labels, or None: ``name`` is ``data.label_column``.

    ``auto`` takes the one column, not among ``taken`` (the id and verdict columns, and those named in
    ``data.columns``), whose header names the answers (:data:`_LABEL_NAME`) and whose every value is 0 or 1
    (yes / no, true / false, empty): left in, it would be fitted as a feature, and the rare anomalies would be
    found by their label. A name differing from a column only by case is an error (that column would otherwise
    be read as a feature); an explicit name absent from the file is kept, as the labels may come with the
    records scored later only."""
    if name is None:
        return None
    if name != "auto":
        if name not in df.columns:
            _check_case(df, name, source)
        return name
    found = label_candidates(df, taken)
    if len(found) > 1:
        raise DataError(
            f"{source}: columns {found[0]!r} and {found[1]!r} both look like labels (0 or 1 under a label's name); "
            f"set data.label_column to the one that marks the anomalies, and leave the other out with data.columns"
        )
    if found:
        logger.info(
            "%s: column %r holds 0/1 labels: used to evaluate the scores, never to fit "
            "(data.label_column: auto; set data.label_column: null to fit it as a feature)",
            source,
            found[0],
        )
        return found[0]
    return None


def label_candidates(df, taken=()):
    """The columns of ``df``, not among ``taken``, whose header names the answers (:data:`_LABEL_NAME`) and whose
    every value is 0 or 1 (yes / no, true / false, empty), with at least one filled in."""
    return [
        c
        for c in df.columns
        if c not in taken
        and _LABEL_NAME.fullmatch(re.sub(r"[\W_]+", "", str(c).lower()))
        and df[c].notna().any()
        and parse_verdicts(df[c])[1] is None
    ]


def scored_labels(df, source, taken, said, *, rows=None):
    """The labels of records scored by a model whose reference held none, under ``data.label_column: auto``:
    the one column :func:`label_candidates` finds in ``df`` (outcomes known by the time the records are scored),
    else None. Each ``source`` is logged once (``said``: the sources logged so far, updated)."""
    found = label_candidates(df, taken)
    if source not in said:
        said.add(source)
        if len(found) == 1:
            logger.info(
                "%s: column %r holds 0/1 labels (the reference had none): used to evaluate the scores "
                "(data.label_column: auto)",
                source,
                found[0],
            )
        elif found:
            logger.warning(
                "%s: columns %s all look like labels (0 or 1 under a label's name); none is used to evaluate the "
                "scores: set data.label_column to the one that marks the anomalies",
                source,
                ", ".join(map(repr, found)),
            )
    return read_labels(df, found[0], source, rows=rows) if len(found) == 1 else None


def _check_case(df, name, source):
    """A label column named with another case than the file's is an error (nothing would be evaluated, or in the
    file learned from, the column would be fitted as a feature)."""
    near = [c for c in df.columns if str(c).lower() == str(name).lower()]
    if near:
        raise DataError(
            f"{source}: column {name!r} (data.label_column) not found, but {near[0]!r} is; "
            f"set data.label_column: {near[0]} (or null)"
        )


def _shown(cell):
    """A cell as a message shows it: the same text whatever type the reader chose (``'-1'``, not ``np.int64(-1)``)."""
    return repr(str(cell))
