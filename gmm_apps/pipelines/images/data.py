"""Reading images (JPEG, PNG, TIFF, a phone's HEIC, AVIF; grey, RGBA, 16-bit) and the bundled scikit-image
samples."""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

import numpy as np

from ...errors import ConfigError, DataError
from ...paths import left_out, require_file, resolve_inputs

logger = logging.getLogger("gmm_apps.images")

#: .heic / .heif: an iPhone's photos (through pillow-heif); .avif: Pillow's own; .jfif / .jpe: JPEGs as a browser on
#: Windows saves them; .jp2 / .j2k: JPEG 2000 (archives, medical and satellite images); .tga, .ppm / .pgm / .pbm /
#: .pnm: a renderer's and a lab's uncompressed pictures
SUFFIXES = {
    *(".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".heic", ".heif"),
    *(".avif", ".jp2", ".j2k", ".tga", ".ppm", ".pgm", ".pbm", ".pnm"),
}
#: ``skimage:NAME`` entries of ``data.path``: colour images shipped inside scikit-image
SKIMAGE_PREFIX = "skimage:"
SKIMAGE_SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera", "retina")


#: bit depths a 16-bit image's values may really have (a scientific or machine-vision camera's 10, 12 or 14 bits,
#: or 8 bits stored in 16): read at the smallest that holds its largest value, as 12-bit values scaled by 65,535
#: would be a nearly black picture whose colours all merge
SENSOR_BITS = (8, 10, 12, 14)


def to_rgb(image, *, name="image", clear=False):
    """Any image array as float RGB in [0, 1].

    Grey images are repeated into three channels; an alpha channel is
    composited onto white; integer images are scaled by their type's range
    (so 16-bit images keep their full precision; a 16-bit image whose values
    all fit in 8, 10, 12 or 14 bits by that range, :data:`SENSOR_BITS`);
    float images must already lie in [0, 1].

    Parameters
    ----------
    image : ndarray of shape (h, w), (h, w, 1), (h, w, 2), (h, w, 3) or (h, w, 4)
    name : str
        For messages.
    clear : bool
        Also return the pixels that are transparent (alpha below one half).

    Returns
    -------
    rgb : ndarray of shape (h, w, 3), float64
    transparent : ndarray of shape (h, w), bool, or None
        With ``clear``: the transparent pixels, None when there are none.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 2, 3, 4):
        raise DataError(f"{name}: expected a grey, RGB or RGBA image, got an array of shape {a.shape}")
    if a.dtype == bool:
        f = a.astype(np.float64)
    elif np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        top = info.max
        if a.dtype == np.uint16 and a.size:  # a 10-, 12- or 14-bit camera's values in 16-bit pixels
            largest = int(a.max())  # once: a full-size photo's pixels are scanned for it
            top = next((2**b - 1 for b in SENSOR_BITS if largest <= 2**b - 1), top)
            if top != info.max:
                logger.info("%s: values up to %d: read as %d-bit", name, largest, int(top).bit_length())
        f = (a.astype(np.float64) - min(info.min, 0)) / (top - min(info.min, 0))
    elif np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float64)
        if not np.all(np.isfinite(f)):
            raise DataError(f"{name}: image holds NaN or infinite values")
        if f.min() < -1e-6 or f.max() > 1 + 1e-6:
            hint = "; 8-bit values as floats: pass image / 255 (or image.astype(np.uint8))" if f.max() <= 255 else ""
            raise DataError(f"{name}: float image values must lie in [0, 1], got [{f.min():.3g}, {f.max():.3g}]{hint}")
        f = np.clip(f, 0.0, 1.0)
    else:
        raise DataError(f"{name}: unsupported pixel type {a.dtype}")
    transparent = None
    if f.shape[-1] in (2, 4):
        alpha = f[..., -1:]
        f = f[..., :-1] * alpha + (1.0 - alpha)
        transparent = alpha[..., 0] < 0.5
    if f.shape[-1] == 1:
        f = np.repeat(f, 3, axis=-1)
    f = np.ascontiguousarray(f)
    if clear:
        return f, transparent if transparent is not None and transparent.any() else None
    return f


#: images with more pixels than this are refused unless ``data.max_pixels`` says otherwise (decompression bombs)
MAX_PIXELS = 100_000_000


#: the shortest side an image may have to be segmented
MIN_SIDE = 4


def too_small(name, w, h):
    return DataError(f"{name}: image is {w}x{h} pixels; need at least {MIN_SIDE}x{MIN_SIDE} to segment")


def _too_large(name, w, h, max_pixels):
    return DataError(
        f"{name}: image is {w}x{h} = {w * h:,} pixels, more than data.max_pixels ({max_pixels:,}); "
        "raise data.max_pixels if the image is genuine (it takes about 40 bytes of memory a pixel)"
    )


def _unreadable(p, exc):
    return DataError(
        f"{p}: not a readable image (JPEG, PNG, TIFF, BMP, WebP, GIF, HEIC, AVIF, JPEG 2000, TGA or PNM "
        f"expected): {exc}"
    )


def _tiff_bands(page, path, *, say=True):
    """What a four-band TIFF's bands are: ``rgba`` (colour and transparency), ``extra`` (an RGB picture with
    a fourth band of no stated meaning: the colour is the first three, the fourth left out, logged) or
    ``cmyk`` (print colours); None for other TIFFs. Four bands with no colour stated (a satellite's blue,
    green, red and near-infrared, say) are refused, where they were read as colour and transparency."""
    if page.samplesperpixel != 4:
        return None
    if page.photometric == 5:  # separated: CMYK inks
        return "cmyk"
    alpha = any(int(e) in (1, 2) for e in page.extrasamples)  # associated or unassociated alpha
    if page.photometric == 2:  # RGB
        if not alpha and say:
            logger.warning(
                "%s: the fourth band is not transparency and is left out; the colour is the first three", path
            )
        return "rgba" if alpha else "extra"
    raise DataError(
        f"{path}: 4 bands with no colour stated (a satellite or microscope image?), expected a grey, RGB or "
        "RGBA image; save the three bands to be seen as an RGB TIFF"
    )


def _tiff_plane(shape):
    """(h, w) of a TIFF page's shape: (h, w), (h, w, channels) or (channels, h, w)."""
    return shape[:2] if len(shape) < 3 or shape[-1] <= 4 else shape[-2:]


def check_headers(paths, *, max_pixels=MAX_PIXELS, skip=False):
    """Read every file's header before any image is segmented, so that a file that is no image (an
    error page saved as .jpg, a zero-byte copy), one too large or one too small (a 1x1 tracking pixel)
    is refused at once, not after the images before it (``skip``: left out instead).  A file cut short
    after its header is found when it is decoded.

    Returns
    -------
    skipped : list of dict
        ``file`` and ``reason`` of each file left out (with ``skip``).
    """
    skipped = []
    for path in paths:
        try:
            _check_header(path, max_pixels)
        except DataError as exc:
            if not skip:
                raise DataError(f"{exc}{SKIP_HINT}") from None
            skipped.append(left_out(path, str(exc)))
    return skipped


#: how to go on past a file that is no readable image
SKIP_HINT = "; data.unreadable: skip leaves out the files that are no readable image"


def _check_header(path, max_pixels):
    from PIL import Image, UnidentifiedImageError  # start-up time: Pillow loads only when images are read

    if str(path).startswith(SKIMAGE_PREFIX):
        return
    p = require_file(path)
    try:
        if p.suffix.lower() in (".tif", ".tiff"):
            import tifffile  # only for TIFF files

            with tifffile.TiffFile(p) as tif:
                h, w = _tiff_plane(tif.pages[0].shape)
                _tiff_bands(tif.pages[0], p, say=False)
        else:
            with _open_unchecked(Image, p) as im:
                w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, IndexError) as exc:
        raise _unreadable(p, exc) from None
    if w * h > max_pixels:
        raise _too_large(str(p), w, h, max_pixels)
    if min(w, h) < MIN_SIDE:
        raise too_small(p, w, h)


def read_image(path, *, max_pixels=MAX_PIXELS, clear=False):
    """Read an image file as float RGB in [0, 1].

    The size in the file's header is checked against ``max_pixels`` before
    any pixel is decoded, so a small file that would expand to gigabytes
    (a decompression bomb) is refused at once.

    Parameters
    ----------
    path : str or Path, or ``skimage:NAME`` for a scikit-image sample
    max_pixels : int
    clear : bool
        Also return its transparent pixels (:func:`to_rgb`).

    Returns
    -------
    rgb : ndarray of shape (h, w, 3), float64
    transparent : ndarray of shape (h, w), bool, or None
        With ``clear`` only.

    Raises
    ------
    DataError
        If the file is not a readable image.
    """
    spath = str(path)
    if spath.startswith(SKIMAGE_PREFIX):
        return to_rgb(_skimage_sample(spath[len(SKIMAGE_PREFIX) :]), name=spath, clear=clear)
    from PIL import Image, UnidentifiedImageError  # start-up time: Pillow loads only when images are read or written

    p = require_file(path)
    try:
        if p.suffix.lower() in (".tif", ".tiff"):
            import tifffile  # only for TIFF files

            with tifffile.TiffFile(p) as tif:
                plane = _tiff_plane(tif.pages[0].shape)
                if int(np.prod(plane)) > max_pixels:
                    raise _too_large(str(p), plane[-1], plane[0], max_pixels)
                arr = tif.pages[0].asarray()  # a stack's first page, as an animated GIF's first frame
                bands = _tiff_bands(tif.pages[0], p)
                if len(tif.pages) > 1:
                    logger.warning(
                        "%s: %d pages (a stack); the first is segmented; save each page as an image of its own "
                        "to segment them all",
                        p,
                        len(tif.pages),
                    )
            if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 2, 3, 4):
                arr = np.moveaxis(arr, 0, -1)
            if bands == "extra":
                arr = arr[..., :3]
            elif bands == "cmyk":  # as Pillow converts: each colour is what its ink and black leave of white
                top = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else 1.0
                ink = arr.astype(float) / top
                arr = (1 - ink[..., :3]) * (1 - ink[..., 3:])
        else:
            with _open_unchecked(Image, p) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise _too_large(str(p), w, h, max_pixels)
                if (
                    im.format in ("GIF", "WEBP", "PNG") and getattr(im, "n_frames", 1) > 1
                ):  # animated (not an MPO's depth)
                    logger.warning(
                        "%s: %d frames (an animation); the first is segmented; save each frame as an image of its "
                        "own to segment them all",
                        p,
                        im.n_frames,
                    )
                im.load()
                return pil_rgb(im, str(p), clear=clear)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _unreadable(p, exc) from None
    if arr.ndim == 3 and arr.shape[-1] > 4:
        raise DataError(f"{p}: expected a grey, RGB or RGBA image, got {arr.shape[-1]} channels")
    return to_rgb(arr, name=str(p), clear=clear)


def pil_rgb(im, name, *, clear=False):
    """A Pillow image (opened from a file, or given from Python) as float RGB in [0, 1], as :func:`read_image`
    reads a file: upright by its EXIF orientation, in sRGB by its colour profile, its palette, CMYK or 16 bits
    read as their colours."""
    im = _in_srgb(_upright(im, name), name)
    if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    elif im.mode in ("I", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(im)
        return to_rgb(arr.astype(np.uint16) if arr.max() <= 65535 else arr, name=name, clear=clear)
    arr = np.asarray(im)
    if arr.ndim == 3 and arr.shape[-1] > 4:
        raise DataError(f"{name}: expected a grey, RGB or RGBA image, got {arr.shape[-1]} channels")
    return to_rgb(arr, name=name, clear=clear)


def _upright(im, name):
    """The picture as a viewer shows it: a camera's EXIF orientation (a phone held sideways) applied."""
    from PIL import ImageOps  # start-up time: with Pillow, only when images are read

    try:
        return ImageOps.exif_transpose(im)
    except (ValueError, OSError, TypeError, KeyError) as exc:  # a damaged EXIF block: the pixels as stored
        logger.warning("%s: EXIF orientation unreadable (%s); the image is used as stored", name, exc)
        return im


def _in_srgb(im, path):
    """The picture's colours in sRGB, as a colour-managed viewer shows them: an embedded colour profile
    (an iPhone's Display P3, Adobe RGB, a print CMYK) converted from; pictures without one, or tagged
    sRGB, are used as stored."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    from PIL import ImageCms  # start-up time: with Pillow, only when images are read

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if im.mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(profile).lower():
            return im
        return ImageCms.profileToProfile(im, profile, _srgb(), outputMode="RGBA" if im.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        logger.warning("%s: colour profile unreadable (%s); the colours are used as stored", path, exc)
        return im


@functools.cache
def _srgb():
    from PIL import ImageCms  # start-up time: with Pillow, only when images are read

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _open_unchecked(Image, path):
    """``PIL.Image.open`` without Pillow's own pixel limit (``read_image`` applies ``max_pixels`` instead),
    HEIC / HEIF included."""
    _heif_opener()
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@functools.cache
def _heif_opener():
    """Teach Pillow HEIC / HEIF (once). libheif applies the picture's rotation and mirroring boxes, which
    the HEIF standard makes the authority (an iPhone writes them), and pillow-heif sets the EXIF
    orientation to 1 so that :func:`_upright` does not turn the picture a second time."""
    import pillow_heif  # start-up time: only when images are read

    pillow_heif.register_heif_opener()


def _skimage_sample(name):
    import skimage.data  # start-up time: scikit-image loads only when used

    if name not in SKIMAGE_SAMPLES:
        raise DataError(f"skimage:{name}: not a bundled sample; choose from {', '.join(SKIMAGE_SAMPLES)}")
    return getattr(skimage.data, name)()


def image_stem(path):
    """The output name of an input: file name without extension (``skimage:coffee`` -> ``coffee``)."""
    s = str(path)
    if s.startswith(SKIMAGE_PREFIX):
        return s[len(SKIMAGE_PREFIX) :]
    return Path(s).stem


def output_names(inputs):
    """A distinct output name per input: its file name without extension; where two share one, the
    extension (``IMG_0001_jpg`` beside ``IMG_0001_png``), and as many of its folders as tell them apart,
    joined by ``_`` (``2023/IMG_0001.jpg`` and ``2024/IMG_0001.jpg``, as cameras restart their counters:
    ``2023_IMG_0001``).

    Parameters
    ----------
    inputs : list of str

    Returns
    -------
    names : list of str
    """
    levels = [(depth, ext) for depth in range(64) for ext in (False, True)]

    def name(i, level):
        depth, ext = levels[level]
        if str(i).startswith(SKIMAGE_PREFIX):
            return image_stem(i)
        p = Path(i)
        base = f"{p.stem}_{p.suffix[1:]}" if ext and p.suffix else p.stem
        return "_".join([*(p.parent.parts[-depth:] if depth else ()), base])

    level = [0] * len(inputs)
    names = [image_stem(i) for i in inputs]
    while True:
        clash = {n for n in names if names.count(n) > 1}
        if not clash:
            return names
        for j, i in enumerate(inputs):
            if names[j] in clash:
                if str(i).startswith(SKIMAGE_PREFIX) or level[j] + 1 == len(levels):
                    same = [str(k) for k, n in zip(inputs, names) if n == names[j]]
                    raise ConfigError(f"inputs {', '.join(same[:3])} would write the same output name; list each once")
                level[j] += 1
                names[j] = name(i, level[j])


def resolve_images(entries, *, key="data.path", source="config", warn=True):
    """Expand ``data.path`` entries (files, folders, globs, ``skimage:NAME``) into image inputs.

    Parameters
    ----------
    entries : str or list of str
    key, source : str
        For messages.
    warn : bool, default=True
        Log the files of a folder or glob that are left out (:func:`gmm_apps.paths.resolve_inputs`).

    Returns
    -------
    inputs : list of str
        In the order given; folders and globs sorted, each input once.  Their output names:
        :func:`output_names`.
    """
    entries = [entries] if isinstance(entries, str) else list(entries)
    if not entries:
        raise ConfigError(f"{source}: {key}: no images given")
    out = []
    for e in entries:
        if str(e).startswith(SKIMAGE_PREFIX):
            name = str(e)[len(SKIMAGE_PREFIX) :]
            if name not in SKIMAGE_SAMPLES:
                raise ConfigError(
                    f"{source}: {key}: {e!r} is not a bundled sample; choose from "
                    f"{', '.join(SKIMAGE_PREFIX + s for s in SKIMAGE_SAMPLES)}"
                )
            out.append(str(e))
        else:
            out.extend(str(f) for f in resolve_inputs(str(e), key=key, source=source, suffixes=SUFFIXES, warn=warn))
    return list(dict.fromkeys(out))
