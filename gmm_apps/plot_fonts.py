"""Saving a plot whose labels hold letters matplotlib's default font cannot draw.

DejaVu Sans, matplotlib's default, has no Chinese, Japanese or Korean letters (nor Thai, Devanagari ...), so a
speaker named 张伟, a column headed 实付金额 or a series headed 收盘 would be drawn as boxes, with one warning
per letter.  :func:`save_png` saves a figure as usual; only when matplotlib says a letter is missing does it
give the labels holding such letters an installed font that has them (the best known for the script first,
then any) and save again.  With no such font installed, the letters stay boxes and one log line says so
(the report's tables show them as written).
"""

from __future__ import annotations

import functools
import logging
import re
import warnings

logger = logging.getLogger("gmm_apps")

#: fonts tried first, by name, for letters the default font lacks: Noto / Source Han, then what Windows, macOS
#: and Linux desktops ship for Chinese, Japanese and Korean; then any installed font that has them
PREFERRED = (
    *("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR", "Source Han Sans"),
    *("Microsoft YaHei", "Yu Gothic", "Meiryo", "Malgun Gothic", "SimHei", "MS Gothic"),
    *("PingFang SC", "Hiragino Sans", "Hiragino Sans GB", "Apple SD Gothic Neo", "Arial Unicode MS"),
    *("WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "Noto Sans"),
)

_MISSING = re.compile(r"Glyph (\d+) .*missing from font")
_said = set()


def save_png(fig, target):
    """Save ``fig`` as PNG at 100 dpi with no software stamp (the same bytes every time) into ``target`` (a
    path or a binary file object); labels holding letters the font lacks get a font that has them."""
    missing = _save(fig, target)
    if not missing:
        return
    font = covering_font(frozenset(missing))
    if font is None:
        new = sorted(missing - _said)
        if new:
            _said.update(new)
            logger.warning(
                "plots: no installed font has %s, drawn as boxes in the plots (the tables show them); install a "
                "font that has them (Noto Sans CJK for Chinese, Japanese and Korean) and delete matplotlib's "
                "font cache (fontlist-*.json in matplotlib.get_cachedir())",
                " ".join(new[:12]) + (" ..." if len(new) > 12 else ""),
            )
        return
    from matplotlib.text import Text  # start-up time: matplotlib loads only when plotting

    for text in fig.findobj(Text):
        if missing & set(text.get_text()):
            text.set_fontfamily([*text.get_fontfamily(), font])
    if hasattr(target, "seek"):
        target.seek(0)
        target.truncate()
    lookup = logging.getLogger("matplotlib.font_manager")
    level = lookup.level
    lookup.setLevel(logging.ERROR)  # "Failed to find font weight normal for ..., now using 500": it is drawn
    try:
        _save(fig, target)
    finally:
        lookup.setLevel(level)


def _save(fig, target):
    """Save and return the letters matplotlib said its fonts lack (its warnings about them kept quiet)."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        fig.savefig(target, format="png", dpi=100, metadata={"Software": None})
    missing = set()
    for w in said:
        m = _MISSING.search(str(w.message))
        if m:
            missing.add(chr(int(m.group(1))))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return missing


@functools.cache
def covering_font(letters):
    """The name of an installed font that has every one of ``letters`` (a frozenset): the first of
    :data:`PREFERRED` installed, else the first other by name; None when none has them all (matplotlib's own
    fonts are not looked at: none has them, and its Last Resort font draws every letter as a box)."""
    import matplotlib  # start-up time: matplotlib loads only when plotting
    from matplotlib import font_manager  # start-up time: as matplotlib

    bundled = matplotlib.get_data_path()  # DejaVu, STIX, Computer Modern, and the box-drawing Last Resort
    paths = {}
    for entry in font_manager.fontManager.ttflist:
        if not entry.fname.startswith(bundled):
            paths.setdefault(entry.name, entry.fname)
    known = [n for n in PREFERRED if n in paths]
    for name in [*known, *sorted(set(paths) - set(known))]:
        if letters <= _letters(paths[name]):
            return name
    return None


@functools.cache
def _letters(path):
    """The letters of the font file at ``path`` (empty when it cannot be read)."""
    from matplotlib.ft2font import FT2Font  # start-up time: matplotlib loads only when plotting

    try:
        return frozenset(chr(c) for c in FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()
