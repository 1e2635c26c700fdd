"""A log longer than the split: the purchases no period holds are counted, said and placed, never dropped in
silence; counted against the log by hand."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gmm_apps import cli

REPO = Path(__file__).resolve().parents[1]
QUICK = ["report.stability_seeds=1", "report.bootstrap=0", "report.plots=false", "model.n_components=3"]


def _long_log(path, weeks=130, customers=700, seed=2):
    """Customers arriving over the whole log, each buying at their own rate; a few buy twice on one day."""
    rng = np.random.default_rng(seed)
    start, rows = pd.Timestamp("2021-01-04"), []
    for c in range(customers):
        first = int(rng.integers(0, 7 * weeks - 30))
        days = first + np.cumsum(np.r_[0, rng.geometric(rng.uniform(0.01, 0.08), 12)])
        for d in days[days < 7 * weeks]:
            rows += [(f"c{c}", start + pd.Timedelta(days=int(d)), round(float(rng.gamma(2, 25)), 2))] * (
                1 + (rng.uniform() < 0.05)
            )
    log = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    log.assign(date=log["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return log


def _run(tmp_path, name, *sets):
    out = tmp_path / name
    args = ["run", str(REPO / "configs" / "customers.yaml"), "--out", str(out), "--quiet"]
    sets = [*QUICK, f"data.path={tmp_path / 'log.csv'}", *sets]
    assert cli.main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    said = (out / "run.log").read_text()
    return json.loads((out / "summary.json").read_text()), (out / "report.html").read_text() + said


def test_purchases_after_the_holdout_are_counted_said_and_placed_and_the_latest_split_uses_them(tmp_path):
    log = _long_log(tmp_path / "log.csv")
    days = log.groupby(["customer_id", "date"], as_index=False)["amount"].sum()  # customer-days, as purchases
    first, last = days["date"].min(), days["date"].max()
    ho_end = first + pd.Timedelta(weeks=78)
    summary, report = _run(tmp_path, "default")  # the report, then the run's log
    after = summary["cleaning"]["outside_periods"]["after"]
    late = days[days["date"] >= ho_end]
    assert after["purchases"] == len(late) and after["first"] == str(late["date"].min().date())
    assert abs(after["revenue"] - late["amount"].sum()) < 1e-6
    assert abs(after["revenue_share"] - late["amount"].sum() / days["amount"].sum()) < 1e-9
    seen = days.groupby("customer_id")["date"].min()
    assert after["customers_first_seen_after_calibration"] == int((seen >= first + pd.Timedelta(weeks=39)).sum())
    latest = last + pd.Timedelta(days=1) - pd.Timedelta(weeks=78)
    assert after["latest_start"] == str(latest.date()) and "before" not in summary["cleaning"]["outside_periods"]
    said = [line for line in report.splitlines() if "runs past the holdout" in line]
    assert len(said) == 1 and "WARNING" in said[0] and f"{len(late)} purchases" in said[0]
    assert f"split.start: {latest.date()} puts the calibration and holdout at the log's end" in said[0]
    assert f"purchases after the holdout ({after['first']} to {after['last']})" in report
    # the split it names: both periods end at the log's last purchase, the purchases before them counted
    summary, report = _run(tmp_path, "latest", f"split.start={latest.date()}")
    assert summary["holdout"]["end"] == str(last.date()) and summary["calibration"]["start"] == str(latest.date())
    before = summary["cleaning"]["outside_periods"]["before"]
    assert (
        before["purchases"] == int((days["date"] < latest).sum())
        and "after" not in summary["cleaning"]["outside_periods"]
    )
    assert "purchases before split.start" in report


def test_a_log_within_the_split_has_nothing_outside_it_and_init_names_the_latest_split_of_a_longer_one(
    tmp_path, capsys
):
    _long_log(tmp_path / "log.csv", weeks=78)
    summary, _ = _run(tmp_path, "r", "split.holdout_weeks=max")
    assert "outside_periods" not in summary["cleaning"]
    _long_log(tmp_path / "log.csv", weeks=130)
    capsys.readouterr()
    assert cli.main(["init", "customers", str(tmp_path / "my.yaml"), "--data", str(tmp_path / "log.csv")]) == 0
    err = capsys.readouterr().err
    assert "the default split checks its first 39 + 39 and leaves the last" in err and "split.start: " in err
