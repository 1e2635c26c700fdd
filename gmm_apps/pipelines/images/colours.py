"""Plain names for colours ("dark blue", "beige", "light grey"), so that a palette can be read and searched.

A name is one of fifteen families (black, grey, white; red, pink, orange, brown, beige, yellow, olive, green,
teal, cyan, blue, purple) with at most one modifier (dark, light, pale, greyish), decided by rules on the
colour's CIELAB lightness L, chroma C and hue angle h, which follow how people name colours better than
RGB distances do.  The rules were set on the CSS named colours and checked on the colour survey behind
matplotlib's ``xkcd:`` colours (the name most people gave each colour): the family agrees on 70% of the 585
whose name ends in one of the families, 78% counting a neighbour (teal for cyan, olive for green) as agreeing
(docs/decisions.md).
"""

from __future__ import annotations

import numpy as np

__all__ = ["colour_names", "main_colours"]

#: hue families by the upper end of their CIELAB hue angle (degrees), from 0
_HUES = (
    (20.0, "pink"),
    (50.0, "red"),
    (85.0, "orange"),
    (112.0, "yellow"),
    (170.0, "green"),
    (225.0, "teal"),
    (315.0, "blue"),
    (345.0, "purple"),
    (360.0, "pink"),
)
#: below this lightness a colour of the family is dark (blue and purple are dark by nature, green less so)
_DARK = {"green": 40.0, "blue": 25.0, "purple": 25.0}
#: families that carry no lightness modifier (pink, beige and cyan are light by name, yellow cannot be dark)
_PLAIN = frozenset({"beige", "pink", "yellow", "cyan"})


def _name(L, C, h):
    """The name of one colour from its CIELAB lightness, chroma and hue angle."""
    if L < 12:
        return "black"
    if C < 8 or (L > 95 and C < 15):
        return "white" if L >= 92 else "light grey" if L >= 75 else "grey" if L >= 45 else "dark grey"
    family = next(f for top, f in _HUES if h < top)
    if family == "red" and L < 45 and C < 60:
        family = "brown"
    elif family == "orange" and (L < 60 or C < 35):
        family = "brown" if L < 70 else "beige"
    elif family == "yellow" and L < 60:
        family = "olive"
    elif family == "yellow" and C < 35 and L >= 70:
        family = "beige"
    elif family == "green" and h < 128 and L < 55:
        family = "olive"
    elif family == "teal" and L >= 60:
        family = "cyan"
    elif family == "pink" and L < 45:
        family = "red"
    if family in _PLAIN:
        return family
    if L < _DARK.get(family, 35.0):
        return f"dark {family}"
    if L > 75 and C < 30:
        return f"pale {family}"
    if L > 80:
        return f"light {family}"
    if C < 20:
        return f"greyish {family}"
    return family


def colour_names(rgb):
    """The plain name of each sRGB colour.

    Parameters
    ----------
    rgb : array-like of shape (n, 3)
        Colours with channels in [0, 1].

    Returns
    -------
    names : list of str
    """
    from skimage.color import rgb2lab  # start-up time: scikit-image loads only when images are segmented

    rgb = np.clip(np.asarray(rgb, dtype=np.float64).reshape(-1, 3), 0.0, 1.0)
    if not len(rgb):
        return []
    lab = rgb2lab(rgb[None])[0]
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360.0
    return [_name(L, C, h) for L, C, h in zip(lab[:, 0], chroma, hue)]


def main_colours(names, shares, *, top=3):
    """An image's main colours as text: the shares of segments with the same name added, largest first.

    Parameters
    ----------
    names : sequence of str
        Each segment's colour name (:func:`colour_names`).
    shares : sequence of float
        Each segment's share of the image.
    top : int, default=3

    Returns
    -------
    text : str
        e.g. ``"light grey 41%, dark blue 22%, beige 12%"``.
    """
    total = {}
    for name, share in zip(names, shares):
        total[name] = total.get(name, 0.0) + float(share)
    ranked = sorted(total.items(), key=lambda t: (-t[1], t[0]))[:top]
    return ", ".join(f"{name} {100 * share:.0f}%" for name, share in ranked)
