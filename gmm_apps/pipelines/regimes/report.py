"""The regimes report: price shaded by regime, probabilities, per-regime table, transitions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...report import (
    PALETTE,
    Report,
    add_model_evaluation,
    figure,
    model_evaluation,
    plain_log_axis,
    plot_confidence_histogram,
    plot_criterion_curve,
    plot_ellipses,
    projection_2d,
)
from .evidence import no_evidence
from .periods import TRADING_DAYS, ahead, period_name, period_noun, period_one, period_word, periods_of

REGIME_COLOURS = {
    "calm": "#55a868",
    "quiet": "#8cc084",
    "normal": "#4c72b0",
    "nervous": "#ccb974",
    "volatile": "#dd8452",
    "stress": "#c44e52",
}


def colours(names):
    return [REGIME_COLOURS.get(n, PALETTE[i % 10]) for i, n in enumerate(names)]


def _spans(labels):
    change = np.flatnonzero(np.diff(labels) != 0) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, len(labels)]
    return zip(starts, ends, labels[starts])


def plot_price_regimes(dates, prices, labels, names, *, ticker="price", holdout_start=None, levels=False):
    """Price on a log scale (a level, such as a yield, on its own scale) with the background shaded by regime."""
    fig = figure(11, 4.2)
    ax = fig.add_subplot()
    cols = colours(names)
    d = dates.to_numpy()
    for s, e, k in _spans(labels):
        ax.axvspan(d[s], d[min(e, len(d) - 1)], color=cols[k], alpha=0.25, lw=0)
    ax.plot(d, prices, color="k", lw=0.8)
    if not levels:
        plain_log_axis(ax)
    ax.set_ylabel(ticker if levels else f"{ticker} (log scale)")
    if holdout_start is not None:
        ax.axvline(pd.Timestamp(holdout_start), color="k", ls="--", lw=1)
        ax.text(pd.Timestamp(holdout_start), ax.get_ylim()[1], " out of sample →", va="top", fontsize=8)
    from matplotlib.patches import Patch  # start-up time: matplotlib loads only when plotting

    ax.legend(handles=[Patch(color=c, alpha=0.4, label=n) for c, n in zip(cols, names)], loc="upper left", fontsize=8)
    ax.set_title(f"{'Level' if levels else 'Price'} shaded by regime")
    return fig


def plot_stacked_probabilities(dates, probs, names, *, title):
    fig = figure(11, 3.0)
    ax = fig.add_subplot()
    ax.stackplot(dates.to_numpy(), probs.T, colors=colours(names), labels=names, alpha=0.85, lw=0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, ncol=len(names))
    return fig


def plot_transition_matrix(trans, names):
    A = trans[names].to_numpy()
    fig = figure(4.6, 3.8)
    ax = fig.add_subplot()
    im = ax.imshow(A, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j, i, f"{A[i, j]:.3f}", ha="center", va="center", color="white" if A[i, j] > 0.5 else "k", fontsize=9
            )
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title("Daily transition probabilities")
    return fig


def plot_equity(curves):
    """Growth of 1 for each strategy of the backtest, log scale."""
    fig = figure(11, 3.6)
    ax = fig.add_subplot()
    for i, (name, c) in enumerate(curves.items()):
        ax.plot(
            curves.index.to_numpy(), c.to_numpy(), lw=1.2 if name == "regimes" else 0.9, color=PALETTE[i], label=name
        )
    plain_log_axis(ax)
    ax.set_ylabel("growth of 1 (log scale)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Backtest: equity curves after costs")
    return fig


def plot_volatility(curves, one="day"):
    """The regime model's volatility forecast, the trailing peer's, and what came next (hindsight); ``one``: the
    series' period (``day``, ``week``, ``month``)."""
    fig = figure(11, 3.2)
    ax = fig.add_subplot()
    x = curves.index.to_numpy()
    for i, name in enumerate(curves.columns):
        hindsight = "hindsight" in name
        ax.plot(
            x,
            100 * curves[name].to_numpy(),
            lw=0.8 if hindsight else 1.0,
            color="0.6" if hindsight else PALETTE[i],
            ls="--" if hindsight else "-",
            label=name,
        )
    ax.set_ylabel("annualised volatility (%)")
    ax.legend(fontsize=8, loc="upper left")
    when = "Tomorrow's" if one == "day" else f"Next {one}'s"
    ax.set_title(f"{when} volatility: the regime model's forecast and the trailing peer's")
    return fig


def add_volatility_check(rep, ctx, backtest, plots):
    """How the forecast behind regime volatility targeting scored against the trailing one, on the test days."""
    v, year = backtest["summary"]["volatility_forecast"], backtest["summary"].get("days_per_year")
    rep.text(
        f"The forecast behind regime volatility targeting (regimes.csv: vol_forecast), scored on the same {period_noun(year)} "
        f"against the next {period_one(year)}'s squared return by QLIKE (lower is better): regime model {v['qlike_regime_model']:.3f}, "
        f"trailing realised volatility {v['qlike_trailing']:.3f}; the {v['better']} forecast was the better one here."
    )
    if plots:
        rep.image(ctx.save_figure(plot_volatility(backtest["vol_curves"], period_one(year)), "volatility_forecast.png"))


def add_backtest(rep, ctx, backtest, plots):
    s = backtest["summary"]
    unit = period_noun(s.get("days_per_year"))
    one, last = (
        period_one(s.get("days_per_year")),
        f"{s['vol_window']} {unit}" if "vol_window" in s else unit,
    )  # (a run before it was kept)
    rep.section("Backtest: acting on the regimes")
    rep.text(
        f"From {s['period'][0]} to {s['period'][1]} ({s['days']:,} {unit}, out of sample); each {one}'s weight is "
        f"decided at its close from the filtered probabilities and held the next {one}; costs {s['cost_bps']:g} bps "
        f"per unit of turnover. The regime rules: regimes (fully invested, {100 * s['stress_weight']:.0f}% while "
        f"the label is stress), regime probabilities (the same weights averaged under the {one}'s probabilities) "
        "and regime volatility targeting (the target over the model's forecast of tomorrow's volatility). "
        f"Both volatility-targeting rules aim at {100 * s['target_volatility']:.1f}% a year "
        f"({s['target_volatility_from']}) with a weight of at most {s['max_leverage']:g}; the trailing one uses "
        f"the realised volatility of the last {last} and no regimes."
    )
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    show = backtest["table"].rename(columns=lambda c: c.replace("_", " ").replace("days ", f"{unit} "))
    rep.table(
        show,
        formats={
            "annual return": pct,
            "annual volatility": pct,
            "max drawdown": pct,
            "sharpe": lambda v: f"{v:.2f}",
            "turnover per year": lambda v: f"{v:.1f}",
            "mean weight": lambda v: f"{v:.2f}",
        },
    )
    best = s["best_regime_rule"]
    verdict = []
    if not s["sharpe_at_least_buy_and_hold"]:
        verdict.append(f"the best regime rule ({best}) has a lower Sharpe ratio than buy-and-hold")
    if not s["sharpe_at_least_volatility_targeting"]:
        verdict.append(
            f"the best regime rule ({best}) does not beat trailing volatility targeting, which needs no regimes"
        )
    if not s["drawdown_below_buy_and_hold"]:
        verdict.append("its maximum drawdown is not below buy-and-hold's")
    rep.text(
        ("Plainly: " + "; ".join(verdict) + ".")
        if verdict
        else f"The best regime rule ({best}) has a Sharpe ratio at least that of buy-and-hold and of trailing "
        "volatility targeting here, with a smaller maximum drawdown than buy-and-hold.",
        cls="note",
    )
    if plots:
        rep.image(ctx.save_figure(plot_equity(backtest["curves"]), "backtest.png"))
    add_volatility_check(rep, ctx, backtest, plots)


def add_figures(rep, summary, names):
    """Switches, regime lengths and days per regime: out of sample (filtered, as a trader saw them day by day)
    and in sample (smoothed, with hindsight), side by side."""
    unit = period_noun(summary.get("days_per_year"))
    sets = [
        (name, summary[key])
        for key, name in (("out_of_sample", "out of sample (filtered)"), ("in_sample", "in sample (smoothed)"))
        if summary.get(key)
    ]
    rows = {
        "period": [f"{f['period'][0]} to {f['period'][1]}" for _, f in sets],
        unit: [f"{f['days']:,}" for _, f in sets],
        "switches a year": [f"{f['switches_per_year']:.1f}" for _, f in sets],
        f"mean regime length ({period_word(summary.get('days_per_year'))})": [
            f"{f['mean_regime_length_days']:.0f}" for _, f in sets
        ],
    }
    for nm in names:
        rows[f"{unit} {nm}"] = [f"{f['days_per_regime'].get(nm, 0):,}" for _, f in sets]
    rep.table(
        pd.DataFrame(rows, index=[n for n, _ in sets]).T.rename_axis("").reset_index(),
        caption="How often regimes switch and how long they last",
    )
    rep.text(
        f"Out of sample: each {period_one(summary.get('days_per_year'))} labelled by its filtered probabilities, from the model in force that "
        f"{period_one(summary.get('days_per_year'))}, as a trader would have seen it. In sample: the {unit} the model was fitted on, labelled with "
        f"hindsight (smoothed probabilities use later {unit}), so regimes look longer and switch less often.",
        cls="note",
    )


def build_report(
    ctx,
    cfg,
    *,
    summary,
    post,
    prices,
    names,
    stats,
    trans,
    table,
    chosen,
    ticker,
    feature_names,
    backtest=None,
):
    """Write ``report.html`` and the plots of a regimes run, section by section.

    ``post`` is what labelling the days gave (the pipeline's ``Posteriors``: the
    model in force, the days, their features ``X``, labels and probabilities).
    """
    model, X, dates, labels, filtered, smoothed = (
        post.model,
        post.X,
        post.dates,
        post.labels,
        post.filtered,
        post.smoothed,
    )
    K = len(names)
    title = cfg.report.title or f"Market regimes — {ticker}"
    rep = Report(
        title,
        subtitle=f"{summary['first_date']} to {summary['last_date']}, {summary['n_days']:,} {period_word(summary.get('days_per_year'))}; "
        f"model: {summary['model_kind']}, {K} regimes, {summary['covariance_type']} covariance",
    )
    _headline(rep, summary)
    add_figures(rep, summary, names)
    _outlook_section(rep, summary, names)
    plots = cfg.report.plots
    if backtest is not None:
        add_backtest(rep, ctx, backtest, plots)
    _price_plots(ctx, rep, cfg, plots, dates, prices, labels, filtered, smoothed, names, ticker, summary)
    _regimes_section(rep, stats, summary.get("days_per_year", TRADING_DAYS))
    _transitions_section(ctx, rep, plots, trans, names, model, summary.get("days_per_year"))
    _selection_section(ctx, rep, cfg, plots, table, chosen)
    _evaluation_section(ctx, rep, cfg, plots, summary, model, X, labels, filtered, smoothed, names, feature_names)
    _caveats_section(rep, summary)
    rep.write(ctx.path("report.html"))


def _headline(rep, summary):
    t = summary["today"]
    rep.headline(
        f"Today ({t['date']}): {t['name']} regime, filtered probability {t['probability_filtered']:.2f}"
        + (f" (smoothed {t['probability_smoothed']:.2f})" if "probability_smoothed" in t else "")
    )
    kv = {
        f"out-of-sample log-likelihood per {period_one(summary.get('days_per_year'))} (filtered)": summary[
            "oos_loglik_per_day"
        ]
        if summary["oos_loglik_per_day"] is not None
        else "–",
        f"training {period_noun(summary.get('days_per_year'))}"
        + (" (first model)" if summary["walk_forward"] else ""): summary["n_train_days"],
    }
    ari = summary["label_agreement_ari"]
    if ari["ari_vs_first"]:
        kv[f"label agreement across {len(ari['seeds'])} seeds (min ARI)"] = ari["min"]
    found = summary.get("regime_evidence") or {}  # runs written before the test have none
    if found.get("p_value") is not None:
        over = f"; volatility over {found['window']} {found.get('unit', 'days')}" if "window" in found else ""
        kv["volatility varies beyond chance (shuffle test)"] = (
            f"{'yes' if found['supported'] else 'no'} (p = {found['p_value']:.3f}{over})"
        )
    rep.kv(kv)
    if found.get("supported") is False:
        rep.caveats(
            [
                f"Caution: {no_evidence(found)}: a model of {summary['n_components']} regimes finds "
                f"{summary['n_components']} in any series, chance included. A longer history tells regimes apart "
                "better."
            ]
        )


def _outlook_section(rep, summary, names):
    t = summary["today"]
    outlook = summary["forecast"]
    rep.section("Outlook")
    year = summary.get("days_per_year")
    cols = {ahead(h, year): h for h in outlook["probabilities"]}
    rep.table(
        pd.DataFrame(
            {"regime": names, **{c: [outlook["probabilities"][h][nm] for nm in names] for c, h in cols.items()}}
        ),
        formats={c: (lambda v: f"{v:.2f}") for c in cols},
    )
    rep.text(
        f"Probability of each regime ahead, from today's filtered probabilities and the transition matrix. "
        f"Today's regime ({t['name']}) is expected to last about "
        f"{periods_of(outlook['expected_remaining_days'], year, more=True)} (stays are geometric: "
        "this does not depend on how long it has lasted).",
        cls="note",
    )


def _price_plots(ctx, rep, cfg, plots, dates, prices, labels, filtered, smoothed, names, ticker, summary):
    hs = cfg.split.holdout_start if not cfg.walk_forward.enabled else None
    if not plots:
        return
    one = period_one(summary.get("days_per_year"))
    f = plot_price_regimes(
        dates, prices.to_numpy(), labels, names, ticker=ticker, holdout_start=hs, levels=cfg.data.levels
    )
    rep.image(ctx.save_figure(f, "price_regimes.png"), caption=f"Background colour: regime label of each {one}.")
    if smoothed is not None:
        f = plot_stacked_probabilities(
            dates, smoothed, names, title="Smoothed regime probabilities (uses the whole sample)"
        )
        rep.image(ctx.save_figure(f, "probabilities_smoothed.png"))
    f = plot_stacked_probabilities(
        dates, filtered, names, title=f"Filtered regime probabilities (data up to each {one} only)"
    )
    rep.image(ctx.save_figure(f, "probabilities_filtered.png"))


def _regimes_section(rep, stats, year):
    rep.section("Regimes")
    show = stats.drop(columns=["regime"]).rename(
        columns={
            "days": period_noun(year),
            "share_of_time": "share of time",
            "annual_return": "annual return",
            "annual_volatility": "annual volatility",
            "max_drawdown": "max drawdown",
            "mean_duration_days": f"mean duration ({period_noun(year)})",
        }
    )
    pct = lambda v: f"{100 * v:.1f}%" if np.isfinite(v) else "–"  # noqa: E731
    plain = {f"mean duration ({period_noun(year)})": lambda v: f"{v:.1f}" if np.isfinite(v) else "–"}
    if "sharpe" in show.columns:
        plain["sharpe"] = lambda v: f"{v:.2f}" if np.isfinite(v) else "–"
    if "annual_change" in stats.columns:  # levels: yields, rates, spreads, in their own units
        units = lambda v: f"{v:+.3g}" if np.isfinite(v) else "–"  # noqa: E731
        size = lambda v: f"{v:.3g}" if np.isfinite(v) else "–"  # noqa: E731
        show = show.rename(columns={"annual_change": "annual change", "annual_change_volatility": "annual volatility"})
        rep.table(show, formats={"share of time": pct, "annual change": units, "annual volatility": size, **plain})
        rep.text(
            f"Changes are the level's daily changes in its own units (percentage points, for a yield quoted in "
            f"percent), annualised over {year} {period_noun(year)}.",
            cls="note",
        )
        return
    rep.table(
        show,
        formats={"share of time": pct, "annual return": pct, "annual volatility": pct, "max drawdown": pct, **plain},
    )
    rep.text(
        f"Annual return: what a year of the regime's {period_noun(year)} would return, compounded, as in the backtest; "
        f"volatility and Sharpe ratio (without a risk-free rate) of the {period_name(year)} log returns, annualised "
        f"over {year} {period_noun(year)}"
        + (" (the series is priced every calendar day)" if year == 365 else "")
        + "; "
        f"max drawdown of the {period_noun(year)} spent in the regime chained together.",
        cls="note",
    )


def _transitions_section(ctx, rep, plots, trans, names, model, year):
    rep.section("Transitions")
    unit = period_noun(year)
    tshow = trans.reset_index().rename(columns={"expected_duration_days": f"expected duration ({unit})"})
    prob = lambda v: f"{v:.3f}"  # noqa: E731
    rep.table(
        tshow,
        formats={
            **{n: prob for n in names},
            f"expected duration ({unit})": lambda v: f"{v:.1f}" if np.isfinite(v) else "∞",
        },
    )
    if plots and model.kind != "gmm":
        rep.image(ctx.save_figure(plot_transition_matrix(trans, names), "transitions.png"))
    if model.kind == "gmm":
        rep.text(
            f"The plain GMM has no dynamics: each {period_one(year)} is labelled on its own, so the matrix rows equal the "
            "weights.",
            cls="note",
        )


def _selection_section(ctx, rep, cfg, plots, table, chosen):
    rep.section("Model selection")
    shown = table.sort_values(["covariance_type", "n_components"]).drop(columns=["candidate"])
    rep.table(shown)
    cands = table[table["candidate"]]
    crit = cfg.model.criterion
    best_any = table.loc[table[crit].idxmin()]
    if len(cands) == 1:
        msg = f"K={chosen[0]} is fixed in the config (model.n_components)."
        if int(best_any.n_components) != chosen[0]:
            msg += (
                f" {crit.upper()} alone would pick K={int(best_any.n_components)}: on daily returns more states "
                "always fit better, but they are shorter-lived and harder to act on."
            )
        rep.text(msg, cls="note")
    else:
        rep.text(f"Chosen by {crit.upper()} among the candidates: K={chosen[0]}, {chosen[1]} covariance.", cls="note")
    if plots and table["n_components"].nunique() > 1:
        rep.image(
            ctx.save_figure(
                plot_criterion_curve(table, chosen=chosen, title="BIC / AIC on the training window"), "bic.png"
            )
        )


def _evaluation_section(ctx, rep, cfg, plots, summary, model, X, labels, filtered, smoothed, names, feature_names):
    K = len(names)
    # the shared evaluation block, on the state Gaussians in model space
    means, covs = model.state_moments()
    probs = smoothed if smoothed is not None else filtered
    per_day = summary["train_loglik_per_day"]
    ev = model_evaluation(
        X,
        probs,
        means,
        log_likelihood=(per_day if per_day is not None else float("nan")) * summary["n_train_days"],
        n_rows=summary["n_train_days"],
        bic=summary["bic"],
        aic=summary["aic"],
        n_components=K,
        covariance_type=model.covariance_type,
        converged=model.converged,
        n_iter=model.n_iter,
        uncertain_below=cfg.report.uncertain_below,
        silhouette_sample=cfg.report.silhouette_sample,
        random_state=cfg.model.random_state,
    )
    add_model_evaluation(
        rep,
        ev,
        uncertain_below=cfg.report.uncertain_below,
        names=names,
        extra={"model kind": model.kind, "parameters": model.n_parameters()},
    )
    rep.text(
        "Log-likelihood, BIC and AIC are of the sequence model on the training window; silhouette and "
        f"uncertain assignments use the regime probabilities of every {period_one(summary.get('days_per_year'))}.",
        cls="note",
    )
    if plots:
        rep.image(
            ctx.save_figure(
                plot_confidence_histogram(probs.max(axis=1), threshold=cfg.report.uncertain_below), "confidence.png"
            )
        )
        if X.shape[1] >= 2:
            X2, m2, c2 = projection_2d(means, covs, X)
            fn = feature_names
            f = plot_ellipses(
                X2,
                labels,
                m2,
                c2,
                names=names,
                colors=colours(names),
                xlabel=f"{fn[0]} (standardised)",
                ylabel=f"{fn[1]} (standardised)",
                title="Regimes in feature space (1-3 sigma)",
            )
            rep.image(ctx.save_figure(f, "feature_space.png"))


def _caveats_section(rep, summary):
    rep.section("Caveats")
    rep.caveats(
        [
            f"Smoothed probabilities use the whole sample, including later {period_noun(summary.get('days_per_year'))}; "
            "trade on the filtered ones.",
            "Regimes are ordered by volatility, so labels keep their meaning across seeds and refits; "
            "the names describe volatility, not direction.",
            f"Features are standardised with training-window statistics only (to {summary.get('trained_to', '')}).".replace(
                " (to )", ""
            ),
        ]
    )
