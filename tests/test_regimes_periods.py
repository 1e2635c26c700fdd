"""Regimes of weekly and monthly series: detected from the dates, the config's trading days counted in the
series' own periods, annualised over 52 or 12, and refused when neither daily, weekly nor monthly."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gmm_apps import cli
from gmm_apps.core import adjusted_rand_score
from gmm_apps.errors import DataError
from gmm_apps.pipelines.regimes import data as data_mod
from gmm_apps.pipelines.regimes import periods
from gmm_apps.pipelines.regimes.config import RegimesConfig
from gmm_apps.pipelines.regimes.model import RegimeModel

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "regimes.yaml"
FAST = ["--quiet", "--set", "report.plots=false", "--set", "report.stability_seeds=2", "--set", "model.n_components=2"]


@pytest.mark.parametrize(
    "dates, year",
    [
        (pd.bdate_range("2015-01-01", "2020-12-31"), 252),
        (pd.date_range("2015-01-01", "2020-12-31"), 365),
        (pd.date_range("2000-01-07", periods=300, freq="W-FRI"), 52),
        (pd.date_range("2000-01-03", periods=300, freq="W-MON"), 52),
        (pd.date_range("2000-01-01", periods=120, freq="MS"), 12),
        (pd.date_range("2000-01-31", periods=120, freq="ME"), 12),
        (pd.date_range("2000-01-15", periods=120, freq="MS") + pd.Timedelta(days=14), 12),
    ],
)
def test_the_periods_a_year_follow_the_dates(dates, year):
    assert periods.periods_per_year(dates) == year
    periods.check_spacing(dates, "p.csv")  # each of these is modelled


def test_a_weekly_series_with_holiday_weeks_missing_is_weekly_and_a_quarterly_one_is_refused():
    weeks = pd.date_range("2000-01-07", periods=400, freq="W-FRI").delete([50, 51, 104, 200])
    assert periods.periods_per_year(weeks) == 52
    for freq, gap in (("QS", "9[12]"), ("2W-FRI", "14")):
        with pytest.raises(DataError, match=f"p.csv: its dates are a median {gap}.*daily, weekly or monthly"):
            periods.check_spacing(pd.date_range("2000-01-07", periods=80, freq=freq), "p.csv")


def test_a_series_that_stops_for_months_is_warned_of_with_the_dates_that_model_one_side(gmm_log):
    """Years missing from a daily file, a market closed for six weeks: the return across is one day's to the
    model, so the run says where it stops and the data.start or data.end that leave the gap out; a week's
    closing (9/11) or a weekly series' missing holiday weeks are no such gap."""
    days = pd.bdate_range("2015-01-01", periods=2500)
    periods.check_spacing(days.delete(range(1700, 1704)), "ok.csv")  # four days closed
    periods.check_spacing(pd.date_range("2000-01-07", periods=400, freq="W-FRI").delete([50, 51]), "w.csv")
    assert "no prices" not in gmm_log.text
    periods.check_spacing(days[:800].append(days[1400:]), "gap.csv")
    assert (
        "gap.csv: no prices from 2018-01-24 to 2020-05-14 (841 days); the return across the gap counts as one "
        "day's: set data.start: 2020-05-14 or data.end: 2018-01-24 to model one side of it"
    ) in gmm_log.text
    two = days.delete(range(300, 330)).delete(range(1000, 1050))
    periods.check_spacing(two, "two.csv")
    assert "two.csv: no prices from 2018-12-12 to 2019-02-21 (71 days, the longest of 2 gaps over 31 days)" in (
        gmm_log.text
    )
    months = pd.date_range("2000-01-31", periods=120, freq="ME").delete(range(40, 47))
    periods.check_spacing(months, "m.csv")
    assert (
        "m.csv: no prices from 2003-04-30 to 2003-12-31 (245 days); the return across the gap counts as one month's"
        in (gmm_log.text)
    )


def test_the_lengths_that_stand_for_time_count_weeks_or_months_and_the_return_averages_count_periods():
    raw = yaml.safe_load(CONFIG.read_text())
    raw["features"] = {"use": ["log_return", "realized_vol:21", "momentum:63"]}
    cfg = RegimesConfig.model_validate(raw)
    same, counted = periods.in_periods(cfg, 252)
    assert same is cfg and counted == {}
    weekly, counted = periods.in_periods(cfg, 52)
    assert (weekly.walk_forward.refit_every, weekly.walk_forward.min_train) == (13, 156)  # a quarter, 3 years
    # a month of realised volatility is 4 weeks, a quarter's momentum 13; 100 pseudo-days of staying 100 * 52 / 252
    assert [(s.kind, s.window) for s in weekly.features.specs()] == [
        ("log_return", None),
        ("realized_vol", 4),
        ("momentum", 13),
    ]
    assert weekly.model.stickiness == pytest.approx(100 * 52 / 252)
    assert counted == {
        "features.use realized_vol": [21, 4],
        "features.use momentum": [63, 13],
        "model.stickiness": [100, 20.63],
        "walk_forward.refit_every": [63, 13],
        "walk_forward.min_train": [756, 156],
    }
    monthly, _ = periods.in_periods(cfg, 12)
    assert (monthly.walk_forward.refit_every, monthly.walk_forward.min_train) == (3, 50)  # 36 months: too few
    assert [s.window for s in monthly.features.specs()] == [None, 3, 3]  # a month's volatility: 3 returns at least
    # the lengths that average the series' own returns count its periods, as given
    for c in (weekly, monthly):
        assert (c.backtest.vol_window, c.model.vol_half_life) == (21, 21)
    assert cfg.walk_forward.min_train == 756 and cfg.features.specs()[1].window == 21  # the given config unchanged


def _regime_series(dates, calm, stress, block, seed):
    """Prices whose returns switch between a calm and a stressed volatility every ``block`` periods."""
    rng = np.random.default_rng(seed)
    truth = (np.arange(len(dates)) // block) % 2
    r = rng.normal(0, np.where(truth == 1, stress, calm))
    return pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": 100 * np.exp(np.cumsum(r))}), truth, r


@pytest.mark.parametrize(
    "freq, n, calm, stress, block, year, word, far",
    [
        ("W-FRI", 1040, 0.01, 0.05, 52, 52, "weeks", "13w"),
        ("MS", 600, 0.02, 0.09, 36, 12, "months", "12m"),
    ],
)
def test_a_weekly_or_monthly_series_finds_its_regimes_annualised_over_its_periods(
    tmp_path, freq, n, calm, stress, block, year, word, far
):
    dates = pd.date_range("1980-01-01", periods=n, freq=freq)
    df, truth, r = _regime_series(dates, calm, stress, block, seed=3)
    df.to_csv(tmp_path / "p.csv", index=False)
    out = tmp_path / "r"
    assert cli.main(["run", str(CONFIG), "--out", str(out), *FAST, "--set", f"data.path={tmp_path / 'p.csv'}"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["days_per_year"] == year and s["period"] == ("weekly" if year == 52 else "monthly")
    assert s["counted_in_periods"]["walk_forward.min_train"] == [756, max(50, round(756 * year / 252))]
    reg = pd.read_csv(out / "regimes.csv")
    days = pd.to_datetime(reg["date"])
    known = pd.Series(truth, index=dates).reindex(days).to_numpy()
    assert adjusted_rand_score(known, reg["regime"].to_numpy()) > 0.7
    # each regime's volatility, annualised over the series' periods, is the generating one
    stats = pd.read_csv(out / "regime_stats.csv").set_index("name")
    assert stats.loc["calm", "annual_volatility"] == pytest.approx(calm * np.sqrt(year), rel=0.2)
    assert stats.loc["stress", "annual_volatility"] == pytest.approx(stress * np.sqrt(year), rel=0.2)
    # the forecasts' horizons and every length named are the series' periods
    assert f"p_{far}_calm" in reg.columns and not any("21d" in c for c in reg.columns)
    assert f"more {word}; in {far[:-1]} {word}" in s["headline"] and f" {word} on average (filtered" in s["headline"]
    report = (out / "report.html").read_text()
    assert f"training {word}" in report and f"mean duration ({word})" in report and "trading day" not in report
    assert not any(f"{w} day" in report for w in ("each", "per", "next", "later", "the last", "every", "regime's"))
    _, meta = RegimeModel.load(out / "model.npz")
    window = 4 if year == 52 else 3  # a month of realised volatility in weeks or months
    assert meta["feature_names"] == ["log_return", f"realized_vol_{window}"] and meta["periods_per_year"] == year
    assert s["counted_in_periods"]["features.use realized_vol"] == [21, window]


def test_a_weekly_model_applies_to_new_weeks_and_refuses_daily_prices(tmp_path, capsys):
    dates = pd.date_range("1990-01-05", periods=900, freq="W-FRI")
    df, _, _ = _regime_series(dates, 0.01, 0.05, 40, seed=5)
    df.iloc[:700].to_csv(tmp_path / "train.csv", index=False)
    df.iloc[600:].to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "r"
    assert cli.main(["run", str(CONFIG), "--out", str(out), *FAST, "--set", f"data.path={tmp_path / 'train.csv'}"]) == 0
    assert cli.main(["apply", str(out), str(tmp_path / "new.csv"), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    applied = pd.read_csv(tmp_path / "a" / "regimes.csv")
    assert "p_4w_stress" in applied and applied["date"].iloc[-1] == df["Date"].iloc[-1]
    # the last of the run's weeks is labelled alike by the run (filtered) and by apply over the same history
    run = pd.read_csv(out / "regimes.csv").set_index("date")
    both = applied.set_index("date").index.intersection(run.index)[-20:]
    agree = (applied.set_index("date").loc[both, "regime"] == run.loc[both, "regime"]).mean()
    assert agree >= 0.9
    daily = pd.bdate_range("2020-01-01", periods=300)
    pd.DataFrame({"Date": daily.strftime("%Y-%m-%d"), "Close": np.linspace(100, 120, 300)}).to_csv(
        tmp_path / "daily.csv", index=False
    )
    capsys.readouterr()
    assert cli.main(["apply", str(out), str(tmp_path / "daily.csv"), "--out", str(tmp_path / "b"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "daily.csv: daily prices; the run's model was fitted on weekly" in err
    assert not (tmp_path / "b").exists()


def test_a_monthly_history_too_short_to_hold_out_says_how_many_months_it_has(tmp_path, capsys):
    dates = pd.date_range("2010-01-31", periods=40, freq="ME")
    df, _, _ = _regime_series(dates, 0.02, 0.09, 12, seed=1)
    df.to_csv(tmp_path / "m.csv", index=False)
    args = ["run", str(CONFIG), "--out", str(tmp_path / "r"), "--quiet", "--set", f"data.path={tmp_path / 'm.csv'}"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    # 40 months less the 3 of the realised-volatility window, 68% of them before the automatic split
    assert err.startswith("error: ") and "m.csv: only 25 feature months before split.holdout_start=2012-05-31" in err
    assert cli.main([*args, "--set", "split.holdout_start=null"]) == 2
    assert "m.csv: only 37 months with every feature defined" in capsys.readouterr().err
    assert cli.main([*args, "--set", "walk_forward.enabled=true", "--set", "split.holdout_start=null"]) == 2
    err = capsys.readouterr().err
    assert (
        "walk-forward needs months to label after the first training window: walk_forward.min_train=50 (months, " in err
    )
    assert "the config's trading days counted in them) leave none of the 37 feature months" in err
    assert not (tmp_path / "r").exists()


def test_a_weekly_yfinance_download_is_asked_for_weekly_bars_cached_apart_and_read_as_weekly(tmp_path):
    daily = pd.read_csv(REPO / "tests" / "data" / "yfinance_spy_qqq_2015_2016.csv", header=[0, 1], index_col=0)
    daily.index = pd.to_datetime(daily.index)
    # Yahoo dates a weekly bar by its week's Monday and closes it at the week's last close
    weekly = daily.groupby(daily.index.to_period("W-SUN").start_time).last()
    calls = []

    def download(tickers, **kw):
        calls.append(kw["interval"])
        return (weekly if kw["interval"] == "1wk" else daily)[[c for c in daily.columns if c[1] in tickers]]

    got = data_mod.load_yfinance(["SPY"], start="2015-01-01", interval="1wk", cache_dir=tmp_path, download=download)
    assert calls == ["1wk"] and len(got.prices) == len(weekly) and periods.periods_per_year(got.prices.index) == 52
    assert got.prices["SPY"].iloc[-1] == pytest.approx(daily[("Close", "SPY")].iloc[-1])
    day = data_mod.load_yfinance(["SPY"], start="2015-01-01", cache_dir=tmp_path, download=download)
    assert calls == ["1wk", "1d"] and periods.periods_per_year(day.prices.index) == 252  # not the weekly cache


@pytest.mark.parametrize(
    "n, year, words",
    [
        (59.4, 252, "59 trading days"),
        (0.6, 252, "1 trading day"),
        (1.2, 52, "1 week"),
        (0.4, 12, "0 months"),
        (2, 365, "2 days"),
    ],
)
def test_a_number_of_periods_is_said_in_the_series_words_singular_when_it_rounds_to_one(n, year, words):
    assert periods.periods_of(n, year) == words


def test_a_weekly_walk_forward_trains_on_three_years_of_weeks_and_refits_each_quarter(tmp_path):
    dates = pd.date_range("2000-01-07", periods=500, freq="W-FRI")
    df, _, _ = _regime_series(dates, 0.01, 0.05, 52, seed=7)
    df.to_csv(tmp_path / "p.csv", index=False)
    out = tmp_path / "r"
    sets = [f"data.path={tmp_path / 'p.csv'}", "walk_forward.enabled=true", "split.holdout_start=null"]
    assert cli.main(["run", str(CONFIG), "--out", str(out), *FAST, *[a for s in sets for a in ("--set", s)]]) == 0
    refits = json.loads((out / "summary.json").read_text())["walk_forward_refits"]
    trained = [r["trained_days"] for r in refits]
    # 756 trading days and 63 between refits, counted in weeks (a realised-volatility window of 4 weeks
    # leaves 496 feature weeks): 156, 169, ... every 13 weeks
    assert trained == list(range(156, 496, 13))
    reg = pd.read_csv(out / "regimes.csv")
    assert len(reg) == 496 - 156 and reg["date"].iloc[0] == refits[0]["labels"][0]


def test_a_series_that_changes_frequency_is_refused_naming_the_stretch_and_the_key_that_cuts_it(tmp_path, capsys):
    weekly, daily = pd.date_range("1995-01-06", "2009-12-25", freq="W-FRI"), pd.bdate_range("2010-01-04", periods=900)
    stretch = periods.other_stretch(weekly.append(daily))
    assert stretch == (weekly[0], daily[0], "a week or more apart")
    # daily prices appended to a weekly history's end, and a monthly series with a weekly stretch in the middle
    late = pd.date_range("2000-01-07", periods=400, freq="W-FRI")
    assert periods.other_stretch(late.append(pd.bdate_range(late[-1] + pd.Timedelta(days=3), periods=40)))[2] == (
        "three days apart or less"
    )
    months = pd.date_range("1990-01-31", periods=100, freq="ME")
    middle = months[:50].append(pd.date_range(months[49] + pd.Timedelta(days=7), periods=12, freq="W-FRI"))
    assert periods.other_stretch(middle.append(months[53:]))[2] == "10 days apart or less"
    # what is no stretch: a market closed for a week and a half, holiday weeks missing, a month's missing prices
    closed = pd.bdate_range("2010-01-01", periods=800).delete(range(300, 308))
    holidays = pd.date_range("2000-01-07", periods=400, freq="W-FRI").delete([50, 51, 104, 200, 201])
    for dates in (closed, holidays, months.delete([10, 11, 40])):
        assert periods.other_stretch(dates) is None
    prices = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, len(weekly) + len(daily))))
    both = weekly.append(daily)
    pd.DataFrame({"Date": both.strftime("%Y-%m-%d"), "Close": prices}).to_csv(tmp_path / "p.csv", index=False)
    args = ["run", str(CONFIG), "--out", str(tmp_path / "r"), *FAST, "--set", f"data.path={tmp_path / 'p.csv'}"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {tmp_path / 'p.csv'}: its dates are a week or more apart from 1995-01-06 to 2010-01-04 and daily "
        "elsewhere, so its returns would span different lengths of time; set data.start: 2010-01-04 to model the "
        "daily prices alone, or give one frequency's prices"
    )
    assert not (tmp_path / "r").exists()
    assert cli.main([*args, "--set", "data.start=2010-01-04"]) == 0


def test_fred_s_excel_download_reads_below_its_notes_without_a_warning(tmp_path, recwarn):
    """FRED's workbook: notes, the series' name beside its title, its frequency, then observation_date and the
    series with blanks on holidays (data.missing: drop leaves them out)."""
    days = pd.bdate_range("2020-01-02", periods=300)
    prices = 60 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.02, len(days))))
    notes = [["FRED Graph Observations", None], ["Federal Reserve Economic Data", None], [None, None]]
    notes += [["DCOILWTICO", "Crude Oil Prices: West Texas Intermediate (WTI), Daily"], [None, None]]
    notes += [["Frequency: Daily", None], ["observation_date", "DCOILWTICO"]]
    body = [[d.to_pydatetime(), None if i % 50 == 7 else round(p, 2)] for i, (d, p) in enumerate(zip(days, prices))]
    pd.DataFrame(notes + body).to_excel(tmp_path / "DCOILWTICO.xlsx", header=False, index=False)
    with pytest.raises(DataError, match="column 'DCOILWTICO' has a missing .* at data row 8 .*data.missing: drop"):
        data_mod.load_file(tmp_path / "DCOILWTICO.xlsx")
    got = data_mod.load_file(tmp_path / "DCOILWTICO.xlsx", rules={"missing": "drop"})
    assert not [str(w.message) for w in recwarn.list]
    assert list(got.prices.columns) == ["DCOILWTICO"] and len(got.prices) == 300 - 6 and got.cleaning["missing"] == 6
