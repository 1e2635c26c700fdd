"""The images pipeline: metrics against brute force, reading odd images, segmentation, the CLI run and apply."""

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import gmm_apps
from gmm_apps import cli
from gmm_apps.errors import DataError
from gmm_apps.pipelines.images import segment as seg
from gmm_apps.pipelines.images.data import read_image, resolve_images, to_rgb
from gmm_apps.pipelines.images.metrics import (
    compare,
    contingency,
    probabilistic_rand_index,
    rand_index,
    variation_of_information,
)
from gmm_apps.pipelines.images.model import Settings, fit_rows, segment_image, working_image
from gmm_apps.pipelines.images.pipeline import read_label_png

REPO = Path(__file__).resolve().parents[1]
BSDS = REPO.parent / "shared" / "datasets" / "bsds500"


# ------------------------------------------------------------------ metrics
def brute_rand(a, b):
    a, b = np.ravel(a), np.ravel(b)
    agree = total = 0
    for i, j in itertools.combinations(range(a.size), 2):
        total += 1
        agree += (a[i] == a[j]) == (b[i] == b[j])
    return agree / total


def brute_voi(a, b):
    a, b = np.ravel(a), np.ravel(b)
    n = a.size
    h = 0.0
    for x in np.unique(a):
        for y in np.unique(b):
            pxy = np.sum((a == x) & (b == y)) / n
            if pxy > 0:
                px, py = np.mean(a == x), np.mean(b == y)
                h -= pxy * (np.log2(pxy / px) + np.log2(pxy / py))
    return h


@pytest.mark.parametrize(
    "seed, shape, ka, kb", [(0, (5, 6), 3, 4), (1, (7, 7), 2, 6), (2, (4, 9), 5, 1), (3, (6, 6), 9, 9)]
)
def test_rand_index_and_voi_match_brute_force(seed, shape, ka, kb):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, ka, shape)
    b = rng.integers(0, kb, shape)
    assert rand_index(a, b) == pytest.approx(brute_rand(a, b), abs=1e-12)
    assert variation_of_information(a, b) == pytest.approx(brute_voi(a, b), abs=1e-12)


def test_contingency_counts_any_integer_labels():
    # small non-negative labels are counted directly; gaps, negative and huge labels take the sorting path:
    # every path gives the table of the labels present, in ascending label order
    rng = np.random.default_rng(5)
    a = rng.integers(0, 6, (9, 11))
    b = rng.integers(0, 4, (9, 11))
    want = np.array([[np.sum((a == x) & (b == y)) for y in np.unique(b)] for x in np.unique(a)])
    np.testing.assert_array_equal(contingency(a, b), want)
    gaps = np.where(a == 2, 40, a)  # label 2 absent, 40 present
    want_gaps = np.array([[np.sum((gaps == x) & (b == y)) for y in np.unique(b)] for x in np.unique(gaps)])
    np.testing.assert_array_equal(contingency(gaps, b), want_gaps)
    np.testing.assert_array_equal(contingency(gaps - 20, b), want_gaps)
    np.testing.assert_array_equal(contingency(gaps * 10**9, b), want_gaps)


def test_metrics_against_scikit_learn_and_scipy():
    from scipy.stats import entropy
    from sklearn.metrics import mutual_info_score, rand_score

    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, (30, 40))
    b = (a + (rng.random(a.shape) < 0.2)) % 5
    assert rand_index(a, b) == pytest.approx(rand_score(a.ravel(), b.ravel()), abs=1e-12)
    ha = entropy(np.bincount(a.ravel()), base=2)
    hb = entropy(np.bincount(b.ravel()), base=2)
    mi = mutual_info_score(a.ravel(), b.ravel()) / np.log(2)
    assert variation_of_information(a, b) == pytest.approx(ha + hb - 2 * mi, abs=1e-10)


def test_metric_extremes_and_label_invariance():
    a = np.repeat(np.arange(4), 6).reshape(4, 6)
    assert rand_index(a, a + 10) == 1.0 and variation_of_information(a, 7 - a) == 0.0
    one = np.zeros_like(a)
    # everything in one region against 4 equal regions: H = 2 bits
    assert variation_of_information(one, a) == pytest.approx(2.0)
    s = compare(a, [a, one])
    assert s["pri"] == pytest.approx((1.0 + rand_index(a, one)) / 2)
    assert s["voi"] == pytest.approx(1.0)
    assert probabilistic_rand_index(a, [a, one]) == pytest.approx(s["pri"])
    assert contingency(a, one).shape == (4, 1)
    with pytest.raises(DataError, match="differ in size"):
        rand_index(a, a[:2])


# ------------------------------------------------------------------ reading
def test_to_rgb_grey_rgba_16bit():
    grey = np.array([[0, 255]], np.uint8)
    assert np.allclose(to_rgb(grey), [[[0, 0, 0], [1, 1, 1]]])
    rgba = np.array([[[255, 0, 0, 0], [255, 0, 0, 255]]], np.uint8)  # transparent red -> white
    assert np.allclose(to_rgb(rgba), [[[1, 1, 1], [1, 0, 0]]])
    deep = np.array([[1000, 1001, 65535]], np.uint16)
    out = to_rgb(deep)
    assert out[0, 0, 0] != out[0, 1, 0] and out[0, 2, 0] == 1.0  # 16-bit precision kept
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]"):
        to_rgb(np.full((2, 2, 3), 2.0))
    with pytest.raises(DataError, match="grey, RGB or RGBA"):
        to_rgb(np.zeros((2, 2, 5)))


def test_a_cameras_12_bits_in_16_bit_pixels_and_a_tiff_stack_read_as_the_picture(tmp_path, gmm_log):
    import tifffile

    rgb = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    rgb[0, 0] = 255  # the brightest value the sensor gives
    twelve = (rgb.astype(np.uint32) * 4095 // 255).astype(np.uint16)
    tifffile.imwrite(tmp_path / "cam.tif", twelve, photometric="rgb")
    got = read_image(tmp_path / "cam.tif")
    # scaled by 4,095, not 65,535 (a nearly black picture whose colours all merge)
    np.testing.assert_allclose(got, twelve / 4095.0)
    np.testing.assert_allclose(got, rgb / 255.0, atol=1 / 4095)
    assert "values up to 4095: read as 12-bit" in gmm_log.text
    # full 16-bit range: as before
    assert to_rgb(np.array([[4096, 65535]], np.uint16))[0, 0, 0] == pytest.approx(4096 / 65535)
    # a stack (z-planes, time points): its first page, with a warning
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([rgb, rgb[::-1], rgb[:, ::-1]]), photometric="rgb")
    np.testing.assert_allclose(read_image(tmp_path / "stack.tif"), rgb / 255.0)
    assert "3 pages (a stack); the first is segmented" in gmm_log.text
    # an animated GIF or WebP: its first frame, said as a stack's first page is
    frames = [Image.fromarray(a) for a in (rgb, rgb[::-1], rgb[:, ::-1])]
    frames[0].save(tmp_path / "clip.webp", save_all=True, append_images=frames[1:], lossless=True)
    gmm_log.clear()
    np.testing.assert_allclose(read_image(tmp_path / "clip.webp"), rgb / 255.0)
    assert "clip.webp: 3 frames (an animation); the first is segmented" in gmm_log.text
    frames[0].save(tmp_path / "still.webp", lossless=True)  # one frame: nothing to say
    gmm_log.clear()
    read_image(tmp_path / "still.webp")
    assert "frames" not in gmm_log.text


def test_jpegs_saved_as_jfif_jpeg_2000_and_a_labs_uncompressed_pictures_are_found_and_read(tmp_path, gmm_log):
    """A folder as a browser on Windows fills it (.jfif), an archive's JPEG 2000 and a lab's TGA / PGM pictures:
    each found in the folder (they were left out as 'not of a kind read here') and read as Pillow decodes it."""
    rgb = (np.random.default_rng(4).random((30, 40, 3)) * 255).astype(np.uint8)
    saved = {"web.jfif": "JPEG", "scan.jpe": "JPEG", "archive.jp2": None, "render.tga": None, "lab.pgm": None}
    for name, fmt in saved.items():
        im = Image.fromarray(rgb).convert("L") if name.endswith(".pgm") else Image.fromarray(rgb)
        im.save(tmp_path / name, format=fmt)
    assert sorted(Path(f).name for f in resolve_images(str(tmp_path))) == sorted(saved)
    assert "left out" not in gmm_log.text
    for name in saved:
        want = np.asarray(Image.open(tmp_path / name).convert("RGB")) / 255.0
        np.testing.assert_array_equal(read_image(tmp_path / name), want)


def test_compressed_tiffs_as_scanners_and_editors_save_them_are_read(tmp_path):
    """LZW (Photoshop's and Preview's default), JPEG inside a TIFF (a scanner's), a 16-bit picture in LZW and a
    bilevel scan in CCITT Group 4 are read as Pillow decodes them (tifffile alone refused every one as 'not a
    readable image': their codecs come with imagecodecs)."""
    import tifffile

    rng = np.random.default_rng(3)
    rgb = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    np.testing.assert_array_equal(read_image(tmp_path / "lzw.tif"), rgb / 255.0)
    Image.fromarray(rgb).save(tmp_path / "jpeg.tif", compression="jpeg", quality=90)
    pillow = np.asarray(Image.open(tmp_path / "jpeg.tif").convert("RGB")) / 255.0
    np.testing.assert_allclose(read_image(tmp_path / "jpeg.tif"), pillow, atol=2 / 255)
    sixteen = (rng.random((40, 60, 3)) * 65535).astype(np.uint16)
    sixteen[0, 0] = 65535
    tifffile.imwrite(tmp_path / "sixteen.tif", sixteen, photometric="rgb", compression="lzw")
    np.testing.assert_allclose(read_image(tmp_path / "sixteen.tif"), sixteen / 65535.0)
    ink = rgb[..., 0] > 128
    Image.fromarray(ink).convert("1").save(tmp_path / "scan.tif", compression="group4")
    np.testing.assert_array_equal(read_image(tmp_path / "scan.tif"), np.repeat(ink[..., None], 3, axis=2) * 1.0)


def test_read_image_formats(tmp_path):
    import tifffile

    rgb = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    yy, xx = np.mgrid[0:20, 0:30]
    smooth = np.dstack([yy * 12, xx * 8, 255 - xx * 8]).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(np.dstack([rgb, np.full((20, 30), 255, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "deep.png")
    tifffile.imwrite(tmp_path / "t.tif", rgb.astype(np.uint16) * 257)
    assert np.allclose(read_image(tmp_path / "a.png") * 255, rgb)
    assert np.abs(read_image(tmp_path / "a.jpg") * 255 - smooth).mean() < 4
    assert np.allclose(read_image(tmp_path / "rgba.png") * 255, rgb)
    assert np.allclose(read_image(tmp_path / "deep.png")[..., 0] * 255, rgb[..., 0])
    assert np.allclose(read_image(tmp_path / "t.tif") * 255, rgb)
    # a GIF: a palette image, an animation read as its first frame
    frames = [Image.fromarray(smooth).quantize(64), Image.fromarray(255 - smooth).quantize(64)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    want = np.asarray(frames[0].convert("RGB"), dtype=float)
    assert np.allclose(read_image(tmp_path / "anim.gif") * 255, want)
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(DataError, match="x.png: not a readable image"):
        read_image(tmp_path / "x.png")
    assert read_image("skimage:chelsea").shape == (300, 451, 3)


@pytest.mark.parametrize(
    "orientation, turn",
    [(1, lambda a: a), (3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1)), (8, np.rot90)],
)
def test_a_phone_photo_is_read_the_way_up_a_viewer_shows_it(tmp_path, orientation, turn):
    # the camera stores the pixels as the sensor saw them and says in EXIF how to turn them (TIFF/EXIF tag 274)
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10, :, 0] = 255  # a red band along the stored top
    stored[:, :8, 2] = 255  # a blue band down the stored left
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "photo.png", exif=exif)
    got = read_image(tmp_path / "photo.png")
    np.testing.assert_allclose(got * 255, turn(stored))


def test_a_photo_folder_reads_webp_and_says_which_files_it_left_out(tmp_path_factory, gmm_log):
    tmp_path, runs = tmp_path_factory.mktemp("photos"), tmp_path_factory.mktemp("runs")
    rgb = (np.random.default_rng(1).random((12, 16, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "b.webp", lossless=True)
    (tmp_path / "c.cr2").write_bytes(b"II*\0\x10\0\0\0CR")  # a camera's raw file, not read here
    (tmp_path / "notes.txt").write_text("shot in May")
    got = resolve_images(str(tmp_path))
    assert [Path(f).name for f in got] == ["a.png", "b.webp"]
    assert "2 file(s) left out, not of a kind read here (.cr2 1, .txt 1)" in gmm_log.text
    assert "convert .cr2 to JPEG or TIFF (export them from the camera's or a photo editor's software)" in gmm_log.text
    np.testing.assert_allclose(read_image(got[1]) * 255, rgb)
    # a run says it once (its config check did), not again when the run starts
    gmm_log.clear()
    sets = [f"data.path={tmp_path}", "run.n_jobs=1", "model.n_fits=1", "report.plots=false"]
    args = ["run", str(REPO / "configs" / "images.yaml"), "--out", str(runs / "r"), "--quiet"]
    assert cli.main([*args, *(a for x in sets for a in ("--set", x))]) == 0
    assert gmm_log.text.count("left out, not of a kind read here") == 1


def linear_rgb_profile():
    """An ICC v2 display profile written byte by byte: sRGB's primaries (adapted to D50) and a linear tone
    curve, so that its values in sRGB are the sRGB transfer function of them."""
    import struct

    def s15(x):
        return struct.pack(">i", round(x * 65536))

    def xyz(x, y, z):
        return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)

    text = b"linear test RGB\0"
    curve = b"curv" + bytes(8)  # no points: the identity
    tags = [
        (b"desc", b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(8 + 3 + 67)),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + bytes(4) + b"none\0\0\0\0"),
    ]
    start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", start + len(data), len(body))
        data += body + bytes(-len(body) % 4)
    header = struct.pack(">I", start + len(data)) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
    header += bytes(12) + b"acsp" + bytes(28) + s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(48)
    return header + struct.pack(">I", len(tags)) + table + data


def test_an_embedded_colour_profile_is_converted_to_srgb_as_a_viewer_does(tmp_path, gmm_log):
    """A photo tagged with its own colour space (an iPhone's Display P3, Adobe RGB) is read in sRGB, as
    colour-managed viewers show it: by the sRGB formula on a linear profile; a photo tagged sRGB, and one
    with a broken profile (warned), are read as stored."""
    from PIL import ImageCms

    ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (4, 1, 3))
    ramp[..., 1] = ramp[..., 1][:, ::-1]
    Image.fromarray(ramp).save(tmp_path / "linear.png", icc_profile=linear_rgb_profile())
    v = ramp / 255
    srgb = np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)
    np.testing.assert_allclose(read_image(tmp_path / "linear.png"), srgb, atol=1.01 / 255)
    tagged = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(ramp).save(tmp_path / "srgb.png", icc_profile=tagged)
    Image.fromarray(ramp).save(tmp_path / "broken.png", icc_profile=b"not a profile")
    for name in ("srgb.png", "broken.png"):
        np.testing.assert_array_equal(read_image(tmp_path / name) * 255, ramp)
    assert "broken.png: colour profile unreadable" in gmm_log.text and "srgb.png" not in gmm_log.text


def test_four_band_tiffs_are_read_as_their_tags_say(tmp_path, gmm_log):
    """A fourth band is transparency only when the TIFF says so: an RGB picture with an unnamed extra band
    keeps its colour, CMYK inks are converted as Pillow converts them, and four bands of no stated colour
    (a satellite's blue, green, red and near-infrared) are refused before any picture is segmented."""
    import tifffile

    from gmm_apps.pipelines.images.data import check_headers

    bands = (np.random.default_rng(0).random((20, 30, 4)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgba.tif", bands)  # the fourth band tagged as unassociated alpha
    tifffile.imwrite(tmp_path / "extra.tif", bands, photometric="rgb", extrasamples=["unspecified"])
    tifffile.imwrite(tmp_path / "cmyk.tif", bands, photometric="separated")
    tifffile.imwrite(
        tmp_path / "scene.tif", np.moveaxis(bands, -1, 0), photometric="minisblack", planarconfig="separate"
    )
    alpha = bands[..., 3:] / 255
    np.testing.assert_allclose(read_image(tmp_path / "rgba.tif"), bands[..., :3] / 255 * alpha + (1 - alpha))
    np.testing.assert_allclose(read_image(tmp_path / "extra.tif"), bands[..., :3] / 255)
    assert "extra.tif: the fourth band is not transparency and is left out" in gmm_log.text
    pillow = np.asarray(Image.fromarray(bands, mode="CMYK").convert("RGB"), dtype=float) / 255
    np.testing.assert_allclose(read_image(tmp_path / "cmyk.tif"), pillow, atol=1 / 255)
    with pytest.raises(DataError, match="scene.tif: 4 bands with no colour stated"):
        check_headers([tmp_path / "extra.tif", tmp_path / "scene.tif"])


def test_iphone_heic_and_avif_photos_are_read_and_segmented(tmp_path_factory):
    """An iPhone saves HEIC, web exports AVIF: both read as the picture (to within their compression), and a
    folder of them is segmented at the picture's size."""
    import pillow_heif

    photos, runs = tmp_path_factory.mktemp("photos"), tmp_path_factory.mktemp("runs")
    rgb = (read_image("skimage:chelsea")[::2, ::2] * 255).round().astype(np.uint8)
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(photos / "cat.heic", quality=-1)  # lossless
    Image.fromarray(rgb).save(photos / "cat.avif", quality=100)
    assert np.abs(read_image(photos / "cat.heic") * 255 - rgb).mean() < 1.5
    assert np.abs(read_image(photos / "cat.avif") * 255 - rgb).mean() < 2.5
    assert [Path(f).name for f in resolve_images(str(photos))] == ["cat.avif", "cat.heic"]
    sets = [f"data.path={photos}", "run.n_jobs=1", "model.n_fits=1", "report.plots=false"]
    args = ["run", str(REPO / "configs" / "images.yaml"), "--out", str(runs / "r"), "--quiet"]
    assert cli.main([*args, *(a for x in sets for a in ("--set", x))]) == 0
    table = pd.read_csv(runs / "r" / "images.csv").set_index("image")
    assert sorted(table.index) == ["cat_avif", "cat_heic"]
    assert (table["width"] == rgb.shape[1]).all() and (table["height"] == rgb.shape[0]).all()
    for name in table.index:
        assert np.asarray(Image.open(runs / "r" / "labels" / f"{name}.png")).shape == rgb.shape[:2]


def test_a_file_that_is_no_image_is_refused_before_any_photo_is_segmented(tmp_path, capsys, monkeypatch):
    from gmm_apps.pipelines.images import pipeline as images_pipeline

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray((blocks()[0] * 255).astype(np.uint8)).save(photos / "a.png")
    (photos / "zz.jpg").write_text("<html>404 Not Found</html>")  # a failed download saved as a photo

    def no_work(*args, **kwargs):
        raise AssertionError("a photo was segmented before the folder was checked")

    monkeypatch.setattr(images_pipeline, "segment_image", no_work)
    out = tmp_path / "r"
    sets = ["--set", f"data.path={photos}", "--set", "run.n_jobs=1"]
    code = cli.main(["run", str(REPO / "configs" / "images.yaml"), "--out", str(out), *sets])
    err = capsys.readouterr().err
    assert code == 2 and "zz.jpg: not a readable image" in err and "Traceback" not in err
    assert not out.exists()
    code = cli.main(
        ["run", str(REPO / "configs" / "images.yaml"), "--out", str(out), *sets, "--set", "data.max_pixels=1000"]
    )
    assert code == 2 and "a.png: image is 90x60 = 5,400 pixels, more than data.max_pixels" in capsys.readouterr().err
    # a tracking pixel saved beside the photos: too small, refused from its header too
    (photos / "zz.jpg").unlink()
    Image.fromarray(np.zeros((1, 3, 3), np.uint8)).save(photos / "zz.png")
    code = cli.main(["run", str(REPO / "configs" / "images.yaml"), "--out", str(out), *sets])
    err = capsys.readouterr().err
    assert code == 2 and "zz.png: image is 3x1 pixels; need at least 4x4 to segment" in err and not out.exists()


@pytest.mark.parametrize("shared", [False, True])
def test_unreadable_files_are_left_out_and_listed_when_asked(tmp_path, capsys, gmm_log, shared):
    # a folder of photos with a download cut short (its header whole: found only when decoded), an empty copy
    # and an error page saved as .jpg: refused by default, naming the key; with skip, the rest segmented
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, im in enumerate(blocks()[:1] * 2):
        Image.fromarray((np.roll(im, 7 * i, axis=1) * 255).astype(np.uint8)).save(photos / f"ok{i}.png")
    whole = photos.parent / "whole.jpg"
    Image.fromarray((blocks()[0] * 255).astype(np.uint8)).save(whole, quality=95)
    (photos / "cut.jpg").write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    (photos / "empty.png").write_bytes(b"")
    (photos / "page.jpg").write_text("<html>404 Not Found</html>")
    sets = ["--set", f"data.path={photos}", "--set", "run.n_jobs=1", "--set", "model.n_fits=1"]
    sets += ["--set", "model.sample_size=1000", "--set", f"model.shared={str(shared).lower()}"]
    run = ["run", str(REPO / "configs" / "images.yaml"), "--quiet", *sets]
    assert cli.main([*run, "--out", str(tmp_path / "r")]) == 2 and not (tmp_path / "r").exists()
    assert "data.unreadable: skip leaves out the files that are no readable image" in capsys.readouterr().err
    (photos / "empty.png").unlink()
    (photos / "page.jpg").unlink()  # the cut one is found only as it is decoded: refused then, nothing written
    assert cli.main([*run, "--out", str(tmp_path / "r")]) == 2 and not (tmp_path / "r").exists()
    assert "cut.jpg: not a readable image" in capsys.readouterr().err
    (photos / "empty.png").write_bytes(b"")
    assert cli.main([*run, "--out", str(tmp_path / "r"), "--set", "data.unreadable=skip"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert pd.read_csv(tmp_path / "r" / "images.csv")["image"].tolist() == ["ok0", "ok1"]
    assert [Path(s["file"]).name for s in summary["skipped"]] == ["empty.png", "cut.jpg"]
    assert "image file is truncated" in summary["skipped"][1]["reason"]
    assert summary["headline"].endswith("; 2 files left out as no readable image")
    assert "cut.jpg: not a readable image" in gmm_log.text and "left out (data.unreadable: skip)" in gmm_log.text
    assert "Left out as no readable image" in (tmp_path / "r" / "report.html").read_text()
    # nothing readable at all: said in one line
    for f in ("ok0.png", "ok1.png"):
        (photos / f).unlink()
    assert cli.main([*run, "--out", str(tmp_path / "n"), "--set", "data.unreadable=skip"]) == 2
    assert "none of the 2 files is a readable image" in capsys.readouterr().err


def test_photos_sharing_a_file_name_are_named_by_their_folders(tmp_path):
    from gmm_apps.pipelines.images.data import output_names

    # cameras restart their counters: DCIM/2023/IMG_0001.jpg and DCIM/2024/IMG_0001.jpg
    for i, d in enumerate(("2023", "2024")):
        (tmp_path / "DCIM" / d).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(tmp_path / "DCIM" / d / "IMG_0001.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "DCIM" / "2024" / "IMG_0002.png")
    inputs = resolve_images(str(tmp_path / "DCIM"))
    assert output_names(inputs) == ["2023_IMG_0001", "2024_IMG_0001", "IMG_0002"]
    assert output_names(["x/a/p.png", "y/a/p.png", "skimage:coffee"]) == ["x_a_p", "y_a_p", "coffee"]
    # one picture saved in two formats in one folder: the extension tells them apart
    assert output_names(["a/p.jpg", "a/p.png", "a/q.png"]) == ["p_jpg", "p_png", "q"]
    assert output_names(["a/p.jpg", "a/p.png", "b/p.jpg"]) == ["a_p", "p_png", "b_p"]
    out = tmp_path / "run"
    sets = ["--set", f"data.path={tmp_path / 'DCIM'}", "--set", "report.plots=false", "--set", "model.n_components=2"]
    assert cli.main(["run", str(REPO / "configs" / "images.yaml"), "--out", str(out), "--quiet", *sets]) == 0
    assert sorted(p.name for p in (out / "labels").iterdir()) == [
        "2023_IMG_0001.png",
        "2024_IMG_0001.png",
        "IMG_0002.png",
    ]
    rows = pd.read_csv(out / "images.csv").set_index("image")
    assert rows.loc["2024_IMG_0001", "input"].endswith("2024/IMG_0001.png")


# ------------------------------------------------------------------ segmentation
def blocks(h=60, w=90, noise=0.03, seed=0):
    """Three connected colour blocks with noise, and their true labels."""
    truth = np.zeros((h, w), int)
    truth[:, w // 3 :] = 1
    truth[h // 2 :, 2 * w // 3 :] = 2
    colours = np.array([[0.8, 0.1, 0.1], [0.1, 0.6, 0.2], [0.2, 0.3, 0.9]])
    rgb = colours[truth] + np.random.default_rng(seed).normal(0, noise, (h, w, 3))
    return np.clip(rgb, 0, 1), truth


def test_segment_recovers_blocks():
    from sklearn.metrics import adjusted_rand_score

    rgb, truth = blocks()
    res = segment_image(rgb, Settings.defaults(n_components=(3,), position_weight=0.0))
    assert adjusted_rand_score(truth.ravel(), res.labels.ravel()) > 0.99
    assert res.shares.sum() == pytest.approx(1.0)
    # the palette holds the blocks' colours
    got = sorted(map(tuple, np.round(res.colours, 1)))
    assert got == sorted(map(tuple, np.round(np.array([[0.8, 0.1, 0.1], [0.1, 0.6, 0.2], [0.2, 0.3, 0.9]]), 1)))


def test_medoid_of_several_fits():
    from gmm_apps.pipelines.images.model import Segmentation, medoid

    def fake(labels):
        return Segmentation(
            labels=np.asarray(labels), classes=None, model=None, n_components=0, colours=None, shares=None
        )

    a, b, c = fake([[0, 0, 1, 1]]), fake([[0, 0, 1, 1]]), fake([[0, 1, 1, 1]])
    chosen, spread = medoid([c, a, b])
    assert chosen is a  # the agreeing pair wins; ties go to the earliest
    assert spread == pytest.approx(variation_of_information(a.labels, c.labels) / 2)
    assert medoid([c]) == (c, None)
    # on an image: the kept segmentation is one of the candidates (fits from seeds r, r+1, r+2, each merged
    # to every level), the one with the smallest total VoI to the others; identical candidates count each time
    rgb, _ = blocks(noise=0.08)
    levels = (0.3, 0.7, 1.5)
    singles = [
        segment_image(rgb, Settings.defaults(n_fits=1, random_state=r, edge_threshold=(t,))).labels
        for r in (4, 5, 6)
        for t in levels
    ]
    res = segment_image(rgb, Settings.defaults(n_fits=3, random_state=4, edge_threshold=levels))
    totals = [sum(variation_of_information(x, y) for y in singles) for x in singles]
    np.testing.assert_array_equal(res.labels, singles[int(np.argmin(totals))])
    assert res.fit_spread == pytest.approx(min(totals) / (len(singles) - 1))
    assert res.level == levels[int(np.argmin(totals)) % len(levels)]


def test_merge_levels_are_prefixes_of_one_merge():
    rng = np.random.default_rng(0)
    regions = seg.connected_regions(rng.integers(0, 3, (30, 40)))
    edges = rng.gamma(2.0, 10.0, (30, 40)).astype(np.float32)
    for relative in (False, True):
        levels = [0.9, 0.3, 0.6] if relative else [30.0, 10.0, 20.0]
        together = seg.merge_regions(regions, edges, min_size=5, edge_threshold=levels, relative=relative)
        for level, got in zip(levels, together):
            alone = seg.merge_regions(regions, edges, min_size=5, edge_threshold=level, relative=relative)
            np.testing.assert_array_equal(got, alone)
        counts = [len(np.unique(m)) for m in together]
        assert counts[1] >= counts[2] >= counts[0]


def test_relative_boundaries_merge_texture_not_smooth_edges():
    # left: two smooth regions with a step between them; right: two halves of one texture whose shared boundary is
    # no stronger than the gradients inside the texture
    regions = np.zeros((20, 40), int)
    regions[:, 10:20] = 1
    regions[:, 20:30] = 2
    regions[:, 30:] = 3
    edges = np.zeros((20, 40), np.float32)
    edges[:, 9:11] = 30.0  # smooth 0 | smooth 1: boundary 30, insides about 0
    edges[:, 20:] = 40.0  # texture everywhere in 2 and 3 (and across their boundary)
    edges[:, 19:21] = 60.0  # a strong edge between smooth 1 and the texture
    # boundary mean strengths (max of the two pixels across the boundary): 0|1 -> 30, 1|2 -> 60, 2|3 -> 40
    absolute = seg.merge_regions(regions, edges, edge_threshold=35.0)
    assert len(np.unique(absolute)) == 3  # merges the smooth pair, keeps the texture split
    # relative strengths, by hand: inner means are 3 (region 0), 9 (1), 42 (2), 40 (3)
    #   0|1: 30 / (3 + 20) = 1.30,  1|2: 60 / (9 + 20) = 2.07,  2|3: 40 / (min(42, 40) + 20) = 0.667
    relative = seg.merge_regions(regions, edges, edge_threshold=0.7, relative=True, gradient_floor=20.0)
    assert relative[0, 0] != relative[0, 15] and relative[0, 25] == relative[0, 35]
    below = seg.merge_regions(regions, edges, edge_threshold=0.66, relative=True, gradient_floor=20.0)
    assert len(np.unique(below)) == 4
    assert len(np.unique(relative)) == 3


def test_bic_choice_and_colour_counts():
    rgb, truth = blocks(noise=0.01)
    res = segment_image(
        rgb,
        Settings.defaults(
            n_components=(1, 2, 3, 4, 5),
            position_weight=0.0,
            fit_on="colours",
            quantise=1.0,
            blur=0.0,
            min_region=0.0,
            edge_threshold=0.0,
        ),
    )
    assert res.n_components == 3
    assert list(res.selection["n_components"]) == [1, 2, 3, 4, 5]
    X, w = fit_rows(
        np.repeat(np.eye(3), [5, 7, 9], axis=0),
        Settings.defaults(fit_on="colours", quantise=0.5),
        np.random.default_rng(0),
    )
    assert sorted(w) == [5, 7, 9] and X.shape == (3, 3)


def test_merge_regions_small_then_weak_boundaries():
    # four regions: a big left half, a big right half, a 4-pixel speck in the left, a strip in the right
    regions = np.zeros((20, 20), int)
    regions[:, 10:] = 1
    regions[5:7, 3:5] = 2
    regions[:, 18:] = 3
    edges = np.zeros((20, 20), np.float32)
    edges[:, 9:11] = 50.0  # strong boundary between the halves
    merged = seg.merge_regions(regions, edges, min_size=10, edge_threshold=5.0)
    assert len(np.unique(merged)) == 2  # speck joined the left, strip (weak boundary) joined the right
    assert np.array_equal(merged, (np.arange(20) >= 10)[None, :].repeat(20, 0).astype(int))
    kept = seg.merge_regions(regions, edges, min_size=0, edge_threshold=0.0)
    assert len(np.unique(kept)) == 4
    everything = seg.merge_regions(regions, edges, min_size=0, edge_threshold=100.0)
    assert np.unique(everything).tolist() == [0]


def test_spatial_smoothing_removes_speckle():
    rgb, truth = blocks(noise=0.3, seed=3)
    rough = segment_image(
        rgb,
        Settings.defaults(
            n_components=(3,), position_weight=0.0, blur=0.0, sigma=0.0, min_region=0.0, edge_threshold=0.0
        ),
    )
    smooth = segment_image(rgb, Settings.defaults(n_components=(3,), position_weight=0.0, blur=0.0))
    assert len(np.unique(smooth.labels)) <= 4 < len(np.unique(rough.labels))
    assert compare(smooth.labels, [truth])["voi"] < compare(rough.labels, [truth])["voi"]


def test_sizes_scale_with_image():
    assert seg.size_scale((300, 500)) == 1.0 and seg.size_scale((1000, 4000, 3)) == 8.0
    # as given from 250 to 500 pixels (BSDS500's 481), and shrinking with a thumbnail below
    assert seg.size_scale((250, 160)) == seg.size_scale((321, 481)) == 1.0 and seg.size_scale((64, 48)) == 64 / 250


def test_an_icon_of_two_colours_is_two_segments_not_a_third_along_its_edge(tmp_path):
    """A 64-pixel icon smoothed as a 500-pixel photo is (2 pixels of posterior smoothing across a 32-pixel
    square) blurs a band along its edge into a segment of its own; its sizes shrink with it."""
    folder = tmp_path / "icons"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        a = np.zeros((64, 64, 3), np.uint8)
        a[:] = rng.integers(0, 255, 3)
        a[16:48, 16:48] = rng.integers(0, 255, 3)
        Image.fromarray(a).save(folder / f"i{i}.png")
    r = gmm_apps.run("images", out=tmp_path / "r", set=[f"data.path={folder}", "run.n_jobs=1", "report.plots=false"])
    sizes = r.tables["palettes"].groupby("image").size()
    assert (sizes == 2).sum() >= 5, sizes  # 2 of 6 when every image was smoothed as a 500-pixel one


def _scene(f, seed=0):
    """Four soft-coloured regions, one with a wavy border, drawn at f times 240 x 320 pixels, and their labels."""
    h, w = 240 * f, 320 * f
    r, c = np.mgrid[0:h, 0:w] / f
    truth = (r > 120).astype(int) * 2 + (c > 160 + 40 * np.sin(r / 30)).astype(int)
    colours = np.array([[0.55, 0.45, 0.4], [0.45, 0.5, 0.45], [0.4, 0.45, 0.55], [0.5, 0.5, 0.5]])
    rgb = colours[truth] + np.random.default_rng(seed).normal(0, 0.03, (h, w, 3))
    return np.clip(rgb, 0, 1), truth


def test_a_large_photo_is_segmented_like_its_thumbnail_and_labelled_at_full_size():
    from sklearn.metrics import adjusted_rand_score

    settings = Settings.defaults(n_fits=1)
    for f in (1, 5):  # 320 pixels wide, and 1600 (1.9 megapixels: segmented as a reduced copy)
        rgb, truth = _scene(f)
        res = segment_image(rgb, settings)
        assert res.labels.shape == truth.shape
        # edges measured per pixel of the image would weaken five times and merge the regions (ARI 0.0)
        assert adjusted_rand_score(truth.ravel(), res.labels.ravel()) > 0.85, f
    # an edge has the same strength in a 500-pixel thumbnail and in the photo four times its size, each
    # blurred as the pipeline blurs it (1 pixel of a 500-pixel image)
    thumb = np.zeros((375, 500, 3))
    thumb[:, 250:] = 0.6
    photo = np.repeat(np.repeat(thumb, 4, axis=0), 4, axis=1)
    small = seg.edge_strength(seg.pixel_features(thumb, color_space="rgb", blur=1.0, position_weight=0)[1])
    large = seg.edge_strength(seg.pixel_features(photo, color_space="rgb", blur=1.0, position_weight=0)[1])
    # (within the Sobel filter's discretisation, which blunts the thumbnail's one-pixel blur by about a fifth;
    # per pixel of each image the photo's edge would be a quarter as strong)
    assert large.max() == pytest.approx(small.max(), rel=0.3)


def test_working_copy_and_enlarged_labels():
    rgb = np.random.default_rng(0).random((1500, 2000, 3))
    assert working_image(rgb, None) is rgb and working_image(rgb, 4_000_000) is rgb
    small = working_image(rgb, 1_000_000)
    assert small.shape == (866, 1154, 3) and small.min() >= 0 and small.max() <= 1
    labels = np.random.default_rng(1).integers(0, 5, (30, 40))
    # nearest: every enlarged pixel is its small pixel (np.kron for a whole factor)
    np.testing.assert_array_equal(
        seg.enlarge_labels(labels, (90, 160), smooth=False), np.kron(labels, np.ones((3, 4), int))
    )
    # smooth: the centre of each enlarged pixel keeps its label; a straight border stays where it was
    up = seg.enlarge_labels(labels, (90, 160))
    assert (up[1::3, 2::4] == labels).mean() > 0.6
    half = np.zeros((30, 40), int)
    half[:, 20:] = 1
    np.testing.assert_array_equal(seg.enlarge_labels(half, (90, 160)), np.kron(half, np.ones((3, 4), int)))


def test_smooth_enlarged_labels_are_those_of_every_label_zoomed_bilinearly():
    """The reference: each label's indicator enlarged by scipy's zoom (order 1, pixel edges aligned), the label
    with the largest kept (the smallest on a tie); noise maps (ties everywhere), blocky maps, factors whole and
    not, one side not enlarged, the decision made band by band."""
    from scipy import ndimage as ndi  # the reference only

    def zoomed(labels, shape):
        out = np.zeros(shape, dtype=labels.dtype)
        best = np.full(shape, -1.0, dtype=np.float32)
        factors = (shape[0] / labels.shape[0], shape[1] / labels.shape[1])
        for k in np.unique(labels):
            up = ndi.zoom((labels == k).astype(np.float32), factors, order=1, mode="nearest", grid_mode=True)
            out[up > best], best[up > best] = k, up[up > best]
        return out

    rng = np.random.default_rng(0)
    cases = []
    for t in range(24):
        h, w = (int(v) for v in rng.integers(2, 50, 2))
        k = int(rng.integers(2, 7))
        labels = rng.integers(0, k, (h, w))
        if t % 2:
            labels = np.kron(rng.integers(0, k, (h // 3 + 1, w // 3 + 1)), np.ones((3, 3), int))[:h, :w]
        shape = (max(h, int(h * rng.uniform(1, 6))), w if t % 5 == 0 else int(w * rng.uniform(1, 6)) + 1)
        cases.append((labels, shape))
    cases.append((np.kron(rng.integers(0, 4, (5, 5)), np.ones((4, 4), int)), (60, 60)))  # whole factors
    old = seg.ENLARGE_ROWS
    try:
        seg.ENLARGE_ROWS = 7  # several bands on every map
        for labels, shape in cases:
            np.testing.assert_array_equal(seg.enlarge_labels(labels, shape), zoomed(labels, shape), str(shape))
    finally:
        seg.ENLARGE_ROWS = old


def test_too_small_image_is_refused():
    with pytest.raises(DataError, match="1x1 pixels"):
        segment_image(np.zeros((1, 1, 3)), Settings.defaults())


# ------------------------------------------------------------------ the pipeline through the CLI
def photo_folder(tmp):
    d = tmp / "photos"
    d.mkdir()
    rgb, _ = blocks(80, 120)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(d / "blocks.png")
    rgba = np.dstack([(rgb[::-1] * 255).astype(np.uint8), np.full(rgb.shape[:2], 200, np.uint8)])
    Image.fromarray(rgba).save(d / "rgba.png")
    Image.fromarray((rgb[..., 1] * 65535).astype(np.uint16)).save(d / "deep.png")
    return d


def _messages(log, out):
    """A run.log's messages, their times, timings and run folder aside."""
    lines = [ln.split(" ", 3)[-1].replace(str(out), "OUT") for ln in log.read_text().splitlines() if ln[:2] == "20"]
    return [re.sub(r"\d+\.\d+ s\b", "s", ln) for ln in lines]


def run_cli(args):
    return cli.main([*args, "--quiet"])


def test_run_and_apply(tmp_path):
    photos = photo_folder(tmp_path)
    common = ["--set", f"data.path={photos}", "--set", "run.n_jobs=2", "--set", "model.n_components=[2,3,4]"]
    out = tmp_path / "run"
    assert run_cli(["run", str(REPO / "configs" / "images.yaml"), "--out", str(out), *common]) == 0
    for stem, shape in (("blocks", (80, 120)), ("rgba", (80, 120)), ("deep", (80, 120))):
        labels = read_label_png(out / "labels" / f"{stem}.png")
        assert labels.shape == shape
        assert (out / "overlays" / f"{stem}.png").is_file()
    images = (out / "images.csv").read_text().splitlines()
    assert len(images) == 4 and (out / "selection.csv").is_file() and (out / "report.html").is_file()
    import pandas as pd

    pal = pd.read_csv(out / "palettes.csv")
    assert np.allclose(pal.groupby("image")["share"].sum(), 1.0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 3 and set(summary["n_components"]) == {"blocks", "rgba", "deep"}
    # the same config twice: byte-identical label maps (parallel or not)
    out2 = tmp_path / "run2"
    assert (
        run_cli(
            [
                "run",
                str(REPO / "configs" / "images.yaml"),
                "--out",
                str(out2),
                *common[:2],
                "--set",
                "run.n_jobs=1",
                *common[4:],
            ]
        )
        == 0
    )
    for f in sorted([*(out / "labels").iterdir(), *(out / "overlays").iterdir()]):
        assert f.read_bytes() == (out2 / f.parent.name / f.name).read_bytes(), f
    for name in ("palettes.csv", "selection.csv", "model/palette.npz"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes(), name
    # and the same messages: what the worker processes logged is in the run's log too
    said = [_messages(d / "run.log", d) for d in (out, out2)]
    assert said[0] == said[1] and any("candidate K=2" in m for m in said[0]), said  # logged by a worker
    # apply: the shared palette on a new photo; labels are its components
    new = tmp_path / "new"
    new.mkdir()
    rgb, truth = blocks(50, 75, seed=9)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(new / "fresh.jpg")
    applied = tmp_path / "applied"
    assert run_cli(["apply", str(out), str(new), "--out", str(applied)]) == 0
    from gmm_apps.core.persistence import load_model

    k = load_model(out / "model" / "palette.npz").n_components
    lab = read_label_png(applied / "labels" / "fresh.png")
    assert lab.shape == (50, 75) and lab.max() < k
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth.ravel(), lab.ravel()) > 0.75


def test_shared_model_run_uses_one_palette(tmp_path):
    photos = photo_folder(tmp_path)
    out = tmp_path / "run"
    assert (
        run_cli(
            [
                "run",
                str(REPO / "configs" / "images.yaml"),
                "--out",
                str(out),
                "--set",
                f"data.path={photos}",
                "--set",
                "model.shared=true",
                "--set",
                "model.n_components=4",
                "--set",
                "report.plots=false",
            ]
        )
        == 0
    )
    import pandas as pd

    pal = pd.read_csv(out / "palettes.csv")
    assert pal["segment"].max() < 4
    # the same segment id has the same mean colour wherever its colour class appears in similar images
    assert (pal.groupby("image")["segment"].nunique() <= 4).all()


def test_default_config_runs_on_bundled_images(tmp_path):
    out = tmp_path / "run"
    assert (
        run_cli(["run", str(REPO / "configs" / "images.yaml"), "--out", str(out), "--set", "report.plots=false"]) == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 3
    assert 3 <= summary["mean_segments"] <= 30


# ------------------------------------------------------------------ real data
@pytest.mark.skipif(not BSDS.is_dir(), reason="BSDS500 not beside the checkout (../shared/datasets/bsds500)")
def test_bsds_beats_kmeans_by_hand():
    import scipy.io as sio
    from skimage import io
    from skimage.color import rgb2lab
    from skimage.util import img_as_float
    from sklearn.cluster import KMeans

    ours, base = [], []
    for f in sorted((BSDS / "images").glob("*.jpg"))[:6]:
        img = io.imread(f)
        gt = sio.loadmat(BSDS / "groundTruth" / f"{f.stem}.mat")["groundTruth"]
        truths = [gt[0, i]["Segmentation"][0, 0] for i in range(gt.shape[1])]
        ours.append(compare(segment_image(img_as_float(img), Settings.defaults()).labels, truths))
        X = rgb2lab(img).reshape(-1, 3)
        base.append(compare(KMeans(6, n_init=1, random_state=0).fit(X).labels_.reshape(img.shape[:2]), truths))
    assert np.mean([s["pri"] for s in ours]) > np.mean([s["pri"] for s in base]) + 0.03
    assert np.mean([s["voi"] for s in ours]) < np.mean([s["voi"] for s in base]) - 0.5


def test_model_n_init_is_refused_with_the_random_starts_key(tmp_path, capsys):
    code = cli.main(["validate", str(REPO / "configs" / "images.yaml"), "--set", "model.n_init=3"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "model.n_init is no longer a key; random starts are model.n_fits" in err
    assert err.count("\n") == 0


def cut_out(h=120, w=100, colour=(0.8, 0.1, 0.15), seed=0):
    """A product photo cut out: an ellipse of one colour with a dark band across it, on a transparent background;
    its RGBA bytes and the transparent pixels."""
    yy, xx = np.mgrid[:h, :w]
    inside = ((xx - w / 2) / (0.4 * w)) ** 2 + ((yy - h / 2) / (0.45 * h)) ** 2 < 1
    rgb = np.array(colour) + np.random.default_rng(seed).normal(0, 0.02, (h, w, 3))
    rgb[np.abs(yy - h / 2) < h / 10] *= 0.3
    rgba = np.dstack([np.clip(rgb, 0, 1) * 255, inside * 255]).astype(np.uint8)
    return rgba, ~inside


def test_a_cut_out_products_transparent_background_is_no_segment(tmp_path, capsys):
    photos = tmp_path / "products"
    photos.mkdir()
    shirt, clear = cut_out()
    Image.fromarray(shirt).save(photos / "shirt.png")
    rgb, _ = blocks(80, 120)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(photos / "blocks.png")
    out = tmp_path / "run"
    sets = ["--set", f"data.path={photos}", "--set", "model.n_components=[2,3,4]", "--set", "report.plots=false"]
    assert run_cli(["run", str(REPO / "configs" / "images.yaml"), "--out", str(out), *sets]) == 0
    images = pd.read_csv(out / "images.csv").set_index("image")
    assert images.loc["shirt", "transparent_share"] == pytest.approx(clear.mean(), abs=1e-4)
    assert images.loc["blocks", "transparent_share"] == 0
    labels = read_label_png(out / "labels" / "shirt.png")
    pal = pd.read_csv(out / "palettes.csv").query("image == 'shirt'")
    assert set(np.unique(labels[clear])) == {labels.max()} and labels.max() not in set(pal["segment"])
    # the palette is of the product alone: shares of its pixels, colours their means (brute force), no white
    there = labels[~clear]
    for row in pal.itertuples():
        assert row.share == pytest.approx((there == row.segment).mean())
        mean = shirt[..., :3][~clear][there == row.segment].mean(axis=0)
        assert np.abs(np.array([row.r, row.g, row.b]) - mean).max() <= 0.51
    assert pal["share"].sum() == pytest.approx(1.0) and (pal[["r", "g", "b"]].min(axis=1) < 200).all()
    # one shared palette of cut-outs has no colour for their backgrounds either
    Image.fromarray(cut_out(colour=(0.1, 0.2, 0.8), seed=1)[0]).save(photos / "jeans.png")
    (photos / "blocks.png").unlink()
    shared = tmp_path / "shared"
    sets += ["--set", "model.shared=true"]
    assert run_cli(["run", str(REPO / "configs" / "images.yaml"), "--out", str(shared), *sets]) == 0
    pal = pd.read_csv(shared / "palettes.csv")
    assert (pal[["r", "g", "b"]].min(axis=1) < 200).all() and pal.groupby("image")["share"].sum().round(6).eq(1).all()
    # a picture with nothing in it is refused
    Image.fromarray(np.zeros((20, 20, 4), np.uint8)).save(photos / "empty.png")
    capsys.readouterr()
    assert run_cli(["run", str(REPO / "configs" / "images.yaml"), "--out", str(tmp_path / "e"), *sets]) == 2
    assert "empty.png: every pixel is transparent: there is nothing to segment" in capsys.readouterr().err


def test_a_pillow_cut_out_given_from_python_keeps_its_transparency(tmp_path):
    import gmm_apps

    shirt, clear = cut_out()
    sets = ["model.n_components=[2,3]", "report.plots=false", "run.n_jobs=1"]
    r = gmm_apps.run("images", data=Image.fromarray(shirt).convert("RGBA"), out=tmp_path / "r", set=sets)
    assert r.tables["images"]["transparent_share"].iloc[0] == pytest.approx(clear.mean(), abs=1e-4)
    floats = gmm_apps.run("images", data=shirt / 255.0, out=tmp_path / "f", set=sets)
    assert floats.tables["images"]["transparent_share"].iloc[0] == pytest.approx(clear.mean(), abs=1e-4)


@pytest.mark.parametrize(
    "rgb, name",
    [
        ((1, 0, 0), "red"),
        ((0.5, 0, 0), "dark red"),
        ((0, 0, 1), "blue"),
        ((0, 0, 0.5), "dark blue"),
        ((0.53, 0.81, 0.92), "pale blue"),  # sky blue
        ((0, 0.5, 0), "green"),
        ((0, 0.39, 0), "dark green"),
        ((1, 1, 0), "yellow"),
        ((0.5, 0.5, 0), "olive"),
        ((1, 0.55, 0), "orange"),
        ((0.55, 0.27, 0.07), "brown"),  # saddle brown
        ((0.96, 0.87, 0.7), "beige"),  # wheat
        ((1, 0.75, 0.8), "pink"),
        ((0.5, 0, 0.5), "purple"),
        ((0, 0.5, 0.5), "teal"),
        ((0, 1, 1), "cyan"),
        ((0, 0, 0), "black"),
        ((0.3, 0.3, 0.3), "dark grey"),
        ((0.5, 0.5, 0.5), "grey"),
        ((0.8, 0.8, 0.8), "light grey"),
        ((1, 1, 1), "white"),
    ],
)
def test_colour_names_of_well_known_colours(rgb, name):
    from gmm_apps.pipelines.images.colours import colour_names

    assert colour_names([rgb]) == [name]


def test_colour_names_agree_with_the_names_people_give_colours():
    # the xkcd colour survey (the name most people gave each colour), which the rules were not set on:
    # the family of every colour whose name ends in one (python benchmarks/bench_colour_names.py)
    from matplotlib import colors

    from gmm_apps.pipelines.images.colours import colour_names

    families = {"black", "grey", "white", "red", "pink", "orange", "brown", "beige", "yellow", "olive", "green"}
    families |= {"teal", "cyan", "blue", "purple"}
    items = [
        (n.split()[-1], v)
        for k, v in colors.XKCD_COLORS.items()
        if (n := k[5:].replace("gray", "grey")).split()[-1] in families
    ]
    said = colour_names([colors.to_rgb(v) for _, v in items])
    agree = np.mean([s.split()[-1] == f for (f, _), s in zip(items, said)])
    assert len(items) > 500 and agree > 0.65, agree
    assert colour_names(np.empty((0, 3))) == []


def test_palettes_and_images_name_their_colours(tmp_path):
    import gmm_apps
    from gmm_apps.pipelines.images.colours import colour_names

    flag = np.zeros((60, 90, 3), np.uint8)
    flag[:, :60] = (200, 20, 30)  # two thirds red
    flag[:, 60:] = (0, 0, 128)  # a third navy
    sets = ["model.n_components=2", "report.plots=false", "run.n_jobs=1", "model.n_fits=1", "spatial.edge_threshold=0"]
    r = gmm_apps.run("images", data=flag, out=tmp_path / "r", set=sets)
    pal = r.tables["palettes"]
    assert pal["colour"].tolist() == colour_names(pal[["r", "g", "b"]].to_numpy() / 255)
    assert sorted(pal["colour"]) == ["dark blue", "red"]
    assert r.tables["images"]["main_colours"].iloc[0] == "red 67%, dark blue 33%"
    from gmm_apps.pipelines.images.colours import main_colours

    assert main_colours(["grey", "blue", "grey", "red"], [0.2, 0.3, 0.25, 0.25]) == "grey 45%, blue 30%, red 25%"
