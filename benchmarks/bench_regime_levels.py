"""Yields read as levels or as prices: agreement of the regime labels with the states that generated them.

    python benchmarks/bench_regime_levels.py [--draws 5] [--days 2500]

Each draw simulates a ten-year yield whose daily changes switch between a calm and a stressed volatility
(3 and 10 basis points a day, a sticky two-state chain), shifted to stay above 0.5% so that it can be read
as prices too, and runs the default regimes config with two regimes on the whole file, once with
``data.values: prices`` (log returns) and once with ``data.values: levels`` (changes). Prints the share of
days labelled with their generating state. The series moves by changes by construction, as yields do, so
this measures what reading a yield as a price costs, not a tuned setting.
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

from gmm_apps.runs import execute_run  # noqa: E402


def yields(path, n, seed):
    """The simulated yield (written to ``path``) and its generating states by date."""
    rng = np.random.default_rng(seed)
    state = np.zeros(n, int)
    for t in range(1, n):
        state[t] = state[t - 1] if rng.random() > 1 / 120 else 1 - state[t - 1]
    y = np.cumsum(rng.normal(0.0, np.where(state == 1, 0.10, 0.03)))
    y += 0.5 - y.min()
    dates = pd.bdate_range("2010-01-01", periods=n)
    pd.DataFrame({"DATE": dates.strftime("%Y-%m-%d"), "DGS10": y.round(3)}).to_csv(path, index=False)
    return pd.Series(state, index=dates)


def agreement(path, values, out, state):
    sets = [
        f"data.path={path}",
        f"data.values={values}",
        "split.holdout_start=null",
        "model.n_components=2",
        "report.plots=false",
        "report.stability_seeds=1",
    ]
    execute_run(ROOT / "configs" / "regimes.yaml", out=out, sets=sets, quiet=True)
    labels = pd.read_csv(out / "regimes.csv", index_col="date", parse_dates=True)["regime"]
    return float((labels == state.reindex(labels.index)).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--days", type=int, default=2500)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.draws):
            path = Path(tmp) / f"yield{seed}.csv"
            state = yields(path, args.days, seed)
            row = {v: agreement(path, v, Path(tmp) / f"{v}{seed}", state) for v in ("prices", "levels")}
            rows.append(row)
            print(f"draw {seed}: as prices {row['prices']:.1%}, as levels {row['levels']:.1%}", flush=True)
    table = pd.DataFrame(rows)
    print(f"mean: as prices {table['prices'].mean():.1%}, as levels {table['levels'].mean():.1%}")


if __name__ == "__main__":
    main()
