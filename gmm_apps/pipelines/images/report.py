"""The images report: a grid of overlays with their palettes, per-image K, the shared palette."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...report import PALETTE, Report, figure
from .model import palette_rgb


def _palette_bar(ax, colours, shares):
    left = 0.0
    for c, s in sorted(zip(map(tuple, colours), shares), key=lambda t: -t[1]):
        ax.barh(0, s, left=left, color=c, edgecolor="white", linewidth=0.3, height=1.0)
        left += s
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.5, 0.5)
    ax.axis("off")


def _thumbnail(run_dir, stem, size=360):
    """The overlay (or the label map) shrunk, with boundaries redrawn at thumbnail scale so they stay visible."""
    from PIL import Image  # start-up time: Pillow loads only when images are read or written
    from skimage.segmentation import find_boundaries  # start-up time: scikit-image loads only when used

    with Image.open(run_dir / "labels" / f"{stem}.png") as im:
        labels = np.asarray(im)
    h, w = labels.shape
    step = max(1, int(np.ceil(max(h, w) / size)))
    small = labels[::step, ::step]
    over = run_dir / "overlays" / f"{stem}.png"
    if over.is_file():
        with Image.open(over) as im:
            pic = np.asarray(im.convert("RGB").resize(small.shape[::-1], Image.BILINEAR)).copy()
    else:
        from matplotlib import colormaps  # start-up time: matplotlib loads only when plotting

        pic = (colormaps["tab20"](small % 20)[..., :3] * 255).astype(np.uint8)
    pic[find_boundaries(small, mode="inner")] = (255, 230, 0)
    return pic


def plot_grid(run_dir, images, palettes, *, limit=48, columns=4):
    """Thumbnails of the overlays, each with its palette (mean colour of a segment, width = area share)."""
    rows = images.head(limit)
    n = len(rows)
    cols = min(columns, n)
    nrow = int(np.ceil(n / cols))
    fig = figure(3.2 * cols, 3.0 * nrow)
    grid = fig.add_gridspec(nrow * 2, cols, height_ratios=[9, 1] * nrow, hspace=0.25, wspace=0.05)
    for i, r in enumerate(rows.to_dict("records")):
        top = fig.add_subplot(grid[2 * (i // cols), i % cols])
        top.imshow(_thumbnail(run_dir, r["image"]), interpolation="nearest")
        top.set_title(f"{r['image']}  K={r['n_components']}  {r['n_segments']} segments", fontsize=8)
        top.axis("off")
        p = palettes[palettes["image"] == r["image"]]
        bar = fig.add_subplot(grid[2 * (i // cols) + 1, i % cols])
        _palette_bar(bar, p[["r", "g", "b"]].to_numpy() / 255.0, p["share"].to_numpy())
    return fig


def plot_shared_palette(colours, weights):
    fig = figure(7, 1.2)
    ax = fig.add_subplot()
    _palette_bar(ax, colours, weights)
    ax.set_title("Shared palette (component mean colours, width = mixture weight)", fontsize=9)
    return fig


def plot_selection(tables, criterion):
    fig = figure(6, 3.4)
    ax = fig.add_subplot()
    for i, t in enumerate(tables[:20]):
        t = t.sort_values("n_components")
        y = t[criterion].to_numpy()
        ax.plot(
            t["n_components"],
            (y - y.min()) / max(np.ptp(y), 1e-12),
            "o-",
            ms=3,
            color=PALETTE[i % 10],
            label=str(t["image"].iloc[0]),
        )
    ax.set_xlabel("components K")
    ax.set_ylabel(f"{criterion.upper()} (scaled per image; lower is better)")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("K chosen per image")
    return fig


def build_report(ctx, cfg, *, summary, images, palettes, selection, shared, shared_table, applied=False):
    rep = Report(
        cfg.report.title or "Image colour segmentation",
        subtitle=f"{len(images)} image{'s' if len(images) != 1 else ''}; "
        + (
            "shared palette model from an earlier run"
            if applied
            else ("one shared model" if cfg.model.shared else "one model per image")
        ),
    )
    rep.headline(summary["headline"])
    if cfg.report.plots:
        rep.image(
            ctx.save_figure(plot_grid(ctx.dir, images, palettes, limit=cfg.report.thumbnails), "grid.png"),
            caption="Region boundaries on each photo; below it the segments' mean colours, width = share of the "
            "image." + (f" First {cfg.report.thumbnails} images." if len(images) > cfg.report.thumbnails else ""),
        )
    rep.section("Per image")
    _per_image_table(rep, images)
    if summary.get("skipped"):
        rep.text(f"Left out as no readable image (data.unreadable: skip): {len(summary['skipped'])} file(s).")
        rep.table(pd.DataFrame(summary["skipped"]))
    if selection and cfg.report.plots:
        rep.image(ctx.save_figure(plot_selection(selection, cfg.model.criterion), "selection.png"))
    rep.section("Shared palette")
    rep.text(
        "The model `apply` uses: one mixture fitted on pixels pooled from every image, so a batch of new "
        "photos is segmented with one palette (label k means the same colour in every image)."
    )
    if cfg.report.plots:
        rep.image(
            ctx.save_figure(
                plot_shared_palette(palette_rgb(shared, cfg.features.color_space), shared.weights_),
                "shared_palette.png",
            )
        )
    rep.section("Method")
    f, s = cfg.features, cfg.spatial
    rep.text(
        f"Pixels are described by their {f.color_space.upper()} colour (pre-smoothed, sigma {f.blur:g})"
        + (f", their position (weight {f.position_weight:g})" if f.position_weight else "")
        + (f", local contrast (weight {f.texture_weight:g})" if f.texture_weight else "")
        + f". A Gaussian mixture ({cfg.model.covariance_type} covariance) is fitted on {cfg.model.sample_size:,} "
        f"sampled {'pixels' if cfg.model.fit_on == 'pixels' else 'quantised colours weighted by their counts'} "
        f"and evaluated at every pixel; its probability maps are smoothed (sigma {s.sigma:g}) before each pixel "
        f"takes its most probable component. Connected regions smaller than {100 * s.min_region:g}% of the image "
        f"join the neighbour across their weakest boundary; then neighbours merge across weak boundaries, "
        f"weakest first: {_boundary_rule(s)}. Sizes are for a 500-pixel image and grow with larger ones."
        + _candidates_text(cfg)
    )
    rep.caveats(
        [
            "Segments follow colour and boundaries, not objects: a textured object (fur, foliage) may split, "
            "and two touching objects of the same colour may merge.",
            "labels/*.png hold one integer per pixel (0-based); view them with a colour map, not as a photo.",
        ]
    )
    rep.write(ctx.path("report.html"))


def _per_image_table(rep, images):
    """Each image's size, segments and main colours, and what was transparent (a product cut out) when any was."""
    clear = ["transparent_share"] if "transparent_share" in images else []
    rep.table(images[["image", "width", "height", *clear, "n_components", "n_segments", "main_colours"]])
    if clear:
        rep.text(
            f"{int((images['transparent_share'] > 0).sum())} image(s) have a transparent background (a product "
            "cut out): its pixels (transparent_share of each image) are no segment, and the segments' shares "
            "are of the pixels that are there. The label maps give them the number one past the last segment."
        )


def _boundary_rule(spatial):
    levels = spatial.edge_threshold
    shown = ", ".join(f"{t:g}" for t in levels)
    shown = f"the level ({shown})" if len(levels) > 1 else shown
    if spatial.boundary == "relative":
        return (
            f"a boundary is weak when its mean colour gradient, divided by the mean gradient inside the smoother "
            f"of the two regions plus {spatial.gradient_floor:g}, is below {shown} (so the edges a texture draws "
            "inside itself do not split it)"
        )
    return f"a boundary is weak when its mean colour gradient is below {shown}"


def _candidates_text(cfg):
    fits = 1 if cfg.model.shared else cfg.model.n_fits
    levels = len(cfg.spatial.edge_threshold)
    if fits * levels == 1:
        return ""
    return (
        f" Each image gets {fits} fit{'s' if fits > 1 else ''}"
        + (" from independent pixel samples" if fits > 1 else "")
        + f", each merged to {levels} level{'s' if levels > 1 else ''}; of these {fits * levels} candidates the "
        "one that agrees most with the others (smallest total variation of information) is kept. images.csv "
        "gives its mean disagreement with the others (fit_spread_voi, bits) and its merge level (merge_level; the first fit's lowest level when several give it)."
    )
