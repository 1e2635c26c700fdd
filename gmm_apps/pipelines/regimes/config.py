"""Config of the regimes pipeline."""

from __future__ import annotations

from datetime import date
from typing import Literal, Union

from pydantic import Field, field_validator, model_validator

from ...config import EvaluationReport, NComponents, PathData, PipelineConfig, SelectedModel, Section

FEATURE_KINDS = ("log_return", "realized_vol", "drawdown", "momentum", "volume_z")


class RegimesData(PathData):
    """Price data.

    ``source``: 'auto' reads ``path`` when given, otherwise the S&P 500 bundled
    with the ``arch`` package; 'file' a CSV/Parquet file (date column plus a
    price column, or OHLCV); 'yfinance' live Yahoo Finance prices (cached).
    """

    source: Literal["auto", "arch", "file", "yfinance"] = "auto"
    arch_dataset: Literal["sp500", "nasdaq"] = "sp500"
    date_column: str | None = Field(None, description="default: 'Date' or 'date' or the first column")
    price_column: str | None = Field(None, description="default: 'Adj Close', else 'Close', else 'price'")
    volume_column: str | None = Field(None, description="default: 'Volume' when present")
    tickers: list[str] = Field(default_factory=lambda: ["^GSPC"])
    start: date | None = None
    end: date | None = None
    interval: Literal["1d", "1wk", "1mo"] = "1d"
    cache_dir: str = ".gmm_apps_cache"

    @field_validator("tickers", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, str) else v


class FeatureSpec(Section):
    """One feature: ``kind`` and, for windowed features, ``window`` in trading days."""

    kind: Literal["log_return", "realized_vol", "drawdown", "momentum", "volume_z"]
    window: int | None = Field(None, ge=2, le=2520)

    @model_validator(mode="after")
    def _window(self):
        if self.kind in ("realized_vol", "momentum", "volume_z") and self.window is None:
            self.window = {"realized_vol": 21, "momentum": 63, "volume_z": 63}[self.kind]
        if self.kind in ("log_return", "drawdown") and self.window is not None:
            raise ValueError(f"feature {self.kind!r} takes no window")
        return self


class RegimesFeatures(Section):
    """Features built from prices; standardised with training-window statistics only.

    ``use`` lists features as ``{kind, window}`` mappings or ``"kind:window"`` strings.
    """

    use: list[Union[FeatureSpec, str]] = Field(
        default_factory=lambda: [FeatureSpec(kind="log_return"), FeatureSpec(kind="realized_vol", window=21)]
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

    kind: Literal["hmm", "gmm_hmm", "gmm"] = "hmm"
    n_components: NComponents = 3
    criterion: Literal["bic", "aic"] = Field("bic", description="how the number of regimes is chosen from a list")
    n_mix: int = Field(2, ge=1, le=10, description="Gaussians per state for gmm_hmm")
    stickiness: float = Field(100.0, ge=0)
    hmm_iter: int = Field(200, ge=1)
    n_init: int = Field(10, ge=1)


class WalkForward(Section):
    """Walk-forward mode: refit every ``refit_every`` days on an expanding window."""

    enabled: bool = False
    refit_every: int = Field(63, ge=1)
    min_train: int = Field(756, ge=50, description="days in the first training window")


class Split(Section):
    """Training window.  The model is fitted on dates before ``holdout_start``;
    later dates are labelled out of sample (their log-likelihood is reported).
    ``null`` fits on everything."""

    holdout_start: date | None = date(2013, 1, 1)


class RegimesReport(EvaluationReport):
    stability_seeds: int = Field(5, ge=1, le=50, description="seeds compared for label agreement (ARI)")
    bic_candidates: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    labels_from: Literal["smoothed", "filtered"] = "smoothed"


class RegimesConfig(PipelineConfig):
    pipeline: Literal["regimes"] = "regimes"
    data: RegimesData = RegimesData()
    features: RegimesFeatures = RegimesFeatures()
    model: RegimesModel = RegimesModel()
    split: Split = Split()
    walk_forward: WalkForward = WalkForward()
    report: RegimesReport = RegimesReport()
