"""Image segmentation scored against the BSDS500 validation humans, with baselines in the same harness.

    python benchmarks/bench_images.py                 # 100 images, all methods (~10 min)
    python benchmarks/bench_images.py --images 30     # the first 30
    python benchmarks/bench_images.py --methods ours  # only gmm_apps
    python benchmarks/bench_images.py --methods ours --random-state 10   # other pixel samples
    python benchmarks/bench_images.py --methods ours --upscale 4 --working-pixels none   # 2.5-megapixel photos
    python benchmarks/bench_images.py --methods ours --skip 20 --images 80   # images 21-100
    python benchmarks/bench_images.py --methods ours --downscale 4   # thumbnails of 120 x 80

For each method: probabilistic Rand index (PRI) and variation of information
(VoI, bits), each averaged over the human segmentations of an image, then over
the images (as the BSDS benchmark does for one fixed parameter setting), and
the mean seconds per image (reading excluded, one process).

Methods:
  ours        gmm_apps images pipeline, the default config's settings
  sklearn-gmm scikit-learn GaussianMixture on every Lab pixel, K=6 (what a user writes by hand)
  kmeans      scikit-learn KMeans on Lab pixels, K=6
  felzenszwalb skimage.segmentation.felzenszwalb(scale=400, sigma=0.8, min_size=400)
  slic        skimage.segmentation.slic(n_segments=16, compactness=20, start_label=0)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "datasets" / "bsds500"

from gmm_apps.pipelines.images.config import ImagesConfig  # noqa: E402
from gmm_apps.pipelines.images.metrics import compare  # noqa: E402
from gmm_apps.pipelines.images.model import Settings, segment_image  # noqa: E402


def load(n, upscale=1, skip=0, downscale=1):
    """The first ``n`` validation images and their human segmentations; ``upscale``: both enlarged that many
    times (the photo by Lanczos, the segmentations by repetition), as a larger photo of the same scene;
    ``downscale``: both shrunk that many times (the photo by Lanczos, the segmentations by taking every such
    pixel), as a thumbnail of it."""
    import scipy.io as sio
    from PIL import Image
    from skimage import io

    files = sorted((DATA / "images").glob("*.jpg"))[skip : skip + n]
    for f in files:
        gt = sio.loadmat(DATA / "groundTruth" / f"{f.stem}.mat")["groundTruth"]
        img, truths = io.imread(f), [gt[0, i]["Segmentation"][0, 0] for i in range(gt.shape[1])]
        if upscale != 1:
            h, w = img.shape[:2]
            img = np.asarray(Image.fromarray(img).resize((w * upscale, h * upscale), Image.LANCZOS))
            truths = [np.repeat(np.repeat(t, upscale, axis=0), upscale, axis=1) for t in truths]
        if downscale != 1:
            h, w = img.shape[:2]
            img = np.asarray(Image.fromarray(img).resize((w // downscale, h // downscale), Image.LANCZOS))
            half = downscale // 2
            truths = [t[half::downscale, half::downscale][: h // downscale, : w // downscale] for t in truths]
        yield f.stem, img, truths


def ours(img, settings):
    from skimage.util import img_as_float

    return segment_image(img_as_float(img), settings).labels


def lab_pixels(img):
    from skimage.color import rgb2lab

    return rgb2lab(img).reshape(-1, 3)


def sklearn_gmm(img, _):
    from sklearn.mixture import GaussianMixture

    X = lab_pixels(img)
    return GaussianMixture(6, random_state=0).fit(X).predict(X).reshape(img.shape[:2])


def kmeans(img, _):
    from sklearn.cluster import KMeans

    X = lab_pixels(img)
    return KMeans(6, random_state=0, n_init=1).fit(X).labels_.reshape(img.shape[:2])


def felzenszwalb(img, _):
    from skimage.segmentation import felzenszwalb as fz

    return fz(img, scale=400, sigma=0.8, min_size=400)


def slic(img, _):
    from skimage.segmentation import slic as sl

    return sl(img, n_segments=16, compactness=20, start_label=0)


METHODS = {"ours": ours, "sklearn-gmm": sklearn_gmm, "kmeans": kmeans, "felzenszwalb": felzenszwalb, "slic": slic}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument(
        "--random-state", type=int, default=None, help="model.random_state for ours (default: the config's)"
    )
    ap.add_argument("--skip", type=int, default=0, help="start after this many images (a confirm split)")
    ap.add_argument("--upscale", type=int, default=1, help="enlarge every image and its segmentations this many times")
    ap.add_argument("--downscale", type=int, default=1, help="shrink every image and its segmentations this many times")
    ap.add_argument(
        "--working-pixels",
        default=None,
        help="features.working_pixels for ours: a number, or none (default: the config's)",
    )
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the BSDS500 validation images live in ../shared/datasets/bsds500")
    cfg = ImagesConfig()
    if args.random_state is not None:
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"random_state": args.random_state})})
    settings = Settings.from_config(cfg)
    if args.working_pixels is not None:
        wp = None if args.working_pixels.lower() in ("none", "null") else int(args.working_pixels)
        settings = replace(settings, working_pixels=wp)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    scores = {m: [] for m in methods}
    data = list(load(args.images, args.upscale, args.skip, args.downscale))
    for _stem, img, truths in data:
        for m in methods:
            t0 = time.perf_counter()
            labels = METHODS[m](img, settings)
            dt = time.perf_counter() - t0
            s = compare(labels, truths)
            scores[m].append((s["pri"], s["voi"], dt, int(np.unique(labels).size)))
    shape = f"({data[0][1].shape[1]}x{data[0][1].shape[0]})"
    size = f", enlarged {args.upscale} times {shape}" if args.upscale != 1 else ""
    size += f", shrunk {args.downscale} times {shape}" if args.downscale != 1 else ""
    print(
        f"BSDS500 validation, images {args.skip + 1}-{args.skip + len(data)}{size}, {sum(len(t) for _, _, t in data)} human segmentations"
    )
    print(f"{'method':14s} {'PRI':>6s} {'VoI':>6s} {'s/image':>8s} {'segments':>9s}")
    for m in methods:
        a = np.array(scores[m])
        print(f"{m:14s} {a[:, 0].mean():6.3f} {a[:, 1].mean():6.2f} {a[:, 2].mean():8.2f} {a[:, 3].mean():9.1f}")
    return scores


if __name__ == "__main__":
    main()
