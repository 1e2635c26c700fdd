"""Config of the speakers pipeline."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ...config import (
    CovarianceType,
    DataSection,
    ModelSection,
    PipelineConfig,
    ReportSection,
    Section,
    ThresholdSection,
    no_demo_beside_own,
    refuse_unread,
)

#: a set of recordings given as a list of them: a table (Common Voice's train.tsv, a spreadsheet, a Parquet file)
LIST_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".xlsx", ".xls", ".ods", ".parquet", ".json", ".jsonl")


def is_list(spec):
    """Whether ``data.enrol``, ``data.test`` or ``apply``'s input names a list of recordings (a table) rather than
    a recording, a folder or a glob of them."""
    return spec is not None and not any(ch in str(spec) for ch in "*?[") and str(spec).lower().endswith(LIST_SUFFIXES)


FSDD_PATTERN = r"^(?P<digit>\d+)_(?P<speaker>[^_]+)_(?P<take>\d+)$"


class SpeakersData(DataSection):
    """Two sets of recordings: ``enrol`` (who is who) and ``test`` (who spoke).

    Each is a file, a folder (searched recursively) or a glob.  Labels come from
    ``label_from``: 'pattern' applies the regular expression ``pattern`` (with a
    named group ``speaker``) to the file name without extension; 'folder' uses
    the folder directly under the set's folder (or a glob's fixed part) that holds
    the file, however deep (sessions inside each speaker's folder), or the one
    ``speaker_folder`` levels down; 'table' the
    speaker column of a set given as a list of recordings (a dataset's list of clips
    and speakers); 'auto' the list's speakers when the set is a list that has them,
    else the pattern when every file name matches it, else the folders.  Test labels, when found, are used for scoring only.
    """

    enrol: str = Field(
        "sample:fsdd_sample/enrol",
        description="recordings of known speakers: a file, folder or glob, or a list of recordings (a CSV, TSV, "
        "Excel, Parquet or JSON table: data.file_column names each, relative to the table's folder or its clips folder, "
        "as Common Voice's train.tsv does; data.speaker_column its speaker)",
    )
    test: str | None = Field(
        "sample:fsdd_sample/test",
        description="recordings to identify, given as data.enrol is (a list's speakers are used to score only); "
        "null: enrol only",
    )
    label_from: Literal["auto", "pattern", "folder", "table"] = Field(
        "auto",
        description="speaker from the file name (pattern), the folder under data.enrol / data.test holding the file "
        "(folder; data.speaker_folder says how far under), or the speaker column of a list of recordings (table); auto: the list's when the set is "
        "a list with a speaker column, else the pattern when every enrolment file name matches it, else the folders "
        "when every recording sits in one of two or more",
    )
    file_column: str = Field(
        "file",
        description="column naming a recording in a list of recordings (its path from the list's folder or its clips "
        "folder) and in data.claims (its name, or the end of its path)",
    )
    speaker_column: str = Field(
        "speaker", description="column naming the speaker in a list of recordings and in data.claims"
    )
    speaker_folder: Annotated[int, Field(ge=1, le=20)] = Field(
        1,
        description="with speakers from folders: which folder below data.enrol's / data.test's names the speaker; 1 "
        "the first (LibriSpeech's speaker/chapter/file), 2 the second (TIMIT's region/speaker/file)",
    )
    pattern: str = Field(
        FSDD_PATTERN, description="regular expression with a named group 'speaker', matched to the file name"
    )
    sample_rate: Literal["auto"] | Annotated[int, Field(ge=4000, le=96000)] = Field(
        "auto",
        description="rate (Hz) every recording is resampled to; auto: the enrolment recordings' most common "
        "rate (the higher on a tie)",
    )
    channel: Literal["mix"] | Annotated[int, Field(ge=0, le=63)] = Field(
        "mix",
        description="mix: a recording's channels averaged; a number: that channel alone, from 0, of every recording "
        "with several (a call recorded with the agent on one channel and the caller on the other; a mono recording "
        "is read as it is)",
    )
    unreadable: Literal["error", "skip"] = Field(
        "error",
        description="a recording no reader can open (a broken download, a text file named .wav): error stops the "
        "run; skip leaves it out (its header read first, or found cut short as it is read) and lists it in the log and summary.json "
        "(skipped)",
    )
    claims: str | None = Field(
        None,
        description="table (CSV, TSV, Excel, Parquet, JSON) with columns data.file_column, data.speaker_column: claims to "
        "verify, a file matched to the end of each recording's path; default: the labels of the test recordings",
    )
    window_seconds: Annotated[float, Field(ge=0.5, le=3600)] | None = Field(
        None,
        description="who spoke when: the recordings identified (data.test, and those given to apply) are also cut "
        "into windows of this many seconds, each identified alone (windows.csv), consecutive windows of one speaker "
        "joined into turns (turns.csv) and each recording's talk time per speaker in summary.json; null: whole "
        "recordings only",
    )
    switch_penalty: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="who spoke when: a recording's windows answered together, the best sequence of answers giving "
        "up this much score, times seconds of speech, for each change of speaker between consecutive windows (so a "
        "window that flickers to another voice stays in its turn); 0: each window answered alone; null: 1 with "
        "S-normalised scores (model.score_norm: snorm), 0 otherwise",
    )

    @model_validator(mode="after")
    def _own_speakers_are_not_tested_on_the_demo(self):
        """With enrolment recordings of your own, the demo recordings are never what gets identified."""
        return no_demo_beside_own(self, "enrol", "test", null_means="enrol only")

    @model_validator(mode="after")
    def _table_labels_come_from_a_list(self):
        """label_from table reads a list of recordings: never a folder's, where it would read nothing."""
        lists = [k for k in ("enrol", "test") if is_list(getattr(self, k))]
        if self.label_from == "table" and "enrol" not in lists:
            raise ValueError(
                "label_from: table reads the speakers from a list of recordings (a CSV, TSV, Excel, Parquet or JSON table "
                f"with data.file_column and data.speaker_column), but data.enrol is {self.enrol}; set "
                "data.label_from: auto, or give data.enrol as such a list"
            )
        return self

    @model_validator(mode="after")
    def _speaker_folder_reads_folders(self):
        """A speaker folder other than the first is read only where speakers come from folders."""
        if self.speaker_folder != 1 and self.label_from in ("pattern", "table"):
            raise ValueError(
                f"speaker_folder: {self.speaker_folder} reads the speakers from folders, but data.label_from is "
                f"{self.label_from}; set data.label_from: folder (or auto), or leave data.speaker_folder out"
            )
        return self

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
    """MFCC framing in milliseconds (so it suits any sample rate), deltas, per-recording normalisation, energy VAD."""

    n_mfcc: int = Field(20, ge=4, le=128, description="cepstral coefficients per frame (at most n_mels)")
    n_mels: int = Field(40, ge=8, le=128, description="mel bands")
    window_ms: float = Field(25.0, gt=5, le=100, description="analysis window length (ms)")
    hop_ms: float = Field(10.0, gt=1, le=50, description="step between frames (ms)")
    deltas: int = Field(1, ge=0, le=2, description="0: none, 1: deltas, 2: deltas and delta-deltas")
    normalise: Literal["gain", "mean_variance", "none"] = Field(
        "gain",
        description="per recording: gain centres the zeroth cepstral coefficient (loudness) and keeps the spectral "
        "shape; mean_variance: every feature to zero mean and unit variance (CMVN); none",
    )
    vad_db: float | None = Field(
        50.0, gt=0, description="keep frames within this many dB of the loudest; null: keep all"
    )

    @model_validator(mode="after")
    def _cepstra_from_bands(self):
        if self.n_mfcc > self.n_mels:
            raise ValueError(
                "n_mfcc must be at most n_mels (the cepstrum of n mel bands has n coefficients); lower n_mfcc or "
                f"raise n_mels, got n_mfcc {self.n_mfcc} with n_mels {self.n_mels}"
            )
        return self


class SpeakersModel(ModelSection):
    """``kind``: 'ubm_map' adapts the means of a universal background model per speaker
    (Reynolds et al. 2000); 'independent' fits one GMM per speaker; 'ivector' turns each
    recording into an i-vector of a total-variability model trained on the background
    model's statistics (Dehak et al. 2011), with LDA, WCCN and cosine scoring.  The UBM
    uses ``n_components`` (diagonal covariance); independent models ``speaker_components``."""

    kind: Literal["ubm_map", "independent", "ivector"] = Field(
        "ubm_map",
        description="ubm_map: speaker models adapted from a universal background model; independent: one GMM per "
        "speaker; ivector: i-vectors of a total-variability model on the background model, cosine-scored",
    )
    n_components: Annotated[int, Field(ge=1)] | list[Annotated[int, Field(ge=1)]] = Field(
        [8, 16, 32, 64],
        description="components of the universal background model: one size, or sizes to choose from on the "
        "held-out enrolment recordings (threshold.calibration_share; best identification, then EER, then the "
        "larger); sizes the enrolment frames cannot support (10 frames a component) are left out",
    )
    covariance_type: CovarianceType = "diag"
    relevance_factor: float = Field(
        4.0, gt=0, description="MAP adaptation: how many frames a component needs before its mean follows the speaker"
    )
    speaker_components: int = Field(16, ge=1, description="components of each speaker's GMM (kind: independent)")
    score_norm: Literal["snorm", "none"] = Field(
        "snorm",
        description="snorm: each score standardised by the speaker's scores on the other speakers' enrolment "
        "recordings and by the recording's scores for the other speakers (S-norm); none: raw scores",
    )
    snorm_cohort: Annotated[int, Field(ge=1)] | None = Field(
        20,
        description="score_norm snorm: enrolment recordings of each speaker scored for the speaker side of S-norm "
        "(evenly spaced through their recordings); null: all",
    )
    top_components: Annotated[int, Field(ge=1)] | None = Field(
        10,
        description="kind ubm_map: score each frame on the background model's best this many components only "
        "(for the background model and every speaker alike); null: every component",
    )
    ivector_dim: int = Field(
        100, ge=1, le=1000, description="kind ivector: dimension of the i-vectors (rank of the T matrix)"
    )
    ivector_iterations: int = Field(10, ge=1, description="kind ivector: EM iterations of the total-variability model")
    lda_dim: Annotated[int, Field(ge=1)] | None = Field(
        50,
        description="kind ivector: dimensions LDA keeps (at most the speakers minus one) before WCCN; null: no LDA",
    )
    n_init: int = Field(1, ge=1, le=100, description="EM restarts; the best is kept")
    max_iter: int = Field(200, ge=1)
    tol: float = Field(1e-3, gt=0, description="EM tolerance of the background model")
    reg_covar: float = Field(1e-3, ge=0, le=1e6, description="variance floor, in MFCC units")

    @field_validator("n_components")
    @classmethod
    def _some_sizes(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("give one size or a non-empty list of sizes, e.g. [8, 16, 32, 64]")
        return v


class SpeakersThreshold(ThresholdSection):
    """Open-set decisions: a recording whose best score is below the threshold is
    'unknown'.  With ``method: rate`` the threshold is calibrated on held-out
    enrolment recordings scored as impostors, so that at most ``rate`` of them
    would be accepted (the false-acceptance rate): against the other enrolled
    speakers (``impostors: enrolled``), or with their speaker left out of every
    model, as a voice never enrolled (``impostors: unseen``); ``value`` fixes it
    instead."""

    rate: float = Field(0.01, gt=0, lt=1, description="share of impostor recordings accepted (false-acceptance rate)")
    impostors: Literal["enrolled", "unseen"] = Field(
        "enrolled",
        description="the impostors rate counts: enrolled: held-out recordings against the other enrolled speakers; "
        "unseen: with their speaker left out of the background and speaker models, as a voice never enrolled "
        "(3 or more speakers; stricter: more enrolled recordings called unknown)",
    )
    calibration_share: float = Field(
        0.25, gt=0, lt=1, description="share of each speaker's enrolment files held out for calibration"
    )


class SpeakersReport(ReportSection):
    """Report options: ``title`` and ``plots``."""


class SpeakersConfig(PipelineConfig):
    pipeline: Literal["speakers"] = "speakers"
    data: SpeakersData = SpeakersData()
    features: SpeakersFeatures = SpeakersFeatures()
    model: SpeakersModel = SpeakersModel()
    threshold: SpeakersThreshold = SpeakersThreshold()
    report: SpeakersReport = SpeakersReport()

    renamed: ClassVar[dict] = {
        "decision.target_far": "threshold.rate",
        "decision.threshold": "threshold.value",
        "decision.calibration_share": "threshold.calibration_share",
        "features.cmvn": "features.normalise",
    }
    renamed_values: ClassVar[dict] = {"features.normalise": {True: "mean_variance", False: "none"}}

    def check_unread_keys(self, where):
        """Refuse keys that would change nothing (:func:`~gmm_apps.config.refuse_unread`): the columns of a list
        with no list of recordings nor claims, the file-name pattern where speakers come from folders or a list,
        the switch penalty without windows, the settings of another kind of model, and the S-norm cohort without S-norm."""
        super().check_unread_keys(where)
        d, m = self.data, self.model
        if not (d.claims or is_list(d.enrol) or is_list(d.test)):
            refuse_unread(
                where,
                "data",
                d,
                ("file_column", "speaker_column"),
                "with a list of recordings (data.enrol "
                "or data.test a CSV, TSV, Excel, Parquet or JSON table) or data.claims",
            )
        if d.label_from in ("folder", "table"):
            refuse_unread(where, "data", d, ("pattern",), "with data.label_from: pattern or auto")
        if d.window_seconds is None:
            refuse_unread(where, "data", d, ("switch_penalty",), "with data.window_seconds (who spoke when)")
        kinds = {
            "relevance_factor": "ubm_map",
            "top_components": "ubm_map",
            "speaker_components": "independent",
            "ivector_dim": "ivector",
            "ivector_iterations": "ivector",
            "lda_dim": "ivector",
        }
        for key, kind in kinds.items():
            if kind != m.kind:
                refuse_unread(where, "model", m, (key,), f"with model.kind: {kind}")
        if m.score_norm != "snorm":
            refuse_unread(where, "model", m, ("snorm_cohort",), "with model.score_norm: snorm")
        if self.threshold.method == "fixed":
            refuse_unread(where, "threshold", self.threshold, ("impostors",), "with threshold.method: rate")
