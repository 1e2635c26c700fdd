"""Config of the speakers pipeline."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from ...config import CovarianceType, DataSection, ModelSection, PipelineConfig, ReportSection, Section, ThresholdSection

FSDD_PATTERN = r"^(?P<digit>\d+)_(?P<speaker>[^_]+)_(?P<take>\d+)$"


class SpeakersData(DataSection):
    """Two sets of recordings: ``enrol`` (who is who) and ``test`` (who spoke).

    Each is a file, a folder (searched recursively) or a glob.  Labels come from
    ``label_from``: 'pattern' applies the regular expression ``pattern`` (with a
    named group ``speaker``) to the file name without extension; 'folder' uses
    the name of the folder holding the file.  Test labels, when found, are used
    for scoring only.
    """

    enrol: str = "datasets/fsdd_sample/enrol"
    test: str | None = "datasets/fsdd_sample/test"
    label_from: Literal["pattern", "folder"] = "pattern"
    pattern: str = FSDD_PATTERN
    sample_rate: int = Field(8000, ge=4000, le=96000)
    claims: str | None = Field(None, description="CSV with columns file, speaker: claims to verify; default: the labels in the test file names")

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v):
        try:
            rx = re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        if "speaker" not in rx.groupindex:
            raise ValueError("needs a named group (?P<speaker>...)")
        return v


class SpeakersFeatures(Section):
    """MFCC framing in milliseconds (so it suits any sample rate), deltas, CMVN, energy VAD."""

    n_mfcc: int = Field(20, ge=4, le=64)
    n_mels: int = Field(40, ge=8, le=128)
    window_ms: float = Field(25.0, gt=5, le=100)
    hop_ms: float = Field(10.0, gt=1, le=50)
    deltas: int = Field(1, ge=0, le=2, description="0: none, 1: deltas, 2: deltas and delta-deltas")
    cmvn: bool = True
    vad_db: float | None = Field(50.0, gt=0, description="keep frames within this many dB of the loudest; null: keep all")


class SpeakersModel(ModelSection):
    """``kind``: 'ubm_map' adapts the means of a universal background model per speaker
    (Reynolds et al. 2000); 'independent' fits one GMM per speaker.  The UBM uses
    ``n_components`` (diagonal covariance); independent models ``speaker_components``."""

    kind: Literal["ubm_map", "independent"] = "ubm_map"
    n_components: int = Field(128, ge=1, description="components of the universal background model (one size)")
    covariance_type: CovarianceType = "diag"
    relevance_factor: float = Field(16.0, gt=0)
    speaker_components: int = Field(16, ge=1)
    n_init: int = Field(1, ge=1)
    max_iter: int = Field(200, ge=1)
    tol: float = Field(1e-3, gt=0)
    reg_covar: float = Field(1e-3, ge=0)


class SpeakersThreshold(ThresholdSection):
    """Open-set decisions: a recording whose best score is below the threshold is
    'unknown'.  With ``method: rate`` the threshold is calibrated on held-out
    enrolment recordings, each scored against the other speakers as an impostor,
    so that at most ``rate`` of impostors would be accepted (the false-acceptance
    rate); ``value`` fixes it instead."""

    rate: float = Field(0.01, gt=0, lt=1, description="share of impostor recordings accepted (false-acceptance rate)")
    calibration_share: float = Field(0.25, gt=0, lt=1, description="share of each speaker's enrolment files held out for calibration")


class SpeakersReport(ReportSection):
    """Report options: ``title`` and ``plots``."""


class SpeakersConfig(PipelineConfig):
    pipeline: Literal["speakers"] = "speakers"
    data: SpeakersData = SpeakersData()
    features: SpeakersFeatures = SpeakersFeatures()
    model: SpeakersModel = SpeakersModel()
    threshold: SpeakersThreshold = SpeakersThreshold()
    report: SpeakersReport = SpeakersReport()

    renamed: ClassVar[dict] = {"decision.target_far": "threshold.rate", "decision.threshold": "threshold.value",
                               "decision.calibration_share": "threshold.calibration_share"}
