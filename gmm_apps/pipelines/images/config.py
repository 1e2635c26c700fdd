"""Config of the images pipeline."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ...config import (
    CovarianceType,
    EngineSection,
    NComponents,
    PathData,
    PipelineConfig,
    ReportSection,
    Section,
    SelectedModel,
    refuse_unread,
)


class ImagesData(PathData):
    """Images to segment: files, folders, globs, or ``skimage:NAME`` for a sample
    bundled with scikit-image (astronaut, chelsea, coffee, rocket,
    immunohistochemistry, camera, retina).  JPEG, PNG, TIFF, BMP; grey, RGBA
    (composited on white) and 16-bit are read as they are."""

    path: str | list[str] = Field(default_factory=lambda: ["skimage:astronaut", "skimage:coffee", "skimage:chelsea"])
    max_pixels: int = Field(
        100_000_000,
        ge=1,
        description="an image with more pixels (width x height) is refused "
        "before it is decoded (about 40 bytes of memory a pixel)",
    )
    unreadable: Literal["error", "skip"] = Field(
        "error",
        description="a file that is no readable image (cut short, an error page saved as .jpg, too large or too "
        "small): error stops the run before it writes anything; skip leaves the file out and lists it in the log, "
        "summary.json (skipped) and the report",
    )

    @field_validator("path")
    @classmethod
    def _non_empty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("give at least one image, folder or glob")
        return v


class ImagesFeatures(Section):
    """Per-pixel features.  Spatial sizes are pixels of a 500-pixel image, grow with larger ones and shrink with
    images under 250 pixels."""

    color_space: Literal["lab", "rgb"] = Field("lab", description="lab (perceptual) or rgb")
    blur: float = Field(1.0, ge=0, le=20, description="Gaussian pre-smoothing of colours")
    position_weight: float = Field(
        0.5, ge=0, le=10, description="weight of (row, col), longer side = 100 units; 0: colour only"
    )
    texture_weight: float = Field(0.0, ge=0, le=10, description="weight of local lightness contrast; 0: none")
    working_pixels: int | None = Field(
        250_000,
        ge=10_000,
        description="a larger image is segmented as a reduced copy of at most this many pixels (spatial sizes "
        "are relative to the image, so the result is the same) and its labels enlarged to full size; "
        "null: at full size",
    )


class ImagesModel(SelectedModel):
    """A core GMM per image, fitted on a pixel sample (or on quantised colours
    with their counts as ``sample_weight``), predicted at full resolution.
    ``n_components``: a fixed K, or candidates chosen per image by
    ``criterion`` (bic or icl).  ``n_fits`` segmentations from independent
    samples are made per image and their medoid kept (less dependence on one
    sample)."""

    n_components: NComponents = 8
    criterion: Literal["bic", "aic", "icl"] = "bic"
    covariance_type: CovarianceType = "full"
    n_fits: int = Field(
        5,
        ge=1,
        le=50,
        description="segmentations from independent pixel samples; the one agreeing most "
        "with the others (smallest total VoI) is kept",
    )
    tol: float = Field(1e-3, gt=0)
    max_iter: int = Field(200, ge=1)
    reg_covar: float = Field(1e-3, ge=0, le=1e6, description="variance floor, in feature units (Lab: 0..100)")
    sample_size: int = Field(
        6000, ge=100, le=10_000_000, description="pixels (or distinct colours) the model is fitted on"
    )
    fit_on: Literal["pixels", "colours"] = Field(
        "pixels", description="colours: unique quantised feature vectors weighted by count"
    )
    quantise: float = Field(2.0, gt=0, description="grid step for fit_on: colours")
    shared: bool = Field(False, description="one model for every image (one palette) instead of one per image")


class Spatial(Section):
    """Turning per-pixel classes into regions."""

    sigma: float = Field(2.0, ge=0, le=50, description="Gaussian smoothing of the posterior maps before the argmax")
    min_region: float = Field(
        0.025, ge=0, lt=0.5, description="regions smaller than this share of the image join a neighbour"
    )
    boundary: Literal["relative", "absolute"] = Field(
        "relative",
        description="relative: a boundary's mean colour gradient divided by (the mean gradient inside the "
        "smoother of the two regions + gradient_floor), so edges a texture draws inside itself "
        "count as weak; absolute: the mean gradient itself",
    )
    gradient_floor: float = Field(20.0, ge=0, description="added to the inner gradient for boundary: relative")
    edge_threshold: float | list[float] = Field(
        default_factory=lambda: [0.5, 0.6, 0.7, 0.8, 0.9],
        description="merge neighbours whose boundary is weaker than this (ratio for relative, gradient for "
        "absolute, e.g. 24); several levels: every fit is merged to each and the medoid of all kept; 0: off",
    )

    @field_validator("edge_threshold")
    @classmethod
    def _levels(cls, v):
        levels = v if isinstance(v, list) else [v]  # one number is one level: stored as a list of one
        if not levels:
            raise ValueError("give at least one merge level")
        if any(t < 0 for t in levels):
            raise ValueError(f"merge levels must be >= 0, got {levels}")
        return levels

    @model_validator(mode="after")
    def _ratio_levels(self):
        levels = self.edge_threshold
        if self.boundary == "relative" and max(levels) > 5:
            raise ValueError(
                f"edge_threshold {max(levels):g} is a gradient level, but boundary: relative takes ratios "
                "(about 0.5-1); set spatial.boundary: absolute to merge on gradient levels"
            )
        return self


class ImagesOutput(Section):
    overlay: bool = Field(True, description="also write each photo with the region boundaries drawn")
    soft_maps: bool = Field(False, description="also save each image's smoothed posterior maps (npz, float16)")


class ImagesReport(ReportSection):
    thumbnails: int = Field(48, ge=1, le=1000, description="images shown in the report grid")


class ImagesRun(Section):
    n_jobs: int = Field(2, ge=1, le=256, description="images segmented in parallel (processes)")


class ImagesConfig(PipelineConfig):
    pipeline: Literal["images"] = "images"
    data: ImagesData = ImagesData()
    features: ImagesFeatures = ImagesFeatures()
    model: ImagesModel = ImagesModel()
    spatial: Spatial = Spatial()
    output: ImagesOutput = ImagesOutput()
    report: ImagesReport = ImagesReport()
    run: ImagesRun = ImagesRun()
    engine: EngineSection = EngineSection()

    retired: ClassVar[dict] = {
        "model.n_init": "random starts are model.n_fits (fits from independent pixel samples; the one agreeing "
        "most with the others is kept)"
    }

    def check_unread_keys(self, where):
        """Refuse the grid of colours fitted on while pixels are, and the floor of a relative boundary's gradient
        while boundaries are absolute (:func:`~gmm_apps.config.refuse_unread`)."""
        super().check_unread_keys(where)
        if self.model.fit_on != "colours":
            refuse_unread(where, "model", self.model, ("quantise",), "with model.fit_on: colours")
        if self.spatial.boundary != "relative":
            refuse_unread(where, "spatial", self.spatial, ("gradient_floor",), "with spatial.boundary: relative")
