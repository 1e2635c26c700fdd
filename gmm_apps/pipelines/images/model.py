"""One image's segmentation: features, a core GMM fitted on a pixel sample, spatial clean-up."""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ...core import GaussianMixture, load_model, model_file_guard, save_model, select_model
from ...errors import DataError
from . import segment as seg
from .config import ImagesConfig
from .data import MIN_SIDE, too_small
from .metrics import variation_of_information


@dataclass(frozen=True)
class Settings:
    """Everything that decides a segmentation, made from a validated config (the config holds the defaults)."""

    color_space: str
    blur: float
    position_weight: float
    texture_weight: float
    working_pixels: int | None
    n_components: tuple
    criterion: str
    covariance_type: str
    reg_covar: float
    tol: float
    max_iter: int
    n_init: int
    n_fits: int
    sample_size: int
    fit_on: str
    quantise: float
    sigma: float
    min_region: float
    boundary: str
    gradient_floor: float
    edge_threshold: tuple
    soft_maps: bool
    random_state: int

    @classmethod
    def from_config(cls, cfg):
        """The settings of an :class:`~gmm_apps.pipelines.images.config.ImagesConfig`."""
        f, m, s = cfg.features, cfg.model, cfg.spatial
        return cls(
            color_space=f.color_space,
            blur=f.blur,
            position_weight=f.position_weight,
            texture_weight=f.texture_weight,
            working_pixels=f.working_pixels,
            n_components=tuple(m.candidates()),
            criterion=m.criterion,
            covariance_type=m.covariance_type,
            reg_covar=m.reg_covar,
            tol=m.tol,
            max_iter=m.max_iter,
            n_init=1,  # one EM start per fit: the random starts are the n_fits fits
            n_fits=m.n_fits,
            sample_size=m.sample_size,
            fit_on=m.fit_on,
            quantise=m.quantise,
            sigma=s.sigma,
            min_region=s.min_region,
            boundary=s.boundary,
            gradient_floor=s.gradient_floor,
            edge_threshold=tuple(s.edge_threshold),
            soft_maps=cfg.output.soft_maps,
            random_state=m.random_state,
        )

    @property
    def n_features(self):
        """Features per pixel these settings make (what a palette model for them must have)."""
        return image_features(np.zeros((8, 8, 3)), self)[0].shape[-1]

    @classmethod
    def defaults(cls, **changes):
        """The default config's settings with ``changes`` (e.g. ``Settings.defaults(n_components=(3,))``)."""
        return replace(cls.from_config(ImagesConfig()), **changes)


@dataclass
class Segmentation:
    """What segmenting one image produced.

    Attributes
    ----------
    labels : ndarray of shape (h, w), int
        Final region ids (per-image model) or shared-palette classes (shared model).
    classes : ndarray of shape (h, w), int
        The GMM component of each pixel after posterior smoothing.
    model : GaussianMixture
    n_components : int
    colours : ndarray of shape (n_labels, 3)
        Mean RGB of each label, in [0, 1].
    shares : ndarray of shape (n_labels,)
    selection : pandas.DataFrame or None
        Candidate table when K was chosen by a criterion.
    maps : ndarray of shape (h, w, K) or None
        Smoothed posterior maps (``soft_maps``).
    seconds : float
    fit_spread : float or None
        With several candidates (fits x merge levels): mean variation of
        information (bits) between the kept segmentation and the others; 0
        when every candidate agrees.
    level : float or None
        The merge level (``edge_threshold``) of the kept segmentation; when
        several candidates give the same partition, that of the first (fits
        in seed order, each fit's levels in the order given).
    """

    labels: np.ndarray
    classes: np.ndarray
    model: GaussianMixture
    n_components: int
    colours: np.ndarray
    shares: np.ndarray
    selection: object = None
    maps: np.ndarray | None = None
    seconds: float = 0.0
    fit_spread: float | None = None
    level: float | None = None


def check_size(rgb, name):
    """Refuse images too small to segment."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise too_small(name, w, h)


def working_image(rgb, max_pixels):
    """The copy of an image that is segmented: itself, or reduced to at most ``max_pixels`` pixels.

    Spatial settings are relative to the image's size, so a reduced copy gives the segmentation the
    full image would, in a fraction of the time; the labels are enlarged back (:func:`segment_image`).

    Parameters
    ----------
    rgb : ndarray of shape (h, w, 3), float in [0, 1]
    max_pixels : int or None
        None: the image itself.

    Returns
    -------
    ndarray of shape (h', w', 3)
    """
    h, w = rgb.shape[:2]
    if max_pixels is None or h * w <= max_pixels:
        return rgb
    from skimage.transform import resize  # start-up time: scikit-image loads only when used

    f = np.sqrt(max_pixels / (h * w))
    size = (max(MIN_SIDE, int(h * f)), max(MIN_SIDE, int(w * f)))
    return np.clip(resize(rgb, size, order=1, anti_aliasing=True), 0.0, 1.0)


def fit_rows(features, settings, rng):
    """Rows (and weights) the mixture is fitted on: a pixel sample, or quantised unique values with counts.

    Parameters
    ----------
    features : ndarray of shape (n_pixels, d)
    settings : Settings
    rng : numpy.random.Generator

    Returns
    -------
    X : ndarray of shape (m, d)
    weights : ndarray of shape (m,) or None
    """
    if settings.fit_on == "colours":
        q = np.round(features / settings.quantise).astype(np.int32)
        uniq, counts = np.unique(q, axis=0, return_counts=True)
        X = uniq.astype(np.float64) * settings.quantise
        w = counts.astype(np.float64)
        if X.shape[0] > settings.sample_size:
            # keep the most frequent values; their counts carry the rest of the mass
            keep = np.sort(np.argsort(-w, kind="stable")[: settings.sample_size])
            X, w = X[keep], w[keep]
        return X, w
    return sample_rows(features, settings.sample_size, rng).astype(np.float64), None


def sample_rows(X, n_rows, rng):
    """At most ``n_rows`` rows of ``X`` drawn without replacement, in their original order."""
    if X.shape[0] <= n_rows:
        return X
    return X[np.sort(rng.choice(X.shape[0], n_rows, replace=False))]


def image_features(rgb, settings):
    """Per-pixel features and the smoothed colour channels of an image, as ``settings`` say."""
    return seg.pixel_features(
        rgb,
        color_space=settings.color_space,
        blur=settings.blur,
        position_weight=settings.position_weight,
        texture_weight=settings.texture_weight,
    )


def fit_model(X, weights, settings):
    """The core GMM on the fitting rows, K fixed or chosen by ``settings.criterion``.

    Returns
    -------
    model : GaussianMixture
    table : pandas.DataFrame or None
    """
    ks = [k for k in settings.n_components if k <= X.shape[0]]
    if not ks:
        raise DataError(f"too few distinct pixels ({X.shape[0]}) for n_components {list(settings.n_components)}")
    params = dict(reg_covar=settings.reg_covar, tol=settings.tol, max_iter=settings.max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        if len(ks) == 1:
            gm = GaussianMixture(
                ks[0],
                covariance_type=settings.covariance_type,
                n_init=settings.n_init,
                random_state=settings.random_state,
                **params,
            )
            return gm.fit(X, sample_weight=weights), None
        res = select_model(
            X,
            n_components=ks,
            covariance_types=[settings.covariance_type],
            criterion=settings.criterion,
            n_init=settings.n_init,
            random_state=settings.random_state,
            sample_weight=weights,
            **params,
        )
    return res.best_model, res.table


def segment_image(rgb, settings, *, model=None, name="image", features=None):
    """Segment one RGB image.

    Without a model, ``settings.n_fits`` mixtures are fitted on independent
    pixel samples (``random_state``, ``random_state + 1``, ...); each gives a
    segmentation at every merge level of ``settings.edge_threshold``, and of
    all these candidates the one that agrees most with the others (smallest
    total variation of information, the medoid) is kept.  A single fit
    depends on its pixel sample and a single level suits some photos better
    than others; the medoid depends much less on either.

    Parameters
    ----------
    rgb : ndarray of shape (h, w, 3), float in [0, 1]
    settings : Settings
    model : GaussianMixture, optional
        A fitted (shared) model; labels are then its components, cleaned
        spatially, so one palette holds across images.  Without it a model is
        fitted to this image and labels are its regions.
    name : str
        For messages.
    features : tuple, optional
        ``image_features(rgb, settings)`` when the caller has computed them already.

    Returns
    -------
    result : Segmentation
    """
    started = time.perf_counter()
    check_size(rgb, name)
    features = (
        features if features is not None else image_features(working_image(rgb, settings.working_pixels), settings)
    )
    if model is not None and model.means_.shape[1] != features[0].shape[-1]:
        raise DataError(
            f"{name}: the model expects {model.means_.shape[1]} features per pixel, the settings give "
            f"{features[0].shape[-1]}; use the settings the model was fitted with"
        )
    edges = seg.edge_strength(features[1])  # colour only: the same for every fit
    if model is not None:
        candidates = _segment_once(features, edges, settings, model=model)
    else:
        candidates = [
            c
            for j in range(max(1, settings.n_fits))
            for c in _segment_once(features, edges, settings, random_state=settings.random_state + j)
        ]
    result, spread = medoid(candidates)
    result.fit_spread = spread
    if features[0].shape[:2] != rgb.shape[:2]:  # segmented as a reduced copy: labels at the photo's size
        result.labels = seg.enlarge_labels(result.labels, rgb.shape[:2])
        result.classes = seg.enlarge_labels(result.classes, rgb.shape[:2], smooth=False)
    # the palette of the kept candidate only (a shared model keeps one row per component, absent ones too)
    result.colours, result.shares = seg.palette(
        result.labels, rgb, n_labels=model.n_components if model is not None else None
    )
    result.seconds = time.perf_counter() - started
    return result


def medoid(segmentations):
    """The segmentation with the smallest total variation of information to the others.

    Identical label maps are compared once and counted with their multiplicity.

    Parameters
    ----------
    segmentations : list of Segmentation

    Returns
    -------
    chosen : Segmentation
        Ties go to the earliest.
    spread : float or None
        Its mean VoI (bits) to the others; None for a single segmentation.
    """
    n = len(segmentations)
    if n == 1:
        return segmentations[0], None
    first, group = {}, []
    for q, sgm in enumerate(segmentations):
        labels = np.ascontiguousarray(sgm.labels)
        key = (labels.shape, labels.dtype.str, hashlib.blake2b(labels.tobytes(), digest_size=16).digest())
        group.append(first.setdefault(key, q))
    uniq = sorted(set(group))
    count = np.array([group.count(u) for u in uniq], dtype=np.float64)
    d = np.zeros((len(uniq), len(uniq)))
    for a in range(len(uniq)):
        for b in range(a + 1, len(uniq)):
            d[a, b] = d[b, a] = variation_of_information(segmentations[uniq[a]].labels, segmentations[uniq[b]].labels)
    totals = d @ count
    best = int(np.argmin(totals))  # uniq is in order of first appearance: ties go to the earliest
    return segmentations[uniq[best]], float(totals[best] / (n - 1))


def _segment_once(features, edges, settings, *, model=None, random_state=None):
    """One fit (unless ``model`` is given), smoothed posteriors, regions, merges: a segmentation per merge level.

    Colours and shares are left empty: :func:`segment_image` computes them for the kept candidate only.
    """
    feats = features[0]
    h, w = feats.shape[:2]
    table = None
    shared = model is not None
    if model is None:
        rng = np.random.default_rng(random_state)
        X, wts = fit_rows(feats.reshape(-1, feats.shape[-1]), settings, rng)
        model, table = fit_model(X, wts, replace(settings, random_state=random_state))
    out = seg.posterior_labels(model, feats, sigma=settings.sigma, return_maps=settings.soft_maps)
    classes, maps = out if settings.soft_maps else (out, None)
    regions = seg.connected_regions(classes)
    min_size = int(round(settings.min_region * h * w))
    levels = tuple(float(t) for t in np.atleast_1d(settings.edge_threshold))
    merged = seg.merge_regions(
        regions,
        edges,
        min_size=min_size,
        edge_threshold=levels,
        relative=settings.boundary == "relative",
        gradient_floor=settings.gradient_floor,
    )
    return [
        Segmentation(
            labels=seg.dominant_class(regions, classes, model.n_components) if shared else regions,
            classes=classes,
            model=model,
            n_components=model.n_components,
            colours=None,
            shares=None,
            selection=table,
            maps=maps,
            level=level,
        )
        for level, regions in zip(levels, merged)
    ]


def palette_rgb(model, color_space):
    """RGB colour of each component's mean, in [0, 1]."""
    means = np.asarray(model.means_[:, :3], dtype=np.float64)
    if color_space == "lab":
        from skimage.color import lab2rgb  # start-up time: scikit-image loads only when used

        return np.clip(lab2rgb(means[None, :, :])[0], 0, 1)
    return np.clip(means / 100.0, 0, 1)


class PaletteModel:
    """The colour model of a set of photos: one core mixture over their pooled pixel features, and its palette.

    With ``model.shared: true`` every photo is segmented by it (one palette for
    all); otherwise it is the summary palette beside the per-photo models.
    ``apply`` segments new photos with a saved one.

    Parameters
    ----------
    settings : Settings

    Attributes
    ----------
    mixture_ : gmm_apps.core.GaussianMixture
    selection_ : pandas.DataFrame or None
        The criterion table when K was chosen among candidates (not saved).
    """

    def __init__(self, settings):
        self.settings = settings

    def fit(self, pools):
        """Fit on the pixel-feature samples of every photo (a list of ``(n_i, d)`` arrays)."""
        X = np.concatenate(pools).astype(np.float64)
        Xf, wts = fit_rows(X, self.settings, np.random.default_rng(self.settings.random_state))
        self.mixture_, self.selection_ = fit_model(Xf, wts, self.settings)
        return self

    @property
    def n_components(self):
        return self.mixture_.n_components

    @property
    def palette_rgb(self):
        """RGB colour (in [0, 1]) of each component, shape ``(K, 3)``."""
        return palette_rgb(self.mixture_, self.settings.color_space)

    def segment(self, rgb, *, name="image", features=None):
        """Segment one photo with this palette (see :func:`segment_image`)."""
        return segment_image(rgb, self.settings, model=self.mixture_, name=name, features=features)

    def save(self, path, *, meta):
        """Write the mixture, its palette, the settings and ``meta`` to one checked model file."""
        extra = {**meta, "settings": asdict(self.settings)}
        return save_model(self.mixture_, path, extra=extra, arrays={"palette_rgb": self.palette_rgb})

    @classmethod
    def load(cls, path):
        """Read a saved palette model; returns ``(model, meta)``."""
        mixture, extra = load_model(path, with_extra=True)
        meta = dict(extra.get("meta") or {})
        saved = meta.pop("settings", None)
        if not isinstance(saved, dict):
            raise model_file_guard.older(path, "a palette model", "the settings it segments with")
        with model_file_guard(path):
            known = {f.name for f in fields(Settings)}
            settings = Settings.defaults(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in known}
            )
            model_file_guard.require(
                mixture.means_.shape[1] == settings.n_features,
                path,
                "the palette's features do not match its settings",
            )
        model = cls(settings)
        model.mixture_, model.selection_ = mixture, None
        return model, meta
