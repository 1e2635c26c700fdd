"""Anomaly: does scoring say "the records moved as a whole" when they did, and stay quiet when they did not?

    python benchmarks/bench_anomaly_shift.py [--shared ../shared/datasets] [--sets cardio wbc ...]

For each of the 20 ODDS sets in ``../shared/datasets/odds`` (labels used only to build the scenarios),
the default config learns from a random half of the records and scores the other half, three ways:

- same: the other half as it is (records like the reference: nothing should be said);
- moved: the other half with every value of one feature (the one with the largest spread among those
  with 10 or more distinct values) raised by one reference standard deviation, as a price rise or a unit
  change moves a column (the shift should be said, naming that feature);
- wave: the other half's normal records with three times the reference's share of anomalies added from
  the set's own anomalies (more flags; whether a feature is named says if the bulk moved too).

Printed per set: the flagged share against the reference's, the verdict (``shifted``) and the features
named; then how often each scenario was said, over the sets.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gmm_apps  # noqa: E402

CONFIG = ROOT / "configs" / "anomaly.yaml"
SETS = [
    "aloi", "campaign", "cardio", "cardiotocography", "fault", "glass", "hepatitis", "internetads", "ionosphere",
    "lympho", "pageblocks", "pima", "satellite", "shuttle", "smtp", "stamps", "wbc", "wdbc", "wilt", "wine",
]  # fmt: skip


def load(path):
    from scipy.io import loadmat

    m = loadmat(path)
    X = np.asarray(m["X"], dtype=float)
    y = np.asarray(m["y"]).ravel().astype(int)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]), y


def scenarios(X, y, seed=0):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    ref, other = order[: len(X) // 2], order[len(X) // 2 :]
    reference = X.iloc[ref].reset_index(drop=True)
    same = X.iloc[other].reset_index(drop=True)
    varied = [c for c in X.columns if reference[c].nunique() >= 10] or list(X.columns)
    col = max(varied, key=lambda c: reference[c].std())
    moved = same.assign(**{col: same[col] + reference[col].std()})
    normal = other[y[other] == 0]
    anomalies = np.flatnonzero(y == 1)
    share = min(0.5, 3 * max(y[ref].mean(), 0.01))
    k = int(round(share / (1 - share) * len(normal)))
    wave = X.iloc[np.r_[normal, rng.choice(anomalies, k, replace=k > len(anomalies))]].reset_index(drop=True)
    return reference, {"same": same, "moved": moved, "wave": wave}, col


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--sets", nargs="*", default=SETS)
    a = ap.parse_args()
    said = {"same": [], "moved": [], "wave": []}
    named_right = []
    print("| set | records | moved feature | same: flagged / reference, said | moved | wave |")
    print("|---|---:|---|---|---|---|")
    for name in a.sets:
        path = Path(a.shared) / "odds" / f"{name}.mat"
        if not path.is_file():
            print(f"| {name} | not found | | | | |")
            continue
        X, y = load(path)
        reference, news, col = scenarios(X, y)
        cells = []
        with tempfile.TemporaryDirectory() as tmp:
            reference.to_csv(Path(tmp) / "ref.csv", index=False)
            for label, new in news.items():
                new.to_csv(Path(tmp) / f"{label}.csv", index=False)
                sets = [f"data.path={tmp}/ref.csv", f"data.score={tmp}/{label}.csv", "data.id_column=null"]
                sets += ["report.plots=false", "data.label_column=null"]
                r = gmm_apps.run(str(CONFIG), out=Path(tmp) / label, set=sets, quiet=True)
                found = r.summary["compared_with_reference"]
                named = [f["feature"] for f in found["features"] if f["named"]]
                said[label].append(found["shifted"] is not None)
                if label == "moved" and found["shifted"]:
                    named_right.append(col in named[:3])
                verdict = found["shifted"] or "nothing"
                cells.append(
                    f"{100 * found['flagged_share']:.1f}% / {100 * found['expected_share']:.1f}%, {verdict}"
                    + (f" ({', '.join(named[:3])})" if named and found["shifted"] else "")
                )
        print(f"| {name} | {len(X):,} | {col} | " + " | ".join(cells) + " |", flush=True)
    n = len(said["same"])
    print(f"\nsaid on {n} sets: same {sum(said['same'])}, moved {sum(said['moved'])}, wave {sum(said['wave'])}; "
          f"the moved feature among the first three named on {sum(named_right)} of {len(named_right)} said")  # fmt: skip


if __name__ == "__main__":
    main()
