"""Anomaly: how the detector's views and their combination were chosen, reproducibly.

    pip install ".[bench]"                 # PyOD, for the peers' side of the targets
    python benchmarks/choose_anomaly.py    # about 3 minutes on 2 cores

Candidates: five sets of K for the joint views x the per-feature view or not x
the mean or the largest standardised view (20 in all; the rest of the detector
as the default).  Each of the 20 sets in ../shared/datasets/odds is fitted once
with every view any candidate uses; a candidate's score is computed from the
views it keeps (each standardised by its median / IQR on the reference, as the
detector does), so candidates differ only in views and combination, not in
random starts.  Printed, per candidate: mean ROC-AUC minus IsolationForest's
over all 20 and over each fixed half (the split of bench_anomaly.py), and the
largest shortfall against the best of IsolationForest, ECOD, COPOD and HBOS on
each half.  Then two selection protocols:

* the fixed split: the candidate with the best tune-half mean, and its
  confirm-half result;
* leave one data set out: for each set, the candidate with the best mean
  margin over IsolationForest on the other 19, scored on the one left out
  (how often each candidate is chosen, and the held-out mean: an estimate of
  what choosing this way is worth on a data set nobody tuned on).
"""

from __future__ import annotations

import itertools
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_anomaly import ODDS, SETS, SPLIT, load, methods  # noqa: E402

from gmm_apps.pipelines.anomaly.model import GMMDetector  # noqa: E402

K_SETS = [(1, 8, 16, 32), (1, 2, 4, 8, 16, 32), (1, 4, 16, 32), (1, 2, 8, 32), (1, 4, 16)]
CANDIDATES = list(itertools.product(K_SETS, (False, True), ("mean", "max")))


def views(X):
    """Every view's standardised score on the reference (as the detector standardises it), by view name."""
    det = GMMDetector(n_components=sorted({k for ks in K_SETS for k in ks}))
    det.fit(X)
    S = (det._raw(det.scaler_.transform(X)) - det.med_) / det.iqr_
    return {name.replace("=", ""): S[:, v] for v, name in enumerate(det.view_names())}


def score(v, n, ks, marginal, combine):
    keep = [f"K{k}" for k in sorted({max(1, min(k, n // 10)) for k in ks})]
    keep += ["per-feature"] * (marginal and "per-feature" in v) + ["residual"] * ("residual" in v)
    S = np.array([v[name] for name in keep])
    return S.max(axis=0) if combine == "max" else S.mean(axis=0)


def name(c):
    ks, marginal, combine = c
    return f"K {','.join(map(str, ks))}{' + per-feature' if marginal else ''}, {combine}"


def main():
    if not ODDS.is_dir():
        sys.exit(f"{ODDS} not found")
    peers = {m: f for m, f in methods().items() if m != "gmm_apps"}
    auc, best, forest = {}, {}, {}
    for nm in SETS:
        X, y = load(nm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = {m: roc_auc_score(y, f(X)) for m, f in peers.items()}
            v = views(X)
        forest[nm], best[nm] = p["IsolationForest"], max(p.values())
        for c in CANDIDATES:
            auc[(c, nm)] = roc_auc_score(y, score(v, len(X), *c))
        print(f"{nm}: fitted", flush=True)

    def margin(c, names):
        return float(np.mean([auc[(c, n)] - forest[n] for n in names]))

    def shortfall(c, names):
        return min((auc[(c, n)] - best[n], n) for n in names)

    print("\n| candidate | all - IF | tune - IF | confirm - IF | worst vs best peer, tune | worst, confirm |")
    print("|---|---:|---:|---:|---|---|")
    for c in CANDIDATES:
        wt, wc = shortfall(c, SPLIT["tune"]), shortfall(c, SPLIT["confirm"])
        print(
            f"| {name(c)} | {margin(c, SETS):+.3f} | {margin(c, SPLIT['tune']):+.3f} | "
            f"{margin(c, SPLIT['confirm']):+.3f} | {wt[0]:+.3f} ({wt[1]}) | {wc[0]:+.3f} ({wc[1]}) |"
        )
    c = max(CANDIDATES, key=lambda c: margin(c, SPLIT["tune"]))
    print(
        f"\nfixed split: best on the tune half is '{name(c)}' ({margin(c, SPLIT['tune']):+.3f}); "
        f"on the confirm half {margin(c, SPLIT['confirm']):+.3f}, worst {shortfall(c, SPLIT['confirm'])[0]:+.3f} "
        f"({shortfall(c, SPLIT['confirm'])[1]})"
    )
    chosen, held = {}, []
    for nm in SETS:
        c = max(CANDIDATES, key=lambda c: margin(c, [s for s in SETS if s != nm]))
        chosen[name(c)] = chosen.get(name(c), 0) + 1
        held.append(auc[(c, nm)] - forest[nm])
    print(
        "leave one set out: chosen "
        + "; ".join(f"'{k}' {v} times" for k, v in chosen.items())
        + f"; held-out mean margin over IsolationForest {np.mean(held):+.3f}"
    )


if __name__ == "__main__":
    main()
