"""Engine speed against scikit-learn, same process, same data, same initial parameters.

    python benchmarks/bench_core.py            # full sizes (a few minutes)
    python benchmarks/bench_core.py --quick    # small sizes (seconds)

Timings are the best of ``--repeat`` runs (default 3).  For each case it prints seconds per EM iteration for scikit-learn and gmm_apps,
their ratio, the relative difference of the final log-likelihood, the whole
``fit`` time (k-means init included, n_init=1) with the relative difference of
the two fitted models' mean log-likelihood (positive: ours is higher) and the peak extra memory that
the fit allocates through NumPy (tracemalloc).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGMM

from gmm_apps.core import ConvergenceWarning as EngineConvergenceWarning
from gmm_apps.core import GaussianMixture

CASES = [
    # (N, d, K, covariance_type, dtype)
    (1_000_000, 8, 8, "full", np.float64),
    (200_000, 16, 8, "full", np.float64),
    (1_000_000, 8, 8, "full", np.float32),
    (200_000, 16, 8, "full", np.float32),
    (1_000_000, 8, 8, "diag", np.float64),
]


def make_data(n, d, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(k, d))
    z = rng.integers(0, k, size=n)
    X = centres[z] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=(k, d))[z]
    return X.astype(dtype), centres


def initial(X, k, ct, seed=0):
    rng = np.random.default_rng(seed)
    means = X[rng.choice(len(X), k, replace=False)].astype(np.float64)
    w = np.full(k, 1.0 / k)
    var = X.var(axis=0).astype(np.float64)
    prec = {
        "full": np.stack([np.diag(1 / var)] * k),
        "tied": np.diag(1 / var),
        "diag": np.tile(1 / var, (k, 1)),
        "spherical": np.full(k, 1 / var.mean()),
    }[ct]
    return dict(weights_init=w, means_init=means, precisions_init=prec)


def timed(fn, repeat=1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run_case(n, d, k, ct, dtype, iters, repeat):
    X, _ = make_data(n, d, k, dtype)
    init = initial(X, k, ct)
    kw = dict(covariance_type=ct, max_iter=iters, tol=0.0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", EngineConvergenceWarning)
        t_sk, sk = timed(lambda: SkGMM(k, **kw).fit(X), repeat)
        t_us, us = timed(lambda: GaussianMixture(k, dtype=dtype, **kw).fit(X), repeat)
        tracemalloc.start()
        GaussianMixture(k, dtype=dtype, **kw).fit(X)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        tf_sk, fsk = timed(lambda: SkGMM(k, covariance_type=ct, random_state=0).fit(X), repeat)
        tf_us, fus = timed(lambda: GaussianMixture(k, covariance_type=ct, random_state=0, dtype=dtype).fit(X), repeat)
    rel = abs(us.lower_bound_ - sk.lower_bound_) / abs(sk.lower_bound_)
    return {
        "case": f"N={n:,} d={d} K={k} {ct} {np.dtype(dtype).name}",
        "sk_iter": t_sk / iters,
        "us_iter": t_us / iters,
        "ratio_iter": t_sk / t_us,
        "rel_ll": rel,
        "sk_fit": tf_sk,
        "us_fit": tf_us,
        "ratio_fit": tf_sk / tf_us,
        "fit_dll": (fus.score(X) - fsk.score(X)) / abs(fsk.score(X)),
        "peak_mb": peak / 2**20,
        "data_mb": X.nbytes / 2**20,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    args = ap.parse_args(argv)
    cases = CASES
    if args.quick:
        cases = [(n // 20, d, k, ct, dt) for n, d, k, ct, dt in CASES]
    print(
        f"{'case':40s} {'sk s/it':>8s} {'ours s/it':>9s} {'x iter':>7s} {'rel dLL':>9s} "
        f"{'sk fit':>7s} {'our fit':>7s} {'x fit':>6s} {'fit dLL':>8s} {'peak MB':>8s} {'data MB':>8s}"
    )
    for c in cases:
        r = run_case(*c, iters=args.iters, repeat=args.repeat)
        print(
            f"{r['case']:40s} {r['sk_iter']:8.3f} {r['us_iter']:9.3f} {r['ratio_iter']:7.2f} "
            f"{r['rel_ll']:9.1e} {r['sk_fit']:7.2f} {r['us_fit']:7.2f} {r['ratio_fit']:6.2f} {r['fit_dll']:8.1e} "
            f"{r['peak_mb']:8.1f} {r['data_mb']:8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
