"""Config of the regimes pipeline."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ... import config as shared
from ...config import EvaluationReport, NComponents, PathData, PipelineConfig, Section, SelectedModel
from ...errors import ConfigError

FEATURE_KINDS = ("log_return", "realized_vol", "drawdown", "momentum", "volume_z")


class RegimesData(PathData):
    """Price data.

    ``source``: 'auto' reads ``path`` when given, otherwise the S&P 500 bundled
    with the ``arch`` package; 'file' a CSV / Parquet / Excel / JSON file (date column plus a
    price column, or OHLCV); 'yfinance' live Yahoo Finance prices (cached).  A key that
    only another source reads is refused (:meth:`RegimesConfig.check_unread_keys`).
    """

    #: the keys only one source reads
    SOURCE_KEYS: ClassVar[dict[str, tuple[str, ...]]] = {
        "file": ("date_column", "price_column", "volume_column", "sheet", "series_column", "series", "timezone"),
        "yfinance": ("tickers", "interval", "cache_dir"),
        "arch": ("arch_dataset",),
    }

    def resolved_source(self):
        """'file', 'arch' or 'yfinance': what ``source: auto`` means for this config."""
        return ("file" if self.path else "arch") if self.source == "auto" else self.source

    path: str | None = Field(
        None,
        description="price file (CSV / TSV, Parquet, Excel, JSON) of one series or several (data.price_column, "
        "data.series_column); a folder of files, one a ticker, is run file by file with run --each FOLDER",
    )
    source: Literal["auto", "arch", "file", "yfinance"] = Field(
        "auto", description="auto: data.path if given, else the bundled arch data; arch, file or yfinance"
    )
    arch_dataset: Literal["sp500", "nasdaq"] | Annotated[list[Literal["sp500", "nasdaq"]], Field(min_length=1)] = Field(
        "sp500",
        description="bundled daily prices from the arch package; a list gives several series on their common dates",
    )
    date_column: str | None = Field(
        None,
        description="default: 'Date' (or date, Datetime, timestamp, time), else the first column, else the one "
        "column of dates in order",
    )
    price_column: str | list[str] | None = Field(
        None,
        description="default: 'Adj Close', else 'Close' (or Last, Settle, Price ...), else the close of open/high/"
        "low/close bars, else the one column of numbers; a list reads several price series (the first orders the "
        "regimes)",
    )
    volume_column: str | None = Field(
        None, description="default: 'Volume' (or Investing.com's 'Vol.') when present and every day has one"
    )
    timezone: shared.TimeZone = Field(
        None,
        description="time zone a day is taken in for time stamps with a time of day, e.g. Australia/Sydney "
        "(stamps without an offset, as Unix times, are read as UTC; dates alone stay as written); null: as written",
    )
    series_column: str | None = Field(
        None,
        description="a long file, one row per date and series (date, name, price): the column naming each row's "
        "series; data.series picks which",
    )
    series: str | list[str] | None = Field(
        None,
        description="with data.series_column: the series to read, on their common dates (the first orders the "
        "regimes); null: the file's only series",
    )
    sheet: str | int | list[str | int] | None = Field(
        None,
        description="Excel sheet of a workbook read (data.path, and files given to apply), by name or position from "
        "0; a list stacks sheets with the same columns; null: the first sheet shown (hidden ones passed over) holding the columns the config names "
        "(a summary sheet before the data is passed over), else the first holding a table (a README sheet of notes "
        "before it is passed over)",
    )
    tickers: list[str] = Field(
        default_factory=lambda: ["^GSPC"],
        description="Yahoo Finance tickers for source: yfinance (several: on their common dates; the first orders the regimes)",
    )
    start: date | None = Field(None, description="first date to keep; null: all")
    end: date | None = Field(None, description="last date to keep; null: all")
    interval: Literal["1d", "1wk", "1mo"] = Field(
        "1d",
        description="bar length for yfinance: 1d, 1wk or 1mo (the windows of a weekly or monthly series count its "
        "weeks or months)",
    )
    cache_dir: str = Field(".gmm_apps_cache", description="where yfinance downloads are cached")
    missing: Literal["refuse", "drop"] = Field(
        "refuse",
        description="rows without a price (an empty cell, or '.'): "
        "refuse, or drop them (the next return spans the gap, as over a weekend)",
    )
    nonpositive: Literal["refuse", "drop"] = Field(
        "refuse",
        description="prices at or below zero (e.g. WTI on 2020-04-20): "
        "refuse, or drop those days and the returns across them",
    )
    values: Literal["prices", "levels"] = Field(
        "prices",
        description="prices: positive, their daily log returns are the moves; levels: yields, interest rates, "
        "spreads and other series that may be zero or negative, their daily changes (in the series' own units) "
        "are the moves, and there is no backtest (a level is not an asset's price)",
    )
    repeated: Literal["keep", "drop"] = Field(
        "keep",
        description="a row repeating the previous price (a holiday row "
        "carrying the last close): keep it (a zero return) or drop it",
    )

    @field_validator("tickers", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _series_keys(self):
        if self.series is not None and self.series_column is None:
            raise ValueError("data.series picks series of a long file; set data.series_column (the column naming them)")
        if self.series_column is not None and isinstance(self.price_column, list):
            raise ValueError(
                "data.price_column is a list (one column per series, a wide file) but data.series_column says the "
                "series are in rows (a long file); set one price column, or drop data.series_column"
            )
        return self

    def rules(self):
        """The cleaning rules, as the loaders take them."""
        return {"missing": self.missing, "nonpositive": self.nonpositive, "repeated": self.repeated}

    def reading(self):
        """What the loaders take: the cleaning rules, ``levels`` (zero and below are values, not errors) and the
        ``timezone`` days are taken in."""
        return {**self.rules(), "levels": self.levels, "timezone": self.timezone}

    @property
    def levels(self):
        """Whether the series are levels (yields, rates, spreads), moved by differences, not log returns."""
        return self.values == "levels"


class FeatureSpec(Section):
    """One feature: ``kind`` and, for windowed features, ``window`` in trading days (of a weekly or monthly
    series: the same time in its weeks or months, at least 3)."""

    kind: Literal["log_return", "realized_vol", "drawdown", "momentum", "volume_z", "log_level", "correlation"]
    window: int | None = Field(None, ge=2, le=2520)

    @model_validator(mode="after")
    def _window(self):
        if self.kind in ("realized_vol", "momentum", "volume_z", "correlation") and self.window is None:
            self.window = {"realized_vol": 21, "momentum": 63, "volume_z": 63, "correlation": 63}[self.kind]
        if self.kind in ("log_return", "drawdown", "log_level") and self.window is not None:
            raise ValueError(f"feature {self.kind!r} takes no window")
        return self


class RegimesFeatures(Section):
    """Features built from prices; standardised with training-window statistics only.

    ``use`` lists features as ``{kind, window}`` mappings or ``"kind:window"`` strings.
    """

    use: list[FeatureSpec | str] = Field(
        default_factory=lambda: [FeatureSpec(kind="log_return"), FeatureSpec(kind="realized_vol", window=21)],
        description="features: log_return, realized_vol, drawdown, momentum, volume_z, log_level (of each series) "
        "and correlation (of each further series' returns with the first's), each with an optional window, "
        "as {kind: .., window: ..} or 'realized_vol:21'; windows in trading days (of a weekly or monthly series: "
        "the same time in its weeks or months, at least 3: realized_vol:21 is 4 weeks or 3 months)",
    )

    @field_validator("use", mode="before")
    @classmethod
    def _parse(cls, v):
        if isinstance(v, (str, dict)):
            v = [v]
        if v is not None and not isinstance(v, list):
            raise ValueError(f"expected a list of features like [log_return, realized_vol:21], got {v!r}")
        out = []
        for item in v or []:
            if isinstance(item, str):
                kind, _, w = item.partition(":")
                out.append({"kind": kind, **({"window": int(w)} if w else {})})
            else:
                out.append(item)
        if not out:
            raise ValueError("at least one feature is needed")
        return out

    def specs(self):
        return [f if isinstance(f, FeatureSpec) else FeatureSpec(kind=f) for f in self.use]


class RegimesModel(SelectedModel):
    """Model options.

    ``kind``: 'hmm' a Gaussian HMM seeded from the core GMM (default), 'gmm_hmm'
    an HMM with a mixture per state, 'gmm' the core GMM alone (no dynamics).
    ``stickiness``: Dirichlet pseudo-counts of staying in a regime added to each
    row of the transition matrix (0 = plain maximum likelihood).
    """

    kind: Literal["hmm", "gmm_hmm", "gmm"] = Field(
        "hmm",
        description="hmm (Gaussian HMM seeded by the core GMM), gmm_hmm (a mixture per state) or gmm (no dynamics)",
    )
    n_components: NComponents = 3
    criterion: Literal["bic", "aic"] = Field("bic", description="how the number of regimes is chosen from a list")
    n_mix: int = Field(2, ge=1, le=10, description="Gaussians per state for gmm_hmm")
    stickiness: float = Field(
        100.0,
        ge=0,
        description="pseudo-counts of staying in a regime added to the transition matrix (0: none), in trading "
        "days (of a weekly or monthly series: the same time in its weeks or months)",
    )
    hmm_iter: int = Field(200, ge=1, description="Baum-Welch iterations at most")
    n_init: int = Field(10, ge=1, le=100, description="EM restarts; the best is kept (init kmeans)")
    init: Literal["kmeans", "hierarchical"] = Field(
        "hierarchical",
        description="how the core GMM seeding the regimes starts: kmeans (n_init random k-means starts) or "
        "hierarchical (one Ward clustering, the same start for every seed)",
    )
    ordering: str | None = Field(
        None,
        description="the price series whose volatility orders and names the regimes "
        "(calm first); null: the first series",
    )
    vol_half_life: float | None = Field(
        21.0,
        gt=0,
        le=2520,
        description="half-life in periods (days; weeks or months of a weekly or monthly series) of each regime's "
        "running return variance in the next period's volatility "
        "forecast (vol_forecast, regime volatility targeting); null: the training days' variance of each regime",
    )


class WalkForward(Section):
    """Walk-forward mode: refit every ``refit_every`` days on an expanding window."""

    enabled: bool = Field(False, description="refit on an expanding window, labelling each day only with data up to it")
    refit_every: int = Field(
        63,
        ge=1,
        description="trading days between refits (of a weekly or monthly series: the same time in its weeks or "
        "months, 63 = 13 weeks = 3 months)",
    )
    min_train: int = Field(
        756,
        ge=50,
        description="trading days in the first training window (of a weekly or monthly series: the same time in "
        "its weeks or months, at least 50); walk-forward starts after them, "
        "and not before split.holdout_start when it is set",
    )
    warm_start: bool = Field(
        True,
        description="kind hmm: a refit continues from the model in force, and starts "
        "afresh when the window has grown by half or the market surprised the "
        "model; false: every refit starts afresh",
    )


class Split(Section):
    """Training window.  The model is fitted on dates before ``holdout_start``;
    later dates are labelled out of sample (their log-likelihood is reported).
    ``null`` fits on everything."""

    holdout_start: Literal["auto"] | date | None = Field(
        "auto",
        description="fit on the days before this date, label the rest out of sample; auto: the first of January "
        "nearest 70% of the way through the days (the 70% day itself when that January leaves under 60% or over "
        "80% of them to fit on); null: fit on everything",
    )


class Backtest(Section):
    """A test of use on the out-of-sample days (the holdout, or every walk-forward day): fully invested
    except in the stress regime (``stress_weight``), decided at each close from the filtered label
    and held the next day, against buy-and-hold and volatility targeting (aimed at the first
    asset's volatility on the training days)."""

    enabled: bool = Field(True, description="run the backtest when there are out-of-sample days")
    cost_bps: float = Field(5.0, ge=0, le=1000, description="cost in basis points per unit of turnover")
    stress_weight: float = Field(0.0, ge=0, le=1, description="share invested while the label is the stress regime")
    vol_window: int = Field(
        21,
        ge=5,
        le=252,
        description="periods (days; weeks or months of a weekly or monthly series) of realised volatility for "
        "volatility targeting",
    )
    vol_target: float | None = Field(
        None,
        gt=0,
        le=5,
        description="annual volatility both volatility-targeting rules "
        "aim at (e.g. 0.15); null: the asset's volatility before the test",
    )
    max_leverage: float = Field(
        1.0, gt=0, le=10, description="largest weight a volatility-targeting rule may take (1: at most fully invested)"
    )


class RegimesReport(EvaluationReport):
    stability_seeds: int = Field(5, ge=1, le=50, description="seeds compared for label agreement (ARI)")
    bic_candidates: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], description="K values drawn on the report's BIC / AIC curve"
    )
    labels_from: Literal["smoothed", "filtered"] = Field(
        "smoothed",
        description="label each day by its smoothed (uses later days) or filtered (up to that day) probabilities",
    )


class RegimesConfig(PipelineConfig):
    pipeline: Literal["regimes"] = "regimes"
    data: RegimesData = RegimesData()
    features: RegimesFeatures = RegimesFeatures()
    model: RegimesModel = RegimesModel()
    split: Split = Split()
    walk_forward: WalkForward = WalkForward()
    backtest: Backtest = Backtest()
    report: RegimesReport = RegimesReport()

    def check_unread_keys(self, where):
        """Refuse keys set where the run does not read them (:func:`~gmm_apps.config.refuse_unread`): another data
        source's keys; for levels (yields, rates, spreads), dropping non-positive values, the log of the level and
        the backtest's settings; walk-forward and backtest settings with those off, a mixture per state without
        ``gmm_hmm``, the transition settings of a mixture alone (``gmm``), warm refits outside ``hmm``."""
        super().check_unread_keys(where)
        d, wf, bt, m = self.data, self.walk_forward, self.backtest, self.model
        src = d.resolved_source()
        for other, keys in d.SOURCE_KEYS.items():
            if other != src:
                shared.refuse_unread(where, "data", d, keys, f"with data.source {other} (the prices come from {src})")
        if d.levels:
            shared.refuse_unread(
                where,
                "data",
                d,
                ("nonpositive",),
                "with data.values: prices (levels may be zero or negative, all kept)",
            )
            if any(s.kind == "log_level" for s in self.features.specs()):
                raise ConfigError(
                    f"{where}: feature log_level takes the log of positive prices; with data.values: levels remove "
                    "it from features.use"
                )
            shared.refuse_unread(
                where,
                "backtest",
                bt,
                list(Backtest.model_fields),
                "with data.values: prices (a level is not an asset's price, and is not backtested)",
            )
        if not wf.enabled:
            shared.refuse_unread(
                where,
                "walk_forward",
                wf,
                ("refit_every", "min_train", "warm_start"),
                "in walk-forward (walk_forward.enabled: true)",
            )
        elif m.kind != "hmm":
            shared.refuse_unread(where, "walk_forward", wf, ("warm_start",), "with model.kind: hmm")
        if not bt.enabled:
            shared.refuse_unread(
                where,
                "backtest",
                bt,
                [k for k in Backtest.model_fields if k != "enabled"],
                "with backtest.enabled: true",
            )
        if m.kind != "gmm_hmm":
            shared.refuse_unread(where, "model", m, ("n_mix",), "with model.kind: gmm_hmm (a mixture per regime)")
        if m.kind == "gmm":
            shared.refuse_unread(
                where,
                "model",
                m,
                ("stickiness", "hmm_iter"),
                "with model.kind hmm or gmm_hmm (a mixture alone has no transitions between regimes)",
            )
