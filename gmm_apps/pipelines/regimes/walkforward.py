"""Which days train which model: the split at ``split.holdout_start`` (``auto``: a date of its own), and
walk-forward labelling, each day labelled by the model in force that day, refitted as the window grows."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ...errors import DataError
from .features import fit_scaler
from .fitting import fit_with_config, refit_regime_model
from .periods import TRADING_DAYS, horizons, period_noun, period_word, periods_per_year
from .states import align_states, regime_forecasts

logger = logging.getLogger("gmm_apps.regimes")

#: walk-forward with warm starts: a refit starts afresh (restarts, the run's seed) once the training window has
#: grown by this factor since the last fresh fit ...
FRESH_GROWTH = 1.5
#: ... or when the days since the last refit were predicted worse, per day, than the model's own training days
#: by more than this many nats (a market the model in force has not seen)
FRESH_SURPRISE = 2.0


#: split.holdout_start: auto leaves this share of the days to fit on (the rest out of sample) ...
AUTO_TRAIN_SHARE = 0.7
#: ... moved to the nearest first of January when that leaves a share of the days within these bounds to fit on
AUTO_YEAR_BOUNDS = (0.6, 0.8)


def holdout_start(dates, value, source):
    """The first out-of-sample date: ``split.holdout_start`` as set, or for ``'auto'`` the first of January
    nearest the day :data:`AUTO_TRAIN_SHARE` of the way through ``dates`` (a calendar year's figures out of
    sample), or that day itself when no such January leaves a share of the days within :data:`AUTO_YEAR_BOUNDS`
    to fit on (a short history); logged."""
    if value != "auto":
        return value
    day = dates[min(int(AUTO_TRAIN_SHARE * len(dates)), len(dates) - 1)]
    januaries = [pd.Timestamp(day.year + k, 1, 1) for k in (0, 1)]
    nearest = min(januaries, key=lambda j: abs(j - day))
    share = np.searchsorted(dates, nearest) / len(dates)
    start = (nearest if AUTO_YEAR_BOUNDS[0] <= share <= AUTO_YEAR_BOUNDS[1] else day).date()
    logger.info(
        "%s: split.holdout_start: auto: %s (%.0f%% of the %s before it to fit on); set a date to choose another",
        source,
        start,
        100 * np.searchsorted(dates, pd.Timestamp(start)) / len(dates),
        period_noun(periods_per_year(dates)),
    )
    return start


def training_days(dates, holdout_start, source):
    """Mask of the days the model is fitted on (before ``split.holdout_start``); at least 50."""
    train = np.ones(len(dates), dtype=bool) if holdout_start is None else (dates < pd.Timestamp(holdout_start))
    n, unit = int(train.sum()), period_noun(periods_per_year(dates))
    if n < 50 and holdout_start is None:
        raise DataError(
            f"{source}: only {n} {unit} with every feature defined (data {dates[0].date()} to "
            f"{dates[-1].date()}, after the longest feature window); at least 50 are needed: use a "
            "longer price history or shorter feature windows"
        )
    if n < 50:
        raise DataError(
            f"{source}: only {n} feature {unit} before split.holdout_start={holdout_start} "
            f"(data {dates[0].date()} to {dates[-1].date()}); move split.holdout_start later or set it to null"
        )
    logger.info(
        "%s: %d %s (%s to %s), %d for training",
        source,
        len(dates),
        period_word(periods_per_year(dates)),
        dates[0].date(),
        dates[-1].date(),
        n,
    )
    return train


def walk_start(dates, wfc, holdout_start, source):
    """Index of the first walk-forward day: after ``walk_forward.min_train`` days, and not before
    ``split.holdout_start`` when it is set; the days before it train the first model."""
    T, t0, unit = len(dates), wfc.min_train, period_word(periods_per_year(dates))
    if holdout_start is not None:
        t0 = max(t0, int(np.searchsorted(dates, pd.Timestamp(holdout_start))))
    if t0 >= T:
        raise DataError(
            f"{source}: walk-forward needs {unit} to label after the first training window: "
            f"walk_forward.min_train={wfc.min_train} ({unit}"
            + ("" if "days" in unit else ", the config's trading days counted in them")
            + ")"
            + (f" and split.holdout_start={holdout_start}" if holdout_start is not None else "")
            + f" leave none of the {T} feature {unit} ({dates[0].date()} to {dates[-1].date()}); "
            "lower min_train or move split.holdout_start earlier"
        )
    logger.info(
        "%s: %d %s (%s to %s); walk-forward from %s, the first model trained on the %d %s before",
        source,
        T,
        unit,
        dates[0].date(),
        dates[-1].date(),
        dates[t0].date(),
        t0,
        unit,
    )
    return t0


# long: one loop over the refit dates carrying the model in force, its scaler and the fresh-fit bookkeeping
def walk_forward(cfg, F, r, model, w0, ctx, year=TRADING_DAYS):
    """Label days ``w0`` onwards, each with the model in force that day, refitted every ``refit_every`` days.

    ``model`` (fitted on the first ``w0`` days, standardised by its ``scaler``)
    labels the first stretch; each refit covers every day before it, with
    its own standardisation, and continues from the model in force (kind
    'hmm' with ``walk_forward.warm_start``: :func:`refit_regime_model`),
    except that it is fitted afresh (restarts, the run's seed) when the
    window has grown by :data:`FRESH_GROWTH` since the last fresh fit or the
    days since the last refit surprised the model in force
    (:data:`FRESH_SURPRISE`); every refit is fresh without warm starts.
    States are matched to the previous model's.  ``year``: the days a year the volatility forecast is
    annualised over (:func:`~.periods.periods_per_year`).
    """
    wfc, m = cfg.walk_forward, cfg.model
    T, K = len(F), model.n_states
    filtered = np.full((T, K), np.nan)
    forecasts = {label: np.full((T, K), np.nan) for _, label in horizons(year)}
    log_pred = np.full(T, np.nan)
    vol = np.full(T, np.nan)
    fitted_to = np.empty(T, dtype=object)
    refits = []
    starts = list(range(w0, T, wfc.refit_every))
    last_fresh, lp, prev, state_var = w0, None, w0, None
    for i, t0 in enumerate(ctx.progress(starts, desc="walk-forward refits")):
        fresh = True
        if i:
            sc = fit_scaler(F.values[:t0], names=list(F.columns))
            Xtr = sc.transform(F.values[:t0])
            # how much worse the model in force predicted the days since its fit than the days it was fitted on
            surprise = float(lp[prev:t0].mean() - lp[:prev].mean())
            fresh = (
                not (m.kind == "hmm" and wfc.warm_start)
                or t0 >= FRESH_GROWTH * last_fresh
                or surprise < -FRESH_SURPRISE
            )
            if fresh:
                new = fit_with_config(cfg.model, Xtr, r[:t0], K, model.covariance_type, m.random_state)
                last_fresh = t0
            else:
                new = refit_regime_model(
                    model,
                    Xtr,
                    r[:t0],
                    previous_scaler=model.scaler,
                    scaler=sc,
                    stickiness=m.stickiness,
                    hmm_iter=m.hmm_iter,
                    reg_covar=m.reg_covar,
                )
            align_states(new, model, sc, model.scaler)
            new.scaler = sc
            model = new
        end = min(T, t0 + wfc.refit_every)
        f, lp = model.filter(model.scaler.transform(F.values[:end]))
        prev = t0
        sl = slice(t0, end)
        filtered[sl] = f[sl]
        for h, p in regime_forecasts(f[sl], model.transmat, year=year).items():  # the model in force that day
            forecasts[h][sl] = p
        log_pred[sl] = lp[sl]
        vol[sl], state_var = model.predicted_volatility(
            f[sl], r[sl], state_var=state_var, half_life=m.vol_half_life, year=year
        )
        fitted_to[sl] = F.index[t0 - 1].strftime("%Y-%m-%d")
        refits.append(
            {
                "trained_on": [F.index[0].strftime("%Y-%m-%d"), F.index[t0 - 1].strftime("%Y-%m-%d")],
                "trained_days": t0,
                "labels": [F.index[t0].strftime("%Y-%m-%d"), F.index[end - 1].strftime("%Y-%m-%d")],
                "start": "fresh" if fresh else "warm",
                "iterations": model.n_iter,
            }
        )
    logger.info(
        "walk-forward: %d models (%d fitted afresh); the first trained on %s to %s, the last on %s to %s "
        "(expanding window, a refit every %d %s); labels %s to %s",
        len(refits),
        sum(r["start"] == "fresh" for r in refits),
        *refits[0]["trained_on"],
        *refits[-1]["trained_on"],
        wfc.refit_every,
        period_word(year),
        refits[0]["labels"][0],
        refits[-1]["labels"][1],
    )
    # dates before the first training window ends get no label: any label
    # there would use later data
    return (
        filtered[w0:],
        log_pred[w0:],
        fitted_to[w0:],
        model,
        {h: p[w0:] for h, p in forecasts.items()},
        refits,
        vol[w0:],
    )
