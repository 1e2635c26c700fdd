"""Pixel features as pure functions: an RGB image in, feature arrays out.

Spatial sizes (``blur``) are given in pixels of a 500-pixel image and grow
with the image, or shrink with a thumbnail (:func:`size_scale`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["size_scale", "to_lab", "pixel_features", "edge_strength"]


#: longer side (pixels) below which spatial sizes shrink with the image
SMALL = 250


def size_scale(shape, *, reference=500):
    """Factor by which spatial sizes grow for an image of ``shape``.

    Parameters
    ----------
    shape : tuple
        ``(h, w, ...)``.
    reference : int, default=500
        Longer side at which sizes are taken as given.

    Returns
    -------
    scale : float
        ``longer side / reference``, at least 1 down to :data:`SMALL` pixels, and below it shrinking
        with the image (``longer side / SMALL``): a thumbnail smoothed as a photo of 500 pixels is
        smoothed across its few pixels of edge into segments of its own.
    """
    longest = max(shape[:2])
    return max(longest / float(reference), min(1.0, longest / SMALL))


def to_lab(rgb):
    """CIELAB (D65) of an RGB image in [0, 1].

    Parameters
    ----------
    rgb : ndarray of shape (h, w, 3)

    Returns
    -------
    lab : ndarray of shape (h, w, 3), float32
        L in [0, 100], a and b roughly in [-100, 100].
    """
    from skimage.color import rgb2lab  # start-up time: scikit-image loads only when used

    return rgb2lab(rgb).astype(np.float32)


def pixel_features(rgb, *, color_space="lab", blur=1.0, position_weight=0.5, texture_weight=0.0, texture_sigma=4.0):
    """Per-pixel feature vectors for the mixture.

    Parameters
    ----------
    rgb : ndarray of shape (h, w, 3), float in [0, 1]
    color_space : {'lab', 'rgb'}, default='lab'
        'rgb' is scaled to [0, 100] so that weights mean the same in both.
    blur : float, default=1.0
        Gaussian pre-smoothing of the colours (pixels of a 500-pixel image).
    position_weight : float, default=0.5
        Weight of the pixel's (row, column) scaled so the longer side spans
        100 units, i.e. as many as the lightness axis; 0 leaves position out.
    texture_weight : float, default=0.0
        Weight of local lightness contrast (standard deviation of L in a
        Gaussian window of ``texture_sigma``); 0 leaves texture out.
    texture_sigma : float, default=4.0

    Returns
    -------
    features : ndarray of shape (h, w, d), float32
        Colour first (3 columns), then texture, then position.
    colour : ndarray of shape (h, w, 3), float32
        The smoothed colour channels alone (for edges and palettes).
    """
    h, w = rgb.shape[:2]
    s = size_scale(rgb.shape)
    if color_space == "lab":
        colour = to_lab(rgb)
    elif color_space == "rgb":
        colour = np.asarray(rgb, dtype=np.float32) * 100.0
    else:
        raise ValueError(f"color_space must be 'lab' or 'rgb', got {color_space!r}")
    if blur > 0:
        colour = ndi.gaussian_filter(colour, (blur * s, blur * s, 0))
    parts = [colour]
    if texture_weight > 0:
        light = colour[..., 0]
        mean = ndi.gaussian_filter(light, texture_sigma * s)
        sd = np.sqrt(np.maximum(ndi.gaussian_filter((light - mean) ** 2, texture_sigma * s), 0.0))
        parts.append((sd * texture_weight)[..., None])
    if position_weight > 0:
        unit = 100.0 / max(h, w) * position_weight
        rows = np.broadcast_to((np.arange(h, dtype=np.float32) * unit)[:, None], (h, w))
        cols = np.broadcast_to((np.arange(w, dtype=np.float32) * unit)[None, :], (h, w))
        parts.append(np.stack([rows, cols], axis=-1))
    return np.concatenate(parts, axis=-1).astype(np.float32, copy=False), colour


def edge_strength(colour):
    """Colour gradient magnitude (Sobel, summed over channels), per pixel of a 500-pixel image.

    The colours are smoothed over a width that grows with the image (:func:`size_scale`), so an
    edge's gradient per pixel shrinks by the same factor; it is multiplied back, and an edge has the
    same strength in a photo and in its 500-pixel thumbnail.

    Parameters
    ----------
    colour : ndarray of shape (h, w, c)

    Returns
    -------
    edges : ndarray of shape (h, w), float32
    """
    c = np.asarray(colour, dtype=np.float32)
    sq = np.zeros(c.shape[:2], dtype=np.float32)
    for ch in range(c.shape[-1]):
        for axis in (0, 1):
            sq += ndi.sobel(c[..., ch], axis=axis) ** 2
    return np.sqrt(sq) * np.float32(size_scale(c.shape))
