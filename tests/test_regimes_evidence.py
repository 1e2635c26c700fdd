"""The shuffle test of volatility clustering: calm and stress regimes told from chance, and said when they are not."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmm_apps import cli
from gmm_apps.pipelines.regimes.evidence import (
    LEVEL,
    MIN_TEST_WINDOW,
    clustering_test,
    regime_evidence,
    volatility_spread,
)
from gmm_apps.pipelines.regimes.periods import MONTHS, WEEKS, count_windows
from gmm_apps.runs import prepare

REPO = Path(__file__).resolve().parents[1]


def switching(rng, n, ratio, stay=60):
    """Returns whose volatility switches between 1% and ``ratio`` % as a Markov chain (``stay`` days on average)."""
    state = np.zeros(n, dtype=int)
    for t in range(1, n):
        state[t] = state[t - 1] if rng.random() > 1 / stay else 1 - state[t - 1]
    return rng.normal(0, 0.01, n) * np.where(state == 1, ratio, 1.0)


def test_the_spread_is_that_of_pandas_rolling_volatility():
    r = np.random.default_rng(0).standard_t(4, 700) * 0.01
    rolling = (pd.Series(r - r.mean()) ** 2).rolling(21).mean().dropna()
    assert volatility_spread(r, 21) == pytest.approx(np.log(rolling).std(ddof=0), rel=1e-9)


def test_the_p_value_is_the_share_of_shuffles_that_spread_as_much():
    r = switching(np.random.default_rng(1), 400, 1.5)
    got = clustering_test(r, window=10, shuffles=49, random_state=7)
    rng = np.random.default_rng(7)  # the same shuffles, counted by hand
    spreads = [volatility_spread(rng.permutation(r), 10) for _ in range(49)]
    assert got["p_value"] == (1 + sum(s >= got["spread"] for s in spreads)) / 50
    assert got["supported"] == (got["p_value"] <= LEVEL) and got["days"] == 400
    assert clustering_test(r, window=10, shuffles=49, random_state=7) == got  # one seed, one answer


def test_regimes_of_chance_are_found_at_the_tests_level_and_real_ones_found():
    rng = np.random.default_rng(2)
    # one volatility, fat tails: regimes called in about 5% of series (binomial: above 15% of 80 is 1 in 1,000)
    calls = [
        clustering_test(rng.standard_t(3, 500) * 0.01, shuffles=99, random_state=i)["supported"] for i in range(80)
    ]
    assert np.mean(calls) <= 0.15
    # volatility tripling for two months at a time, four years: found every time
    found = [clustering_test(switching(rng, 1000, 3.0), shuffles=99, random_state=i)["supported"] for i in range(20)]
    assert all(found)


def test_weekly_and_monthly_returns_are_tested_over_a_quarter_of_weeks_at_least():
    _, cfg = prepare(REPO / "configs" / "regimes.yaml")
    rng = np.random.default_rng(5)
    for year, n, stay in ((WEEKS, 260, 52), (MONTHS, 240, 24)):  # five years of weeks, twenty of months
        counted, _ = count_windows(cfg, year)  # the realised volatility over a month: 4 weeks, 3 months
        series = [switching(rng, n, 2.0, stay=stay) for _ in range(20)]  # volatility doubling for a year, two years
        found = [regime_evidence(counted, r, "x", "x.csv", year=year) for r in series]
        assert {f["window"] for f in found} == {MIN_TEST_WINDOW} and found[0]["unit"] == ("weeks", "months")[n == 240]
        assert np.mean([f["supported"] for f in found]) >= 0.8
        # over the feature's month the same regimes were called at most half the time
        month = next(s.window for s in counted.features.specs() if s.kind == "realized_vol")
        assert np.mean([clustering_test(r, window=month)["supported"] for r in series]) <= 0.5
    assert regime_evidence(cfg, switching(rng, 500, 2.0), "d", "d.csv")["window"] == 21  # daily: the feature's


def test_too_few_days_or_no_volatility_are_no_answer():
    r = np.r_[np.nan, np.random.default_rng(3).normal(0, 0.01, 15)]
    assert clustering_test(r)["p_value"] is None and clustering_test(r)["days"] == 15  # the empty day left out
    assert clustering_test(np.zeros(300))["supported"] is None  # a peg held flat: nothing to test


def run(tmp_path, name, prices, *sets):
    prices.to_csv(tmp_path / f"{name}.csv", index=False)
    argv = ["run", str(REPO / "configs" / "regimes.yaml"), "--quiet", "--out", str(tmp_path / name)]
    for s in (f"data.path={tmp_path / name}.csv", "report.stability_seeds=1", "report.plots=false", *sets):
        argv += ["--set", s]
    assert cli.main(argv) == 0
    return json.loads((tmp_path / name / "summary.json").read_text())


def test_a_run_on_a_year_of_one_volatility_says_its_regimes_may_be_noise(tmp_path, gmm_log):
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2025-01-06", periods=330)
    walk = pd.DataFrame({"Date": dates, "Close": 50 * np.exp(np.cumsum(rng.normal(0, 0.015, 330)))})
    s = run(tmp_path, "walk", walk, "split.holdout_start=2026-01-01")
    found = s["regime_evidence"]
    assert found["supported"] is False and found["p_value"] > LEVEL and found["series"] == "walk"
    assert found["days"] == s["n_train_days"] and found["window"] == 21
    said = f"the volatility of walk on the {found['days']} training days varies no more than in the same days shuffled"
    assert f"; caution: {said}" in s["headline"] and said in gmm_log.text
    report = (tmp_path / "walk" / "report.html").read_text()
    assert "Caution: " + said in report and f"no (p = {found['p_value']:.3f}; volatility over 21 days)" in report
    # the model applied to new days says so again
    assert cli.main(["apply", str(tmp_path / "walk"), str(tmp_path / "walk.csv"), "--out", str(tmp_path / "a")]) == 0
    applied = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert "; caution: the run's model was fitted where " + said in applied["headline"]
    # volatility switching over the same year is found, and nothing is said
    switched = walk.assign(Close=50 * np.exp(np.cumsum(switching(rng, 330, 3.0, stay=40))))
    s = run(tmp_path, "switched", switched, "split.holdout_start=2026-01-01")
    assert s["regime_evidence"]["supported"] is True and "caution" not in s["headline"]
