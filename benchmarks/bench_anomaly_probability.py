"""Anomaly: how a score becomes the ``probability`` column, three ways, on the 20 ODDS sets.

    python benchmarks/bench_anomaly_probability.py [--sets cardio wbc]

The default detector is fitted on all of each set (labels only for the Brier score) at the
default contamination (0.1), and its scores mapped to 0-1:

- unify: PyOD's ``predict_proba`` default: erf of the score standardised by the scores' mean
  and standard deviation, clipped at 0;
- at threshold, IQR: the normal CDF of (score - threshold) / (IQR / 1.349);
- at threshold, median (the default, ``thresholds.score_spread``): the normal CDF of
  (score - threshold) / spread, the spread putting the median record at the share flagged.

Printed per set and as means over the two fixed halves of bench_anomaly.SPLIT (choose on
"tune", confirm on "confirm"): the share of records whose probability contradicts their
flag (flagged at 0.5 or below, or not flagged above it); the largest change of any other
record's probability when one record scoring 1,000 times the highest joins the reference
(the mapping alone, the scores held); the share of flagged records shown as 1.000 (their
order lost in a three-decimal table); the Brier score against the labels; and the share of flagged
records at 0.5 or below.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.special import erf, ndtr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_anomaly import SETS, SPLIT, load  # noqa: E402

from gmm_apps.pipelines.anomaly.config import AnomalyConfig  # noqa: E402
from gmm_apps.pipelines.anomaly.model import GMMDetector  # noqa: E402
from gmm_apps.pipelines.anomaly.thresholds import score_spread  # noqa: E402


def unify(s, ref, t):
    return np.clip(erf((s - ref.mean()) / (ref.std() * np.sqrt(2))), 0, 1)


def at_threshold_iqr(s, ref, t):
    q75, q25 = np.percentile(ref, [75, 25])
    return ndtr((s - t) / ((q75 - q25) / 1.349))


def at_threshold_median(s, ref, t):
    return ndtr((s - t) / score_spread(ref, t))


MAPPINGS = {"unify": unify, "at threshold, IQR": at_threshold_iqr, "at threshold, median": at_threshold_median}


def measure(s, y, t):
    """Each mapping's contradictions, largest shift from one extreme record, share of flagged at 1.000, Brier,
    share of flagged at 0.5 or below."""
    flag = s > t
    extreme = np.r_[s, 1000 * s.max()]
    out = {}
    for name, f in MAPPINGS.items():
        p = f(s, s, t)
        contra = float(np.mean(flag != (p > 0.5)))
        shift = float(np.abs(f(s, extreme, t) - p).max())
        below = float(np.mean(p[flag] <= 0.5))
        out[name] = (contra, shift, float(np.mean(p[flag] >= 0.9995)), float(np.mean((p - y) ** 2)), below)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", default=SETS)
    args = ap.parse_args()
    cfg = AnomalyConfig()
    res = {}
    print("| set | " + " | ".join(MAPPINGS) + " |")
    print("|---|" + "---:|" * len(MAPPINGS))
    for name in args.sets:
        X, y = load(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            det = GMMDetector.from_config(cfg).fit(X)
        res[name] = measure(det.decision_scores_, y, det.threshold_)
        cells = [
            f"{100 * c:.1f}% / {sh:.3f} / {100 * one:.0f}% / {b:.3f} / {100 * lo:.0f}%"
            for c, sh, one, b, lo in res[name].values()
        ]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(
        "\ncells: contradicting the flag / largest shift from one extreme record / flagged shown as 1.000 / Brier / "
        "flagged at 0.5 or below"
    )
    for half, members in SPLIT.items():
        members = [m for m in members if m in res]
        if not members:
            continue
        for m in MAPPINGS:
            a = np.array([res[s][m] for s in members])
            print(
                f"{half} ({len(members)} sets), {m}: contradicting {100 * a[:, 0].mean():.1f}%, largest shift "
                f"{a[:, 1].max():.3f}, flagged shown as 1.000 {100 * a[:, 2].mean():.0f}%, Brier {a[:, 3].mean():.3f}"
            )


if __name__ == "__main__":
    main()
