"""Market features as pure functions: arrays in, arrays out, keyword-only options.

Every feature at date t uses prices up to t only.  The first values of a
windowed feature are NaN until the window is full.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...core import FeatureScaler
from ...errors import DataError
from .periods import TRADING_DAYS


def moves(values, *, levels=False):
    """The day-to-day moves of a series: log returns of prices (:func:`log_returns`), or changes of levels
    (yields, rates, spreads: ``x_t - x_{t-1}`` in the series' own units); the first value is NaN."""
    if not levels:
        return log_returns(values)
    x = np.asarray(values, dtype=np.float64)
    r = np.full(x.shape, np.nan)
    r[1:] = np.diff(x)
    return r


def log_returns(prices):
    """Daily log returns ``log(p_t / p_{t-1})``; the first value is NaN.

    Parameters
    ----------
    prices : ndarray of shape (T,)

    Returns
    -------
    r : ndarray of shape (T,)
    """
    p = np.asarray(prices, dtype=np.float64)
    r = np.full(p.shape, np.nan)
    r[1:] = np.diff(np.log(p))
    return r


def realized_volatility(returns, *, window=21, annualise=True):
    """Rolling standard deviation of returns over ``window`` days (ddof=1).

    Parameters
    ----------
    returns : ndarray of shape (T,)
    window : int
    annualise : bool
        Multiply by ``sqrt(252)``.

    Returns
    -------
    vol : ndarray of shape (T,)
    """
    v = pd.Series(np.asarray(returns, dtype=np.float64)).rolling(window, min_periods=window).std().to_numpy()
    return v * np.sqrt(TRADING_DAYS) if annualise else v


def drawdown(prices, *, levels=False):
    """Fall from the running maximum, ``p_t / max_{s<=t} p_s - 1`` (0 at new highs); of levels, in their
    units, ``x_t - max_{s<=t} x_s``.

    Parameters
    ----------
    prices : ndarray of shape (T,)
    levels : bool

    Returns
    -------
    dd : ndarray of shape (T,), values <= 0
    """
    p = np.asarray(prices, dtype=np.float64)
    return p - np.maximum.accumulate(p) if levels else p / np.maximum.accumulate(p) - 1.0


def momentum(prices, *, window=63, levels=False):
    """Log price change over ``window`` days, ``log(p_t / p_{t-window})``; of levels, ``x_t - x_{t-window}``.

    Parameters
    ----------
    prices : ndarray of shape (T,)
    window : int
    levels : bool

    Returns
    -------
    m : ndarray of shape (T,)
    """
    lp = np.asarray(prices, dtype=np.float64) if levels else np.log(np.asarray(prices, dtype=np.float64))
    m = np.full(lp.shape, np.nan)
    m[window:] = lp[window:] - lp[:-window]
    return m


def volume_zscore(volume, *, window=63):
    """z-score of log volume against its trailing ``window``-day mean and deviation.

    Parameters
    ----------
    volume : ndarray of shape (T,)
    window : int

    Returns
    -------
    z : ndarray of shape (T,)
    """
    lv = pd.Series(np.log1p(np.asarray(volume, dtype=np.float64)))
    mu = lv.rolling(window, min_periods=window).mean()
    sd = lv.rolling(window, min_periods=window).std()
    z = (lv - mu) / sd.replace(0.0, np.nan)
    return z.to_numpy()


def rolling_correlation(a, b, *, window=63):
    """Correlation of two return series over the last ``window`` days (NaN until the window is full)."""
    return pd.Series(a).rolling(window, min_periods=window).corr(pd.Series(b)).to_numpy()


def feature_name(spec, ticker=None):
    base = spec.kind if spec.window is None else f"{spec.kind}_{spec.window}"
    return base if ticker is None else f"{base}[{ticker}]"


# long: one block per feature kind, in the order features.* lists them
def build_features(data, specs, *, levels=False):
    """Feature table from price data.

    Parameters
    ----------
    data : PriceData
    specs : list of FeatureSpec
    levels : bool
        The series are levels (yields, rates): their moves are changes, not log returns (:func:`moves`).

    Returns
    -------
    features : pandas.DataFrame
        Date-indexed, one column per feature (and ticker, when several);
        rows before every window is full are dropped.
    returns : pandas.Series
        Daily log returns (changes, of levels) of the primary ticker on the same dates.
    """
    cols = {}
    multi = data.prices.shape[1] > 1
    # no return is taken across a day left out for a non-positive price
    broken = data.prices.index.isin(data.breaks)
    valid = ~broken

    def returns_of(t):
        r = moves(data.prices[t].to_numpy(), levels=levels)
        r[broken] = np.nan
        return r

    def on_valid(fn, *arrays, **kw):  # a windowed feature of returns over the days that have one
        out = np.full(len(valid), np.nan)
        out[valid] = fn(*(a[valid] for a in arrays), **kw)
        return out

    lead = returns_of(data.primary)
    for t in data.prices.columns:
        p = data.prices[t].to_numpy()
        r = returns_of(t)
        for s in specs:
            name = feature_name(s, t if multi else None)
            if levels and s.kind == "log_return":  # of a yield or a rate: its change
                name = name.replace("log_return", "change", 1)
            if s.kind == "correlation":  # of this series' returns with the first series'
                if not multi:
                    raise DataError(
                        f"{data.source}: feature correlation needs at least two price series and the data "
                        "has one; add a series (data.tickers, data.arch_dataset or data.price_column)"
                    )
                if t != data.primary:
                    cols[name] = on_valid(rolling_correlation, lead, r, window=s.window)
            elif s.kind == "log_level":
                cols[name] = np.log(p)
            elif s.kind == "log_return":
                cols[name] = r
            elif s.kind == "realized_vol":
                cols[name] = on_valid(realized_volatility, r, window=s.window)
            elif s.kind == "drawdown":
                cols[name] = drawdown(p, levels=levels)
            elif s.kind == "momentum":
                cols[name] = momentum(p, window=s.window, levels=levels)
            elif s.kind == "volume_z":
                if data.volume is None or t not in data.volume:
                    raise DataError(
                        f"{data.source}: feature volume_z needs a volume column, and the data has none; "
                        "remove volume_z from features.use or set data.volume_column"
                    )
                cols[name] = volume_zscore(data.volume[t].to_numpy(), window=s.window)
    F = pd.DataFrame(cols, index=data.prices.index)
    rets = pd.Series(lead, index=data.prices.index, name="log_return")
    F = F.replace([np.inf, -np.inf], np.nan)
    keep = F.notna().all(axis=1).to_numpy() & valid
    if keep.sum() == 0:
        raise DataError(
            f"{data.source}: {len(F)} dates are too few for the feature windows (the longest is "
            f"{max((s.window or 1) for s in specs)} days); give more days of prices than that (or, fitting a new "
            "model, set shorter windows in features.use)"
        )
    first = int(np.argmax(keep))
    if not (keep | broken)[first:].all():
        bad = F.index[first:][~(keep | broken)[first:]][0]
        raise DataError(
            f"{data.source}: a feature is undefined on {bad.date()} (e.g. zero volume spread); check the data there"
        )
    keep[:first] = False
    return F[keep], rets[keep]


def fit_scaler(X, *, names=None):
    """Standardise with the training window's mean and standard deviation; a constant feature is an error.

    Parameters
    ----------
    X : ndarray of shape (T, d)
        Training-window features.
    names : list of str, optional
        For the message.

    Returns
    -------
    scaler : gmm_apps.core.FeatureScaler
    """
    scaler = FeatureScaler.standard(X)
    const = scaler.scale == 0
    if np.any(const):
        i = int(np.flatnonzero(const)[0])
        col = names[i] if names is not None else i
        raise DataError(f"feature {col!r} is constant over the training window; drop it from features.use")
    return scaler
