"""Anomaly: does ``threshold.rate`` flag that share of new records like the reference?

    python benchmarks/bench_anomaly_threshold.py [--shared ../shared/datasets] [--halvings 5]

A detector scores records it was not fitted on as more unusual than those it learned from, so a threshold
set on the reference's own scores flags more than ``rate`` of new records like them, the more so the fewer
the reference records. For each ODDS set whose half holds 5,000 records or fewer (the sets where the run
sets the threshold for new records on held-out folds), each of ``--halvings`` random halvings: the default
config learns from one half and scores the other (records drawn like the reference), with the threshold for
new records set four ways:

- own: the reference's own scores (the threshold before held-out folds);
- held-out 5: the scores of five held-out folds, pooled (the default: the pipeline's ``held_out_scores``);
- held-out 10: the same with ten folds (twice the fits);
- rank 5: five folds, the share of each fold's own scores a held-out score passes, carried over to the
  full detector's scores (a rank correction, free of each fold detector's score scale).

Printed: each set's mean share flagged of the other half (rate 0.1), the mean |log(share / rate)| over the
sets, in two fixed groups (alternate sets in the order below) to choose on one and confirm on the other,
and precision / recall of the labelled anomalies at the own and default thresholds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_anomaly_shift import SETS, load  # noqa: E402

from gmm_apps.core.thresholds import threshold_at_rate  # noqa: E402
from gmm_apps.pipelines.anomaly.config import AnomalyConfig  # noqa: E402
from gmm_apps.pipelines.anomaly.model import GMMDetector  # noqa: E402
from gmm_apps.pipelines.anomaly.pipeline import held_out_scores  # noqa: E402
from gmm_apps.pipelines.anomaly.shift import HELD_OUT_MAX  # noqa: E402

WAYS = ["own", "held-out 5", "held-out 10", "rank 5"]


class Records:
    def __init__(self, X):
        self.X = X


def folds(cfg, X, k):
    """Held-out scores and each record's share of its fold detector's own scores at or above it."""
    fold = np.random.default_rng(cfg.model.random_state).permutation(len(X)) % k
    held, passed = np.empty(len(X)), np.empty(len(X))
    for f in range(k):
        d = GMMDetector.from_config(cfg).fit(X[fold != f])
        held[fold == f] = d.decision_function(X[fold == f])
        own = np.sort(d.decision_scores_)
        passed[fold == f] = 1 - np.searchsorted(own, held[fold == f], side="left") / len(own)
    return held, passed


def thresholds(cfg, det, A):
    rate = cfg.threshold.rate
    det.set_threshold(rate=rate, held_out=held_out_scores(cfg, det, Records(A)))
    ten, _ = folds(cfg, A, 10)
    _, passed = folds(cfg, A, 5)
    r_in = float(np.quantile(passed, rate))
    rank = threshold_at_rate(det.decision_scores_, r_in) if r_in > 0 else float(det.decision_scores_.max())
    return [det.threshold_, det.threshold_new_, threshold_at_rate(ten, rate), rank]


def precision_recall(scores, y, t):
    flag = scores > t
    hit = int(np.sum(flag & (y == 1)))
    return hit / max(int(flag.sum()), 1), hit / max(int(np.sum(y == 1)), 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--halvings", type=int, default=5)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    cfg = AnomalyConfig()
    rate = cfg.threshold.rate
    shares, pr = {}, []
    print("| set | reference records | " + " | ".join(WAYS) + " |")
    print("|---|---:|" + "---:|" * len(WAYS))
    for name in SETS:
        path = Path(a.shared) / "odds" / f"{name}.mat"
        if not path.is_file():
            continue
        frame, y = load(path)
        X = frame.to_numpy()
        if len(X) // 2 > HELD_OUT_MAX:
            continue
        t0 = time.perf_counter()
        rows = []
        for seed in range(a.halvings):
            order = np.random.default_rng(seed).permutation(len(X))
            A, B = order[: len(X) // 2], order[len(X) // 2 :]
            det = GMMDetector.from_config(cfg).fit(X[A])
            ts = thresholds(cfg, det, X[A])
            s = det.decision_function(X[B])
            rows.append([float(np.mean(s > t)) for t in ts])
            pr.append([*precision_recall(s, y[B], ts[0]), *precision_recall(s, y[B], ts[1])])
        shares[name] = np.mean(rows, axis=0)
        cells = " | ".join(f"{100 * v:.1f}%" for v in shares[name])
        print(f"| {name} | {len(X) // 2:,} | {cells} |  <!-- {time.perf_counter() - t0:.0f} s -->", flush=True)
    names = list(shares)
    print(f"\nmean |log(share / {rate:g})| over the sets (0: every set flagged at the rate):\n")
    print("| sets | " + " | ".join(WAYS) + " |")
    print("|---|" + "---:|" * len(WAYS))
    for label, group in (("all", names), ("group A", names[0::2]), ("group B", names[1::2])):
        m = np.array([shares[n] for n in group])
        err = np.abs(np.log(np.maximum(m, 1e-3) / rate)).mean(axis=0)
        print(f"| {label} ({len(group)}) | " + " | ".join(f"{v:.3f}" for v in err) + " |")
    m = np.array([shares[n] for n in names])
    print("| mean share / rate, all | " + " | ".join(f"{v:.3f}" for v in (m / rate).mean(axis=0)) + " |")
    print("\ngroup A: " + ", ".join(names[0::2]) + "; group B: " + ", ".join(names[1::2]))
    p = np.mean(pr, axis=0)
    print(
        f"\nlabelled anomalies of the other half, mean over sets and halvings: own threshold precision "
        f"{p[0]:.3f}, recall {p[1]:.3f}; held-out 5 precision {p[2]:.3f}, recall {p[3]:.3f}"
    )


if __name__ == "__main__":
    main()
