"""Anomaly: the default detector against IsolationForest, a BIC-chosen scikit-learn GMM and ECOD.

    python benchmarks/bench_anomaly.py [path/to/odds]

On the eight ODDS sets in ../shared/datasets/odds: fit and score on all of X (labels used only
for scoring), ROC-AUC and average precision side by side; then scoring throughput of a saved
model on 1,000,000 records.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.mixture import GaussianMixture as SkGMM

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_apps.pipelines.anomaly.config import AnomalyConfig  # noqa: E402
from gmm_apps.pipelines.anomaly.model import GMMDetector  # noqa: E402
from gmm_apps.pipelines.anomaly.pipeline import make_detector  # noqa: E402

NAMES = ["cardio", "glass", "ionosphere", "lympho", "pima", "satellite", "shuttle", "wbc"]


def methods():
    cfg = AnomalyConfig()
    out = {"gmm_apps (default)": lambda X: make_detector(cfg).fit(X).decision_scores_,
           "IsolationForest": lambda X: -IsolationForest(random_state=0).fit(X).score_samples(X),
           "sklearn GMM (BIC, K 1-8)": lambda X: -min((SkGMM(k, random_state=0).fit(X) for k in range(1, 9)),
                                                      key=lambda g: g.bic(X)).score_samples(X)}
    try:
        from pyod.models.ecod import ECOD

        out["PyOD ECOD"] = lambda X: ECOD().fit(X).decision_scores_
    except ImportError:
        pass
    return out


def main():
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "datasets" / "odds"
    ms = methods()
    res = {m: [] for m in ms}
    print(f"{'data':11s}" + "".join(f"{m[:24]:>26s}" for m in ms))
    for nm in NAMES:
        d = loadmat(src / f"{nm}.mat")
        X, y = d["X"].astype(float), d["y"].ravel().astype(int)
        row = []
        for m, f in ms.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                s = f(X)
                el = time.perf_counter() - t
            auc, ap = roc_auc_score(y, s), average_precision_score(y, s)
            res[m].append((auc, ap))
            row.append(f"{auc:.3f} / {ap:.3f} ({el:4.1f}s)")
        print(f"{nm:11s}" + "".join(f"{r:>26s}" for r in row), flush=True)
    print(f"{'mean':11s}" + "".join(f"{np.mean([a for a, _ in v]):.3f} / {np.mean([b for _, b in v]):.3f}".rjust(26) for v in res.values()))
    ours, ifo = [a for a, _ in res["gmm_apps (default)"]], [a for a, _ in res["IsolationForest"]]
    gaps = [o - i for o, i in zip(ours, ifo)]
    print(f"gmm_apps - IsolationForest ROC-AUC: worst {min(gaps):+.3f} ({NAMES[int(np.argmin(gaps))]}), "
          f"at least as good on {sum(g >= 0 for g in gaps)} of 8")

    # scoring throughput from a saved model
    rng = np.random.default_rng(0)
    d = loadmat(src / "shuttle.mat")["X"].astype(float)
    det = make_detector(AnomalyConfig()).fit(d)
    with tempfile.TemporaryDirectory() as tmp:
        det.save(Path(tmp) / "m", meta={})
        det2, _ = GMMDetector.load(Path(tmp) / "m")
    big = d[rng.integers(0, len(d), 1_000_000)] + rng.normal(0, 0.01, (1_000_000, d.shape[1]))
    t = time.perf_counter()
    for i in range(0, len(big), 200_000):
        det2.decision_function(big[i : i + 200_000])
    el = time.perf_counter() - t
    print(f"scoring 1,000,000 records ({d.shape[1]} features, {len(det2.members_)} GMMs) from a saved model: "
          f"{el:.1f} s = {60 / el * 1e6:,.0f} records per minute")


if __name__ == "__main__":
    main()
