"""Regimes: gmm_apps' default config against what a trader gets by hand, side by side.

    python benchmarks/bench_regimes.py              # both parts
    python benchmarks/bench_regimes.py --part 2     # the walk-forward test of use only

Same data (S&P 500 bundled with ``arch``), same features (daily log return and
21-day realised volatility, standardised on 1999-2012), K=3.  Reports switches
per year, mean regime length, label agreement across 5 seeds (ARI) and the
out-of-sample log-likelihood per day on 2013-2018 (filtered / one-step-ahead),
plus the wall time of the whole default run.

Part 2, a test of use: on the S&P 500 and the NASDAQ (both from ``arch``),
walk-forward from 2005 (expanding window from 1999, refit every 63 days; every
label uses only data up to its day), the same allocation for every method
(fully invested, out of the market while the label is the most volatile
regime, one-day lag, 5 bps per unit of turnover) for gmm_apps (its pipeline in
walk-forward mode), hmmlearn's GaussianHMM (filtered probabilities, states
ordered by volatility) and the statistical jump model of the ``jumpmodels``
package (Shu, Yu & Mulvey 2024; online labels, jump penalty 50), beside
buy-and-hold and volatility targeting; with regime persistence, label
agreement across 3 seeds and the out-of-sample log-likelihood where defined.
``pip install ".[bench]"`` installs jumpmodels.

Part 3: the time ``apply`` takes on ten years of prices from a saved run.

Part 4, any asset: six daily series (S&P 500 and NASDAQ from ``arch``; WTI,
Brent, Henry Hub gas and USD/JPY from ``../shared/datasets/prices``, read raw
with the cleaning keys they need; the last 20 years of each, as the S&P 500's
1999-2018), walk-forward from the 10th year (refit every 63 days, expanding
window). For each: the walk-forward's time
against a single run with the same settings; the out-of-sample log-likelihood
per day of gmm_apps and of hmmlearn's GaussianHMM (5 seeds, refitted from
scratch at every refit, the same features); label agreement across seeds
(gmm_apps: its summary's; hmmlearn: 5 seeds; the jump model: 3 seeds); and
the pipeline's five backtests after 5 bps.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGMM

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_apps.pipelines.regimes import data as data_mod  # noqa: E402
from gmm_apps.pipelines.regimes import features as feat  # noqa: E402
from gmm_apps.pipelines.regimes.config import FeatureSpec  # noqa: E402
from gmm_apps.runs import execute_run  # noqa: E402

SEEDS = range(5)


def regime_stats(labels):
    switches = int((np.diff(labels) != 0).sum())
    return switches / (len(labels) / 252), len(labels) / (switches + 1)


def min_ari(label_sets):
    return min(adjusted_rand_score(a, b) for a, b in combinations(label_sets, 2))


def main():
    d = data_mod.load_arch("sp500")
    F, _ = feat.build_features(d, [FeatureSpec(kind="log_return"), FeatureSpec(kind="realized_vol", window=21)])
    train = F.index < "2013-01-01"
    X = feat.fit_scaler(F.values[train]).transform(F.values)
    Xtr, n_test = X[train], int((~train).sum())
    rows = []

    t = time.perf_counter()
    gms = [SkGMM(3, random_state=s).fit(Xtr) for s in SEEDS]
    labs = [g.predict(X) for g in gms]
    sw, ml = regime_stats(labs[0])
    rows.append(
        ("scikit-learn GaussianMixture", sw, ml, min_ari(labs), gms[0].score(X[~train]), time.perf_counter() - t)
    )

    from hmmlearn.hmm import GaussianHMM

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hmms = [GaussianHMM(3, covariance_type="full", n_iter=100, random_state=s).fit(Xtr) for s in SEEDS]
    labs = [h.predict(X) for h in hmms]
    sw, ml = regime_stats(labs[0])
    oos = [(h.score(X) - h.score(Xtr)) / n_test for h in hmms]
    rows.append(("hmmlearn GaussianHMM (seed 0)", sw, ml, min_ari(labs), oos[0], time.perf_counter() - t))
    rows.append(
        (
            "hmmlearn GaussianHMM (mean of 5 seeds)",
            float("nan"),
            float("nan"),
            float("nan"),
            float(np.mean(oos)),
            float("nan"),
        )
    )

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        _, s = execute_run(ROOT / "configs" / "regimes.yaml", out=Path(tmp) / "run", quiet=True)
        el = time.perf_counter() - t
    rows.append(
        (
            "gmm_apps default config (whole run)",
            s["in_sample"]["switches_per_year"],
            s["in_sample"]["mean_regime_length_days"],
            s["label_agreement_ari"]["min"],
            s["oos_loglik_per_day"],
            el,
        )
    )

    print(f"{'method':42s} {'switch/yr':>9s} {'mean len':>8s} {'min ARI':>8s} {'OOS ll/day':>10s} {'seconds':>8s}")
    for name, sw, ml, ari, oos, sec in rows:
        print(f"{name:42s} {sw:9.1f} {ml:8.1f} {ari:8.3f} {oos:10.3f} {sec:8.1f}")
    print(
        json.dumps(
            {
                "gmm_apps": {
                    "in_sample": s["in_sample"],
                    "out_of_sample": s["out_of_sample"],
                    "oos_loglik_per_day": s["oos_loglik_per_day"],
                }
            }
        )
    )


# ------------------------------------------------------------------ part 2
START, REFIT, SEEDS_WF = "2005-01-01", 63, (0, 1, 2)


def hmm_walk(Fv, t_start, seed):
    """hmmlearn's GaussianHMM (K=3, full) refitted from scratch every REFIT days on the standardised features up to
    then; filtered labels (states ordered by the return feature's variance) and predictive log-likelihoods."""
    from hmmlearn.hmm import GaussianHMM

    from gmm_apps.core import GaussianMixture
    from gmm_apps.pipelines.regimes.model import RegimeModel

    def fit_label(t0, t1):
        sc = feat.fit_scaler(Fv[:t0])
        X = sc.transform(Fv[:t1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = GaussianHMM(3, covariance_type="full", n_iter=100, random_state=seed).fit(X[:t0])
        em = GaussianMixture.from_parameters(np.full(3, 1 / 3), h.means_, h.covars_, covariance_type="full")
        p, lp = RegimeModel(
            em, np.arange(3), np.ones(3), h.startprob_, h.transmat_, kind="hmm", covariance_type="full"
        ).filter(X)
        rank = np.argsort(np.argsort([h.covars_[k][0, 0] for k in range(3)]))
        return rank[p[t0:t1].argmax(axis=1)], lp[t0:t1]

    return _walk(Fv, t_start, fit_label)


def jump_walk(JumpModel, Fv, returns, t_start, seed):
    """The statistical jump model (K=3, jump penalty 50) refitted every REFIT days; its online labels, states
    ordered by the volatility of their training days' returns."""

    def fit_label(t0, t1):
        sc = feat.fit_scaler(Fv[:t0])
        X = sc.transform(Fv[:t1])
        jm = JumpModel(n_components=3, jump_penalty=50.0, random_state=seed).fit(X[:t0], ret_ser=returns[:t0])
        lab = np.asarray(jm.predict_online(X))
        vol = [returns[:t0][lab[:t0] == k].std() if (lab[:t0] == k).sum() > 1 else 0 for k in range(3)]
        rank = np.argsort(np.argsort(vol))
        return rank[lab[t0:t1]], None

    return _walk(Fv, t_start, fit_label)[0]


def _walk(X, t_start, fit_label):
    """Labels (and log-likelihoods) for days t_start.. from models refitted every REFIT days on data up to then."""
    labels, ll = np.empty(len(X) - t_start, dtype=int), np.full(len(X) - t_start, np.nan)
    for t0 in range(t_start, len(X), REFIT):
        t1 = min(len(X), t0 + REFIT)
        lab, lp = fit_label(t0, t1)
        labels[t0 - t_start : t1 - t_start] = lab
        if lp is not None:
            ll[t0 - t_start : t1 - t_start] = lp
    return labels, ll


def _stress_last(labels_all, returns):
    """Relabel states so that the most volatile (by its days' returns) is the last."""
    ks = np.unique(labels_all)
    vol = [returns[labels_all == k].std() for k in ks]
    order = {k: i for i, k in enumerate(ks[np.argsort(vol)])}
    return np.array([order[k] for k in labels_all])


def use_test(index):
    import gmm_apps
    from gmm_apps.pipelines.regimes.backtest import run_backtest

    d = data_mod.load_arch(index)
    F, rets = feat.build_features(d, [FeatureSpec(kind="log_return"), FeatureSpec(kind="realized_vol", window=21)])
    t_start = int((F.index < START).sum())
    dates = F.index[t_start:]
    simple = d.prices[d.primary].pct_change().reindex(dates).fillna(0).to_numpy()
    before = d.prices[d.primary].pct_change().loc[: dates[0]].iloc[1:-1]
    target = float(before.std(ddof=0) * np.sqrt(252))
    names = ["calm", "normal", "stress"]
    results, agreement, loglik = {}, {}, {}

    # gmm_apps: the pipeline in walk-forward mode
    labs, t = [], time.perf_counter()
    for seed in SEEDS_WF:
        with tempfile.TemporaryDirectory() as tmp:
            r = gmm_apps.run(
                {
                    "pipeline": "regimes",
                    "data": {"source": "arch", "arch_dataset": index},
                    "split": {"holdout_start": None},
                    "walk_forward": {"enabled": True, "min_train": t_start, "refit_every": REFIT},
                    "model": {"random_state": seed},
                    "report": {"plots": False, "stability_seeds": 1},
                },
                out=Path(tmp) / "r",
            )
            table = r.tables["regimes"]
            labs.append(table[[f"p_filtered_{n}" for n in names]].to_numpy().argmax(axis=1))
            if seed == 0:
                loglik["gmm_apps"] = r.summary["oos_loglik_per_day"]
    seconds = {"gmm_apps": (time.perf_counter() - t) / len(SEEDS_WF)}
    results["gmm_apps"], agreement["gmm_apps"] = labs[0], min_ari(labs)

    # hmmlearn GaussianHMM, same features, same refits, filtered probabilities
    t = time.perf_counter()
    hl = [hmm_walk(F.values, t_start, s) for s in SEEDS_WF]
    seconds["hmmlearn GaussianHMM"] = (time.perf_counter() - t) / len(SEEDS_WF)
    results["hmmlearn GaussianHMM"] = hl[0][0]
    agreement["hmmlearn GaussianHMM"] = min_ari([h[0] for h in hl])
    loglik["hmmlearn GaussianHMM"] = float(np.nanmean(hl[0][1]))

    # the statistical jump model (jumpmodels), same features, online labels
    try:
        from jumpmodels.jump import JumpModel
    except ImportError:
        print("jumpmodels is not installed (pip install '.[bench]'): the jump model is left out")
        JumpModel = None
    if JumpModel is not None:
        t = time.perf_counter()
        jl = [jump_walk(JumpModel, F.values, rets.values, t_start, s) for s in SEEDS_WF]
        seconds["jump model (jumpmodels)"] = (time.perf_counter() - t) / len(SEEDS_WF)
        results["jump model (jumpmodels)"] = jl[0]
        agreement["jump model (jumpmodels)"] = min_ari(jl)
        loglik["jump model (jumpmodels)"] = None

    print(
        f"\n{d.primary}, walk-forward {dates[0].date()} to {dates[-1].date()} ({len(dates):,} days), 5 bps, "
        f"volatility target {100 * target:.1f}%"
    )
    print(
        "| method | annual return | volatility | Sharpe | max drawdown | turnover / yr | mean regime (days) "
        "| stress days | min ARI (3 seeds) | OOS log-lik / day | seconds |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = None
    for name, lab in results.items():
        # the label rule only (the peers give labels); the other rows of the table are not printed
        table, _ = run_backtest(
            dates,
            np.eye(3)[lab],
            simple,
            names,
            predicted_vol=np.full(len(lab), target),
            stress_weight=0.0,
            cost_bps=5.0,
            vol_window=21,
            target_vol=target,
        )
        rows = table.set_index("strategy")
        base = rows
        r = rows.loc["regimes"]
        _, mean_len = regime_stats(lab)
        ll = loglik[name]
        print(
            f"| {name} | {100 * r.annual_return:.1f}% | {100 * r.annual_volatility:.1f}% | {r.sharpe:.2f} | "
            f"{100 * r.max_drawdown:.1f}% | {r.turnover_per_year:.1f} | {mean_len:.0f} | {int((lab == 2).sum())} | "
            f"{agreement[name]:.3f} | {'–' if ll is None else f'{ll:.3f}'} | {seconds[name]:.1f} |"
        )
    for ref in ("buy and hold", "volatility targeting"):
        r = base.loc[ref]
        print(
            f"| {ref} | {100 * r.annual_return:.1f}% | {100 * r.annual_volatility:.1f}% | {r.sharpe:.2f} | "
            f"{100 * r.max_drawdown:.1f}% | {r.turnover_per_year:.1f} | | | | | |"
        )


SERIES = [
    ("S&P 500", ["data.source=arch", "data.arch_dataset=sp500"]),
    ("NASDAQ", ["data.source=arch", "data.arch_dataset=nasdaq"]),
    ("WTI", ["data.path={shared}/prices/wti-daily.csv", "data.nonpositive=drop"]),
    ("Brent", ["data.path={shared}/prices/brent-daily.csv"]),
    (
        "Henry Hub gas",
        ["data.path={shared}/prices/henry-hub-natgas-daily.csv", "data.missing=drop", "data.repeated=drop"],
    ),
    (
        "USD/JPY",
        ["data.path={shared}/prices/fx-usd-daily-fred-2017.csv", "data.price_column=Japan", "data.missing=drop"],
    ),
]
HMM_SEEDS, JM_SEEDS = range(5), range(3)


def any_asset(shared, only=None, overrides=()):
    """Part 4: six series, walk-forward from the 10th year, gmm_apps against hmmlearn and the jump model."""
    import gmm_apps
    from gmm_apps.pipelines.regimes import pipeline as rp
    from gmm_apps.runs import prepare

    rows, strategies = [], []
    for name, sets in SERIES:
        if only and name != only:
            continue
        sets = [x.format(shared=shared) for x in sets]
        if any(x.startswith("data.path=") and not Path(x.split("=", 1)[1]).is_file() for x in sets):
            print(f"{name}: not found under {shared}; left out")
            continue
        _, cfg = prepare(ROOT / "configs" / "regimes.yaml", sets=sets + ["split.holdout_start=null"])
        d = rp.load_prices(cfg, name)
        first = d.prices.index[-1] - np.timedelta64(7305, "D")  # the last 20 years, as the S&P 500's 1999-2018
        if d.prices.index[0] < first:
            sets = sets + [f"data.start={first.date()}"]
            _, cfg = prepare(ROOT / "configs" / "regimes.yaml", sets=sets + ["split.holdout_start=null"])
            d = rp.load_prices(cfg, name)
        F, rets = feat.build_features(d, cfg.features.specs())
        start = F.index[0] + np.timedelta64(3652, "D")
        t_start = int((F.index < start).sum())
        common = sets + [f"split.holdout_start={F.index[t_start].date()}", "report.plots=false", *overrides]
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            gmm_apps.run(str(ROOT / "configs" / "regimes.yaml"), out=Path(tmp) / "single", set=common)
            single = time.perf_counter() - t
            t = time.perf_counter()
            r = gmm_apps.run(
                str(ROOT / "configs" / "regimes.yaml"),
                out=Path(tmp) / "walk",
                set=common + ["walk_forward.enabled=true"],
            )
            walk = time.perf_counter() - t
        s = r.summary

        t = time.perf_counter()
        hl = [hmm_walk(F.values, t_start, seed) for seed in HMM_SEEDS]
        hmm_seconds = (time.perf_counter() - t) / len(HMM_SEEDS)
        hmm_ll = [float(np.nanmean(h[1])) for h in hl]
        try:
            from jumpmodels.jump import JumpModel
        except ImportError:
            JumpModel = None
        jm_ari = float("nan")
        if JumpModel is not None:
            jm_ari = min_ari([jump_walk(JumpModel, F.values, rets.values, t_start, seed) for seed in JM_SEEDS])
        rows.append(
            {
                "series": name,
                "walk-forward days": s["n_days"],
                "from": s["first_date"],
                "single s": round(single, 1),
                "walk s": round(walk, 1),
                "ratio": round(walk / single, 2),
                "fresh fits": sum(x["start"] == "fresh" for x in s["walk_forward_refits"]),
                "OOS ll gmm_apps": round(s["oos_loglik_per_day"], 3),
                "OOS ll hmmlearn mean": round(float(np.mean(hmm_ll)), 3),
                "OOS ll hmmlearn best": round(float(np.max(hmm_ll)), 3),
                "ARI gmm_apps": s["label_agreement_ari"]["min"],
                "ARI hmmlearn": round(min_ari([h[0] for h in hl]), 3),
                "ARI jump model": round(jm_ari, 3),
                "hmmlearn s/seed": round(hmm_seconds, 1),
            }
        )
        b = s["backtest"]
        for strat, v in b["strategies"].items():
            strategies.append(
                {
                    "series": name,
                    "strategy": strat,
                    "sharpe": round(v["sharpe"], 2),
                    "max drawdown": f"{100 * v['max_drawdown']:.1f}%",
                    "turnover / yr": round(v["turnover_per_year"], 1),
                }
            )
        print(json.dumps(rows[-1]), flush=True)
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(pd.DataFrame(rows).to_string(index=False))
        st = pd.DataFrame(strategies)
        for what in ("sharpe", "max drawdown", "turnover / yr"):
            print(f"\n{what}, after 5 bps")
            print(st.pivot(index="series", columns="strategy", values=what).to_string())


def apply_speed():
    """``apply`` of a saved default run to ten years of prices, in a Python session (no refit)."""
    from arch.data import sp500

    import gmm_apps

    with tempfile.TemporaryDirectory() as tmp:
        run = gmm_apps.run("regimes", out=Path(tmp) / "run")
        px = sp500.load()["Adj Close"].iloc[-2520:].rename("Close").to_frame()
        times = []
        for i in range(3):
            t = time.perf_counter()
            run.apply(px, out=Path(tmp) / f"apply{i}")
            times.append(time.perf_counter() - t)
    print(
        f"\napply to ten years of daily prices (2,520 days) from a saved run: {min(times):.2f} s (best of 3, in a "
        "Python session; the command line adds about 2 s of interpreter start and imports)"
    )


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--part", type=int, choices=(1, 2, 3, 4))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--series", help="part 4: one series only (as named in its table)")
    ap.add_argument(
        "--set", action="append", default=[], help="part 4: a config override for gmm_apps' runs (repeatable)"
    )
    a = ap.parse_args()
    if a.part in (None, 1):
        main()
    if a.part in (None, 2):
        for idx in ("sp500", "nasdaq"):
            use_test(idx)
    if a.part in (None, 3):
        apply_speed()
    if a.part in (None, 4):
        any_asset(a.shared, a.series, a.set)
