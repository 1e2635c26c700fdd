"""Regimes: gmm_apps' default config against what a trader gets by hand, side by side.

    python benchmarks/bench_regimes.py

Same data (S&P 500 bundled with ``arch``), same features (daily log return and
21-day realised volatility, standardised on 1999-2012), K=3.  Reports switches
per year, mean regime length, label agreement across 5 seeds (ARI) and the
out-of-sample log-likelihood per day on 2013-2018 (filtered / one-step-ahead),
plus the wall time of the whole default run.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGMM

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_apps.pipelines.regimes import data as data_mod  # noqa: E402
from gmm_apps.pipelines.regimes import features as feat  # noqa: E402
from gmm_apps.pipelines.regimes.config import FeatureSpec  # noqa: E402
from gmm_apps.runs import execute_run  # noqa: E402

SEEDS = range(5)


def regime_stats(labels):
    switches = int((np.diff(labels) != 0).sum())
    return switches / (len(labels) / 252), len(labels) / (switches + 1)


def min_ari(label_sets):
    return min(adjusted_rand_score(a, b) for a, b in combinations(label_sets, 2))


def main():
    d = data_mod.load_arch("sp500")
    F, _ = feat.build_features(d, [FeatureSpec(kind="log_return"), FeatureSpec(kind="realized_vol", window=21)])
    train = (F.index < "2013-01-01")
    X = feat.fit_scaler(F.values[train]).transform(F.values)
    Xtr, n_test = X[train], int((~train).sum())
    rows = []

    t = time.perf_counter()
    gms = [SkGMM(3, random_state=s).fit(Xtr) for s in SEEDS]
    labs = [g.predict(X) for g in gms]
    sw, ml = regime_stats(labs[0])
    rows.append(("scikit-learn GaussianMixture", sw, ml, min_ari(labs), gms[0].score(X[~train]), time.perf_counter() - t))

    from hmmlearn.hmm import GaussianHMM

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hmms = [GaussianHMM(3, covariance_type="full", n_iter=100, random_state=s).fit(Xtr) for s in SEEDS]
    labs = [h.predict(X) for h in hmms]
    sw, ml = regime_stats(labs[0])
    oos = [(h.score(X) - h.score(Xtr)) / n_test for h in hmms]
    rows.append(("hmmlearn GaussianHMM (seed 0)", sw, ml, min_ari(labs), oos[0], time.perf_counter() - t))
    rows.append(("hmmlearn GaussianHMM (mean of 5 seeds)", float("nan"), float("nan"), float("nan"), float(np.mean(oos)), float("nan")))

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        _, s = execute_run(ROOT / "configs" / "regimes.yaml", out=Path(tmp) / "run", quiet=True)
        el = time.perf_counter() - t
    rows.append(("gmm_apps default config (whole run)", s["switches_per_year"], s["mean_regime_length_days"],
                 s["label_agreement_ari"]["min"], s["oos_loglik_per_day"], el))

    print(f"{'method':42s} {'switch/yr':>9s} {'mean len':>8s} {'min ARI':>8s} {'OOS ll/day':>10s} {'seconds':>8s}")
    for name, sw, ml, ari, oos, sec in rows:
        print(f"{name:42s} {sw:9.1f} {ml:8.1f} {ari:8.3f} {oos:10.3f} {sec:8.1f}")
    print(json.dumps({"gmm_apps": {k: s[k] for k in ("switches_per_year", "mean_regime_length_days", "oos_loglik_per_day")}}))


if __name__ == "__main__":
    main()
