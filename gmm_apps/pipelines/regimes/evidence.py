"""Whether a series' training days hold regimes at all: a shuffle test of volatility clustering.

A model of K regimes always finds K regimes, even in returns of one constant volatility, where its
21-day realised volatility wanders by chance (its sampling error is about 15% of the volatility, and
overlapping windows make it persist for weeks); a short or quiet history then gets calm and stress days
that are noise. The test asks whether the returns' volatility varies more than the same returns in a
random order, which keep every day's size (fat tails included) and lose any regime: the statistic is the
spread (standard deviation of the logarithm) of the volatility over ``window`` days, the p-value the share
of shuffles that spread as much. On constant volatility it rejects at its level (5% of series at
p <= 0.05); on every one of 27 real series' first ten years p is the smallest possible, and on one year of
days in 17-97% of windows (docs/decisions.md). The window is at least :data:`MIN_TEST_WINDOW` periods: over
fewer returns (a month of weekly or monthly prices) a period's volatility is mostly sampling noise, and the test
missed the regimes of most weekly and monthly real series.
"""

from __future__ import annotations

import logging

import numpy as np

from .periods import MIN_WINDOW, TRADING_DAYS, count_in, period_noun

logger = logging.getLogger("gmm_apps")

__all__ = [
    "SHUFFLES",
    "LEVEL",
    "MIN_TEST_WINDOW",
    "NO_EVIDENCE",
    "no_evidence",
    "volatility_spread",
    "clustering_test",
    "regime_evidence",
]

#: shuffles of the days; the smallest p-value is 1 / (SHUFFLES + 1)
SHUFFLES = 199
#: p-values above this say the regimes cannot be told from chance
LEVEL = 0.05
#: the fewest periods the test's volatility is taken over (13: a quarter of weekly prices); over a month of
#: weekly or monthly prices (4 or 3 returns) the test called 38% and 32% of real series' five- and ten-year
#: windows regimes, over 13 periods 79% and 61% (docs/decisions.md)
MIN_TEST_WINDOW = 13
#: what the log, the headline and the report say then, filled from the test's result and its ``series``
NO_EVIDENCE = (
    "the volatility of {series} on the {days} training {unit} varies no more than in the same {unit} shuffled "
    "(p = {p_value:.2f}), so the regimes may be noise"
)


def volatility_spread(returns, window):
    """The standard deviation of the log of the mean squared (demeaned) return over each ``window`` days.

    Parameters
    ----------
    returns : ndarray of shape (n,)
    window : int

    Returns
    -------
    float
        NaN when fewer than two windows have a volatility above zero.
    """
    r = np.asarray(returns, dtype=np.float64)
    r = r - r.mean()
    c = np.concatenate([[0.0], np.cumsum(r * r)])
    var = (c[window:] - c[:-window]) / window
    var = var[var > 0]
    return float(np.std(np.log(var))) if len(var) > 1 else float("nan")


def clustering_test(returns, *, window=21, shuffles=SHUFFLES, random_state=0):
    """The shuffle test of volatility clustering on one series of returns.

    Parameters
    ----------
    returns : array-like of shape (n,)
        Daily returns (or changes); missing values are left out.
    window : int, default=21
    shuffles : int, default=SHUFFLES
    random_state : int, default=0

    Returns
    -------
    dict
        ``p_value``, ``spread`` (observed), ``spread_shuffled`` (median over the shuffles), ``days``,
        ``window``, ``shuffles`` and ``supported`` (``p_value <= LEVEL``); ``p_value`` None (and
        ``supported`` None) when the days are too few for two windows.
    """
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    out = {"days": int(len(r)), "window": int(window), "shuffles": int(shuffles)}
    observed = volatility_spread(r, window) if len(r) > window + 1 else float("nan")
    if not np.isfinite(observed):
        return {**out, "p_value": None, "spread": None, "spread_shuffled": None, "supported": None}
    rng = np.random.default_rng(random_state)
    shuffled = np.array([volatility_spread(rng.permutation(r), window) for _ in range(shuffles)])
    p = (1 + int(np.sum(shuffled >= observed))) / (shuffles + 1)
    return {
        **out,
        "p_value": p,
        "spread": observed,
        "spread_shuffled": float(np.nanmedian(shuffled)),
        "supported": bool(p <= LEVEL),
    }


def no_evidence(found):
    """:data:`NO_EVIDENCE` filled from :func:`regime_evidence`'s result (a run's from before weekly and monthly
    series counts days)."""
    return NO_EVIDENCE.format(**{"unit": "days", **found})


def regime_evidence(cfg, returns, series, source, *, year=TRADING_DAYS):
    """Whether the training days' volatility varies beyond chance (:func:`clustering_test` on the
    returns of the series that orders the regimes, over the realised-volatility feature's window, else a
    month's periods, and at least :data:`MIN_TEST_WINDOW` periods), said in the log when it does not; ``year``:
    the series' periods a year (:func:`~.periods.periods_per_year`), which name its periods."""
    month = count_in(21, year, MIN_WINDOW)
    window = next((s.window for s in cfg.features.specs() if s.kind == "realized_vol"), month)
    window = max(window, MIN_TEST_WINDOW)
    found = {"series": series, **clustering_test(returns, window=window, random_state=cfg.model.random_state)}
    found["unit"] = period_noun(year)
    if found["supported"] is False:
        logger.warning("%s: %s; a longer history tells regimes apart better", source, no_evidence(found))
    return found
