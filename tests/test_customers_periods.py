"""The calibration and holdout periods: a long log learnt on every week before its last ones, the purchases no
period holds counted, said and placed, never dropped in silence (counted against the log by hand), and the months
a forecast reaches that calibration never held said (found day by day)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmm_apps import cli
from gmm_apps.errors import UserError
from gmm_apps.pipelines.customers.model import Segmentation
from gmm_apps.pipelines.customers.split import month_words, unseen_months

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


def test_a_long_log_learns_on_every_week_before_its_last_39_and_checks_on_those(tmp_path):
    log = _long_log(tmp_path / "log.csv")
    days = log.groupby(["customer_id", "date"], as_index=False)["amount"].sum()  # customer-days, as purchases
    first, last = days["date"].min(), days["date"].max()
    summary, report = _run(tmp_path, "default")
    cal_end = last + pd.Timedelta(days=1) - pd.Timedelta(weeks=39)
    assert summary["calibration"]["start"] == str(first.date())
    assert summary["calibration"]["end"] == str((cal_end - pd.Timedelta(days=1)).date())
    assert summary["holdout"] == {"start": str(cal_end.date()), "end": str(last.date()), "weeks": 39.0}
    assert "outside_periods" not in summary["cleaning"] and "runs past the holdout" not in report
    customers = pd.read_csv(tmp_path / "default" / "customers.csv", dtype={"customer_id": str})
    seen = days[days["date"] < cal_end]
    assert set(customers["customer_id"]) == set(seen["customer_id"])  # everyone who bought before the holdout
    late = days[(days["date"] >= cal_end) & days["customer_id"].isin(seen["customer_id"])]
    assert abs(customers["holdout_spend"].sum() - late["amount"].sum()) < 1e-6


def test_purchases_after_a_holdout_of_set_weeks_are_counted_said_and_placed(tmp_path):
    log = _long_log(tmp_path / "log.csv")
    days = log.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    first = days["date"].min()
    ho_end = first + pd.Timedelta(weeks=78)
    summary, report = _run(tmp_path, "set", "split.calibration_weeks=39")  # the report, then the run's log
    after = summary["cleaning"]["outside_periods"]["after"]
    late = days[days["date"] >= ho_end]
    assert after["purchases"] == len(late) and after["first"] == str(late["date"].min().date())
    assert abs(after["revenue"] - late["amount"].sum()) < 1e-6
    assert abs(after["revenue_share"] - late["amount"].sum() / days["amount"].sum()) < 1e-9
    seen = days.groupby("customer_id")["date"].min()
    assert after["customers_first_seen_after_calibration"] == int((seen >= first + pd.Timedelta(weeks=39)).sum())
    assert "before" not in summary["cleaning"]["outside_periods"]
    said = [line for line in report.splitlines() if "runs past the holdout" in line]
    assert len(said) == 1 and "WARNING" in said[0] and f"{len(late)} purchases" in said[0]
    assert "split.calibration_weeks: auto learns from every week before the log's last 39 weeks" in said[0]
    assert f"purchases after the holdout ({after['first']} to {after['last']})" in report
    # a split.start: the purchases before it are counted and said
    start = first + pd.Timedelta(weeks=20)
    summary, report = _run(tmp_path, "start", f"split.start={start.date()}")
    before = summary["cleaning"]["outside_periods"]["before"]
    assert (
        before["purchases"] == int((days["date"] < start).sum())
        and "after" not in summary["cleaning"]["outside_periods"]
    )
    assert summary["calibration"]["start"] == str(start.date()) and "purchases before split.start" in report


def test_a_holdout_that_leaves_too_short_a_calibration_is_refused_with_one_that_fits(tmp_path, capsys):
    _long_log(tmp_path / "log.csv", weeks=60)

    def run(name, *sets):
        args = ["run", str(REPO / "configs" / "customers.yaml"), "--out", str(tmp_path / name), "--quiet"]
        sets = [f"data.path={tmp_path / 'log.csv'}", "report.stability_seeds=1", *sets]
        return cli.main([*args, *[a for s in sets for a in ("--set", s)]])

    capsys.readouterr()
    assert run("x") == 2  # 60 weeks: 21 before the last 39, not more than recent spend's 26
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "split.calibration_weeks: auto leaves 2" in err and "not more than features.recent_weeks=26" in err
    allowed = int(err.split("set split.holdout_weeks: ")[1].split()[0])
    assert 30 <= allowed <= 33  # 59-60 weeks of log, less 26 and a week's margin
    assert not (tmp_path / "x").exists()  # nothing half written
    assert run("x", f"split.holdout_weeks={allowed}") == 0
    summary = json.loads((tmp_path / "x" / "summary.json").read_text())
    assert summary["holdout"]["weeks"] == allowed and summary["calibration"]["weeks"] > 26
    # a holdout to the log's end: the calibration period is Fader and Hardie's 39 weeks, the rest checks
    assert run("y", "split.holdout_weeks=max") == 0
    summary = json.loads((tmp_path / "y" / "summary.json").read_text())
    assert summary["calibration"]["weeks"] == 39.0 and 20 <= summary["holdout"]["weeks"] <= 21


def test_init_says_how_a_long_log_is_split_and_sets_one_shorter_than_78_weeks(tmp_path, capsys):
    _long_log(tmp_path / "log.csv", weeks=78)
    summary, _ = _run(tmp_path, "r")
    assert "outside_periods" not in summary["cleaning"] and summary["calibration"]["weeks"] >= 38
    _long_log(tmp_path / "log.csv", weeks=130)
    capsys.readouterr()
    assert cli.main(["init", "customers", str(tmp_path / "my.yaml"), "--data", str(tmp_path / "log.csv")]) == 0
    err = capsys.readouterr().err
    assert "the default split learns the segments on the first 9" in err and "checks them on the last 39" in err
    assert "calibration_weeks: auto" in (tmp_path / "my.yaml").read_text()
    _long_log(tmp_path / "log.csv", weeks=60)
    assert cli.main(["init", "customers", str(tmp_path / "m60.yaml"), "--data", str(tmp_path / "log.csv")]) == 0
    written = (tmp_path / "m60.yaml").read_text()
    assert "calibration_weeks: auto" in written and "holdout_weeks: max" in written


def _unseen_by_hand(cal_start, cal_end, start, weeks):
    """The months the forecast reaches that the calibration period holds fewer than 15 days of, day by day."""
    held, day = {}, cal_start
    while day < cal_end:
        held[day.month] = held.get(day.month, 0) + 1
        day += pd.Timedelta(days=1)
    out, day = [], start
    while day < start + pd.Timedelta(weeks=weeks):
        if held.get(day.month, 0) < 15 and day.month not in out:
            out.append(day.month)
        day += pd.Timedelta(days=1)
    return out


def test_the_months_a_forecast_reaches_that_calibration_never_held_are_found_and_said():
    rng = np.random.default_rng(4)
    for _ in range(200):
        cal_start = pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(rng.integers(0, 800)))
        cal_end = cal_start + pd.Timedelta(days=int(rng.integers(20, 450)))
        weeks = float(rng.choice([4, 13, 26, 39, 52.5]))
        assert unseen_months(cal_start, cal_end, cal_end, weeks) == _unseen_by_hand(cal_start, cal_end, cal_end, weeks)
    cdnow = pd.Timestamp("1997-01-01"), pd.Timestamp("1997-10-01")
    assert month_words(unseen_months(*cdnow, cdnow[1], 39)) == "October to December"
    assert unseen_months(pd.Timestamp("1997-01-01"), pd.Timestamp("1997-12-31"), pd.Timestamp("1997-12-31"), 26) == []
    assert month_words([11, 12, 1]) == "November to January" and month_words(["February", "May", "June"]) == (
        "February, May and June"
    )


def test_a_forecast_into_months_calibration_never_held_says_so_in_the_run_and_in_apply(tmp_path):
    sample = str(REPO / "gmm_apps" / "samples" / "cdnow_sample.txt")
    summary, report = _run(tmp_path, "r", f"data.path={sample}")  # 39 + 39: January to September learnt
    assert summary["forward_value"]["months_not_in_calibration"] == ["October", "November", "December"]
    assert "(1997-01-01 to 1997-09-30) holds no October to December, which these weeks reach" in report
    assert "holds no October to December, which the forward value's 39 weeks from 1997-10-01 reach" in report
    assert cli.main(["apply", str(tmp_path / "r"), sample, "--out", str(tmp_path / "a"), "--quiet"]) == 0
    applied = json.loads((tmp_path / "a" / "summary.json").read_text())  # as of 1998-06-30, 39 weeks on
    assert "over the next 39 weeks (October to December not in the model's calibration period)" in applied["headline"]
    # a year of calibration holds every month: nothing said
    summary, report = _run(tmp_path, "y", f"data.path={sample}", "split.calibration_weeks=52", "split.holdout_weeks=26")
    assert summary["forward_value"]["months_not_in_calibration"] == [] and "learnt no season" not in report


def test_a_model_file_whose_calibration_dates_are_malformed_is_refused(tmp_path):
    sample = str(REPO / "gmm_apps" / "samples" / "cdnow_sample.txt")
    _run(tmp_path, "r", f"data.path={sample}")
    seg, meta = Segmentation.load(tmp_path / "r" / "model.npz")
    assert meta["calibration_start"] == "1997-01-01" and meta["calibration_end"] == "1997-10-01"
    for start in ("1997-13-01", "1997-10-01", None):  # no date; not before the end; missing
        seg.save(tmp_path / "bad.npz", meta={**meta, "calibration_start": start})
        with pytest.raises(UserError, match="the calibration dates are malformed"):
            Segmentation.load(tmp_path / "bad.npz")
