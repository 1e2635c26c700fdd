"""Segmentation scores as the BSDS benchmark computes them.

Both scores come from the contingency table of two label maps (pixels
counted by their pair of labels):

* the Rand index is the share of pixel pairs on which the two maps agree
  (same region in both, or different regions in both); the probabilistic Rand
  index (PRI) of a segmentation is its Rand index averaged over several human
  segmentations of the same image;
* the variation of information is ``H(A) + H(B) - 2 I(A; B)`` in bits,
  likewise averaged over the humans.

References: Unnikrishnan, Pantofaru and Hebert, "Toward objective evaluation
of image segmentation algorithms", TPAMI 2007; Meila, "Comparing clusterings",
2005; Arbelaez et al., "Contour detection and hierarchical image
segmentation", TPAMI 2011 (``compare_segmentations.m``).
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError

__all__ = ["contingency", "rand_index", "variation_of_information", "probabilistic_rand_index", "compare"]


def contingency(a, b):
    """Pixel counts for every pair of labels of two label maps.

    Parameters
    ----------
    a, b : array-like of int, same shape
        Label maps (any integer labels; only equality matters).

    Returns
    -------
    table : ndarray of shape (n_labels_a, n_labels_b), int64
    """
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    if a.shape != b.shape:
        raise DataError(f"label maps differ in size: {np.shape(a)} vs {np.shape(b)}")
    if a.size and a.dtype.kind in "iub" and b.dtype.kind in "iub":
        # label maps are usually small non-negative integers: count them directly (no sort), then drop
        # the labels that do not occur, which gives the same table as numbering the labels present
        lo_a, hi_a, lo_b, hi_b = int(a.min()), int(a.max()), int(b.min()), int(b.max())
        if lo_a >= 0 and lo_b >= 0 and (hi_a + 1) * (hi_b + 1) <= max(4 * a.size, 1 << 16):
            na, nb = hi_a + 1, hi_b + 1
            table = np.bincount(a.astype(np.int64) * nb + b, minlength=na * nb).reshape(na, nb)
            return table[table.any(axis=1)][:, table.any(axis=0)].astype(np.int64)
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    na, nb = ia.max() + 1, ib.max() + 1
    return np.bincount(ia * nb + ib, minlength=na * nb).reshape(na, nb).astype(np.int64)


def _pairs(x):
    x = np.asarray(x, dtype=np.float64)
    return float(np.sum(x * (x - 1.0)) / 2.0)


def _rand_from_table(n):
    total = n.sum()
    if total < 2:
        return 1.0
    # disagreeing pairs = together in one map but apart in the other
    return 1.0 - (_pairs(n.sum(axis=1)) + _pairs(n.sum(axis=0)) - 2.0 * _pairs(n)) / _pairs(total)


def _entropy(p):
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def _voi_from_table(n):
    joint = n.astype(np.float64) / n.sum()
    # H(a|b) + H(b|a) = 2 H(a, b) - H(a) - H(b)
    return max(2.0 * _entropy(joint.ravel()) - _entropy(joint.sum(axis=1)) - _entropy(joint.sum(axis=0)), 0.0)


def rand_index(a, b):
    """Share of pixel pairs on which two label maps agree.

    Parameters
    ----------
    a, b : array-like of int, same shape

    Returns
    -------
    ri : float in [0, 1]
    """
    return _rand_from_table(contingency(a, b))


def variation_of_information(a, b):
    """Variation of information between two label maps, in bits.

    Parameters
    ----------
    a, b : array-like of int, same shape

    Returns
    -------
    vi : float >= 0
        ``H(a | b) + H(b | a)``; 0 when the maps are the same partition.
    """
    return _voi_from_table(contingency(a, b))


def probabilistic_rand_index(seg, truths):
    """Rand index of ``seg`` averaged over several reference segmentations.

    Parameters
    ----------
    seg : array-like of int, shape (h, w)
    truths : sequence of arrays of shape (h, w)

    Returns
    -------
    pri : float
    """
    return float(np.mean([rand_index(seg, t) for t in truths]))


def compare(seg, truths):
    """PRI and mean variation of information of one segmentation against its references.

    Parameters
    ----------
    seg : array-like of int, shape (h, w)
    truths : sequence of arrays of shape (h, w)

    Returns
    -------
    scores : dict with ``pri`` and ``voi``
    """
    if not len(truths):
        raise DataError("no reference segmentations to compare with")
    tables = [contingency(seg, t) for t in truths]
    return {
        "pri": float(np.mean([_rand_from_table(n) for n in tables])),
        "voi": float(np.mean([_voi_from_table(n) for n in tables])),
    }
