"""Regime states on arrays: names, forward products, state moments and volatilities, ordering, alignment,
forecasts and the outlook the headline says, the dated labels' table (regimes.csv), and the statistics of
labelled days (run lengths, drawdowns, per-regime figures, transitions).

Functions of probabilities, returns and a fitted model's parameters; nothing
here fits a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...core import GaussianMixture, bhattacharyya_distances
from .periods import TRADING_DAYS, ahead, horizons, period_noun, periods_of

NAMES = {
    1: ["all"],
    2: ["calm", "stress"],
    3: ["calm", "normal", "stress"],
    4: ["calm", "normal", "volatile", "stress"],
    5: ["calm", "quiet", "normal", "volatile", "stress"],
    6: ["calm", "quiet", "normal", "nervous", "volatile", "stress"],
}


def regime_names(k):
    """Readable names for K regimes ordered from calmest to most volatile."""
    return list(NAMES.get(k, [f"regime {i}" for i in range(k)]))


def prefix_products(M):
    """Running products ``M[0] @ M[1] @ ... @ M[t]`` of a stack of square matrices, each rescaled.

    A log-depth scan (Hillis-Steele): ``ceil(log2 T)`` batched matrix products
    instead of ``T`` sequential ones, which is what makes the forward and
    backward passes of a long series fast in numpy.  Each product is divided
    by its largest entry to stay in range; the logs of those divisors are
    returned so that the true product is ``P[t] * exp(logscale[t])``.

    Parameters
    ----------
    M : ndarray of shape (T, K, K)
        Non-negative matrices.

    Returns
    -------
    P : ndarray of shape (T, K, K)
    logscale : ndarray of shape (T,)
    """
    P = np.array(M, dtype=np.float64)
    T = len(P)

    def rescale(Z):
        s = Z.max(axis=(1, 2))
        s = np.where(s > 0, s, 1.0)
        Z /= s[:, None, None]
        return np.log(s)

    logscale = rescale(P)
    shift = 1
    while shift < T:
        new = np.matmul(P[:-shift], P[shift:])
        ls = logscale[:-shift] + logscale[shift:] + rescale(new)
        P[shift:] = new
        logscale[shift:] = ls
        shift *= 2
    return P, logscale


def state_return_moments(probs, returns):
    """Mean and variance of daily returns within each state (probability-weighted).

    Parameters
    ----------
    probs : ndarray of shape (T, K)
    returns : ndarray of shape (T,)

    Returns
    -------
    mean, var : ndarrays of shape (K,)
    """
    r = np.asarray(returns, dtype=np.float64)
    w = probs / np.maximum(probs.sum(axis=0, keepdims=True), 1e-300)
    mu = w.T @ r
    var = (w * (r[:, None] - mu[None, :]) ** 2).sum(axis=0)
    return mu, var


#: half-life in days of each regime's running return variance in the volatility forecast
#: (:func:`running_state_variances`; chosen on exchange rates outside the benchmark, docs/decisions.md)
VOL_HALF_LIFE = 21


def running_state_variances(filtered, returns, mean, start, *, half_life=VOL_HALF_LIFE):
    """Each regime's return variance as of each day's close, following the regime's recent days.

    A regime's variance moves towards the day's squared deviation from the regime's mean at a rate
    proportional to the probability that the day was in that regime:
    ``v_k(t) = v_k(t-1) + (1 - lam) * p_k(t) * ((r_t - mean_k)**2 - v_k(t-1))`` with
    ``lam = 0.5 ** (1 / half_life)``, starting from ``start``.  Only days up to ``t`` enter
    ``v(t)``; a regime the market is not in keeps its last variance.

    Parameters
    ----------
    filtered : ndarray of shape (T, K)
        Each day's regime probabilities from data up to that day.
    returns : ndarray of shape (T,)
    mean, start : ndarrays of shape (K,)
        Each regime's mean return, and its variances before the first day.
    half_life : float

    Returns
    -------
    var : ndarray of shape (T, K)
    """
    f = np.asarray(filtered, dtype=np.float64)
    rate = (1.0 - 0.5 ** (1.0 / half_life)) * f
    dev2 = (np.asarray(returns, dtype=np.float64)[:, None] - np.asarray(mean, dtype=np.float64)[None, :]) ** 2
    out = np.empty_like(f)
    v = np.array(start, dtype=np.float64)
    for t in range(len(f)):  # a recursion over days: 10,000 days take about 20 ms
        v += rate[t] * (dev2[t] - v)
        out[t] = v
    return out


def state_volatility(probs, returns, *, year=TRADING_DAYS):
    """Annualised volatility of daily returns within each state (probability-weighted), shape (K,)."""
    return np.sqrt(state_return_moments(probs, returns)[1] * year)


def order_by_volatility(model, X, returns):
    """Sort states in place from the lowest return volatility to the highest, and keep each state's return
    moments on the model (:meth:`RegimeModel.predicted_volatility`)."""
    probs = model.fit_smoothed
    if probs is None or probs.shape != (len(X), model.n_states) or not np.all(np.isfinite(probs)):
        probs = model.smooth(X)
    model.fit_smoothed = None
    mu, var = state_return_moments(probs, returns)
    order = np.argsort(var, kind="stable")
    model.permute(order)
    model.return_moments = (mu[order], var[order])
    return order


def raw_state_moments(model, standardiser):
    """Each state's emission mean (K, d) and covariance (K, d, d) in raw feature units, undoing
    ``standardiser`` (the scaler the model was fitted under)."""
    mu, cov = model.state_moments()
    scale = np.asarray(standardiser.scale, dtype=float)
    return standardiser.inverse_transform(mu), cov * np.outer(scale, scale)


def align_states(model, reference, standardiser, ref_standardiser):
    """Permute ``model``'s states to best match ``reference``'s (walk-forward refits).

    States are compared in raw feature units (each model has its own
    standardisation) by the Bhattacharyya distance of their moment-matched
    Gaussians, and matched one-to-one (Hungarian algorithm).

    Returns
    -------
    order : ndarray of shape (K,)
    """
    from scipy.optimize import linear_sum_assignment  # start-up time: this part of SciPy loads only when used

    def raw(m, s):
        mu, cov = raw_state_moments(m, s)
        K = len(mu)
        return GaussianMixture.from_parameters(np.full(K, 1.0 / K), mu, cov, covariance_type="full")

    D = bhattacharyya_distances(raw(reference, ref_standardiser), raw(model, standardiser))
    rows, cols = linear_sum_assignment(D)
    order = np.asarray([c for _, c in sorted(zip(rows, cols))], dtype=np.int64)
    model.permute(order)
    return order


def regime_forecasts(filtered, transmat, *, year=TRADING_DAYS):
    """Probability of each regime some periods ahead (:func:`~.periods.horizons`: 1, 5 and 21 trading days of a
    daily series, 1, 4 and 13 weeks of a weekly one ...), from each day's filtered probabilities.

    The hidden Markov chain moves the day's regime distribution one step per
    period: ``p_{t+h} = p_t A^h``.  Uses only data up to each day.

    Parameters
    ----------
    filtered : ndarray of shape (T, K)
    transmat : ndarray of shape (K, K)
    year : int
        Periods a year of the series (:func:`~.periods.periods_per_year`).

    Returns
    -------
    forecasts : dict of str -> ndarray of shape (T, K)
        By the horizon's label (``5d``, ``4w``, ``3m`` ...).
    """
    return {label: filtered @ np.linalg.matrix_power(transmat, h) for h, label in horizons(year)}


def expected_remaining_days(transmat, regime):
    """Expected further trading days in ``regime`` once in it: ``A_kk / (1 - A_kk)`` (stays are geometric)."""
    stay = float(transmat[regime, regime])
    return stay / (1.0 - stay) if stay < 1 else float("inf")


def forecast_summary(forecasts, transmat, regime, names):
    """The last day's outlook: each regime's probability at the forecasts' horizons (:func:`regime_forecasts`),
    and the expected further periods in today's regime."""
    return {
        "probabilities": {h: {nm: float(p[-1, k]) for k, nm in enumerate(names)} for h, p in forecasts.items()},
        "expected_remaining_days": expected_remaining_days(transmat, regime),
    }


def headline(date, name, probability, outlook, *, year=TRADING_DAYS):
    label = horizons(year)[-1][1]
    far = outlook["probabilities"][label]
    days = outlook["expected_remaining_days"]
    return (
        f"{date}: {name} regime (filtered probability {probability:.2f}); expected to last about "
        f"{periods_of(days, year, more=True)}; {ahead(label, year)} "
        + ", ".join(f"{nm} {p:.2f}" for nm, p in sorted(far.items(), key=lambda kv: -kv[1]))
    )


def figures_sentence(figs, *, year=TRADING_DAYS):
    """'4.5 switches a year, regimes lasting 56 days on average (smoothed, in sample, 1999-01-04 to 2012-12-31)'
    (weeks or months of a weekly or monthly series)."""
    return (
        f"{figs['switches_per_year']:.1f} switches a year, regimes lasting {figs['mean_regime_length_days']:.0f} "
        f"{period_noun(year)} "
        f"on average ({figs['labels']}, {figs['period'][0]} to {figs['period'][1]})"
    )


def regimes_table(
    dates, labels, names, filtered, smoothed=None, *, in_sample=None, fitted_to=None, forecasts=None, vol_forecast=None
):
    """``regimes.csv``: date, regime, name, filtered (and smoothed) probabilities, the forecasts
    (``p_<h>_<name>``: probability of the regime ``h`` ahead, as ``5d``, ``4w`` or ``3m``) and ``vol_forecast`` (the
    annualised volatility the model forecasts for the next day's return); written by run and apply alike."""
    out = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "regime": labels, "name": [names[i] for i in labels]})
    for k, nm in enumerate(names):
        out[f"p_filtered_{nm}"] = filtered[:, k]
    if smoothed is not None:
        for k, nm in enumerate(names):
            out[f"p_smoothed_{nm}"] = smoothed[:, k]
    for h, p in (forecasts or {}).items():
        for k, nm in enumerate(names):
            out[f"p_{h}_{nm}"] = p[:, k]
    if vol_forecast is not None:
        out["vol_forecast"] = vol_forecast
    if in_sample is not None:
        out["in_sample"] = in_sample
    if fitted_to is not None:
        out["model_fitted_on_data_to"] = fitted_to
    return out


# ------------------------------------------------------------------ statistics of labelled days
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


def regime_statistics(labels, returns, names, *, year=TRADING_DAYS, levels=False):
    """Per-regime table: annual return (compounded, as the backtest's), volatility and Sharpe ratio of the daily
    log returns, max drawdown, time share, durations; of
    levels (yields, rates), the annualised change and its volatility in the series' units, no Sharpe ratio
    or drawdown (a level is no investment).

    Parameters
    ----------
    labels : ndarray of shape (T,)
    returns : ndarray of shape (T,)
        Daily log returns.
    names : list of str
    year : int
        Days a year returns are annualised over (:func:`~.periods.periods_per_year`).
    levels : bool
        ``returns`` are daily changes of levels.

    Returns
    -------
    stats : pandas.DataFrame
    """
    lengths, run_lab = run_lengths(labels)
    rows = []
    for k, name in enumerate(names):
        r = returns[labels == k]
        n = len(r)
        ann_ret = float(r.mean() * year) if n else float("nan")  # of log returns: the Sharpe ratio's numerator
        ann_vol = float(r.std(ddof=1) * np.sqrt(year)) if n > 1 else float("nan")
        runs = lengths[run_lab == k]
        rows.append(
            {
                "regime": k,
                "name": name,
                "days": n,
                "share_of_time": n / max(1, len(labels)),
                # compounded, as the backtest's: a year of such days grows 1 to 1 + this (never below -100%)
                "annual_return": ann_ret if levels else float(np.expm1(ann_ret)),
                "annual_volatility": ann_vol,
                "sharpe": ann_ret / ann_vol if n > 1 and ann_vol > 0 else float("nan"),
                "max_drawdown": max_drawdown(r),
                "episodes": int(len(runs)),
                "mean_duration_days": float(runs.mean()) if len(runs) else float("nan"),
            }
        )
    stats = pd.DataFrame(rows)
    if levels:
        stats = stats.drop(columns=["sharpe", "max_drawdown"]).rename(
            columns={"annual_return": "annual_change", "annual_volatility": "annual_change_volatility"}
        )
    return stats


def regime_figures(labels, dates, names, kind, *, year=TRADING_DAYS):
    """How often regimes switch and how long they last, on the days given, named for the labels used.

    Parameters
    ----------
    labels : ndarray of shape (T,)
    dates : pandas.DatetimeIndex
    names : list of str
    kind : str
        What the labels are ('smoothed, in sample' or 'filtered, out of sample').
    year : int
        Days a year (:func:`~.periods.periods_per_year`), for the switches a year.

    Returns
    -------
    figures : dict or None
        None when there are no days.
    """
    if len(labels) == 0:
        return None
    lengths, _ = run_lengths(labels)
    return {
        "labels": kind,
        "period": [dates[0].strftime("%Y-%m-%d"), dates[-1].strftime("%Y-%m-%d")],
        "days": int(len(labels)),
        "switches_per_year": float((len(lengths) - 1) / (len(labels) / year)),
        "mean_regime_length_days": float(lengths.mean()),
        "days_per_regime": {nm: int((labels == k).sum()) for k, nm in enumerate(names)},
    }


def transition_table(model, names):
    A = model.transmat
    df = pd.DataFrame(A, index=names, columns=names)
    stay = np.diag(A)
    with np.errstate(divide="ignore"):
        df["expected_duration_days"] = np.where(stay < 1, 1.0 / (1.0 - stay), np.inf)
    df.index.name = "from \\ to"
    return df
