"""A test of use: allocations driven by out-of-sample regime probabilities, against buy-and-hold and volatility targeting.

Pure functions on arrays of daily simple returns and weights, and
:func:`write_backtest`, which runs them for a finished run and writes the
table and figures.  Every weight is
decided at a day's close from data up to that day and earns the next day's
return (a one-day lag); changing the weight costs ``cost_bps`` basis points per
unit of turnover.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .periods import TRADING_DAYS, period_noun

logger = logging.getLogger("gmm_apps.regimes")


def regime_weights(labels, stress, stress_weight):
    """Fully invested except in the stress regime, where the weight is ``stress_weight``."""
    return np.where(np.asarray(labels) == stress, float(stress_weight), 1.0)


def vol_target_weights(returns, window, target, *, max_weight=1.0, year=TRADING_DAYS):
    """Volatility targeting: ``target / realised volatility`` of the last ``window`` days, capped at ``max_weight``.

    Parameters
    ----------
    returns : ndarray of shape (T,)
        Daily simple returns; the weight of day t uses returns up to day t.
    window : int
    target : float
        Annual volatility aimed at.
    year : int
        Days a year (:func:`~.periods.periods_per_year`).
    """
    r = pd.Series(np.asarray(returns, dtype=np.float64))
    vol = r.rolling(window, min_periods=max(2, window // 2)).std(ddof=0).to_numpy() * np.sqrt(year)
    w = np.where(vol > 0, target / np.where(vol > 0, vol, 1.0), max_weight)
    return np.clip(np.nan_to_num(w, nan=max_weight), 0.0, max_weight)


def strategy_returns(weights, returns, cost_bps):
    """Daily net returns of holding ``weights[t]`` over day ``t + 1``, and the turnover of each day.

    Returns
    -------
    net : ndarray of shape (T - 1,)
        Return of days 1..T-1.
    turnover : ndarray of shape (T - 1,)
        ``|w_t - w_{t-1}|`` paid on day t + 1 (the first position counts from 0).
    """
    w = np.asarray(weights, dtype=np.float64)
    r = np.asarray(returns, dtype=np.float64)
    held = w[:-1]
    turnover = np.abs(np.diff(np.r_[0.0, held]))
    return held * r[1:] - turnover * cost_bps / 1e4, turnover


def performance(net, turnover, *, year=TRADING_DAYS):
    """Annual return (compounded), volatility, Sharpe (no risk-free rate), maximum drawdown and annual turnover,
    over ``year`` days a year."""
    net = np.asarray(net, dtype=np.float64)
    growth = np.cumprod(1.0 + net)
    years = len(net) / year
    annual = growth[-1] ** (1.0 / years) - 1.0 if years > 0 and growth[-1] > 0 else float("nan")
    vol = float(net.std(ddof=0) * np.sqrt(year))
    peak = np.maximum.accumulate(np.r_[1.0, growth])[1:]
    return {
        "annual_return": float(annual),
        "annual_volatility": vol,
        "sharpe": float(net.mean() * year / vol) if vol > 0 else float("nan"),
        "max_drawdown": float((growth / peak - 1.0).min()),
        "turnover_per_year": float(turnover.sum() / years),
    }


#: the allocations driven by the regime model, in the order the table shows them
REGIME_RULES = ("regimes", "regime probabilities", "regime volatility targeting")


def probability_weights(filtered, regime_weight):
    """Exposure from the filtered probabilities: ``sum_k regime_weight[k] * P(regime k today)``."""
    return np.asarray(filtered, dtype=np.float64) @ np.asarray(regime_weight, dtype=np.float64)


def qlike(returns, variance):
    """Mean QLIKE loss of variance forecasts made at each day's close for the next day's squared return.

    ``log h_t + r_{t+1}**2 / h_t`` averaged over the days with a positive, finite forecast; lower is
    better, and it ranks variance forecasts correctly when the squared return stands in for the
    variance nobody observes (Patton 2011).

    Parameters
    ----------
    returns : ndarray of shape (T,)
    variance : ndarray of shape (T,)
        ``variance[t]``: the forecast, made at day t's close, of day t + 1's variance.
    """
    y = np.asarray(returns, dtype=np.float64)[1:] ** 2
    h = np.asarray(variance, dtype=np.float64)[:-1]
    ok = np.isfinite(h) & (h > 0)
    return float(np.mean(np.log(h[ok]) + y[ok] / h[ok])) if ok.any() else float("nan")


def volatility_forecasts(dates, returns, predicted_vol, vol_window, *, year=TRADING_DAYS):
    """The regime model's volatility forecast beside the trailing peer's, and how each scored on the next days.

    Returns
    -------
    check : dict
        ``qlike_regime_model`` and ``qlike_trailing`` (lower is better) and ``better``: which won.
    curves : DataFrame
        Annualised: the model's forecast, the trailing ``vol_window``-day volatility, and (with hindsight)
        the volatility of the next ``vol_window`` days, indexed by ``dates``.
    """
    r = pd.Series(np.asarray(returns, dtype=np.float64), index=dates)
    trailing = r.rolling(vol_window, min_periods=max(2, vol_window // 2)).std(ddof=0)
    model = np.asarray(predicted_vol, dtype=np.float64) / np.sqrt(year)
    check = {
        "qlike_regime_model": qlike(r.to_numpy(), model**2),
        "qlike_trailing": qlike(r.to_numpy(), trailing.to_numpy() ** 2),
    }
    check["better"] = "regime model" if check["qlike_regime_model"] <= check["qlike_trailing"] else "trailing"
    ahead = r[::-1].rolling(vol_window, min_periods=max(2, vol_window // 2)).std(ddof=0)[::-1].shift(-1)
    curves = pd.DataFrame(
        {
            "regime model's forecast": model,
            f"trailing {vol_window} {period_noun(year)}": trailing.to_numpy(),
            f"next {vol_window} {period_noun(year)} (hindsight)": ahead.to_numpy(),
        },
        index=dates,
    )
    return check, curves * np.sqrt(year)


def run_backtest(
    dates,
    filtered,
    returns,
    names,
    *,
    predicted_vol,
    stress_weight,
    cost_bps,
    vol_window,
    target_vol,
    max_leverage=1.0,
    year=TRADING_DAYS,
):
    """Five allocations over the labelled days, all with the same costs and volatility target.

    ``regimes``: fully invested, ``stress_weight`` in the stress label;
    ``regime probabilities``: the same weights averaged under the filtered
    probabilities; ``regime volatility targeting``: ``target_vol`` over the
    regime model's forecast of tomorrow's volatility; ``buy and hold``; and
    ``volatility targeting`` on a trailing ``vol_window``-day realised
    volatility.  Volatility-targeting weights are capped at ``max_leverage``.

    Parameters
    ----------
    dates : DatetimeIndex of shape (T,)
    filtered : ndarray of shape (T, K)
        Each day's regime probabilities from data up to that day (out of sample).
    returns : ndarray of shape (T,)
        Daily simple returns of the first asset.
    names : list of str
        Regime names, calmest first; the last is stress.
    predicted_vol : ndarray of shape (T,)
        The regime model's annualised volatility forecast for the next day.
    year : int
        Days a year returns are annualised over (:func:`~.periods.periods_per_year`).
    stress_weight, cost_bps : float
    vol_window : int
    target_vol : float
        Annual volatility aimed at by both volatility-targeting rules.
    max_leverage : float

    Returns
    -------
    table : DataFrame
        One row per strategy with :func:`performance` and the days in each regime.
    curves : DataFrame
        Growth of 1 for each strategy, indexed by date (from the second day).
    """
    filtered = np.asarray(filtered, dtype=np.float64)
    labels = filtered.argmax(axis=1)
    K = len(names)
    per_regime = np.r_[np.ones(K - 1), float(stress_weight)]
    pv = np.asarray(predicted_vol, dtype=np.float64)
    weights = {
        "regimes": regime_weights(labels, K - 1, stress_weight),
        "regime probabilities": probability_weights(filtered, per_regime),
        "regime volatility targeting": np.clip(target_vol / np.where(pv > 0, pv, np.inf), 0.0, max_leverage),
        "buy and hold": np.ones(len(returns)),
        "volatility targeting": vol_target_weights(returns, vol_window, target_vol, max_weight=max_leverage, year=year),
    }
    rows, curves = [], {}
    days = {f"days_{nm}": int((labels == k).sum()) for k, nm in enumerate(names)}
    for name, w in weights.items():
        net, turn = strategy_returns(w, returns, cost_bps)
        rows.append(
            {"strategy": name, **performance(net, turn, year=year), "mean_weight": float(w[:-1].mean()), **days}
        )
        curves[name] = np.cumprod(1.0 + net)
    return pd.DataFrame(rows), pd.DataFrame(curves, index=dates[1:])


def write_backtest(ctx, cfg, post, data, names):
    """The allocation test on the out-of-sample days (filtered probabilities only); None when there are none."""
    oos = ~post.train
    if not cfg.backtest.enabled or oos.sum() < 60:
        return None
    if cfg.data.levels:
        logger.info("no backtest: the series are levels (data.values: levels), not the prices of an asset")
        return None
    simple, dates = data.prices[data.primary].pct_change(), post.dates[oos]
    returns = simple.reindex(dates).fillna(0.0).to_numpy()
    bt = cfg.backtest
    if bt.vol_target is not None:
        target, why = float(bt.vol_target), "backtest.vol_target"
    else:
        before = simple.loc[: dates[0]].iloc[1:-1]  # the days before the test
        target = float((before.std(ddof=0) if len(before) > 20 else returns.std()) * np.sqrt(post.year))
        why = "the asset's volatility before the test"
    table, curves = run_backtest(
        dates,
        post.filtered[oos],
        returns,
        names,
        predicted_vol=post.predicted_vol[oos],
        stress_weight=bt.stress_weight,
        cost_bps=bt.cost_bps,
        vol_window=bt.vol_window,
        target_vol=target,
        max_leverage=bt.max_leverage,
        year=post.year,
    )
    ctx.write_table("backtest.csv", table)
    check, vol_curves = volatility_forecasts(dates, returns, post.predicted_vol[oos], bt.vol_window, year=post.year)
    rows = table.set_index("strategy")
    regime_rules = [n for n in rows.index if n in REGIME_RULES]
    best = max(regime_rules, key=lambda n: rows.loc[n, "sharpe"])
    summary = {
        "period": [dates[0].strftime("%Y-%m-%d"), dates[-1].strftime("%Y-%m-%d")],
        "days": int(len(dates)),
        "days_per_year": post.year,
        "cost_bps": bt.cost_bps,
        "stress_weight": bt.stress_weight,
        "target_volatility": target,
        "target_volatility_from": why,
        "max_leverage": bt.max_leverage,
        "vol_window": bt.vol_window,
        "strategies": {
            s: {k: v for k, v in r.items() if not k.startswith("days_")} for s, r in rows.to_dict("index").items()
        },
        "best_regime_rule": best,
        "sharpe_at_least_buy_and_hold": bool(rows.loc[best, "sharpe"] >= rows.loc["buy and hold", "sharpe"]),
        "sharpe_at_least_volatility_targeting": bool(
            rows.loc[best, "sharpe"] >= rows.loc["volatility targeting", "sharpe"]
        ),
        "drawdown_below_buy_and_hold": bool(rows.loc[best, "max_drawdown"] > rows.loc["buy and hold", "max_drawdown"]),
        "volatility_forecast": check,
    }
    logger.info(
        "backtest %s to %s: Sharpe %s",
        *summary["period"],
        ", ".join(f"{n} {rows.loc[n, 'sharpe']:.2f}" for n in rows.index),
    )
    return {"summary": summary, "table": table, "curves": curves, "vol_curves": vol_curves}


# -------------------------------------------------------- walk-forward
