"""Anomaly: a categorical column with many values (merchants), four ways, on two kinds of odd records.

    python benchmarks/bench_anomaly_categories.py            # 5 seeds of each, 20,000 records
    python benchmarks/bench_anomaly_categories.py --seeds 2

Card payments at 400 merchants whose popularity falls as 1/rank (Zipf), 1% odd records, two kinds:

- rare: the odd records pay at the 200 least visited merchants (70%) or at merchants nobody else visited;
  amounts as everyone's.
- mismatched: every merchant has its own price level (log-mean from 2 to 6); the odd records pay at a merchant
  an amount of another merchant's level.

Each run is the pipeline's default config (``gmm_apps.run``, plots off), the merchant column read as:

- left out (``data.columns: [amount]``);
- one-hot (``data.max_categories: 1000``): one feature per merchant;
- frequency (``data.many_categories: frequency``): the merchant's rank by how common it is;
- log share: a numeric column of log10 of the merchant's share of the records, made by hand, the merchant
  column left out (the encoding that was tried first);
- group (``data.group_column: merchant``): the amount, and the amount against the merchant's usual amounts;
- group + frequency: that, and the merchant's rank by how common it is.

Prints ROC-AUC (mean and range over seeds) and seconds per run, and the AUC of what makes the odd records
odd, as generated: the merchant's number of visits (rare), the amount's distance from its merchant's price
level (mismatched).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import gmm_apps

N, MERCHANTS = 20_000, 400
SETS = ["report.plots=false", "data.score=null", "data.label_column=odd", "data.id_column=null"]
WAYS = {
    "left out": ["data.columns=[amount]"],
    "one-hot": ["data.max_categories=1000"],
    "frequency": ["data.many_categories=frequency"],
    "log share": ["data.columns=[amount, log_share]"],
    "group": ["data.group_column=merchant", "data.columns=[amount]"],
    "group + frequency": [
        "data.group_column=merchant",
        "data.many_categories=frequency",
        "data.columns=[amount, merchant]",
    ],
}


def payments(kind, seed):
    rng = np.random.default_rng(seed)
    names = np.array([f"shop {i:03d}" for i in range(MERCHANTS)])
    p = 1 / np.arange(1, MERCHANTS + 1)
    idx = rng.choice(MERCHANTS, N, p=p / p.sum())
    level = rng.uniform(2, 6, MERCHANTS)
    n_odd = N // 100
    odd = rng.choice(N, n_odd, replace=False)
    merchants = names[idx].astype(object)
    if kind == "rare":
        amount = np.exp(rng.normal(3, 0.6, N))
        merchants[odd] = np.where(
            rng.uniform(size=n_odd) < 0.7, rng.choice(names[200:], n_odd), [f"unseen {i}" for i in range(n_odd)]
        )
    else:
        amount = np.exp(rng.normal(level[idx], 0.3))
        other = (idx[odd] + rng.integers(1, MERCHANTS, n_odd)) % MERCHANTS
        amount[odd] = np.exp(rng.normal(level[other], 0.3))
    df = pd.DataFrame({"amount": amount.round(2), "merchant": merchants, "odd": 0})
    df.loc[odd, "odd"] = 1
    visits = df["merchant"].map(df["merchant"].value_counts())
    df["log_share"] = np.log10(visits / N)
    # what the odd records are, as generated: a rare merchant, or an amount far from the merchant's level
    oracle = -visits if kind == "rare" else np.abs(np.log(df["amount"]) - level[idx])
    return df, oracle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    print("| odd records | way | ROC-AUC mean | range over seeds | seconds a run |")
    print("|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("rare", "mismatched"):
            rows = {w: ([], []) for w in WAYS}
            oracle = []
            for seed in range(args.seeds):
                df, truth = payments(kind, seed)
                oracle.append(roc_auc_score(df["odd"], truth))
                for way, sets in WAYS.items():
                    data = df if way == "log share" else df.drop(columns="log_share")
                    t = time.perf_counter()
                    r = gmm_apps.run("anomaly", data=data, out=Path(tmp) / f"{kind}-{way}-{seed}", set=SETS + sets)
                    rows[way][1].append(time.perf_counter() - t)
                    rows[way][0].append(roc_auc_score(df["odd"], r.tables["scores"]["score"]))
            for way, (aucs, secs) in rows.items():
                print(
                    f"| {kind} | {way} | {np.mean(aucs):.3f} | {min(aucs):.3f}-{max(aucs):.3f} | {np.mean(secs):.1f} |"
                )
            said = "the merchant's visits" if kind == "rare" else "the amount's distance from its merchant's level"
            print(f"| {kind} | {said}, as generated | {np.mean(oracle):.3f} | | |")


if __name__ == "__main__":
    main()
