"""The images pipeline: photos -> pixel features -> core GMM -> spatially clean regions -> label maps, overlays, palettes."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ...core import model_file_guard
from ...engine import dask_client
from ...errors import ArgumentError, DataError
from ...paths import left_out, with_left_out
from ...registry import Pipeline
from ...workers import Said, collected, map_jobs, pool_size, say_again
from .colours import colour_names, main_colours
from .config import ImagesConfig
from .data import SKIP_HINT, check_headers, image_stem, output_names, pil_rgb, read_image, resolve_images, to_rgb
from .model import (
    PaletteModel,
    Settings,
    check_size,
    image_features,
    sample_rows,
    segment_image,
    working_image,
)
from .segment import palette as segment_palette

logger = logging.getLogger("gmm_apps.images")
MODEL_FILE = "model/palette.npz"
POOL_ROWS_MIN = 300
#: zlib level of the overlays' PNGs (:func:`_png_bytes`)
PHOTO_PNG_LEVEL = 3


def _png_bytes(array, *, labels=False):
    """PNG bytes of an RGB image, or of a label map (lossless: 8-bit when labels fit, else 16-bit)."""
    from PIL import Image  # start-up time: Pillow loads only when images are read or written

    if labels:
        top = int(array.max()) if array.size else 0
        if top >= 65536:
            raise DataError(
                f"{top + 1} labels do not fit a 16-bit PNG; raise spatial.edge_threshold or spatial.min_region"
            )
        array = array.astype(np.uint8 if top < 256 else np.uint16)
    buf = io.BytesIO()
    # a photo compresses no smaller at zlib's default level 6 than at 3, which takes under half the time (the
    # 100 BSDS500 photos: 3.8 s and 27.2 MB against 1.6 s and 26.8 MB; docs/benchmarks.md); a label map keeps 6
    Image.fromarray(array).save(buf, format="PNG", compress_level=6 if labels else PHOTO_PNG_LEVEL)
    return buf.getvalue()


def read_label_png(path):
    """Read a label map written as ``labels/<stem>.png``."""
    from PIL import Image  # start-up time: Pillow loads only when images are read or written

    with Image.open(path) as im:
        return np.asarray(im).astype(np.int64)


def overlay(rgb, labels):
    """The photo with region boundaries drawn in yellow, one pixel wide on a 1000-pixel photo and as
    much wider on a larger one (so that they show on a phone photo viewed whole).

    Returns
    -------
    image : ndarray of shape (h, w, 3), uint8
    """
    from scipy import ndimage as ndi  # start-up time: with scikit-image, only when overlays are drawn
    from skimage.segmentation import find_boundaries  # start-up time: scikit-image loads only when used

    out = np.asarray(rgb, dtype=np.float64).copy()
    edge = find_boundaries(labels, mode="inner")
    width = int(max(labels.shape) // 1000)
    if width > 1:
        edge = ndi.binary_dilation(edge, iterations=width - 1)
    out[edge] = (1.0, 0.9, 0.0)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def process_image(job):
    """Segment (or only sample) one image; runs in a worker process or on a Dask worker.

    Parameters
    ----------
    job : dict
        ``input``, ``settings``, ``model`` (a shared GaussianMixture or
        None), ``pool_rows`` (rows to return for the shared model),
        ``sample_only``, ``overlay``.

    Returns
    -------
    result : dict
        ``row`` (images.csv), ``palette``, ``selection``, ``pool`` (sampled
        feature rows) and ``files`` (output path -> bytes).
    """
    settings = job["settings"]
    name = job["input"]
    stem = job.get("name") or image_stem(name)
    try:
        rgb, clear = read_image(name, max_pixels=job["max_pixels"], clear=True)
    except DataError as exc:  # a file cut short after its header: found only now
        if not job.get("skip"):
            raise DataError(f"{exc}{SKIP_HINT}") from None
        return {"skipped": (str(name), str(exc))}
    h, w = rgb.shape[:2]
    row = {"image": stem, "input": str(name), "width": w, "height": h}
    check_size(rgb, name)
    if clear is not None and clear.all():
        raise DataError(f"{name}: every pixel is transparent: there is nothing to segment")
    # computed once, on the copy that is segmented: for the pooled sample and the segmentation
    features = image_features(working_image(rgb, settings.working_pixels), settings)
    pool = None
    if job["pool_rows"]:
        feats = features[0].reshape(-1, features[0].shape[-1])
        if clear is not None:  # a product photo's transparent background is no colour of the shared palette
            small = working_image(clear[..., None].astype(np.float64), settings.working_pixels)[..., 0] >= 0.5
            feats = feats[~small.ravel()]
        pool = sample_rows(feats, job["pool_rows"], np.random.default_rng(settings.random_state)).astype(np.float32)
    if job["sample_only"]:
        return {"row": row, "pool": pool}
    res = segment_image(rgb, settings, model=job["model"], name=name, features=features)
    labels, colours, shares = res.labels, res.colours, res.shares
    if clear is not None:  # segments of what is there: transparent pixels are one past the last segment
        colours, shares = segment_palette(labels[~clear], rgb[~clear], n_labels=len(shares))
        labels = np.where(clear, len(shares), labels)
        row["transparent_share"] = round(float(clear.mean()), 4)
    # files travel back as bytes, so workers need no access to the run folder (remote Dask workers)
    files = {f"labels/{stem}.png": _png_bytes(labels, labels=True)}
    if job["overlay"]:
        files[f"overlays/{stem}.png"] = _png_bytes(overlay(rgb, labels))
    if res.maps is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, maps=res.maps.astype(np.float16))
        files[f"maps/{stem}.npz"] = buf.getvalue()
    present = np.flatnonzero(shares > 0)
    row.update(
        {
            "n_components": res.n_components,
            "n_segments": int(present.size),
            "fit_spread_voi": None if res.fit_spread is None else round(res.fit_spread, 4),
            "merge_level": res.level,
            "seconds": round(res.seconds, 3),
        }
    )
    palette = _palette_table(stem, present, colours, shares)
    row["main_colours"] = main_colours(palette["colour"], palette["share"])
    sel = None
    if res.selection is not None:
        sel = res.selection.assign(image=stem)
    return {"row": row, "palette": palette, "selection": sel, "pool": pool, "files": files}


def _palette_table(stem, present, colours, shares):
    """An image's rows of palettes.csv: its segments present, their shares, mean colours and colour names."""
    palette = pd.DataFrame(
        {
            "image": stem,
            "segment": present,
            "share": shares[present],
            "r": np.round(colours[present, 0] * 255).astype(int),
            "g": np.round(colours[present, 1] * 255).astype(int),
            "b": np.round(colours[present, 2] * 255).astype(int),
        }
    )
    palette["hex"] = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in zip(palette.r, palette.g, palette.b)]
    palette["colour"] = colour_names(palette[["r", "g", "b"]].to_numpy() / 255.0)
    return palette


def run_jobs(jobs, n_jobs, progress, *, client=None, out=None):
    """Run :func:`process_image` over ``jobs`` (on a Dask client, in worker processes, or here); results in order.

    Files the jobs return are written under ``out`` as each result arrives.
    """
    done = []
    away = client is not None or pool_size(n_jobs, len(jobs)) > 1
    with map_jobs(_said if away else process_image, jobs, n_jobs, client=client, preload=[__name__]) as results:
        for r in progress(results, total=len(jobs), desc="images"):
            say_again(r.pop("said", ()))  # a photo's notes (a stack's first page read, its bit depth) in the log
            for name, data in r.pop("files", {}).items():
                (Path(out) / name).write_bytes(data)
            done.append(r)
    return done


def _said(job):
    """:func:`process_image` in a worker process, with what it logged (``said``), which would be lost there."""
    with collected(Said()) as said:
        return {**process_image(job), "said": said.messages}


def _read(results, skipped, total):
    """The results of the images segmented; those of files found unreadable as they were decoded (a JPEG cut
    short) are added to ``skipped`` (``data.unreadable: skip``); none read is an error."""
    skipped += [left_out(*r["skipped"]) for r in results if "skipped" in r]
    return _none_is_an_error([r for r in results if "skipped" not in r], total)


def _left(inputs, skipped, total):
    """The inputs not in ``skipped``; none left is an error."""
    gone = {s["file"] for s in skipped}
    return _none_is_an_error([i for i in inputs if str(i) not in gone], total)


def _none_is_an_error(kept, total):
    if not kept:
        raise DataError(f"none of the {total} files is a readable image (data.unreadable: skip left each one out)")
    return kept


def _make_folders(ctx, cfg):
    for d in ("labels", "overlays") if cfg.output.overlay else ("labels",):
        ctx.path(d).mkdir(exist_ok=True)
    if cfg.output.soft_maps:
        ctx.path("maps").mkdir(exist_ok=True)


def _write_tables(ctx, results):
    """images.csv and palettes.csv; per-image timings go to run.log, so the tables are the same bytes on every rerun."""
    images = pd.DataFrame([r["row"] for r in results])
    if "transparent_share" in images:  # some images have a transparent background; the others none
        images["transparent_share"] = images["transparent_share"].fillna(0.0)
    for r in images.to_dict("records"):
        logger.info("%s: %d segments in %.3f s", r["image"], r["n_segments"], r["seconds"])
    palettes = pd.concat([r["palette"] for r in results], ignore_index=True)
    ctx.write_table("images.csv", images.drop(columns="seconds"))
    ctx.write_table("palettes.csv", palettes)
    return images, palettes


class ImagesPipeline(Pipeline):
    name = "images"
    model_sections = ("features", "model", "spatial")
    model_file = MODEL_FILE
    model_class = PaletteModel
    batch_plot = "grid.png"
    folder_input = True  # a folder of photos is one run's input
    quick_sets = ("report.plots=false", "run.n_jobs=1", "model.n_fits=1", "model.sample_size=1000")

    def batch_figures(self, summary):
        """Images segmented (and skipped), their mean number of segments and seconds each."""
        return {
            "images": summary.get("images"),
            "skipped": len(summary.get("skipped") or []) or None,
            "mean_segments": summary.get("mean_segments"),
            "mean_seconds": summary.get("mean_seconds"),
            "headline": summary.get("headline"),
        }

    def apply_example(self, run_dir, folder):
        from PIL import Image  # start-up time: Pillow loads only when images are read or written

        p = Path(folder) / "new.png"
        Image.fromarray(read_image("skimage:rocket")[::4, ::4].__mul__(255).astype(np.uint8)).save(p)
        return str(p)

    def suggest(self, path):
        """The photos, read as the run reads them: a file that is no readable image is said now, with the key
        that leaves such files out, not written into the config unasked (``init --data``)."""

        def attempt(data):
            check_headers(resolve_images(data.path, key="--data", source="init"), max_pixels=data.max_pixels)

        return self.with_fixes(self.data_overrides(path), attempt)

    description = "colour segmentation of photos into regions: label maps, overlays, palettes"
    config_model = ImagesConfig

    def check(self, config, source):
        if config.data.unreadable == "error":  # with skip, the run says which files it leaves out
            check_headers(
                resolve_images(config.data.path, key="data.path", source=source), max_pixels=config.data.max_pixels
            )

    def write_data(self, data, folder):
        """An image array or a Pillow image, or a list of them, checked as image files are: 8-bit arrays are written
        as PNG, any other (16-bit, float in [0, 1], ...) as the float TIFF of what reading the same file would give;
        a Pillow image as its file is read (upright, in sRGB)."""
        import tifffile  # only for TIFF files
        from PIL import Image  # start-up time: Pillow loads only when images are read or written

        if isinstance(data, (np.ndarray, Image.Image)):
            arrays = [data]
        elif isinstance(data, (list, tuple)) and data:
            arrays = list(data)
        else:
            raise ArgumentError(
                f"data: the images pipeline takes an image array or a Pillow image, a non-empty list of them, or a path; "
                f"got {type(data).__name__ if not isinstance(data, (list, tuple)) else 'an empty list'}"
            )
        for i, a in enumerate(arrays):
            name = f"data[{i}]" if len(arrays) > 1 else "data"
            clear = None
            if isinstance(a, Image.Image):  # a Pillow image: its pixels as a file of it is read
                a, clear = pil_rgb(a, name, clear=True)
            if isinstance(a, (str, Path)):
                raise ArgumentError(
                    f"{name}: a path in a list of images; pass their folder or a glob as one path "
                    "(data='photos/*.jpg'), or the images themselves"
                )
            if not isinstance(a, np.ndarray) and not isinstance(a, (list, tuple)):
                raise ArgumentError(f"{name}: expected an image array or a Pillow image, got {type(a).__name__}")
            a = np.asarray(a)
            rgb, own = to_rgb(a, name=name, clear=True)  # the checks image files get: shape, pixel type, range, NaN
            clear = own if clear is None else clear
            check_size(rgb, name)
            if a.dtype == np.uint8:
                Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a).save(
                    Path(folder) / f"image_{i:04d}.png"
                )
            elif clear is None:
                tifffile.imwrite(Path(folder) / f"image_{i:04d}.tif", rgb, photometric="rgb")
            else:  # the transparent pixels kept, as unassociated alpha
                rgba = np.dstack([rgb, (~clear).astype(rgb.dtype)])
                tifffile.imwrite(Path(folder) / f"image_{i:04d}.tif", rgba, photometric="rgb", extrasamples=[2])
        return str(folder)

    def _jobs(self, inputs, settings, *, model, pool_rows, sample_only, overlay_on, max_pixels, skip=False):
        names = output_names(inputs)
        if names != [image_stem(i) for i in inputs]:
            logger.info(
                "inputs sharing a file name are named with their folders (e.g. %s)",
                ", ".join(n for n, i in zip(names, inputs) if n != image_stem(i))[:200],
            )
        return [
            {
                "input": i,
                "name": n,
                "settings": settings,
                "model": model,
                "pool_rows": pool_rows,
                "sample_only": sample_only,
                "overlay": overlay_on,
                "max_pixels": max_pixels,
                "skip": skip,
            }
            for i, n in zip(inputs, names)
        ]

    def run(self, cfg, ctx):
        from . import report as rep  # start-up time: the report module loads matplotlib

        inputs = resolve_images(cfg.data.path, key="data.path", source="config", warn=False)  # check() said it
        skip, total = cfg.data.unreadable == "skip", len(inputs)
        skipped = check_headers(inputs, max_pixels=cfg.data.max_pixels, skip=True) if skip else []  # else check()'s
        inputs = _left(inputs, skipped, total)
        settings = Settings.from_config(cfg)
        _make_folders(ctx, cfg)
        pool_rows = max(POOL_ROWS_MIN, settings.sample_size // len(inputs))
        logger.info("%d images; features %s; K %s", len(inputs), settings.color_space, list(settings.n_components))
        with dask_client(cfg.engine) as client:

            def go(**kw):
                jobs = self._jobs(inputs, settings, max_pixels=cfg.data.max_pixels, skip=skip, **kw)
                return _read(run_jobs(jobs, cfg.run.n_jobs, ctx.progress, client=client, out=ctx.dir), skipped, total)

            if cfg.model.shared:
                sampled = go(model=None, pool_rows=pool_rows, sample_only=True, overlay_on=False)
                inputs = _left(inputs, skipped, total)  # the second pass reads only what the first could
                palette = PaletteModel(settings).fit([r["pool"] for r in sampled])
                results = go(model=palette.mixture_, pool_rows=0, sample_only=False, overlay_on=cfg.output.overlay)
            else:
                results = go(model=None, pool_rows=pool_rows, sample_only=False, overlay_on=cfg.output.overlay)
                palette = PaletteModel(settings).fit([r["pool"] for r in results])
        palette.save(ctx.path(MODEL_FILE), meta={"pipeline": "images"})
        images, palettes = _write_tables(ctx, results)
        sels = [r["selection"] for r in results if r["selection"] is not None]
        if sels:
            ctx.write_table("selection.csv", pd.concat(sels, ignore_index=True))
        summary = {
            "headline": f"{len(images)} image{'s' if len(images) != 1 else ''} segmented: "
            f"{images['n_segments'].mean():.1f} segments on average",
            "images": len(images),
            "mean_segments": float(images["n_segments"].mean()),
            "mean_seconds": float(images["seconds"].mean()),
            "n_components": {r["image"]: int(r["n_components"]) for r in images.to_dict("records")},
            "shared_model": MODEL_FILE,
            "shared": cfg.model.shared,
        }
        summary = with_left_out(summary, skipped, "file", "as no readable image")
        rep.build_report(
            ctx,
            cfg,
            summary=summary,
            images=images,
            palettes=palettes,
            selection=sels,
            shared=palette.mixture_,
            shared_table=palette.selection_,
        )
        return summary

    def apply(self, run_dir, input, config, ctx):
        from . import report as rep  # start-up time: the report module loads matplotlib

        path = Path(run_dir) / MODEL_FILE
        model = PaletteModel.load(path)[0].mixture_
        inputs = resolve_images(input, key="input", source="apply")
        skip, total = config.data.unreadable == "skip", len(inputs)
        skipped = check_headers(inputs, max_pixels=config.data.max_pixels, skip=skip)
        inputs = _left(inputs, skipped, total)
        settings = Settings.from_config(config)
        d = settings.n_features
        model_file_guard.require(
            model.means_.shape[1] == d,
            path,
            f"the palette has {model.means_.shape[1]} features, the run's settings give {d}",
        )
        _make_folders(ctx, config)
        with dask_client(config.engine) as client:
            jobs = self._jobs(
                inputs,
                settings,
                model=model,
                pool_rows=0,
                sample_only=False,
                overlay_on=config.output.overlay,
                max_pixels=config.data.max_pixels,
                skip=skip,
            )
            results = _read(run_jobs(jobs, config.run.n_jobs, ctx.progress, client=client, out=ctx.dir), skipped, total)
        images, palettes = _write_tables(ctx, results)
        summary = {
            "headline": f"{len(images)} image{'s' if len(images) != 1 else ''} segmented with the shared "
            f"{model.n_components}-colour palette of {run_dir}",
            "images": len(images),
            "mean_segments": float(images["n_segments"].mean()),
            "mean_seconds": float(images["seconds"].mean()),
        }
        summary = with_left_out(summary, skipped, "file", "as no readable image")
        rep.build_report(
            ctx,
            config,
            summary=summary,
            images=images,
            palettes=palettes,
            selection=[],
            shared=model,
            shared_table=None,
            applied=True,
        )
        return summary


__all__ = ["ImagesPipeline"]
