"""How often a series is priced, and the config's trading days counted in its own periods.

A series priced on trading days (252 a year), on every calendar day (crypto, 365), weekly (52) or
monthly (12) is modelled as it comes: one return per period, annualised over its periods a year.
The lengths the config gives in trading days that stand for time are counted in a weekly or monthly
series' periods (:func:`in_periods`): the features' windows (``realized_vol:21``, a month, is 4
weeks, or 3 months at the least), the stickiness of a regime (100 pseudo-days of staying are 20.6
weeks) and the walk-forward schedule.  The two lengths that average the series' own returns, the
volatility forecast's half-life and the volatility-targeting window, count its periods as given
(measured in ``benchmarks/bench_regime_periods.py``).  The regime forecasts look a week, a month
and a quarter ahead of a weekly series, a month, a quarter and a year ahead of a monthly one.
Other spacings (every two weeks, quarterly) are refused.
"""

from __future__ import annotations

import logging

import numpy as np

from ...errors import DataError

logger = logging.getLogger(__name__)

TRADING_DAYS = 252
#: rows a year at or above which a daily series is priced every calendar day (crypto), not on trading days
CALENDAR_ROWS = 300
WEEKS, MONTHS = 52, 12
#: median days between dates of a weekly and of a monthly series (a holiday week or a short month moves a few)
WEEKLY_GAPS, MONTHLY_GAPS = (4, 10), (20, 40)
#: the fewest periods a first walk-forward training window counts (as the least a model is fitted on)
MIN_TRAIN = 50
#: the fewest periods a feature's window counts (a month of realised volatility is 3 months, not one return)
MIN_WINDOW = 3

_UNIT = {TRADING_DAYS: "d", 365: "d", WEEKS: "w", MONTHS: "m"}
_WORD = {TRADING_DAYS: "trading days", 365: "days", WEEKS: "weeks", MONTHS: "months"}
_NAME = {TRADING_DAYS: "daily", 365: "daily", WEEKS: "weekly", MONTHS: "monthly"}
#: periods ahead of the regime forecasts: a day, a week and a month of a daily series; a week, a month and a
#: quarter of a weekly one; a month, a quarter and a year of a monthly one
HORIZONS = {"d": (1, 5, 21), "w": (1, 4, 13), "m": (1, 3, 12)}


def gaps(dates):
    """Calendar days between consecutive dates."""
    return np.diff(dates.values).astype("timedelta64[D]").astype(int)


def median_gap(dates):
    """The median number of calendar days between consecutive dates (1 for fewer than two)."""
    days = gaps(dates)
    return float(np.median(days)) if len(days) else 1.0


def periods_per_year(dates):
    """The periods a year a series is priced in, which its returns are annualised over: 52 for weekly and 12 for
    monthly dates, 365 for a daily series priced every calendar day (crypto, at least :data:`CALENDAR_ROWS` rows
    a year), else :data:`TRADING_DAYS`.

    Parameters
    ----------
    dates : pandas.DatetimeIndex
        The series' dates, in order.

    Returns
    -------
    int
    """
    gap = median_gap(dates)
    if WEEKLY_GAPS[0] <= gap <= WEEKLY_GAPS[1]:
        return WEEKS
    if MONTHLY_GAPS[0] <= gap <= MONTHLY_GAPS[1]:
        return MONTHS
    span = (dates[-1] - dates[0]).days / 365.25 if len(dates) > 1 else 0.0
    return 365 if span >= 0.25 and len(dates) / span >= CALENDAR_ROWS else TRADING_DAYS


def check_spacing(dates, source):
    """Refuse a series that is neither daily, weekly nor monthly (every two weeks, quarterly), or that changes
    from one to another for a stretch (:func:`other_stretch`), naming ``source``."""
    gap = median_gap(dates)
    if gap < WEEKLY_GAPS[0] or WEEKLY_GAPS[0] <= gap <= WEEKLY_GAPS[1] or MONTHLY_GAPS[0] <= gap <= MONTHLY_GAPS[1]:
        stretch = other_stretch(dates)
        if stretch is None:
            say_long_gaps(dates, source)
            return
        first, last, kind = stretch
        name = period_name(periods_per_year(dates))
        fix = (
            f"data.start: {last.date()}"
            if first == dates[0]
            else f"data.end: {first.date()}"
            if last == dates[-1]
            else "data.start or data.end"
        )
        raise DataError(
            f"{source}: its dates are {kind} from {first.date()} to {last.date()} and {name} elsewhere, so its "
            f"returns would span different lengths of time; set {fix} to model the {name} prices alone, or give one "
            "frequency's prices"
        )
    raise DataError(
        f"{source}: its dates are a median {gap:g} days apart; regimes models daily, weekly or monthly prices "
        "(its windows, annualised figures and regime lengths count periods of one of these): use the series' "
        "daily, weekly or monthly prices"
    )


#: a stretch of another frequency: at least this many consecutive gaps of its kind, (name, days apart at least,
#: days apart at most) for a series of each frequency; a market closed for a week, or a holiday week missing from
#: a weekly series, makes one or two such gaps, not a stretch
STRETCHES = {
    "d": [(13, "a week or more apart", 5, None)],
    "w": [(10, "three days apart or less", None, 3), (6, "20 days or more apart", 20, None)],
    "m": [(8, "10 days apart or less", None, 10)],
}


def other_stretch(dates):
    """The longest stretch of a daily, weekly or monthly series whose dates are spaced as another frequency's
    (:data:`STRETCHES`: a weekly history before daily prices, daily prices appended to weekly ones), as
    ``(first date, last date, kind)``; None when there is none."""
    days, found = gaps(dates), None
    for least, kind, low, high in STRETCHES[_UNIT.get(periods_per_year(dates), "d")]:
        odd = (days >= (low or 0)) & (days <= (high or days.max(initial=0)))
        edges = np.flatnonzero(np.diff(np.r_[0, odd.astype(np.int8), 0]))
        runs = edges.reshape(-1, 2)  # [start, end) of each run of such gaps
        if len(runs):
            start, end = runs[np.argmax(runs[:, 1] - runs[:, 0])]
            if end - start >= least and (found is None or end - start > found[0]):
                found = (end - start, dates[start], dates[end], kind)
    return None if found is None else found[1:]


#: calendar days between two prices beyond which a daily, weekly or monthly series is said to stop for a while
LONG_GAP = {"d": 31, "w": 92, "m": 185}


def say_long_gaps(dates, source):
    """Warn of the times a series stops for longer than :data:`LONG_GAP` (a month without a daily price: a
    market closed, a suspension, years missing from a file): the return across such a gap is taken as one
    period's, which its regime model reads as one very large move."""
    year = periods_per_year(dates)
    longest, days = LONG_GAP[_UNIT.get(year, "d")], gaps(dates)
    long = np.flatnonzero(days > longest)
    if not long.size:
        return
    i = int(long[np.argmax(days[long])])
    start, end = dates[i].date(), dates[i + 1].date()
    more = f", the longest of {long.size} gaps over {longest} days" if long.size > 1 else ""
    logger.warning(
        "%s: no prices from %s to %s (%d days%s); the return across the gap counts as one %s's: set data.start: "
        "%s or data.end: %s to model one side of it",
        *(source, start, end, days[i], more, period_one(year), end, start),
    )


def applied_period(dates, saved, source):
    """The periods a year of new prices a saved model is applied to, refused unless priced as the run's were
    (``saved``: the run's periods a year; daily for a model saved before weekly and monthly series)."""
    check_spacing(dates, source)
    year = periods_per_year(dates)
    if period_name(year) != period_name(saved):
        raise DataError(
            f"{source}: {period_name(year)} prices; the run's model was fitted on {period_name(saved)} prices, whose "
            f"features and regime lengths count {period_word(saved)}: give it {period_name(saved)} prices, or run "
            "the config on these"
        )
    return year


def period_word(year):
    """How a series' periods are named: ``trading days``, ``days`` (priced every calendar day), ``weeks`` or
    ``months``."""
    return _WORD.get(year, "trading days")


def period_noun(year):
    """A period's plain name, plural: ``days``, ``weeks`` or ``months``."""
    return period_word(year).split()[-1]


def ahead(label, year):
    """A forecast horizon's label as words: ``5d`` -> ``in 5 trading days``, ``1m`` -> ``in 1 month``."""
    return f"in {periods_of(int(label[:-1]), year)}"


def periods_of(n, year, *, more=False):
    """``n`` of a series' periods as words, rounded: ``5 trading days``, ``1 week``, ``0 months``; ``more``:
    ``5 more trading days``."""
    word = period_word(year)
    return f"{n:.0f} {'more ' if more else ''}{word[:-1] if round(n) == 1 else word}"


def period_one(year):
    """A period's plain name, singular: ``day``, ``week`` or ``month``."""
    return period_noun(year)[:-1]


def period_name(year):
    """``daily``, ``weekly`` or ``monthly``."""
    return _NAME.get(year, "daily")


def horizons(year):
    """The regime forecasts' horizons ``[(periods ahead, label)]``, labelled ``5d``, ``4w``, ``3m`` ...
    (:data:`HORIZONS`)."""
    unit = _UNIT.get(year, "d")
    return [(h, f"{h}{unit}") for h in HORIZONS[unit]]


def count_in(days, year, least=1):
    """A length of ``days`` trading days in a weekly or monthly series' periods (at least ``least``); a daily
    series' is ``days``."""
    if year not in (WEEKS, MONTHS):
        return days
    return max(least, int(round(days * year / TRADING_DAYS)))


def count_schedule(cfg, year):
    """The config with ``walk_forward.refit_every`` and ``min_train``, a calendar given in trading days (refit
    each quarter, start after three years), counted in a weekly or monthly series' periods (``min_train`` at
    least :data:`MIN_TRAIN`), and the record ``{key: [trading days, periods]}``."""
    wf = cfg.walk_forward
    walk = wf.model_copy(
        update={"refit_every": count_in(wf.refit_every, year), "min_train": count_in(wf.min_train, year, MIN_TRAIN)}
    )
    counted = {
        "walk_forward.refit_every": [wf.refit_every, walk.refit_every],
        "walk_forward.min_train": [wf.min_train, walk.min_train],
    }
    return cfg.model_copy(update={"walk_forward": walk}), counted


def count_windows(cfg, year):
    """The config with the features' windows (at least :data:`MIN_WINDOW`) and ``model.stickiness``, given in
    trading days, counted in a weekly or monthly series' periods, and the record ``{key: [days, periods]}``
    (features keyed ``features.use realized_vol``; stickiness rounded to a hundredth in the record)."""
    counted, specs = {}, []
    for spec in cfg.features.specs():
        if spec.window is not None:
            window = count_in(spec.window, year, MIN_WINDOW)
            counted[f"features.use {spec.kind}"] = [spec.window, window]
            spec = spec.model_copy(update={"window": window})
        specs.append(spec)
    stickiness = cfg.model.stickiness * year / TRADING_DAYS
    counted["model.stickiness"] = [cfg.model.stickiness, round(stickiness, 2)]
    return cfg.model_copy(
        update={
            "features": cfg.features.model_copy(update={"use": specs}),
            "model": cfg.model.model_copy(update={"stickiness": stickiness}),
        }
    ), counted


def in_periods(cfg, year):
    """The config with its lengths that stand for time, given in trading days, counted in a weekly or monthly
    series' periods (a daily series' config is returned as it is).

    The features' windows and ``model.stickiness`` (:func:`count_windows`) and the walk-forward schedule
    (:func:`count_schedule`) are counted in weeks or months: realised volatility over a month is 4 weeks or 3
    months, a regime is as sticky in time.  ``model.vol_half_life`` and ``backtest.vol_window``, which average the
    series' own returns, count its periods as given.  ``benchmarks/bench_regime_periods.py`` measured the choice:
    features counted as time recover known regimes far better (ARI 0.87 against 0.70 weekly, 0.71 against 0.31
    monthly) at a small cost in the volatility forecast on the series it was chosen on.

    Parameters
    ----------
    cfg : RegimesConfig
    year : int
        :func:`periods_per_year` of the series.

    Returns
    -------
    cfg : RegimesConfig
    counted : dict of str -> [number, number]
        Each length counted: its value in trading days and in the series' periods (the summary's record).
    """
    if year not in (WEEKS, MONTHS):
        return cfg, {}
    cfg, windows = count_windows(cfg, year)
    cfg, schedule = count_schedule(cfg, year)
    counted = {**windows, **schedule}
    logger.info(
        "%s prices: the config's trading days are counted in %s (%d a year): %s; model.vol_half_life and "
        "backtest.vol_window count %s as given",
        period_name(year),
        period_word(year),
        year,
        ", ".join(f"{k} {a:g} -> {b:g}" for k, (a, b) in counted.items()),
        period_word(year),
    )
    return cfg, counted
