"""Missing values and streaming EM in the engine, against what users do today.

    python benchmarks/bench_missing.py            # all parts (a few minutes)
    python benchmarks/bench_missing.py --quick    # small sizes

1. Accuracy with 20% of entries missing completely at random (3 components,
   5 features, full covariances): the fit with ``missing='marginalize'`` against
   listwise deletion and column-mean imputation followed by a fit, each compared
   with the fit on the complete data (mean over seeds); and the RMSE of
   ``impute`` against column-mean imputation on the removed entries.
2. Cost: a fit with 10% of entries missing against the same fit on the complete
   data (N=200k, d=8, K=8, full; same initial parameters, 20 EM iterations).
3. Streaming: ``partial_fit`` over a shuffled stream of 1M rows in 10k-row
   batches, one pass and three passes, against the batch fit (mean
   log-likelihood on all rows); both with ``n_init=3`` (online EM refines the
   first batch's fit and cannot leave a poor local optimum, so that fit gets
   the same restarts as the batch fit).
4. Drift: a stream whose means move; distance of the fitted means to the
   current truth with the plain schedule and with a forgetting factor.
5. The anomaly detector on the eight ODDS sets in ../shared/datasets/odds with
   10% of entries removed at random (fit and score on all of X): ROC-AUC
   against the complete data, per set.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning

from gmm_apps.core import ConvergenceWarning as EngineConvergenceWarning
from gmm_apps.core import GaussianMixture

ODDS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "odds"
ODDS_SETS = ["cardio", "glass", "ionosphere", "lympho", "pima", "satellite", "shuttle", "wbc"]

warnings.filterwarnings("ignore", category=ConvergenceWarning)
warnings.filterwarnings("ignore", category=EngineConvergenceWarning)


def mixture(n, d, k, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(k, d))
    mix = [rng.normal(size=(d, d)) * 0.5 + np.eye(d) for _ in range(k)]
    z = rng.integers(0, k, size=n)
    X = np.empty((n, d))
    for j in range(k):
        X[z == j] = centres[j] + rng.normal(size=((z == j).sum(), d)) @ mix[j]
    return X


def remove(X, rate, seed):
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    Xm[rng.random(X.shape) < rate] = np.nan
    return Xm[~np.isnan(Xm).all(axis=1)], X[~np.isnan(Xm).all(axis=1)]


def distance(model, ref):
    """Mean distance of matched means and of matched covariances (Frobenius) to a reference model."""
    C = np.linalg.norm(model.means_[:, None] - ref.means_[None], axis=2)
    r, c = linear_sum_assignment(C)
    covs, rcovs = model.covariance_matrices(), ref.covariance_matrices()
    return C[r, c].mean(), np.mean([np.linalg.norm(covs[i] - rcovs[j]) for i, j in zip(r, c)])


def accuracy(seeds, n):
    print("1. 3 components, 5 features, 20% of entries missing at random; distance to the complete-data fit")
    print("   (mean over seeds; lower is better)")
    rows = {"marginalize": [], "listwise deletion": [], "column-mean imputation": []}
    rmse = {"impute (mixture)": [], "column means": []}
    for seed in range(seeds):
        X = mixture(n, 5, 3, seed)
        Xm, Xc = remove(X, 0.2, seed + 100)
        kw = dict(n_components=3, covariance_type="full", random_state=0, n_init=3, tol=1e-6, max_iter=500)
        ref = GaussianMixture(**kw).fit(Xc)
        marg = GaussianMixture(**kw, missing="marginalize").fit(Xm)
        complete = ~np.isnan(Xm).any(axis=1)
        listwise = GaussianMixture(**kw).fit(Xm[complete])
        col = np.where(np.isnan(Xm), np.nanmean(Xm, axis=0), Xm)
        meanimp = GaussianMixture(**kw).fit(col)
        for name, m in (("marginalize", marg), ("listwise deletion", listwise), ("column-mean imputation", meanimp)):
            rows[name].append(distance(m, ref))
        miss = np.isnan(Xm)
        rmse["impute (mixture)"].append(np.sqrt(np.mean((marg.impute(Xm)[miss] - Xc[miss]) ** 2)))
        rmse["column means"].append(np.sqrt(np.mean((col[miss] - Xc[miss]) ** 2)))
        if seed == 0:
            print(f"   (rows: {len(Xm):,}; complete rows left for listwise deletion: {complete.sum():,})")
    print("   | method | means | covariances |")
    print("   |---|---:|---:|")
    for name, v in rows.items():
        v = np.array(v)
        print(f"   | {name} | {v[:, 0].mean():.3f} | {v[:, 1].mean():.3f} |")
    print("   | imputation | RMSE on the removed entries |")
    print("   |---|---:|")
    for name, v in rmse.items():
        print(f"   | {name} | {np.mean(v):.3f} |")


def cost(n, repeat):
    print(f"\n2. cost: N={n:,}, d=8, K=8, full, 20 EM iterations from the same start")
    X = mixture(n, 8, 8, 7)
    Xm, _ = remove(X, 0.1, 8)
    X = X[: len(Xm)]
    start = GaussianMixture(8, covariance_type="full", random_state=0, max_iter=2).fit(X)
    fixed = dict(
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        covariance_type="full",
        tol=0,
        max_iter=20,
    )
    times = {}
    for name, data, extra in (("complete data", X, {}), ("10% missing, marginalize", Xm, {"missing": "marginalize"})):
        best = np.inf
        for _ in range(repeat):
            t = time.perf_counter()
            GaussianMixture(8, **fixed, **extra).fit(data)
            best = min(best, time.perf_counter() - t)
        times[name] = best
        print(f"   {name}: {best:.2f} s")
    patterns = len(np.unique(np.isnan(Xm), axis=0))
    print(
        f"   ratio {times['10% missing, marginalize'] / times['complete data']:.2f}x "
        f"({patterns} missingness patterns; {np.isnan(Xm).any(axis=1).mean():.0%} of rows incomplete)"
    )


def streaming(n, batch):
    print(f"\n3. partial_fit over a shuffled stream of {n:,} rows in {batch:,}-row batches (K=8, d=8, full)")
    X = mixture(n, 8, 8, 11)
    X = X[np.random.default_rng(0).permutation(n)]
    t = time.perf_counter()
    full = GaussianMixture(8, covariance_type="full", random_state=0, n_init=3, tol=1e-4, max_iter=300).fit(X)
    tb = time.perf_counter() - t
    ref = full.score(X)
    print(f"   batch fit: mean log-likelihood {ref:.5f} ({tb:.1f} s)")
    online = GaussianMixture(8, covariance_type="full", random_state=0, n_init=3)  # n_init: the first batch's fit
    t = time.perf_counter()
    for p in range(3):
        for i in range(0, n, batch):
            online.partial_fit(X[i : i + batch])
        got = online.score(X)
        print(
            f"   after {p + 1} pass{'es' if p else ''}: {got:.5f}, {100 * (ref - got) / abs(ref):.3f}% below the batch fit "
            f"({time.perf_counter() - t:.1f} s so far)"
        )


def drift(steps, batch):
    print(f"\n4. drifting stream: 2 components whose means move by 0.05 per batch, {steps} batches of {batch}")
    rng = np.random.default_rng(3)
    models = {
        "plain schedule": GaussianMixture(2, random_state=0, order_by="mean"),
        "forgetting_factor=0.9": GaussianMixture(2, random_state=0, order_by="mean", forgetting_factor=0.9),
    }
    dist = {k: [] for k in models}
    for t in range(steps):
        truth = np.array([[0.0 + 0.05 * t, 0.0], [6.0 + 0.05 * t, 3.0]])
        z = rng.integers(0, 2, batch)
        part = truth[z] + rng.normal(size=(batch, 2))
        for name, m in models.items():
            m.partial_fit(part)
            C = np.linalg.norm(m.means_[:, None] - truth[None], axis=2)
            r, c = linear_sum_assignment(C)
            dist[name].append(C[r, c].mean())
    print(f"   | schedule | distance to the current means after 25 / 100 / {steps} batches |")
    print("   |---|---|")
    for name, v in dist.items():
        print(f"   | {name} | {v[24]:.3f} / {v[99]:.3f} / {v[-1]:.3f} |")
    print("   (a forgetting factor f lags a steady drift by about drift x f / (1 - f) = 0.45 here)")


def anomaly(names):
    from scipy.io import loadmat
    from sklearn.metrics import roc_auc_score

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gmm_apps.pipelines.anomaly.config import AnomalyConfig
    from gmm_apps.pipelines.anomaly.model import GMMDetector

    if not ODDS.is_dir():
        print(f"\n5. skipped: {ODDS} not found")
        return
    print("\n5. anomaly detector (defaults), 10% of entries removed at random; ROC-AUC")
    print("   | data | complete | 10% missing (data.missing: marginalize) | difference |")
    print("   |---|---:|---:|---:|")
    diffs = []
    for nm in names:
        d = loadmat(ODDS / f"{nm}.mat")
        X, y = d["X"].astype(float), d["y"].ravel().astype(int)
        full = roc_auc_score(y, GMMDetector.from_config(AnomalyConfig()).fit(X).decision_scores_)
        Xm = X.copy()
        Xm[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
        keep = ~np.isnan(Xm).all(axis=1)
        det = GMMDetector.from_config(AnomalyConfig(data={"missing": "marginalize"})).fit(Xm[keep])
        miss = roc_auc_score(y[keep], det.decision_scores_)
        diffs.append(miss - full)
        print(f"   | {nm} | {full:.3f} | {miss:.3f} | {miss - full:+.3f} |", flush=True)
    print(f"   | mean | | | {np.mean(diffs):+.3f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--part", type=int, choices=range(1, 6), help="run only this part (full sizes)")
    a = ap.parse_args()
    if a.part:
        [
            lambda: accuracy(10, 5000),
            lambda: cost(200_000, a.repeat),
            lambda: streaming(1_000_000, 10_000),
            lambda: drift(200, 1000),
            lambda: anomaly(ODDS_SETS),
        ][a.part - 1]()
        return
    if a.quick:
        accuracy(2, 3000)
        cost(20_000, 1)
        streaming(100_000, 10_000)
        drift(120, 500)
        anomaly(["glass", "wbc"])
    else:
        accuracy(10, 5000)
        cost(200_000, a.repeat)
        streaming(1_000_000, 10_000)
        drift(200, 1000)
        anomaly(ODDS_SETS)


if __name__ == "__main__":
    main()
