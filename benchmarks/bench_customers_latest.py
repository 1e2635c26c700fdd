"""Customers: a log longer than the split, learnt on every week before its last ones or from a later start.

    python benchmarks/bench_customers_latest.py [--shared ../shared/datasets]

A log longer than the calibration and holdout periods can be checked on its latest weeks in two ways:
the calibration period runs from the first purchase to the holdout (``split.calibration_weeks: auto``,
the default), or it keeps its length and starts later (``split.start``), leaving the earlier purchases
out, so a customer's first purchase in the window stands for their first purchase. Both are checked on
the same holdout, the log's last weeks: full CDNOW (78 weeks; holdout the last 26, the later start 13
weeks after the first purchase) and the grocery log (52 weeks; holdout the last 13, start 13 weeks
later). Printed: the customers segmented, the holdout revenue they made (the customers a later start
never sees made the rest), the recommended ranking's top-20% capture, and the forward value's total
error and per-customer mean absolute error on the holdout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_customers import LOGS, QUICK  # noqa: E402

import gmm_apps  # noqa: E402

#: log -> (holdout weeks, weeks the later start leaves out, features.recent_weeks)
CASES = {"cdnow": (26, 13, 26), "retail2": (13, 13, 13)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    args = ap.parse_args()
    print("| log | calibration | customers | their holdout revenue | capture (recommended) | total error | MAE |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for log, (holdout, later, recent) in CASES.items():
            path, sets = LOGS[log]
            base = [*sets, *QUICK, f"split.holdout_weeks={holdout}", f"features.recent_weeks={recent}"]
            runs = {}
            for name, extra in (("every week before the holdout (auto)", []), ("later start", None)):
                if extra is None:  # the same holdout; the calibration period as long, moved later
                    start = pd.Timestamp(runs["auto"].summary["calibration"]["start"]) + pd.Timedelta(weeks=later)
                    weeks = runs["auto"].summary["calibration"]["weeks"] - later
                    extra = [f"split.start={start.date()}", f"split.calibration_weeks={round(weeks)}"]
                r = gmm_apps.run(
                    "customers",
                    data=str(Path(args.shared) / path),
                    out=Path(tmp) / f"{log}-{len(runs)}",
                    set=[*base, *extra],
                )
                runs["auto" if not extra else "later"] = r
                v, c, cal = r.summary["validation"], r.tables["customers"], r.summary["calibration"]
                fv = v["forward_value"]
                print(
                    f"| {log} | {name}: {cal['start']} to {cal['end']} | {len(c):,} | "
                    f"{c['holdout_spend'].sum():,.0f} | {100 * v['capture_recommended']:.2f}% | "
                    f"{100 * fv['total_error']:+.1f}% | {fv['mean_absolute_error']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
