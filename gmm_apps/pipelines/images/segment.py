"""Colour segmentation steps as pure functions: arrays in, arrays out.

The pipeline chains them::

    rgb --pixel_features--> X (h, w, d)  --GMM on a sample--> posteriors (h, w, K)
        --smooth_posteriors + argmax--> class map --connected_regions--> regions
        --merge_regions (small first, then weak boundaries)--> final regions

Spatial sizes (``blur``, ``sigma``) are given in pixels of a 500-pixel image
and grow with the image (:func:`size_scale`), so a 4000-pixel photo is
treated like its 500-pixel thumbnail would be.
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy import ndimage as ndi

from .features import edge_strength, pixel_features, size_scale, to_lab

__all__ = [
    "size_scale",
    "to_lab",
    "pixel_features",
    "edge_strength",
    "posterior_labels",
    "enlarge_labels",
    "connected_regions",
    "merge_regions",
    "dominant_class",
    "palette",
]


def posterior_labels(model, features, *, sigma=2.0, chunk_rows=262_144, return_maps=False):
    """Most probable component per pixel after smoothing the posterior maps.

    Parameters
    ----------
    model : fitted GaussianMixture
    features : ndarray of shape (h, w, d)
    sigma : float, default=2.0
        Gaussian smoothing of each component's probability map (pixels of a
        500-pixel image); 0 for the plain per-pixel argmax.
    chunk_rows : int
        Pixels scored at a time.
    return_maps : bool, default=False
        Also return the smoothed maps.

    Returns
    -------
    labels : ndarray of shape (h, w), int
    maps : ndarray of shape (h, w, K), float32
        Only with ``return_maps``; rows sum to 1.
    """
    h, w, d = features.shape
    X = features.reshape(-1, d)
    k = model.n_components
    maps = np.empty((h * w, k), dtype=np.float32)
    for start in range(0, h * w, chunk_rows):
        maps[start : start + chunk_rows] = model.predict_proba(X[start : start + chunk_rows])
    maps = maps.reshape(h, w, k)
    if sigma > 0:
        s = sigma * size_scale(features.shape)
        for j in range(k):
            maps[..., j] = ndi.gaussian_filter(maps[..., j], s)
    labels = maps.argmax(axis=-1)
    if return_maps:
        maps /= np.maximum(maps.sum(axis=-1, keepdims=True), np.finfo(np.float32).tiny)
        return labels, maps
    return labels


def enlarge_labels(labels, shape, *, smooth=True):
    """A label map enlarged to ``shape``.

    Parameters
    ----------
    labels : ndarray of shape (h, w), int
    shape : tuple
        ``(H, W)``, each at least as large.
    smooth : bool, default=True
        Each pixel takes the label whose bilinearly enlarged indicator is largest there, so region
        outlines are smooth curves rather than staircases of the small map's pixels; False: the
        nearest small pixel's label.

    Returns
    -------
    ndarray of shape (H, W), labels' dtype
    """
    h, w = labels.shape
    H, W = shape
    if not smooth:
        rows = np.minimum((np.arange(H) + 0.5) * h / H, h - 1).astype(np.intp)
        cols = np.minimum((np.arange(W) + 0.5) * w / W, w - 1).astype(np.intp)
        return labels[np.ix_(rows, cols)]
    # Each label's indicator enlarged bilinearly (as ndi.zoom(order=1, mode="nearest", grid_mode=True) would,
    # label by label) is decided only where a pixel's four small neighbours differ: elsewhere all four are one
    # label, whose indicator is 1 there.  The same labels as zooming every indicator, in a fraction of the time.
    y0, fy = _source_pixels(h, H)
    x0, fx = _source_pixels(w, W)
    P = np.pad(labels, ((0, 1), (0, 1)), mode="edge")  # past the last pixel, the last (mode="nearest")
    mixed = (P[:-1, :-1] != P[:-1, 1:]) | (P[:-1, :-1] != P[1:, :-1]) | (P[:-1, :-1] != P[1:, 1:])
    out = np.empty((H, W), dtype=labels.dtype)
    for r in range(0, H, ENLARGE_ROWS):  # a band of rows at a time: the gathers stay small
        ys = y0[r : r + ENLARGE_ROWS]
        band = out[r : r + ENLARGE_ROWS]
        band[...] = labels[ys][:, x0]
        i, j = np.nonzero(mixed[ys][:, x0])
        if i.size:
            band[i, j] = _bilinear_winner(P, ys[i], x0[j], fy[r + i], fx[j])
    return out


#: rows of the enlarged map decided at a time by :func:`enlarge_labels`
ENLARGE_ROWS = 1024


def _source_pixels(n, N):
    """For each of ``N`` pixels enlarged from ``n``: the small pixel at or before its centre and the weight of
    the one after it (pixel edges aligned, centres clamped to the first and last pixel)."""
    x = np.clip((np.arange(N) + 0.5) * (n / N) - 0.5, 0, n - 1)
    lo = np.floor(x).astype(np.intp)
    return lo, x - lo


def _bilinear_winner(P, y, x, fy, fx):
    """The label whose bilinear indicator is largest at each point between small pixels ``(y, x)`` and ``(y + 1,
    x + 1)`` of the padded map ``P``, its weight rounded to float32 as the zoomed indicator's; the smallest label
    on a tie, as zooming the labels in increasing order keeps the first best."""
    corners = np.stack([P[y, x], P[y, x + 1], P[y + 1, x], P[y + 1, x + 1]])
    weights = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])
    score = np.stack([np.where(corners == c, weights, 0.0).sum(axis=0) for c in corners]).astype(np.float32)
    best = np.lexsort((corners, -score), axis=0)[0]
    return corners[best, np.arange(corners.shape[1])]


def connected_regions(labels):
    """Split a class map into 4-connected regions.

    Parameters
    ----------
    labels : ndarray of shape (h, w), int

    Returns
    -------
    regions : ndarray of shape (h, w), int64
        Region ids 0 .. R-1 in raster order of first appearance.
    """
    from skimage.measure import label  # start-up time: scikit-image loads only when used

    return label(np.asarray(labels), connectivity=1, background=-1).astype(np.int64) - 1


def _boundaries(regions, edges):
    """Adjacent region pairs with their shared boundary length and summed edge strength."""
    r = regions
    a = np.concatenate([r[:, :-1].ravel(), r[:-1, :].ravel()])
    b = np.concatenate([r[:, 1:].ravel(), r[1:, :].ravel()])
    e = np.concatenate(
        [np.maximum(edges[:, :-1], edges[:, 1:]).ravel(), np.maximum(edges[:-1, :], edges[1:, :]).ravel()]
    )
    cut = a != b
    a, b, e = a[cut], b[cut], e[cut].astype(np.float64)
    n = int(r.max()) + 1
    key = np.minimum(a, b) * n + np.maximum(a, b)
    keys, inverse = np.unique(key, return_inverse=True)
    length = np.bincount(inverse).astype(np.float64)
    strength = np.bincount(inverse, weights=e)
    return keys // n, keys % n, length, strength


# long: one region-merging loop (a queue of boundaries by strength) whose state every step updates
def merge_regions(regions, edges, *, min_size=0, edge_threshold=0.0, relative=False, gradient_floor=20.0):
    """Merge regions greedily across their weakest boundaries.

    First every region smaller than ``min_size`` pixels joins the neighbour
    across its weakest boundary (smallest regions' weakest boundaries first);
    then neighbouring regions whose shared boundary is weaker than
    ``edge_threshold`` merge, weakest boundary first, with boundary and
    region statistics updated after every merge.

    A boundary's strength is the mean edge strength along it.  With
    ``relative`` it is divided by the mean edge strength inside the smoother
    of the two regions plus ``gradient_floor``, so the boundaries a texture
    draws inside itself (foliage, gravel, water) count as weak next to the
    texture's own gradients, while a boundary between two smooth regions
    keeps its full weight.

    Parameters
    ----------
    regions : ndarray of shape (h, w), int
        Region ids 0 .. R-1.
    edges : ndarray of shape (h, w)
        Edge strength per pixel (e.g. :func:`edge_strength`).
    min_size : int, default=0
    edge_threshold : float or sequence of float, default=0.0
        With a sequence, the merging runs once and the partition reached at
        every level is returned (merging up to a level is a prefix of merging
        up to a higher one).
    relative : bool, default=False
    gradient_floor : float, default=20.0
        Added to the inner edge strength with ``relative`` (edge units), so
        flat regions do not make every boundary look strong.

    Returns
    -------
    merged : ndarray of shape (h, w), int64, or list of them
        Region ids 0 .. R'-1, numbered in raster order of first appearance;
        a list in the order of ``edge_threshold`` when it is a sequence.
    """
    several = np.ndim(edge_threshold) > 0
    levels = [float(t) for t in np.atleast_1d(edge_threshold)]
    order = sorted(range(len(levels)), key=lambda q: levels[q])
    regions = np.asarray(regions, dtype=np.int64)
    edges = np.asarray(edges, dtype=np.float32)
    n = int(regions.max()) + 1
    size = np.bincount(regions.ravel(), minlength=n).astype(np.float64)
    inner = np.bincount(regions.ravel(), weights=edges.ravel().astype(np.float64), minlength=n)
    if n > 1:
        lo, hi, length, strength = _boundaries(regions, edges)
    else:
        lo = hi = length = strength = np.zeros(0)
    neighbours = [dict() for _ in range(n)]
    for i, j, ln, st in zip(lo.tolist(), hi.tolist(), length.tolist(), strength.tolist()):
        edge = [ln, st]
        neighbours[i][j] = edge
        neighbours[j][i] = edge
    parent = np.arange(n)
    version = [0] * n
    heap = []

    def push(i, j):
        ln, st = neighbours[i][j]
        cost = st / ln
        if relative:
            cost /= min(inner[i] / size[i], inner[j] / size[j]) + gradient_floor
        small = 0 if min(size[i], size[j]) < min_size else 1
        # boundaries of small regions first, then the rest; weakest first; ids break ties
        heapq.heappush(heap, (small, cost, min(i, j), max(i, j), version[i], version[j]))

    def snapshot():
        nonlocal parent
        while True:
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up
        return _raster_order(parent[regions])

    for i in range(n):
        for j in neighbours[i]:
            if i < j:
                push(i, j)
    out = [None] * len(levels)
    at = 0  # next level (in ascending order) to record
    while heap and at < len(levels):
        small, cost, i, j, vi, vj = heapq.heappop(heap)
        if vi != version[i] or vj != version[j] or parent[i] != i or parent[j] != j:
            continue
        while small == 1 and at < len(levels) and cost >= levels[order[at]]:
            out[order[at]] = snapshot()
            at += 1
        if at == len(levels):
            break
        if size[j] > size[i] or (size[j] == size[i] and j < i):
            i, j = j, i
        size[i] += size[j]
        inner[i] += inner[j]
        parent[j] = i
        version[i] += 1
        version[j] += 1
        del neighbours[i][j]
        del neighbours[j][i]
        for q, (ln, st) in neighbours[j].items():
            del neighbours[q][j]
            if q in neighbours[i]:
                neighbours[i][q][0] += ln
                neighbours[i][q][1] += st
            else:
                edge = [ln, st]
                neighbours[i][q] = edge
                neighbours[q][i] = edge
        neighbours[j] = {}
        for q in neighbours[i]:
            push(i, q)
    if at < len(levels):
        final = snapshot()
        for q in order[at:]:
            out[q] = final
    return out if several else out[0]


def _raster_order(labels):
    flat = labels.ravel()
    uniq, first = np.unique(flat, return_index=True)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(uniq.size)
    return rank[np.searchsorted(uniq, flat)].reshape(labels.shape)


def dominant_class(regions, classes, n_classes):
    """Each region's most frequent class, painted over the region.

    Parameters
    ----------
    regions : ndarray of shape (h, w), int
    classes : ndarray of shape (h, w), int in [0, n_classes)
    n_classes : int

    Returns
    -------
    labels : ndarray of shape (h, w), int64
    """
    r = regions.ravel()
    n = int(r.max()) + 1
    table = np.bincount(r * n_classes + classes.ravel(), minlength=n * n_classes).reshape(n, n_classes)
    return table.argmax(axis=1)[regions]


def palette(labels, rgb, *, n_labels=None):
    """Mean colour and area share of every label.

    Parameters
    ----------
    labels : ndarray of shape (h, w), int
    rgb : ndarray of shape (h, w, 3), float in [0, 1]
    n_labels : int, optional
        Labels 0 .. n_labels-1 (absent ones get share 0 and NaN colour).

    Returns
    -------
    colours : ndarray of shape (n_labels, 3), float in [0, 1]
    shares : ndarray of shape (n_labels,)
    """
    flat = labels.ravel()
    n = int(flat.max()) + 1 if n_labels is None else int(n_labels)
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    pix = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    sums = np.stack([np.bincount(flat, weights=pix[:, c], minlength=n) for c in range(3)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        colours = sums / counts[:, None]
    return colours, counts / counts.sum()
