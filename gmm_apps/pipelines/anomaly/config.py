"""Config of the anomaly pipeline."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ...config import (
    ChunkedEngineSection,
    CovarianceTypes,
    ModelSection,
    NComponents,
    PathData,
    PipelineConfig,
    ReportSection,
    ThresholdSection,
    check_components,
    expand_components,
    no_demo_beside_own,
    refuse_unread,
)


class AnomalyData(PathData):
    """Records to learn from (``path``) and, optionally, records to score (``score``;
    by default the ``path`` records themselves).  CSV / TSV (plain, gzip or zipped), Parquet, JSON records,
    an Excel ``.xlsx`` / ``.xls`` or OpenDocument ``.ods`` workbook (``sheet``), or ODDS ``.mat`` (arrays ``X`` and ``y``)."""

    path: str = Field(
        "sample:cardio_reference.csv",
        description="reference records to learn from (CSV / TSV, Parquet, Excel, JSON, a Zeek log or ODDS .mat)",
    )
    score: str | None = Field("sample:cardio_new.csv", description="records to score; null scores data.path itself")
    sheet: str | int | list[str | int] | None = Field(
        None,
        description="Excel sheet of a workbook read (data.path, data.score, and files given to apply), by name or "
        "position from 0; a list stacks sheets with the same columns; null: the first sheet shown (hidden ones passed over) holding the columns "
        "the config names (a summary sheet before the data is passed over), else the first holding a table (a README sheet of notes "
        "before it is passed over)",
    )
    id_column: str | None = Field(
        "id",
        description="column naming each record in scores.csv; null: each record's place in its file, from 0 for the "
        "row under the header as pandas counts rows (a message's data row 5 is record 4); the rows left out, such as "
        "a statement's balance rows, keep their places",
    )
    label_column: str | None = Field(
        "auto",
        description="the labels, used to evaluate the scores and never to fit: 1 (or yes, true, fraud) = anomaly, "
        "0 (or no, false, legit, empty) = normal; auto: the column named like one (outlier, label, class, target, anomaly, "
        "is_fraud, ...) holding only such values, if any, in the reference, or, when the reference has none, in "
        "the records scored; null: none (such a column is then a feature)",
    )
    verdict_column: str | None = Field(
        None,
        description="an analyst's verdicts, used to fit: 1 (or yes, true, fraud, confirmed, TP) = confirmed "
        "anomaly, 0 (or no, false, legit, genuine, false positive, FP) = confirmed normal, empty = unknown (null: "
        "none; with data.verdicts, 'verdict'): a column of the records, or of the data.verdicts table",
    )
    verdicts: str | None = Field(
        None,
        description="a table of verdicts by record, as a case tool exports them (CSV / TSV, Excel, Parquet, "
        "JSON): its data.id_column and data.verdict_column columns, joined to the reference records (and to the "
        "records given to apply --update) by id (records without an id column by their place in the file, as "
        "scores.csv's id column names them); records it does not name are unknown; null: none",
    )
    columns: list[str] | None = Field(
        None, min_length=1, description="feature columns; default (null): every other column"
    )
    categorical: Literal["onehot", "reject"] = Field(
        "onehot", description="non-numeric columns: onehot encodes them, reject is an error"
    )
    max_categories: int = Field(
        20,
        ge=2,
        description="a categorical column with more values than this is not one-hot encoded: see many_categories",
    )
    many_categories: Literal["error", "frequency"] = Field(
        "error",
        description="a categorical column with more than max_categories values (merchants, countries, devices): "
        "error names it; frequency scores each record by how common its value was in the reference records (the "
        "values ranked from the most common down, a value they never had one past the rarest), so that a rare "
        "merchant is unusual, in one feature where one-hot would take one per value; a column whose values are mostly seen once (ids, notes) is refused either way",
    )
    group_column: str | None = Field(
        None,
        description="column of each record's group (a card, a customer, a merchant): every numeric feature is "
        "also scored against its group's usual values (the robust z-score from the group's median and spread in "
        "the reference records; a group with fewer than 5 of them, or a new one, against all records), so a $900 "
        "payment odd at a café but ordinary at a jeweller is seen; the column is a feature itself only when named "
        "in data.columns; null: none",
    )
    decimal_mark: Literal["auto", ".", ","] = Field(
        "auto",
        description="the decimal mark of numbers written as text: auto decides it per column (1,234.50 or "
        "1.234,50) and refuses one that cannot tell (1,200 alone); '.' reads commas as thousands, ',' as decimals; "
        "files scored later are read with the mark the reference was",
    )
    missing: Literal["error", "marginalize"] = Field(
        "error",
        description="an empty or NaN numeric value: error refuses the record; marginalize scores it by its "
        "observed features (and the fit uses EM for incomplete data)",
    )

    @property
    def verdict_name(self):
        """The column holding the verdicts once they are read: ``verdict_column``, or 'verdict' for a
        ``verdicts`` table that names none."""
        return self.verdict_column or ("verdict" if self.verdicts else None)

    @model_validator(mode="after")
    def _own_records_are_not_scored_against_the_demo(self):
        """With the reference records a file of your own, the demo records are never what gets scored."""
        return no_demo_beside_own(self, "path", "score", null_means="score data.path itself")


class AnomalyModel(ModelSection):
    """An ensemble of core GMMs on robustly scaled features (median / IQR).

    Views: every K in ``components`` with each covariance type (``seeds``
    random starts each for K > 1, their negative log-densities averaged), one
    1-D mixture per feature with their negative log-densities summed (the
    per-feature view, ``marginal_components``), ``bags`` groups (full
    covariance, K in ``bag_components``) on random halves to all of the
    features, and with many features the distance from the principal
    subspace.  Each view's negative log-density is standardised by its
    training median and IQR; the score is the largest of them (``combine:
    max``) or their mean.  ``trim``: refit once without the highest-scoring
    share of the training data (robust to contaminated references)."""

    components: NComponents = Field(
        default_factory=lambda: [1, 4, 16, 32],
        description="K of the joint views: every K is a view of its own, at most one "
        "component per 10 records (a list, or {min: .., max: ..})",
    )
    marginal_components: int = Field(
        4, ge=0, le=32, description="K (at most) of the per-feature mixtures; 0: no per-feature view"
    )
    combine: Literal["max", "mean"] = Field(
        "max",
        description="the score from the standardised views: the largest "
        "(a record is as unusual as the view that finds it most so) or the mean",
    )
    covariance_type: CovarianceTypes = "diag"
    reg_covar: float = Field(
        0.5,
        gt=0,
        le=1e6,
        description="variance floor in robust-scaled units (above 0: a cluster of records sharing a value, such as a "
        "count that is often 0, would otherwise have no spread in it)",
    )
    seeds: int = Field(8, ge=1, le=100, description="random starts kept for every K > 1")
    bags: int = Field(0, ge=0, le=200, description="extra full-covariance groups on random feature subsets (0: none)")
    bag_components: list[int] = Field(default_factory=lambda: [1, 3, 6], description="K of the bagged members")
    bag_reg_covar: float = Field(
        1.0, ge=0, le=1e6, description="variance floor of the bagged members, in robust-scaled units"
    )
    trim: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="refit once without this share of the highest-scoring reference records (0: no refit)",
    )
    max_iter: int = Field(100, ge=1)
    max_joint_features: int = Field(
        50,
        ge=1,
        description="with more features, the joint mixtures work on the leading "
        "principal components and the distance from them is one more view",
    )
    projection_components: int = Field(
        10,
        ge=1,
        description="at most this many principal components (those "
        "explaining 90% of the variance) when there are more than max_joint_features features",
    )
    max_fit_rows: int | None = Field(
        5_000,
        ge=1000,
        description="each view is fitted on its own random sample of "
        "this many reference records when there are more (all are scored); null: all",
    )

    @field_validator("components")
    @classmethod
    def _check_components(cls, v):
        return check_components(v)

    def member_components(self):
        """The ensemble's K values, sorted."""
        return expand_components(self.components)


class AnomalyThreshold(ThresholdSection):
    """Which records are flagged: at most ``rate`` of the reference records (the expected
    contamination), and about ``rate`` of new records like them, or every record scoring above a fixed
    ``value``. A detector scores records it was not fitted on as more unusual than those it learned
    from: on a reference of 5,000 records or fewer the threshold for new records is set on the
    reference's held-out scores (five folds)."""

    rate: float = Field(
        0.1,
        gt=0,
        lt=0.5,
        description="share of the reference records flagged (expected contamination), and of new records like "
        "them (on a reference of 5,000 records or fewer, their threshold is set on held-out scores of the reference)",
    )


class AnomalyReport(ReportSection):
    top: int = Field(20, ge=1, le=1000, description="anomalies listed with explanations")
    explain: int = Field(3, ge=1, le=20, description="contributing features named per flagged record")


class AnomalyEngine(ChunkedEngineSection):
    """``engine``: where the records are scored, and how many at a time."""

    chunk_rows: int = Field(
        200_000, ge=1000, description="records read and scored at a time (and per Dask partition on engine.kind: dask)"
    )


class AnomalyConfig(PipelineConfig):
    pipeline: Literal["anomaly"] = "anomaly"
    data: AnomalyData = AnomalyData()
    model: AnomalyModel = AnomalyModel()
    threshold: AnomalyThreshold = AnomalyThreshold()
    report: AnomalyReport = AnomalyReport()
    engine: AnomalyEngine = AnomalyEngine()

    renamed: ClassVar[dict] = {
        "data.chunk_rows": "engine.chunk_rows",
        "model.n_components": "model.components",
        "threshold.contamination": "threshold.rate",
        "threshold.fpr": "threshold.rate",
    }
    renamed_values: ClassVar[dict] = {"threshold.method": {"contamination": "rate", "fpr": "rate"}}

    def check_unread_keys(self, where):
        """Refuse the settings of bagged members without bags, and the limit on a categorical column's values
        where such columns are refused (:func:`~gmm_apps.config.refuse_unread`)."""
        super().check_unread_keys(where)
        if not self.model.bags:
            refuse_unread(where, "model", self.model, ("bag_components", "bag_reg_covar"), "with model.bags above 0")
        if self.data.categorical == "reject":
            refuse_unread(
                where, "data", self.data, ("max_categories", "many_categories"), "with data.categorical: onehot"
            )

    retired: ClassVar[dict] = {
        "model.n_init": "random starts are model.seeds (each start is kept as a member of the ensemble)"
    }
