"""Images: how well the colour names of palettes.csv agree with the names people give colours.

    python benchmarks/bench_colour_names.py

The rules (``gmm_apps/pipelines/images/colours.py``) were set on the CSS named colours; they are checked on
the colour survey behind matplotlib's ``xkcd:`` colours (the name most of its participants gave each colour),
on every colour whose name ends in one of the fifteen families (``dark blue``, ``forest green``, ``dusty
pink``). Prints, for both sets, the share whose family agrees, and counting a neighbouring family (teal and
cyan, olive and green, beige and brown, grey and white or black, pink and purple or red) as agreeing; then
the most common disagreements of the check set.
"""

from __future__ import annotations

from collections import Counter

from matplotlib import colors

from gmm_apps.pipelines.images.colours import colour_names

FAMILIES = {
    "black", "grey", "white", "red", "pink", "orange", "brown", "beige",
    "yellow", "olive", "green", "teal", "cyan", "blue", "purple",
}  # fmt: skip
NEIGHBOURS = {
    frozenset(p)
    for p in [
        ("teal", "cyan"), ("olive", "green"), ("beige", "brown"), ("grey", "white"),
        ("grey", "black"), ("pink", "purple"), ("pink", "red"),
    ]
}  # fmt: skip


def named(table, prefix=""):
    """(name, family, hex) of the colours of ``table`` whose name ends in a family (CSS names run together:
    ``darkblue`` ends in ``blue``)."""
    out = []
    for key, value in table.items():
        name = key[len(prefix) :].replace("gray", "grey")
        family = next((f for f in FAMILIES if name.endswith(f)), None) if not prefix else name.split()[-1]
        if family in FAMILIES:
            out.append((name, family, value))
    return out


def agreement(items):
    said = [n.split()[-1] for n in colour_names([colors.to_rgb(v) for _, _, v in items])]
    exact = sum(s == f for (_, f, _), s in zip(items, said))
    near = sum(s == f or frozenset((s, f)) in NEIGHBOURS for (_, f, _), s in zip(items, said))
    misses = Counter((f, s) for (_, f, _), s in zip(items, said) if s != f)
    return exact / len(items), near / len(items), misses


def main():
    for label, items in (
        ("CSS named colours (the rules were set on these)", named(colors.CSS4_COLORS)),
        ("xkcd colour survey (the check)", named(colors.XKCD_COLORS, "xkcd:")),
    ):
        exact, near, misses = agreement(items)
        print(f"{label}: {len(items)} colours, family agrees {exact:.1%}, or a neighbour {near:.1%}")
    print("check set, most common disagreements (people's family -> ours):")
    for (theirs, ours), n in misses.most_common(8):
        print(f"  {theirs} -> {ours}: {n}")


if __name__ == "__main__":
    main()
