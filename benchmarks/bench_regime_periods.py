"""Regimes of weekly and monthly prices: which of the config's trading-day lengths count as time.

    python benchmarks/bench_regime_periods.py [--shared ../shared/datasets] [--only NAME] [--seeds N]

Each daily series is cleaned as ``bench_regimes.py`` reads it, then sampled at each week's last
close (Friday) and each month's last close, and the weekly and monthly files run through the
default config (split.holdout_start: auto, one fit, the later 30% labelled out of sample) once for
each way of counting the config's lengths.  The walk-forward schedule is counted in weeks or months
in all of them; beyond it, each variant counts some lengths as time (their trading days in weeks or
months: ``realized_vol:21`` is 4 weeks, or 3 months at the least; stickiness 100 pseudo-days is
20.6 weeks or 4.8 months; the volatility half-life 21 days 4.3 weeks or a month) and takes the
others as rows (21 weeks of realised volatility, 100 pseudo-counts of staying):

- ``windows as rows``: none as time;
- ``all as time``: the features' windows, stickiness, half-life and volatility-targeting window;
- ``features as time``, ``features and stickiness as time`` (what the pipeline does), ``half-life as time``.

The score is what all share: the regime model's volatility forecast (``vol_forecast``, made at
each out-of-sample period's close for the next period's return), by QLIKE, ``log(h) + r**2 / h``
averaged over the periods (lower is better; Patton 2011). Beside them, the trailing realised
variance over the last 13 weeks / 12 months. The variants' feature sets differ, so their
log-likelihoods are not comparable and are not shown.  Synthetic series of two volatility regimes
of random lengths (known regimes) score each variant's labels by their agreement with the truth
(ARI).

Development series: the eight USD exchange rates of ``bench_regime_volatility.py``. Confirm series:
the six of ``bench_regimes.py --part 4``. The rule choosing between the variants (best mean QLIKE
rank over the development series, unless its synthetic ARI is more than 0.05 below the best) was
written before the development totals were seen.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_regime_volatility import DEVELOPMENT, FX, qlike  # noqa: E402
from bench_regimes import SERIES  # noqa: E402

import gmm_apps  # noqa: E402
from gmm_apps.core import adjusted_rand_score  # noqa: E402
from gmm_apps.pipelines.regimes import periods  # noqa: E402
from gmm_apps.pipelines.regimes import pipeline as rp  # noqa: E402
from gmm_apps.runs import prepare  # noqa: E402

CONFIG = ROOT / "configs" / "regimes.yaml"
PIPELINE = rp.in_periods
LEAST = periods.MIN_WINDOW


def counted(*keys):
    """The walk-forward calendar in weeks or months (:func:`~gmm_apps.pipelines.regimes.periods.count_schedule`)
    with, besides, the lengths under ``keys`` counted as time: their trading days in weeks or months (windows at
    least :data:`LEAST`); the others taken as rows."""

    def count(cfg, year):
        out, c = periods.count_schedule(cfg, year) if year in (periods.WEEKS, periods.MONTHS) else (cfg, {})
        f = year / 252
        timed, _ = periods.count_windows(out, year)  # the features' windows and stickiness as the pipeline counts
        if "features.use" in keys:
            out = out.model_copy(update={"features": timed.features})
        model = {}
        if "model.stickiness" in keys:
            model["stickiness"] = timed.model.stickiness
        if "model.vol_half_life" in keys and out.model.vol_half_life is not None:
            model["vol_half_life"] = max(1.0, out.model.vol_half_life * f)
        out = out.model_copy(update={"model": out.model.model_copy(update=model)})
        if "backtest.vol_window" in keys:
            bt = out.backtest.model_copy(update={"vol_window": max(LEAST, round(out.backtest.vol_window * f))})
            out = out.model_copy(update={"backtest": bt})
        return out, c

    return count


ALL = ("features.use", "model.stickiness", "model.vol_half_life", "backtest.vol_window")
#: no length as time, every one, and one or two (the pipeline's: the features' windows and stickiness)
COUNTING = {
    "windows as rows": counted(),
    "all as time": counted(*ALL),
    "features as time": counted("features.use"),
    "features and stickiness as time (the pipeline)": PIPELINE,
    "half-life as time": counted("model.vol_half_life"),
}
SAMPLES = {"weekly": ("W-FRI", 52, 13), "monthly": ("ME", 12, 12)}
#: synthetic series of known regimes: periods, calm and stressed volatility per period, mean regime length
SYNTHETIC = {"weekly": ("W-FRI", 52, 13, 1040, 0.01, 0.035, 104), "monthly": ("ME", 12, 12, 480, 0.02, 0.07, 24)}


def sampled(sets, name, rule, folder):
    """The series' cleaned daily closes, sampled at each period's last close, written as a CSV."""
    _, cfg = prepare(CONFIG, sets=sets)
    data = rp.load_prices(cfg, name)
    closes = data.prices[data.primary].resample(rule).last().dropna()
    path = Path(folder) / f"{rule}.csv"
    closes.rename("Close").rename_axis("Date").to_frame().to_csv(path)
    return path


def scores(path, year, longer, folder, extra=(), truth=None):
    """QLIKE of each variant's forecast and of the trailing variances over the out-of-sample periods; with
    ``truth`` (a Series of the true regime by date), also each variant's label agreement with it (ARI)."""
    out, aris = {}, {}
    for label, counting in COUNTING.items():
        rp.in_periods = counting
        try:  # each variant's own folder
            gmm_apps.run(
                str(CONFIG),
                out=Path(folder) / label,
                set=[f"data.path={path}", "report.plots=false", "report.stability_seeds=1", *extra],
                quiet=True,
            )
        finally:
            rp.in_periods = PIPELINE
        table = pd.read_csv(Path(folder) / label / "regimes.csv", index_col="date", parse_dates=True)
        out[label] = table.loc[~table["in_sample"], "vol_forecast"] ** 2 / year
        if truth is not None:
            aris[label] = adjusted_rand_score(truth.reindex(table.index).to_numpy(), table["regime"].to_numpy())
    days = sorted(set.intersection(*(set(v.index) for v in out.values())))  # the periods every variant tested
    out = {k: v.reindex(days).to_numpy() for k, v in out.items()}
    closes = pd.read_csv(path, index_col="Date", parse_dates=True)["Close"]
    r = np.log(closes).diff()
    out[f"trailing {longer}"] = r.rolling(longer, min_periods=longer).var(ddof=0).reindex(days).to_numpy()
    rt = r.reindex(days).to_numpy()
    return len(rt), {k: qlike(rt, v) for k, v in out.items()}, aris


def synthetic(kind, seed, folder):
    """A series of two volatility regimes of random (geometric) lengths, written as a CSV, and its regimes."""
    rule, _, _, n, calm, stress, mean_length = SYNTHETIC[kind]
    rng = np.random.default_rng(seed)
    state, truth = 0, []
    while len(truth) < n:
        truth += [state] * int(rng.geometric(1 / mean_length))
        state = 1 - state
    truth = np.array(truth[:n])
    dates = pd.date_range("1980-01-01", periods=n, freq=rule)
    r = rng.normal(0, np.where(truth == 1, stress, calm))
    path = Path(folder) / "synthetic.csv"
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": 100 * np.exp(np.cumsum(r))}).to_csv(path, index=False)
    return path, pd.Series(truth, index=dates)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--only", help="one series (as named in the table)")
    ap.add_argument("--seeds", type=int, default=5, help="synthetic series of each kind")
    args = ap.parse_args()
    fx = FX.format(shared=args.shared)
    runs = [("development", c, [f"data.path={fx}", f"data.price_column={c}", "data.missing=drop"]) for c in DEVELOPMENT]
    runs += [("confirm", n, [s.format(shared=args.shared) for s in sets]) for n, sets in SERIES]
    head = " | ".join(COUNTING)
    print(f"| part | series | sampled | periods tested | {head} | trailing 13 w / 12 m |")
    print("|---|---|---|---:|" + "---:|" * (len(COUNTING) + 1))
    totals = {}
    for part, name, sets in runs:
        if args.only and name != args.only:
            continue
        for kind, (rule, year, longer) in SAMPLES.items():
            with tempfile.TemporaryDirectory() as tmp:
                n, q, _ = scores(sampled(sets, name, rule, tmp), year, longer, tmp)
            print(f"| {part} | {name} | {kind} | {n:,} | " + cells(q) + " |", flush=True)
            totals.setdefault((part, kind), []).append(q)
    ari = {}
    for kind in SYNTHETIC if not args.only else ():
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                path, truth = synthetic(kind, seed, tmp)
                _, yr, longer = SYNTHETIC[kind][:3]
                n, q, a = scores(path, yr, longer, tmp, extra=["model.n_components=2"], truth=truth)
            print(f"| synthetic | seed {seed} (ARI: " + cells(a) + f") | {kind} | {n:,} | " + cells(q) + " |")
            totals.setdefault(("synthetic", kind), []).append(q)
            ari.setdefault(kind, []).append(a)
    print()
    for (part, kind), qs in totals.items():
        mean = {k: np.mean([q[k] for q in qs]) for k in qs[0]}
        rank = {k: np.mean([sorted(q.values()).index(q[k]) + 1 for q in qs]) for k in qs[0]}
        print(
            f"{part}, {kind}, {len(qs)} series, mean QLIKE (mean rank): "
            + ", ".join(f"{k} {mean[k]:.4f} ({rank[k]:.1f})" for k in qs[0])
        )
    for kind, a in ari.items():
        print(
            f"synthetic, {kind}, mean ARI with the true regimes: "
            + ", ".join(f"{k} {np.mean([x[k] for x in a]):.3f}" for k in a[0])
        )


def cells(q, pick=min):
    best = pick(q, key=q.get)
    return " | ".join(f"**{v:.4f}**" if k == best else f"{v:.4f}" for k, v in q.items())


if __name__ == "__main__":
    main()
