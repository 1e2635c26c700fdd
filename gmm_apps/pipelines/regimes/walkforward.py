"""Walk-forward labelling: each day labelled by the model in force that day, refitted as the window grows."""

from __future__ import annotations

import logging

import numpy as np

from .features import TRADING_DAYS, fit_scaler
from .model import fit_with_config, refit_regime_model
from .states import FORECAST_HORIZONS, align_states, regime_forecasts

logger = logging.getLogger("gmm_apps.regimes")

#: walk-forward with warm starts: a refit starts afresh (restarts, the run's seed) once the training window has
#: grown by this factor since the last fresh fit ...
FRESH_GROWTH = 1.5
#: ... or when the days since the last refit were predicted worse, per day, than the model's own training days
#: by more than this many nats (a market the model in force has not seen)
FRESH_SURPRISE = 2.0


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
    annualised over (:func:`~.features.days_per_year`).
    """
    wfc, m = cfg.walk_forward, cfg.model
    T, K = len(F), model.n_states
    filtered = np.full((T, K), np.nan)
    forecasts = {h: np.full((T, K), np.nan) for h in FORECAST_HORIZONS}
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
        for h, p in regime_forecasts(f[sl], model.transmat).items():  # the model in force that day
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
        "(expanding window, a refit every %d days); labels %s to %s",
        len(refits),
        sum(r["start"] == "fresh" for r in refits),
        *refits[0]["trained_on"],
        *refits[-1]["trained_on"],
        wfc.refit_every,
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
