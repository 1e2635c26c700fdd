"""Retention by month of first purchase, against counting each cohort's customers by hand."""

import numpy as np
import pandas as pd
import pytest

from gmm_apps.pipelines.customers.cohorts import MIN_MONTHS, averages, retention


def test_retention_is_each_cohorts_share_buying_in_each_later_month_by_brute_force():
    rng = np.random.default_rng(3)
    n = 4000
    dates = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 420, n), "D")  # 14 months
    purchases = pd.DataFrame({"customer_id": [f"c{k}" for k in rng.integers(0, 400, n)], "date": dates})
    table = retention(purchases, max_months=6)
    month = purchases["date"].dt.to_period("M")
    first = month.groupby(purchases["customer_id"]).min()
    last = month.max()
    for row in table.itertuples():
        cohort = pd.Period(row.cohort, "M")
        members = set(first.index[first == cohort])
        assert row.customers == len(members)
        for k in range(7):
            share = getattr(row, f"month_{k}")
            if cohort + k > last:  # not reached yet: not observed, never 0
                assert np.isnan(share)
                continue
            bought = set(purchases.loc[month == cohort + k, "customer_id"]) & members
            assert share == pytest.approx(len(bought) / len(members))
    assert list(table["cohort"]) == sorted(table["cohort"]) and (table["month_0"] == 1).all()
    # the averages leave out the log's first cohort (its customers may have bought before the log began)
    later = table.iloc[1:]
    seen = later["month_3"].notna()
    expected = (later.loc[seen, "month_3"] * later.loc[seen, "customers"]).sum() / later.loc[seen, "customers"].sum()
    assert averages(table)["month_3"] == pytest.approx(expected)
    # a log of two months has no retention table
    short = purchases[purchases["date"] < purchases["date"].min() + pd.Timedelta(days=40)]
    assert MIN_MONTHS == 3 and retention(short) is None


def test_a_run_writes_its_cohorts_and_says_them(tmp_path):
    import json
    from pathlib import Path

    from gmm_apps import cli

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    quick = ["report.stability_seeds=1", "report.bootstrap=0", "report.plots=false"]
    args = ["run", str(repo / "configs" / "customers.yaml"), "--out", str(out), "--quiet"]
    assert cli.main([*args, *[a for s in quick for a in ("--set", s)]]) == 0
    cohorts = pd.read_csv(out / "cohorts.csv")
    customers = pd.read_csv(out / "customers.csv")
    summary = json.loads((out / "summary.json").read_text())
    # CDNOW's customers all first bought in the first quarter of 1997: three cohorts, everyone in one of them
    assert list(cohorts["cohort"]) == ["1997-01", "1997-02", "1997-03"]
    assert cohorts["customers"].sum() == summary["customers"] == len(customers)
    assert set(summary["retention"]) == {"month_1", "month_3", "month_6", "month_12"}
    assert "Retention by month of first purchase" in (out / "report.html").read_text()
