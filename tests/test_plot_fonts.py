"""Plots whose labels hold letters matplotlib's default font lacks (Chinese, Japanese, Korean names)."""

import io
import warnings
from types import SimpleNamespace

import matplotlib
import pytest

from gmm_apps import plot_fonts
from gmm_apps.report import figure, png_bytes

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # the references drawn with boxes


def _named_plot(title="张伟 and 李娜", bars=("王芳", "Anna")):
    fig = figure(4, 3)
    ax = fig.add_subplot()
    ax.bar(list(bars), [1, 2])
    ax.set_title(title)
    return fig


def _plain_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def test_latin_labels_are_saved_as_matplotlib_saves_them():
    latin = {"title": "Anna and Bob", "bars": ("Anna", "Bob")}
    assert png_bytes(_named_plot(**latin)) == _plain_png(_named_plot(**latin))


def test_no_font_with_the_letters_is_said_once_without_a_warning_per_letter(monkeypatch, gmm_log):
    monkeypatch.setattr(plot_fonts, "covering_font", lambda letters: None)
    monkeypatch.setattr(plot_fonts, "_said", set())
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        png_bytes(_named_plot())
        first = {r.getMessage() for r in gmm_log.records}
        gmm_log.clear()
        png_bytes(_named_plot())
    assert not [w for w in said if "missing from font" in str(w.message)]
    assert len(first) == 1
    assert "no installed font has 伟 娜 张 李 王 芳, drawn as boxes" in next(iter(first))
    assert "Noto Sans CJK" in next(iter(first))
    assert not gmm_log.records  # the same letters are not said again


def test_the_font_chosen_is_a_known_one_before_any_other_and_never_matplotlibs_own(monkeypatch):
    bundled = matplotlib.get_data_path()
    fonts = [
        ("Last Resort High-Efficiency", f"{bundled}/fonts/ttf/LastResortHE-Regular.ttf", "张伟李娜abc"),
        ("Aardvark Han", "/fonts/aardvark.ttf", "张伟李娜"),
        ("Zebra Hangul", "/fonts/zebra.ttf", "김민"),
        ("WenQuanYi Zen Hei", "/fonts/wqy.ttc", "张伟李娜"),
        ("Microsoft YaHei", "/fonts/msyh.ttc", "张伟"),
    ]
    from matplotlib import font_manager

    monkeypatch.setattr(font_manager.fontManager, "ttflist", [SimpleNamespace(name=n, fname=f) for n, f, _ in fonts])
    monkeypatch.setattr(plot_fonts, "_letters", lambda path: frozenset(next(s for _, f, s in fonts if f == path)))
    choose = plot_fonts.covering_font.__wrapped__
    assert choose(frozenset("张伟")) == "Microsoft YaHei"  # first of the known ones, though not first by name
    assert choose(frozenset("李娜")) == "WenQuanYi Zen Hei"
    assert choose(frozenset("김민")) == "Zebra Hangul"  # no known one has them: any other that does
    assert choose(frozenset("张김")) is None  # Last Resort "has" them as boxes: not a font for them


def _installed_font(letters):
    font = plot_fonts.covering_font(frozenset(letters))
    if font is None:
        pytest.skip("no installed font has Chinese letters (e.g. apt install fonts-wqy-zenhei)")
    return font


def test_an_installed_font_draws_the_letters_the_default_font_lacks():
    font = _installed_font("张伟李娜王芳")
    fig = _named_plot()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        drawn = png_bytes(fig)
        again = _plain_png(fig)  # every label, the bars' names too, has a font with its letters now
    assert not [w for w in said if "missing from font" in str(w.message)]
    assert drawn == again
    assert drawn != _plain_png(_named_plot())  # boxes
    chinese = [t for t in fig.findobj(matplotlib.text.Text) if {"张", "王"} & set(t.get_text())]
    assert {t.get_text() for t in chinese} == {"王芳", "张伟 and 李娜"} and all(
        t.get_fontfamily()[-1] == font for t in chinese
    )
    assert all(t.get_fontfamily() == ["sans-serif"] for t in fig.findobj(matplotlib.text.Text) if t not in chinese)
