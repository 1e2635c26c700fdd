"""Customers on two real logs and several calibration / holdout splits, against the rankings a marketer would use.

    pip install ".[bench]"          # lifetimes, the standard customer-value package
    python benchmarks/bench_customers.py [--only cdnow|retail2] [--shared ../shared/datasets]

For each log and split (fixed here, before any tuning) the pipeline runs as a user
would run it (``gmm_apps.run`` on the raw file, stability and plots off) and the
share of holdout revenue captured by the top 20% of customers is printed for:
the ranking the pipeline recommends (chosen on an inner split of the calibration
period), the combined ranking (mean percentile rank of segment value, forward
value and calibration spend), the segments, the forward value (BG/NBD x Gamma-Gamma fitted by
gmm_apps), RFM quintiles, calibration spend, and BG/NBD + Gamma-Gamma from
``lifetimes`` fitted on the same customers' calibration summaries.  Then the
per-customer mean absolute error of the predicted holdout spend and the error of
the predicted total, for gmm_apps' forward value and for lifetimes', and the
wall time of each run (the whole run, reading the raw file included).

Logs: ``cdnow/CDNOW_master.txt`` (23,570 customers, 78 weeks, whitespace text) and
``retail2/transactions.csv.gz`` (1.47 million grocery line items of 2,469
households, 52 weeks; amount ``sales_value``, baskets as orders, days in
America/New_York).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gmm_apps  # noqa: E402
from gmm_apps.pipelines.customers.features import captured_at  # noqa: E402

#: (log, calibration weeks, holdout weeks): fixed before tuning
SPLITS = [
    ("cdnow", 26, 26),
    ("cdnow", 39, 39),
    ("cdnow", 52, 26),
    ("retail2", 26, 26),
    ("retail2", 35, 17),
    ("retail2", 39, 13),
]
LOGS = {
    "cdnow": ("cdnow/CDNOW_master.txt", []),
    "retail2": (
        "retail2/transactions.csv.gz",
        [
            "data.id_column=household_id",
            "data.date_column=transaction_timestamp",
            "data.amount_column=sales_value",
            "data.order_column=basket_id",
            "data.timezone=America/New_York",
        ],
    ),
}
QUICK = ["report.stability_seeds=1", "report.bootstrap=0", "report.plots=false"]


def lifetimes_forecast(customers, weeks):
    """BG/NBD + Gamma-Gamma from ``lifetimes`` on the run's calibration summaries (time in weeks)."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    x = (customers["n_purchases"] - 1).to_numpy(float)
    T = np.maximum(customers["tenure"].to_numpy(float) / 7, 1 / 7)
    t_x = (customers["tenure"] - customers["recency"]).to_numpy(float) / 7
    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(x, t_x, T)
    n = bgf.conditional_expected_number_of_purchases_up_to_time(weeks, x, t_x, T)
    m = customers["repeat_monetary"].to_numpy(float)
    rep = (x > 0) & (m > 0)
    ggf = GammaGammaFitter(penalizer_coef=0.0).fit(x[rep], m[rep])
    value = np.asarray(ggf.conditional_expected_average_profit(pd.Series(x), pd.Series(np.where(rep, m, 0.0))), float)
    return np.asarray(n, float) * value


def run_split(shared, log, cal, ho, out):
    """The pipeline's run on one log and split, as a user would run it (stability and plots off)."""
    path, sets = LOGS[log]
    return gmm_apps.run(
        "customers",
        data=str(Path(shared) / path),
        out=out,
        overwrite=True,
        set=[
            *sets,
            *QUICK,
            f"split.calibration_weeks={cal}",
            f"split.holdout_weeks={ho}",
            f"features.recent_weeks={26 if 26 < cal else cal // 2}",
        ],
    )  # the default, unless it covers the calibration


def each_split(description):
    """Parse ``--shared`` and ``--only``; yield ``(shared, log, cal, ho, out)`` for every split, in a temporary folder."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--only", choices=sorted(LOGS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (log, cal, ho) in enumerate(SPLITS):
            if not args.only or log == args.only:
                yield args.shared, log, cal, ho, Path(tmp) / f"r{i}"


def one(shared, log, cal, ho, out):
    t0 = time.perf_counter()
    r = run_split(shared, log, cal, ho, out)
    seconds = time.perf_counter() - t0
    v = r.summary["validation"]
    c = r.tables["customers"]
    actual = c["holdout_spend"].to_numpy(float)
    row = {
        "log": log,
        "split": f"{cal}+{ho}",
        "customers": len(c),
        "seconds": seconds,
        "recommended": v["recommended"],
        "rec": v["capture_recommended"],
        "segments": v["capture_segments"],
        "forward": v["capture_forward_value"],
        "combined": v["capture_combined"],
        "rfm": v["capture_rfm"],
        "spend": v["capture_calibration_spend"],
        "fv_mae": v["forward_value"]["mean_absolute_error"],
        "fv_total": v["forward_value"]["total_error"],
    }
    try:
        lt = lifetimes_forecast(c, v["holdout_weeks"])
        row.update(
            lifetimes=captured_at(lt, actual, 0.2),
            lt_mae=float(np.mean(np.abs(lt - actual))),
            lt_total=float(lt.sum() / actual.sum() - 1),
        )
    except ImportError:
        row.update(lifetimes=np.nan, lt_mae=np.nan, lt_total=np.nan)
    return row


def main():
    rows = []
    for shared, log, cal, ho, out in each_split(__doc__.splitlines()[0]):
        rows.append(one(shared, log, cal, ho, out))
        print(f"{log} {cal}+{ho}: done in {rows[-1]['seconds']:.1f} s", file=sys.stderr)
    df = pd.DataFrame(rows)
    pct = ["rec", "combined", "segments", "forward", "rfm", "spend", "lifetimes"]
    show = df.copy()
    for c in pct:
        show[c] = (100 * show[c]).map("{:.2f}".format)
    show["best_simple"] = (100 * df[["rfm", "spend", "lifetimes"]].max(axis=1)).map("{:.2f}".format)
    show["rec-best"] = (100 * (df["rec"] - df[["rfm", "spend", "lifetimes"]].max(axis=1))).map("{:+.2f}".format)
    for c in ("fv_total", "lt_total"):
        show[c] = (100 * show[c]).map("{:+.1f}%".format)
    for c in ("fv_mae", "lt_mae"):
        show[c] = show[c].map("{:.2f}".format)
    show["seconds"] = show["seconds"].map("{:.1f}".format)
    print("\nTop-20% capture of holdout revenue (%), forward-value errors, and time")
    print(
        show[
            [
                "log",
                "split",
                "customers",
                "recommended",
                "rec",
                "combined",
                "segments",
                "forward",
                "rfm",
                "spend",
                "lifetimes",
                "best_simple",
                "rec-best",
                "fv_mae",
                "lt_mae",
                "fv_total",
                "lt_total",
                "seconds",
            ]
        ].to_string(index=False)
    )


if __name__ == "__main__":
    main()
