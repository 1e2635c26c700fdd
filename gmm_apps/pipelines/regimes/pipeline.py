"""The regimes pipeline: prices -> features -> regime model -> dated labels, report."""

from __future__ import annotations

import logging
from typing import NamedTuple
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from ...config import path_problem
from ...errors import ConfigError, DataError
from ...registry import Pipeline
from . import data as data_mod
from .backtest import run_backtest
from .config import RegimesConfig
from .features import TRADING_DAYS, build_features, fit_scaler
from .model import (
    FORECAST_HORIZONS,
    RegimeModel,
    align_states,
    expected_remaining_days,
    fit_regime_model,
    regime_forecasts,
    regime_names,
    state_volatility,
)

logger = logging.getLogger("gmm_apps.regimes")


# ------------------------------------------------------------------ statistics
def run_lengths(labels):
    """Lengths of consecutive runs of equal labels, with each run's label.

    Parameters
    ----------
    labels : ndarray of shape (T,)

    Returns
    -------
    lengths : ndarray of shape (R,)
    run_labels : ndarray of shape (R,)
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=labels.dtype)
    change = np.flatnonzero(np.diff(labels) != 0) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, labels.size]
    return ends - starts, labels[starts]


def max_drawdown(returns):
    """Largest peak-to-trough fall of the equity curve ``exp(cumsum(returns))`` (a negative number)."""
    if len(returns) == 0:
        return float("nan")
    eq = np.exp(np.cumsum(np.r_[0.0, returns]))
    return float((eq / np.maximum.accumulate(eq) - 1).min())


def regime_statistics(labels, returns, names):
    """Per-regime table: annualised return, volatility, Sharpe, max drawdown, time share, durations.

    Parameters
    ----------
    labels : ndarray of shape (T,)
    returns : ndarray of shape (T,)
        Daily log returns.
    names : list of str

    Returns
    -------
    stats : pandas.DataFrame
    """
    lengths, run_lab = run_lengths(labels)
    rows = []
    for k, name in enumerate(names):
        r = returns[labels == k]
        n = len(r)
        ann_ret = float(r.mean() * TRADING_DAYS) if n else float("nan")
        ann_vol = float(r.std(ddof=1) * np.sqrt(TRADING_DAYS)) if n > 1 else float("nan")
        runs = lengths[run_lab == k]
        rows.append({
            "regime": k,
            "name": name,
            "days": n,
            "share_of_time": n / max(1, len(labels)),
            "annual_return": ann_ret,
            "annual_volatility": ann_vol,
            "sharpe": ann_ret / ann_vol if n > 1 and ann_vol > 0 else float("nan"),
            "max_drawdown": max_drawdown(r),
            "episodes": int(len(runs)),
            "mean_duration_days": float(runs.mean()) if len(runs) else float("nan"),
        })
    return pd.DataFrame(rows)


def transition_table(model, names):
    A = model.transmat
    df = pd.DataFrame(A, index=names, columns=names)
    stay = np.diag(A)
    with np.errstate(divide="ignore"):
        df["expected_duration_days"] = np.where(stay < 1, 1.0 / (1.0 - stay), np.inf)
    df.index.name = "from \\ to"
    return df


# --------------------------------------------------------------------- loading
def ordering_returns(cfg, data, F, rets):
    """Daily log returns of the series that orders and names the regimes (``model.ordering``; default the first)."""
    name = cfg.model.ordering
    if name is None or name == data.primary:
        return rets
    if name not in data.prices.columns:
        raise ConfigError(f"config: model.ordering: no price series {name!r}; the series are "
                          f"{', '.join(map(str, data.prices.columns))}")
    logger.info("regimes ordered by the volatility of %s", name)
    return np.log(data.prices[name]).diff().reindex(F.index).rename("log_return")


def load_prices(cfg, source):
    d = cfg.data
    src = d.source
    if src == "auto":
        src = "file" if d.path else "arch"
    if src == "arch":
        data = data_mod.load_arch(d.arch_dataset)
    elif src == "file":
        if not d.path:
            raise ConfigError(f"{source}: data.path: required when data.source is 'file'")
        data = data_mod.load_file(d.path, date_column=d.date_column, price_column=d.price_column,
                                  volume_column=d.volume_column)
    else:
        data = data_mod.load_yfinance(d.tickers, start=d.start, end=d.end, interval=d.interval, cache_dir=d.cache_dir)
    if d.start is not None or d.end is not None:
        idx = data.prices.index
        keep = np.ones(len(idx), dtype=bool)
        if d.start is not None:
            keep &= idx >= pd.Timestamp(d.start)
        if d.end is not None:
            keep &= idx <= pd.Timestamp(d.end)
        if keep.sum() < 2:
            raise DataError(f"{data.source}: no prices between data.start={d.start} and data.end={d.end}")
        data = data_mod.PriceData(data.prices[keep], None if data.volume is None else data.volume[keep], data.source)
    return data


class Best(NamedTuple):
    """The chosen candidate: K, covariance type, its criteria and the training days."""

    K: int
    ct: str
    bic: float
    aic: float
    n_train: int


class Posteriors(NamedTuple):
    """What labelling the days gives: the model (and scaler) in force, the days labelled and their probabilities."""

    model: object
    scaler: object
    dates: pd.DatetimeIndex
    X: np.ndarray
    r: np.ndarray
    train: np.ndarray
    filtered: np.ndarray
    smoothed: np.ndarray | None
    labels: np.ndarray
    log_pred: np.ndarray
    refit_dates: np.ndarray | None
    forecasts: dict

    @property
    def trained_to(self):
        if self.refit_dates is not None:
            return str(self.refit_dates[-1])
        return str(self.dates[self.train][-1].date())


def training_days(dates, holdout_start, source):
    """Mask of the days the model is fitted on (before ``split.holdout_start``); at least 50."""
    train = np.ones(len(dates), dtype=bool) if holdout_start is None else (dates < pd.Timestamp(holdout_start))
    n = int(train.sum())
    if n < 50 and holdout_start is None:
        raise DataError(f"{source}: only {n} days with every feature defined (data {dates[0].date()} to "
                        f"{dates[-1].date()}, after the longest feature window); at least 50 are needed: use a "
                        "longer price history or shorter feature windows")
    if n < 50:
        raise DataError(
            f"{source}: only {n} feature days before split.holdout_start={holdout_start} "
            f"(data {dates[0].date()} to {dates[-1].date()}); move split.holdout_start later or set it to null"
        )
    logger.info("%s: %d days (%s to %s), %d for training", source, len(dates), dates[0].date(), dates[-1].date(), n)
    return train


def regimes_table(dates, labels, names, filtered, smoothed=None, *, in_sample=None, fitted_to=None, forecasts=None):
    """``regimes.csv``: date, regime, name, filtered (and smoothed) probabilities and the forecasts
    (``p_<h>d_<name>``: probability of the regime ``h`` trading days ahead); written by run and apply alike."""
    out = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "regime": labels, "name": [names[i] for i in labels]})
    for k, nm in enumerate(names):
        out[f"p_filtered_{nm}"] = filtered[:, k]
    if smoothed is not None:
        for k, nm in enumerate(names):
            out[f"p_smoothed_{nm}"] = smoothed[:, k]
    for h, p in (forecasts or {}).items():
        for k, nm in enumerate(names):
            out[f"p_{h}d_{nm}"] = p[:, k]
    if in_sample is not None:
        out["in_sample"] = in_sample
    if fitted_to is not None:
        out["model_fitted_on_data_to"] = fitted_to
    return out


def forecast_summary(forecasts, transmat, regime, names):
    """The last day's outlook: each regime's probability 1, 5 and 21 trading days ahead, and the expected
    further days in today's regime."""
    return {"probabilities": {f"{h}d": {nm: float(p[-1, k]) for k, nm in enumerate(names)} for h, p in forecasts.items()},
            "expected_remaining_days": expected_remaining_days(transmat, regime)}


def headline(date, name, probability, outlook):
    far = outlook["probabilities"][f"{FORECAST_HORIZONS[-1]}d"]
    days = outlook["expected_remaining_days"]
    return (f"{date}: {name} regime (filtered probability {probability:.2f}); expected to last about "
            f"{days:.0f} more trading days; in {FORECAST_HORIZONS[-1]} days "
            + ", ".join(f"{nm} {p:.2f}" for nm, p in sorted(far.items(), key=lambda kv: -kv[1])))


def summarise(cfg, data, post, names, best, model, table, aris):
    """The run's ``summary.json`` figures."""
    labels, dates, r, train = post.labels, post.dates, post.r, post.train
    K = best.K
    lengths, _ = run_lengths(labels)
    years = len(labels) / TRADING_DAYS
    vol_regime = state_volatility(np.eye(K)[labels], r)
    today = {"date": dates[-1].strftime("%Y-%m-%d"), "regime": int(labels[-1]), "name": names[labels[-1]],
             "probability_filtered": float(post.filtered[-1, labels[-1]])}
    if post.smoothed is not None:
        today["probability_smoothed"] = float(post.smoothed[-1, labels[-1]])
    outlook = forecast_summary(post.forecasts, post.model.transmat, labels[-1], names)
    return {
        "headline": headline(today["date"], today["name"], today["probability_filtered"], outlook),
        "forecast": outlook,
        "data_source": data.source,
        "first_date": dates[0].strftime("%Y-%m-%d"),
        "last_date": today["date"],
        "n_days": len(labels),
        "n_train_days": best.n_train,
        "model_kind": cfg.model.kind,
        "n_components": K,
        "covariance_type": best.ct,
        "regime_names": names,
        "today": today,
        "switches_per_year": float((len(lengths) - 1) / years),
        "mean_regime_length_days": float(lengths.mean()),
        "volatility_per_regime": dict(zip(names, vol_regime.tolist())),
        "label_agreement_ari": aris,
        "oos_loglik_per_day": float(post.log_pred[~train].mean()) if (~train).any() else None,
        "train_loglik_per_day": float(post.log_pred[train].mean()) if train.any() else None,
        "bic": best.bic,
        "aic": best.aic,
        "converged": post.model.converged,
        "n_iter": post.model.n_iter,
        "walk_forward": bool(cfg.walk_forward.enabled),
        "trained_to": post.trained_to,
    }


class RegimesPipeline(Pipeline):
    name = "regimes"
    input_keys = ("data.path", "data.cache_dir")
    quick_sets = ("report.stability_seeds=1", "report.bic_candidates=[3]", "report.plots=false", "model.n_init=2",
                  "split.holdout_start=null")

    def write_data(self, data, folder):
        """A DataFrame of prices, its dates in the index or a column."""
        if isinstance(data, pd.Series):
            data = data.to_frame()
        if isinstance(data, pd.DataFrame) and isinstance(data.index, pd.DatetimeIndex):
            data = data.rename_axis(data.index.name or "Date").reset_index()
        return super().write_data(data, folder)

    def apply_example(self, run_dir, folder):
        """The last ten years of the bundled S&P 500 as a price file."""
        from arch.data import sp500

        p = Path(folder) / "prices.csv"
        sp500.load()["Adj Close"].iloc[-2520:].rename("Close").rename_axis("Date").to_frame().to_csv(p)
        return str(p)
    description = "market regimes from prices: dated labels with filtered and smoothed probabilities"
    config_model = RegimesConfig

    def check(self, config, source):
        d = config.data
        if d.source == "file" and not d.path:
            raise ConfigError(f"{source}: data.path: required when data.source is 'file'")
        if d.path and d.source in ("auto", "file") and path_problem(d.path):
            raise ConfigError(f"{source}: data.path: {path_problem(d.path)}: {d.path}")
        if config.model.criterion not in ("bic", "aic"):
            raise ConfigError(
                f"{source}: model.criterion: the regimes pipeline chooses K by 'bic' or 'aic', got {config.model.criterion!r}"
            )
        if config.model.kind == "gmm_hmm" and "tied" in config.model.covariance_types():
            raise ConfigError(f"{source}: model.covariance_type: 'tied' is not available with kind 'gmm_hmm'")

    # ----------------------------------------------------------------- fit
    def _fit(self, cfg, X, r, k, ct, seed):
        m = cfg.model
        return fit_regime_model(
            X, r, kind=m.kind, n_components=k, covariance_type=ct, n_init=m.n_init, random_state=seed,
            stickiness=m.stickiness, n_mix=m.n_mix, hmm_iter=m.hmm_iter, tol=m.tol, max_iter=m.max_iter,
            reg_covar=m.reg_covar,
        )

    def run(self, cfg, ctx):
        from . import report as rep

        data = load_prices(cfg, "config")
        F, rets = build_features(data, cfg.features.specs())
        rets = ordering_returns(cfg, data, F, rets)
        train = training_days(F.index, cfg.split.holdout_start, data.source)
        scaler = fit_scaler(F.values[train], names=list(F.columns))
        X, r = scaler.transform(F.values), rets.to_numpy()
        table, model, best = self._select(cfg, X[train], r[train], ctx, data.source)
        names = regime_names(model.n_states)
        post = self._posteriors(cfg, model, scaler, F, X, r, train, best, ctx)
        aris = self._stability(cfg, X, train, r, post, best, ctx)
        stats, trans = self._write(ctx, cfg, post, model, names, table, F, list(map(str, data.prices.columns)))
        summary = summarise(cfg, data, post, names, best, model, table, aris)
        backtest = self._backtest(ctx, cfg, post, data, names)
        if backtest is not None:
            summary["backtest"] = backtest["summary"]
        rep.build_report(ctx, cfg, summary=summary, prices=data.prices[data.primary].reindex(post.dates),
                         dates=post.dates, labels=post.labels, filtered=post.filtered, smoothed=post.smoothed,
                         names=names, stats=stats, trans=trans, table=table, chosen=(best.K, best.ct),
                         model=post.model, X=post.X, train=post.train, ticker=str(data.primary),
                         feature_names=list(F.columns), backtest=backtest)
        return summary

    # ------------------------------------------------------------- steps
    def _select(self, cfg, Xtr, rtr, ctx, source):
        """Fit every candidate (and the report's BIC curve); the criterion picks the model."""
        ks, cts = cfg.model.candidates(), cfg.model.covariance_types()
        curve_ks = sorted(set(ks) | set(cfg.report.bic_candidates)) if cfg.report.plots else ks
        jobs = [(k, ct) for ct in cts for k in ks]
        jobs += [(k, cts[0]) for k in curve_ks if (k, cts[0]) not in jobs]
        jobs = [(k, ct) for k, ct in jobs if 5 * k <= len(Xtr)]
        rows, fitted = [], {}
        for k, ct in ctx.progress(jobs, desc="fitting candidates"):
            mdl = self._fit(cfg, Xtr, rtr, k, ct, cfg.model.random_state)
            rows.append({"n_components": k, "covariance_type": ct, "log_likelihood": mdl.log_likelihood(Xtr),
                         "n_parameters": mdl.n_parameters(), "bic": mdl.bic(Xtr), "aic": mdl.aic(Xtr),
                         "candidate": (k in ks and ct in cts)})
            fitted[(k, ct)] = mdl
        table = pd.DataFrame(rows)
        cand = table[table["candidate"]] if rows else table
        if cand.empty:
            raise DataError(f"{source}: too few training days ({len(Xtr)}) for model.n_components {ks}: each regime "
                            f"needs at least 5 days, so at most {len(Xtr) // 5} regimes; lower model.n_components")
        row = cand.iloc[int(cand[cfg.model.criterion].to_numpy().argmin())]
        best = Best(int(row.n_components), row.covariance_type, float(row.bic), float(row.aic), len(Xtr))
        logger.info("model: %s, K=%d, %s covariance", cfg.model.kind, best.K, best.ct)
        return table, fitted[(best.K, best.ct)], best

    def _posteriors(self, cfg, model, scaler, F, X, r, train, best, ctx):
        """Regime probabilities and labels of every day (walk-forward: out of sample only)."""
        dates = F.index
        if cfg.walk_forward.enabled:
            filtered, log_pred, refit_dates, (model, scaler), fc = self._walk_forward(cfg, F, r, best.K, best.ct,
                                                                                      cfg.model.random_state, ctx)
            w0 = cfg.walk_forward.min_train
            return Posteriors(model, scaler, dates[w0:], X[w0:], r[w0:], np.zeros(len(filtered), dtype=bool),
                              filtered, None, filtered.argmax(axis=1), log_pred, refit_dates, fc)
        filtered, log_pred, smoothed = model.posteriors(X)
        src = smoothed if cfg.report.labels_from == "smoothed" else filtered
        return Posteriors(model, scaler, dates, X, r, train, filtered, smoothed, src.argmax(axis=1), log_pred, None,
                          regime_forecasts(filtered, model.transmat))

    def _stability(self, cfg, X, train, r, post, best, ctx):
        """Label agreement (ARI) of refits from other seeds with the first."""
        seed = cfg.model.random_state
        seeds = [seed + i for i in range(cfg.report.stability_seeds)]
        aris = []
        if len(seeds) > 1 and not cfg.walk_forward.enabled:
            for s in ctx.progress(seeds[1:], desc="stability seeds"):
                other = self._fit(cfg, X[train], r[train], best.K, best.ct, s)
                o = other.smooth(X) if cfg.report.labels_from == "smoothed" else other.filter(X)[0]
                aris.append(float(adjusted_rand_score(post.labels, o.argmax(axis=1))))
        return {"seeds": seeds, "ari_vs_first": aris, "min": min(aris) if aris else None,
                "identical": bool(all(a == 1.0 for a in aris)) if aris else None}

    def _write(self, ctx, cfg, post, model, names, table, F, series):
        """regimes.csv, regime_stats.csv, transitions.csv, model_selection.csv and the model file."""
        ctx.write_table("regimes.csv", regimes_table(post.dates, post.labels, names, post.filtered, post.smoothed,
                                                     in_sample=post.train, fitted_to=post.refit_dates,
                                                     forecasts=post.forecasts))
        stats = regime_statistics(post.labels, post.r, names)
        ctx.write_table("regime_stats.csv", stats)
        trans = transition_table(post.model, names)
        ctx.write_table("transitions.csv", trans, index=True)
        ctx.write_table("model_selection.csv", table)
        post.model.save(ctx.path("model.npz"), scaler=post.scaler, meta={
            "pipeline": "regimes", "feature_names": list(F.columns), "names": names,
            "features": [s.model_dump() for s in cfg.features.specs()], "trained_to": post.trained_to,
            "series": series,
        })
        return stats, trans

    def _backtest(self, ctx, cfg, post, data, names):
        """The allocation test on the out-of-sample days (filtered labels only); None when there are none."""
        oos = ~post.train
        if not cfg.backtest.enabled or oos.sum() < 60:
            return None
        prices = data.prices[data.primary]
        simple = prices.pct_change()
        dates = post.dates[oos]
        returns = simple.reindex(dates).fillna(0.0).to_numpy()
        before = simple.loc[: dates[0]].iloc[1:-1]  # the days before the test: the volatility target
        target = float(before.std(ddof=0) * np.sqrt(TRADING_DAYS)) if len(before) > 20 else float(returns.std() * np.sqrt(TRADING_DAYS))
        labels = post.filtered[oos].argmax(axis=1)
        bt = cfg.backtest
        table, curves = run_backtest(dates, labels, returns, names, stress_weight=bt.stress_weight,
                                     cost_bps=bt.cost_bps, vol_window=bt.vol_window, target_vol=target)
        ctx.write_table("backtest.csv", table)
        rows = table.set_index("strategy")
        beats = lambda a, b: bool(rows.loc[a, "sharpe"] >= rows.loc[b, "sharpe"])  # noqa: E731
        summary = {"period": [dates[0].strftime("%Y-%m-%d"), dates[-1].strftime("%Y-%m-%d")], "days": int(len(dates)),
                   "cost_bps": bt.cost_bps, "stress_weight": bt.stress_weight, "target_volatility": target,
                   "strategies": {s: {k: v for k, v in r.items() if not k.startswith("days_")}
                                  for s, r in rows.to_dict("index").items()},
                   "sharpe_at_least_buy_and_hold": beats("regimes", "buy and hold"),
                   "sharpe_at_least_volatility_targeting": beats("regimes", "volatility targeting")}
        logger.info("backtest %s to %s: Sharpe regimes %.2f, buy and hold %.2f, volatility targeting %.2f",
                    *summary["period"], *(rows.loc[s, "sharpe"] for s in ("regimes", "buy and hold", "volatility targeting")))
        return {"summary": summary, "table": table, "curves": curves}

    # -------------------------------------------------------- walk-forward
    def _walk_forward(self, cfg, F, r, K, ct, seed, ctx):
        wfc = cfg.walk_forward
        T = len(F)
        if wfc.min_train >= T:
            raise DataError(f"walk_forward.min_train={wfc.min_train} is not below the {T} feature days")
        filtered = np.full((T, K), np.nan)
        forecasts = {h: np.full((T, K), np.nan) for h in FORECAST_HORIZONS}
        log_pred = np.full(T, np.nan)
        fitted_to = np.empty(T, dtype=object)
        prev = None
        starts = list(range(wfc.min_train, T, wfc.refit_every))
        for t0 in ctx.progress(starts, desc="walk-forward refits"):
            sc = fit_scaler(F.values[:t0], names=list(F.columns))
            X = sc.transform(F.values[: min(T, t0 + wfc.refit_every)])
            m = self._fit(cfg, X[:t0], r[:t0], K, ct, seed)
            if prev is not None:
                align_states(m, prev[0], sc, prev[1])
            f, lp = m.filter(X)
            sl = slice(t0, min(T, t0 + wfc.refit_every))
            filtered[sl] = f[sl]
            for h, p in regime_forecasts(f[sl], m.transmat).items():  # the model in force that day
                forecasts[h][sl] = p
            log_pred[sl] = lp[sl]
            fitted_to[sl] = F.index[t0 - 1].strftime("%Y-%m-%d")
            prev = (m, sc)
        # dates before the first training window end get no label: any label
        # there would use later data
        return (filtered[wfc.min_train :], log_pred[wfc.min_train :], fitted_to[wfc.min_train :], prev,
                {h: p[wfc.min_train :] for h, p in forecasts.items()})

    # ---------------------------------------------------------------- apply
    def read_model(self, path):
        return RegimeModel.load(path)[0]

    def apply(self, run_dir, input, config, ctx):
        model, scaler, meta = RegimeModel.load(Path(run_dir) / "model.npz")
        series = meta.get("series", [])
        # several series: the new file has a column for each, named as in the run
        columns = config.data.price_column or (series if len(series) > 1 else None)
        data = data_mod.load_file(input, date_column=config.data.date_column, price_column=columns,
                                  volume_column=config.data.volume_column)
        F, rets = build_features(data, config.features.specs())
        if list(F.columns) != list(meta["feature_names"]):
            raise DataError(f"{input}: gives the features {', '.join(map(str, F.columns))}; the saved model expects "
                            f"{', '.join(meta['feature_names'])}; use a file with the run's price series "
                            "(data.price_column names them)")
        X = scaler.transform(F.values)
        filtered, log_pred, smoothed = model.posteriors(X)
        names = meta["names"]
        labels = filtered.argmax(axis=1)
        forecasts = regime_forecasts(filtered, model.transmat)
        out = regimes_table(F.index, labels, names, filtered, smoothed, forecasts=forecasts)
        ctx.write_table("regimes.csv", out)
        today = out.iloc[-1]
        outlook = forecast_summary(forecasts, model.transmat, labels[-1], names)
        return {
            "headline": headline(today["date"], today["name"], filtered[-1, labels[-1]], outlook),
            "forecast": outlook,
            "n_days": len(out),
            "labels_from": "filtered",
            "loglik_per_day": float(log_pred.mean()),
            "regime_counts": {nm: int((labels == k).sum()) for k, nm in enumerate(names)},
        }
