"""Regimes: does the shuffle test of volatility clustering say "no regimes" when there are none, and only then?

    python benchmarks/bench_regime_evidence.py [--shared ../shared/datasets] [--part 1|2|3|4|5|6]

The test (``gmm_apps.pipelines.regimes.evidence.clustering_test``) compares the spread of a series'
21-day volatility with that of the same returns shuffled. Six parts:

1. Chance: returns of one constant volatility (normal, and Student t with 3 degrees of freedom for
   fat tails), 250, 500 and 2,520 days, 200 series each: the share the test calls regimes
   (p <= 0.05) should be about 5%.
2. Power: two volatility regimes switching as a Markov chain (a regime lasts 60 days on average),
   the stress volatility 1.5, 2 or 3 times the calm one, 250, 500 and 1,000 days, 100 series each.
3. Real series, read as the pipeline reads them: the six of ``bench_regimes.py --part 4`` and every
   USD exchange rate of FRED's file with 1,000 days or more: p on the first ten years (2,520 days),
   and the share of one-year and two-year windows (30 of each, drawn once) with p <= 0.05.
4. What a run says: the default config trained on one year of S&P 500 prices (2017, the calmest
   year of the file, and 2008; the next half year out of sample) and on the whole file.
5. Weekly and monthly prices, the test's window (in periods): power on two- and three-regime Markov
   series of Student t returns (5 df) of weekly and monthly lengths, 60 series a case (99 shuffles), and
   the share called regimes with one volatility (400 series). The window was chosen on the weekly cases,
   checked on the monthly and three-regime ones, then confirmed in part 6; daily series of the same kind
   check that the daily window, 21 days, needs no change.
6. Real weekly and monthly closes (each week's and month's last close of the eight exchange rates of
   ``bench_regime_volatility.py`` and the six series of part 3): the share of five-year (weekly) and
   ten-year (monthly) windows, back to back, called regimes over a month's periods (4 weeks, 3 months:
   the feature's window) and over :data:`~gmm_apps.pipelines.regimes.evidence.MIN_TEST_WINDOW` periods.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_regime_volatility import DEVELOPMENT  # noqa: E402
from bench_regimes import SERIES  # noqa: E402

import gmm_apps  # noqa: E402
from gmm_apps.errors import UserError  # noqa: E402
from gmm_apps.pipelines.regimes import features as feat  # noqa: E402
from gmm_apps.pipelines.regimes import pipeline as rp  # noqa: E402
from gmm_apps.pipelines.regimes.evidence import LEVEL, MIN_TEST_WINDOW, clustering_test  # noqa: E402
from gmm_apps.runs import prepare  # noqa: E402

CONFIG = ROOT / "configs" / "regimes.yaml"
FX = "{shared}/prices/fx-usd-daily-fred-2017.csv"


def share_supported(draw, n_series, seed):
    """The share of ``n_series`` series from ``draw(rng)`` that the test calls regimes (99 shuffles each)."""
    rng = np.random.default_rng(seed)
    found = [clustering_test(draw(rng), shuffles=99, random_state=i)["supported"] for i in range(n_series)]
    return float(np.mean(found))


def switching(rng, n, ratio, stay=60):
    state = np.zeros(n, dtype=int)
    for t in range(1, n):
        state[t] = state[t - 1] if rng.random() > 1 / stay else 1 - state[t - 1]
    return rng.normal(0, 0.01, n) * np.where(state == 1, ratio, 1.0)


def chance():
    print("| returns | 250 days | 500 days | 2,520 days |\n|---|---:|---:|---:|")
    for name, draw in (
        ("normal, one volatility", lambda rng, n: rng.normal(0, 0.01, n)),
        ("Student t (3 df), one volatility", lambda rng, n: rng.standard_t(3, n) * 0.01),
    ):
        cells = [share_supported(lambda rng, n=n, draw=draw: draw(rng, n), 200, seed=n) for n in (250, 500, 2520)]
        print(f"| {name} | " + " | ".join(f"{100 * c:.1f}%" for c in cells) + " |", flush=True)


def power():
    print("| stress / calm volatility | 250 days | 500 days | 1,000 days |\n|---|---:|---:|---:|")
    for ratio in (1.5, 2.0, 3.0):
        cells = [share_supported(lambda rng, n=n, k=ratio: switching(rng, n, k), 100, seed=n) for n in (250, 500, 1000)]
        print(f"| {ratio:g} | " + " | ".join(f"{100 * c:.0f}%" for c in cells) + " |", flush=True)


def returns_of(sets, name):
    _, cfg = prepare(CONFIG, sets=list(sets))
    data = rp.load_prices(cfg, name)
    return feat.moves(data.prices[data.primary].to_numpy())


def real(shared):
    fx = FX.format(shared=shared)
    runs = [(n, [s.format(shared=shared) for s in sets]) for n, sets in SERIES]
    if Path(fx).is_file():
        import pandas as pd

        columns = pd.read_csv(fx, nrows=0).columns[1:]
        runs += [
            (f"USD/{c}", [f"data.path={fx}", f"data.price_column={c}", "data.missing=drop"])
            for c in columns
            if c != "Japan"
        ]
    print("| series | days | p, first ten years | one-year windows with p <= 0.05 | two-year windows |")
    print("|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for name, sets in runs:
        try:
            r = returns_of(sets, name)
        except UserError:  # a currency the file holds no price of (the euro's forerunners after 1999)
            continue
        r = r[np.isfinite(r)]
        if len(r) < 1000:
            continue
        first = clustering_test(r[:2520])["p_value"]
        shares = []
        for span in (252, 504):
            starts = rng.integers(0, len(r) - span, 30)
            found = [clustering_test(r[s : s + span], random_state=int(s))["supported"] for s in starts]
            shares.append(np.mean([f is True for f in found]))  # None: no volatility to test (a peg held flat)
        print(f"| {name} | {len(r):,} | {first:.3f} | {100 * shares[0]:.0f}% | {100 * shares[1]:.0f}% |", flush=True)


def runs():
    print("| S&P 500, trained on | p | what the run says |\n|---|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, sets in (
            ("2017", ["data.start=2017-01-01", "data.end=2018-06-30", "split.holdout_start=2018-01-01"]),
            ("2008", ["data.start=2008-01-01", "data.end=2009-06-30", "split.holdout_start=2009-01-01"]),
            ("1999-2012", []),
        ):
            r = gmm_apps.run(str(CONFIG), out=Path(tmp) / label, set=[*sets, "report.plots=false"], quiet=True)
            found = r.summary["regime_evidence"]
            said = "caution" if found["supported"] is False else "regimes"
            print(f"| {label} ({found['days']} training days) | {found['p_value']:.3f} | {said} |", flush=True)


def regimes_of(rng, n, ratio, stay, states=2, df=5):
    """Student t returns whose volatility switches between ``states`` levels from 1 to ``ratio`` (geometric), a
    Markov chain that leaves its state with probability ``1 / stay`` for another drawn evenly."""
    levels, state, out = np.geomspace(1.0, ratio, states), int(rng.integers(states)), np.empty(n, dtype=int)
    for t in range(n):
        if rng.random() < 1 / stay:
            state = int(rng.choice([s for s in range(states) if s != state]))
        out[t] = state
    return levels[out] * rng.standard_t(df, n) / np.sqrt(df / (df - 2))


#: (name, windows tried, cases: (periods, stress / calm volatility, mean stay in periods, regimes))
PERIOD_CASES = [
    (
        "weekly (chosen on)",
        (4, 8, 13, 21, 26),
        [(n, k, d, 2) for n in (260, 520) for k in (2, 3) for d in (26, 52, 104)],
    ),
    (
        "monthly (checked on)",
        (3, 4, 6, 8, 13, 21),
        [(n, k, d, 2) for n in (120, 240) for k in (2, 3) for d in (12, 24, 48)],
    ),
    ("weekly, three regimes (checked on)", (4, 8, 13, 21, 26), [(n, 2.5, d, 3) for n in (260, 520) for d in (20, 40)]),
    (
        "daily (the feature's 21 days)",
        (10, 21, 42, 63),
        [(n, k, d, 2) for n in (250, 500) for k in (1.5, 2) for d in (20, 60, 120)],
    ),
]


def period_windows():
    for name, windows, cases in PERIOD_CASES:
        print(
            f"\n{name}\n\n| periods | stress / calm | mean stay | " + " | ".join(f"window {w}" for w in windows) + " |"
        )
        print("|---:|---:|---:|" + "---:|" * len(windows))
        power = {w: [] for w in windows}
        for n, ratio, stay, states in cases:
            for w in windows:
                rng = np.random.default_rng([n, int(10 * ratio), stay, states])  # every window sees the same series
                found = [
                    clustering_test(regimes_of(rng, n, ratio, stay, states), window=w, shuffles=99, random_state=i)
                    for i in range(60)
                ]
                power[w].append(np.mean([f["supported"] is True for f in found]))
            print(f"| {n} | {ratio:g} | {stay} | " + " | ".join(f"{100 * power[w][-1]:.0f}%" for w in windows) + " |")
        n = cases[0][0]
        chance = [share_supported_window(n, w) for w in windows]
        print("| mean power | | | " + " | ".join(f"**{100 * np.mean(power[w]):.1f}%**" for w in windows) + " |")
        print(f"| one volatility, {n} | | | " + " | ".join(f"{100 * c:.1f}%" for c in chance) + " |", flush=True)


def share_supported_window(n, window, n_series=400):
    rng = np.random.default_rng(n)
    found = [
        clustering_test(rng.standard_t(5, n), window=window, shuffles=99, random_state=i)["supported"]
        for i in range(n_series)
    ]
    return float(np.mean(found))


def period_real(shared):
    fx = FX.format(shared=shared)
    runs = [(c, [f"data.path={fx}", f"data.price_column={c}", "data.missing=drop"]) for c in DEVELOPMENT]
    runs += [(n, [s.format(shared=shared) for s in sets]) for n, sets in SERIES]
    print(f"| series | sampled | windows | called regimes, a month's periods | over {MIN_TEST_WINDOW} periods |")
    print("|---|---|---:|---:|---:|")
    totals = {}
    for name, sets in runs:
        _, cfg = prepare(CONFIG, sets=sets)
        data = rp.load_prices(cfg, name)
        closes = data.prices[data.primary]
        for kind, rule, span, month in (("weekly", "W-FRI", 260, 4), ("monthly", "ME", 120, 3)):
            r = feat.moves(closes.resample(rule).last().dropna().to_numpy())
            r = r[np.isfinite(r)]
            found = np.array(
                [
                    [clustering_test(r[s : s + span], window=w)["supported"] is True for w in (month, MIN_TEST_WINDOW)]
                    for s in range(0, len(r) - span + 1, span)
                ]
            )
            totals.setdefault(kind, []).append(found)
            print(f"| {name} | {kind} | {len(found)} | {found[:, 0].sum()} | {found[:, 1].sum()} |", flush=True)
    for kind, found in totals.items():
        a = np.vstack(found)
        print(f"| **all** | {kind} | {len(a)} | **{100 * a[:, 0].mean():.0f}%** | **{100 * a[:, 1].mean():.0f}%** |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--part", type=int, choices=[1, 2, 3, 4, 5, 6])
    a = ap.parse_args()
    print(f"(the test calls regimes at p <= {LEVEL})")
    parts = ((1, chance), (2, power), (3, lambda: real(a.shared)), (4, runs), (5, period_windows))
    for part, fn in (*parts, (6, lambda: period_real(a.shared))):
        if a.part in (None, part):
            fn()


if __name__ == "__main__":
    main()
