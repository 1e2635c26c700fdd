"""The customers report: segment table with actions, profiles, validation on the future, stability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...report import (
    PALETTE,
    Report,
    add_model_evaluation,
    figure,
    mixture_evaluation,
    plot_confidence_histogram,
    plot_criterion_curve,
    plot_ellipses,
    projection_2d,
)
from .cleaning_report import add_cleaning
from .features import capture_curve
from .segments import money, profile
from .split import unseen_note

PROFILE_COLUMNS = [
    "recency",
    "gaps_since_last",
    "frequency",
    "monetary",
    "aov",
    "tenure",
    "recent_spend",
    "total_spend",
]


def plot_profile_heatmap(feats, P, names):
    """Each segment's mean feature relative to the population mean (log2 ratio)."""
    cols = [c for c in PROFILE_COLUMNS if c in feats]
    pop = feats[cols].mean().to_numpy()  # over the customers for whom each feature is defined
    seg = profile(feats, P)[cols].to_numpy()
    with np.errstate(invalid="ignore"):
        ratio = np.clip(np.log2(np.maximum(seg, 1e-9) / np.maximum(pop, 1e-9)), -3, 3)
    fig = figure(1.2 * len(cols) + 3, 0.45 * len(names) + 1.6)
    ax = fig.add_subplot()
    lim = 3.0
    from matplotlib import colormaps  # start-up time: matplotlib loads only when plotting

    # grey: undefined for the whole segment (e.g. gaps since last purchase of one-timers)
    cmap = colormaps["RdBu_r"].with_extremes(bad="#eeeeee")
    im = ax.imshow(np.ma.masked_invalid(ratio), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(names)):
        for j in range(len(cols)):
            v = seg[i, j]
            ax.text(
                j,
                i,
                "–" if np.isnan(v) else (f"{v:.0f}" if v >= 10 else f"{v:.1f}"),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(ratio[i, j]) > 1.8 else "k",  # readable on the darkest reds and blues
            )
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    fig.colorbar(im, ax=ax, label="segment mean / population mean\n(log2, clipped at ±3)")
    ax.set_title("Segment profiles (numbers: segment means)")
    return fig


def plot_capture_bars(validation):
    """The holdout check as bars: revenue captured by the top share under each ranking, the recommended one dark."""
    names = {
        "combined": "capture_combined",
        "forward value": "capture_forward_value",
        "segments": "capture_segments",
        "RFM": "capture_rfm",
        "calibration spend": "capture_calibration_spend",
        "k-means": "capture_kmeans",
    }
    rec = {"rfm": "RFM"}.get(validation["recommended"], validation["recommended"])
    fig = figure(6.5, 3.2)
    ax = fig.add_subplot()
    labels = list(names)
    values = [100 * validation[k] for k in names.values()]
    colours = [PALETTE[0] if n == rec else "#b8c4d6" for n in labels]
    ax.barh(labels[::-1], values[::-1], color=colours[::-1])
    for i, v in enumerate(values[::-1]):
        ax.text(v + 0.3, i, f"{v:.1f}%", va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.15)
    ax.set_xlabel(f"holdout revenue captured by the top {int(100 * validation['top_share'])}% of customers (%)")
    ax.set_title(f"Holdout check; recommended: {rec}")
    return fig


def plot_forward_by_segment(table, code=None):
    """Expected vs actual spend per segment over the check window (``code``: the amounts' currency)."""
    fig = figure(6.5, 0.45 * len(table) + 1.8)
    ax = fig.add_subplot()
    y = np.arange(len(table))
    actual = table["holdout_spend_per_customer"].to_numpy() * table["customers"].to_numpy()
    ax.barh(
        y + 0.2, table["check_expected_spend"], height=0.4, color=PALETTE[0], label="expected (fitted on calibration)"
    )
    ax.barh(y - 0.2, actual, height=0.4, color=PALETTE[1], label="actual (holdout)")
    ax.set_yticks(y, table["name"])
    ax.invert_yaxis()
    ax.set_xlabel(f"spend in the holdout ({code})" if code else "spend in the holdout")
    ax.set_title("Forward value: expected vs actual per segment")
    fig.legend(fontsize=8, loc="outside lower center", ncol=2)  # under the axis: clear of the bars
    return fig


def plot_capture(curves, outcome, top_share, recommended):
    """Capture curves of every ranking on the holdout, the recommended one thick."""
    fig = figure(6.5, 4.5)
    ax = fig.add_subplot()
    for i, (name, val) in enumerate(curves.items()):
        if isinstance(val, tuple):
            x, y = capture_curve(val[0], outcome, tie_break=val[1])
        else:
            x, y = capture_curve(val, outcome)
        ax.plot(100 * x, 100 * y, color=PALETTE[i], lw=2 if name == recommended else 1.2, label=name)
    ax.plot([0, 100], [0, 100], color="grey", ls=":", lw=1, label="random")
    ax.axvline(100 * top_share, color="k", ls="--", lw=0.8)
    ax.set_xlabel("customers targeted, best first (%)")
    ax.set_ylabel("holdout revenue captured (%)")
    ax.set_title("Who to target: holdout revenue captured")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _pct(v):
    return f"{100 * v:.1f}%" if np.isfinite(v) else "–"


def build_report(ctx, cfg, *, summary, feats, P, seg, table, selection, validation, stability, holdout, cohorts=None):
    """The customers report, section by section (``holdout`` is unused: the validation carries its figures;
    ``cohorts``: retention by month of first purchase, :func:`.cohorts.retention`)."""
    rep = Report(
        cfg.report.title or "Customer segments",
        subtitle=f"{summary['customers']:,} customers, {summary['cleaning']['purchases']:,} purchases (customer-days) "
        f"from {summary['transactions']:,} rows; calibration {summary['calibration']['start']} to "
        f"{summary['calibration']['end']}",
    )
    _headline(rep, seg, summary, validation)
    _worth_section(rep, cfg, table, summary)
    _segments_section(ctx, rep, cfg, feats, P, seg, table, summary)
    if validation:
        _validation_section(ctx, rep, cfg, table, summary, validation)
    if cohorts is not None:
        _retention_section(ctx, rep, cfg, cohorts)
    _stability_section(rep, stability)
    _selection_section(ctx, rep, cfg, feats, P, seg, selection)
    _caveats_section(rep, cfg, seg, summary)
    rep.write(ctx.path("report.html"))


def _headline(rep, seg, summary, validation):
    if validation:
        rep.headline(
            f"{seg.n_segments} segments. Targeting the top {int(100 * validation['top_share'])}% of customers by "
            f"the recommended ranking ({validation['recommended']}) captures "
            f"{100 * validation['capture_recommended']:.1f}% of the next {validation['holdout_weeks']:.3g} weeks' "
            f"revenue; by segment value {100 * validation['capture_segments']:.1f}%, by RFM quintile scores "
            f"{100 * validation['capture_rfm']:.1f}%."
        )
    else:
        rep.headline(f"{seg.n_segments} segments of {summary['customers']:,} customers.")


def _worth_section(rep, cfg, table, summary):
    pct, code = _pct, summary["cleaning"].get("amounts_in")
    fv = summary["forward_value"]
    rep.section("What each segment is worth")
    worth = table[
        ["segment", "name", "customers", "share", "revenue_share", "expected_spend", "expected_share", "action"]
    ]
    rep.table(
        worth.rename(
            columns={
                "revenue_share": "share of calibration revenue",
                "expected_spend": f"expected spend, next {fv['horizon_weeks']:.3g} weeks",
                "expected_share": "share of expected spend",
            }
        ),
        formats={
            "share": pct,
            "share of calibration revenue": pct,
            "share of expected spend": pct,
            f"expected spend, next {fv['horizon_weeks']:.3g} weeks": lambda v: money(v, code, 0),
        },
    )
    top = table.sort_values("expected_spend", ascending=False).iloc[0]
    rep.text(
        f"Segment {top['name']}: {int(top.customers):,} customers, expected {money(top.expected_spend, code, 0)} over "
        f"the next {fv['horizon_weeks']:.3g} weeks (from {fv['from']}), {100 * top.expected_share:.0f}% of the total "
        f"{money(fv['expected_spend'], code, 0)}. Expected purchases come from a BG/NBD purchase model and spend per purchase "
        "from a Gamma-Gamma model, both fitted on the calibration period; customers.csv has every customer's "
        "expected_purchases and expected_spend." + unseen_note(summary),
        cls="note",
    )
    add_cleaning(rep, summary["cleaning"], cfg)


def _segments_section(ctx, rep, cfg, feats, P, seg, table, summary):
    pct, names, code = _pct, seg.names, summary["cleaning"].get("amounts_in")

    def amount(v):
        return money(v, code)

    rep.section("Segments")
    show = table.drop(columns=["expected_purchases", "expected_spend", "expected_share"]).rename(
        columns={
            "revenue_share": "revenue share",
            "mean_recency_days": "mean recency (days)",
            "mean_frequency": "mean frequency",
            "mean_monetary": "mean monetary",
            "mean_aov": "AOV",
            "repeat_rate": "repeat rate",
            "value": "value (calibration spend)",
            "holdout_purchases_per_customer": "holdout purchases / customer",
            "holdout_spend_per_customer": "holdout spend / customer",
            "check_expected_spend": "expected holdout spend, whole segment (calibration fit)",
            "holdout_revenue_share": "holdout revenue share",
        }
    )
    actions = show[["segment", "name", "action"]]
    show = show.drop(columns=["action"])
    rep.table(
        show,
        formats={
            "share": pct,
            "revenue share": pct,
            "repeat rate": pct,
            "holdout revenue share": pct,
            "mean monetary": amount,
            "AOV": amount,
            "value (calibration spend)": amount,
            "holdout spend / customer": amount,
            "expected holdout spend, whole segment (calibration fit)": lambda v: money(v, code, 0),
            "mean recency (days)": lambda v: f"{v:,.0f}",
            "mean frequency": lambda v: f"{v:.2f}",
            "holdout purchases / customer": lambda v: f"{v:.2f}",
        },
    )
    rep.text(
        f"Segments are numbered by value: the probability-weighted mean calibration spend of their customers. "
        f"Frequency counts {'repeat purchases (the first purchase excluded)' if cfg.features.rfm_convention == 'repeat' else 'all purchases'}; "
        "recency is days since the last purchase at the end of calibration; purchases on the same day are merged.",
        cls="note",
    )
    rep.table(actions, caption="Suggested action per segment")
    n_b = summary["boundary_customers"]
    rep.text(
        f"{n_b:,} boundary customers (top segment probability below {cfg.report.uncertain_below:g}) are flagged in "
        "customers.csv (column boundary): candidates for special campaigns between two segments."
    )
    if cfg.report.plots:
        rep.image(ctx.save_figure(plot_profile_heatmap(feats, P, names), "profiles.png"))


def _validation_section(ctx, rep, cfg, table, summary, validation):
    pct, code = _pct, summary["cleaning"].get("amounts_in")
    rep.section("Validation on the future")
    rows = pd.DataFrame(
        [
            {
                "ranking": f"recommended: {validation['recommended']} (chosen on the calibration period)",
                "captured": validation["capture_recommended"],
            },
            {
                "ranking": "combined (mean rank of segment value, forward value and calibration spend)",
                "captured": validation["capture_combined"],
            },
            {"ranking": "forward value (expected spend)", "captured": validation["capture_forward_value"]},
            {"ranking": "segments (this model)", "captured": validation["capture_segments"]},
            {"ranking": "RFM quintile score (R+F+M, ties by RFM cell)", "captured": validation["capture_rfm"]},
            {"ranking": "k-means on the same features (same K)", "captured": validation["capture_kmeans"]},
            {"ranking": "calibration spend", "captured": validation["capture_calibration_spend"]},
        ]
    )
    rep.table(
        rows.rename(columns={"captured": f"holdout revenue captured by the top {int(100 * validation['top_share'])}%"}),
        formats={f"holdout revenue captured by the top {int(100 * validation['top_share'])}%": pct},
    )
    f = validation["forward_value"]
    rep.text(
        f"The models were fitted on calibration data only; the holdout covers the next {validation['holdout_weeks']:.3g} "
        f"weeks ({validation['holdout_start']} to {validation['holdout_end']}), {money(validation['holdout_revenue'], code, 0)} "
        f"of revenue. The recommended ranking was chosen on a split of the calibration period "
        f"(features to {summary['recommended_ranking']['inner_split']['split'] if summary['recommended_ranking']['inner_split'] else '–'}, "
        f"outcomes after), never on this holdout: the combined ranking unless another captured clearly more "
        f"there (95% bootstrap interval of the difference above zero). The forward value predicted {money(f['predicted_total'], code, 0)} "
        f"({100 * f['total_error']:+.1f}% against the actual), a mean absolute error of {money(f['mean_absolute_error'], code)} "
        "per customer.",
        cls="note",
    )
    if cfg.report.plots:
        rep.image(ctx.save_figure(plot_capture_bars(validation), "holdout_check.png"))
        rep.image(
            ctx.save_figure(
                plot_capture(
                    validation["_curves"],
                    validation["_outcome"],
                    validation["top_share"],
                    validation["recommended"],
                ),
                "capture.png",
            )
        )
        rep.image(ctx.save_figure(plot_forward_by_segment(table, code), "forward_value.png"))


def plot_retention(cohorts):
    """Each cohort's share buying in each month after its first purchase (blank: not reached yet)."""
    months = [c for c in cohorts.columns if c.startswith("month_")]
    R = cohorts[months].to_numpy(dtype=float)
    fig = figure(0.55 * len(months) + 2.6, 0.32 * len(cohorts) + 1.6)
    ax = fig.add_subplot()
    from matplotlib import colormaps  # start-up time: matplotlib loads only when plotting

    blues = colormaps["Blues"].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(R[:, 1:]), cmap=blues, vmin=0, aspect="auto")  # shaded from none
    for i in range(R.shape[0]):
        for j in range(1, R.shape[1]):
            if np.isfinite(R[i, j]):
                dark = R[i, j] > 0.6 * np.nanmax(R[:, 1:])
                ax.text(
                    j - 1,
                    i,
                    f"{100 * R[i, j]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "k",
                )
    ax.set_xticks(range(len(months) - 1), [m.split("_")[1] for m in months[1:]])
    ax.set_yticks(range(len(cohorts)), [f"{c} ({n:,})" for c, n in zip(cohorts["cohort"], cohorts["customers"])])
    ax.set_xlabel("months after the first purchase")
    fig.colorbar(im, ax=ax, label="share of the cohort buying", format="{x:.0%}")
    ax.set_title("Retention by month of first purchase (%)")
    return fig


def _retention_section(ctx, rep, cfg, cohorts):
    rep.section("Retention by month of first purchase")
    rep.text(
        "Each row is the customers whose first purchase in the log fell in that month (how many in brackets); each "
        "column the share of them buying in a month after it (cohorts.csv). The log's first month may also hold "
        "customers who bought before it began, whose row then looks more loyal than it is; the last month may be "
        "partial, so each row's last share may be low."
    )
    if cfg.report.plots:
        rep.image(ctx.save_figure(plot_retention(cohorts), "retention.png"))
    else:
        months = [c for c in cohorts.columns if c.startswith("month_") and c != "month_0"]
        rep.table(cohorts, formats={m: lambda v: "" if pd.isna(v) else f"{100 * v:.0f}%" for m in months})


def _stability_section(rep, stability):
    rep.section("Stability")
    st = stability
    kv = {}
    if st["seeds"]:
        kv[f"label agreement across {len(st['seeds']) + 1} seeds (min ARI)"] = st["seed_ari_min"]
        kv["labels identical across seeds"] = "yes" if st["labels_identical_across_seeds"] else "no"
    if st["bootstrap"]:
        kv[f"bootstrap refits ({len(st['bootstrap'])}): mean ARI"] = st["bootstrap_ari_mean"]
        kv["bootstrap refits: min ARI"] = st["bootstrap_ari_min"]
    rep.kv(kv or {"stability": "not measured (report.stability_seeds and report.bootstrap are off)"})
    rep.text(
        "ARI compares every customer's segment between the main fit and a refit (1 = identical partition). "
        "Bootstrap refits resample customers, so they show how much the segments depend on who is in the data.",
        cls="note",
    )


def _selection_section(ctx, rep, cfg, feats, P, seg, selection):
    names = seg.names
    rep.section("Model selection")
    rep.table(
        selection.table.drop(columns=["cv_log_likelihood"]),
        formats={"smallest_segment": lambda v: f"{int(v):,}" if np.isfinite(v) else "–"},  # a count (– unchecked)
    )
    if cfg.report.plots and selection.table["n_components"].nunique() > 1:
        best = selection.best
        rep.image(
            ctx.save_figure(
                plot_criterion_curve(selection.table, chosen=(best["n_components"], best["covariance_type"])), "bic.png"
            )
        )

    separate = seg.separate
    modeled = (feats["n_purchases"] > 1).to_numpy() if separate else np.ones(len(feats), bool)
    Z = seg.standardise(feats[modeled])
    comp_names = [n for n in names if n != "one-timers"] if separate else names
    ev = mixture_evaluation(
        seg.model,
        Z,
        uncertain_below=cfg.report.uncertain_below,
        silhouette_sample=cfg.report.silhouette_sample,
        random_state=cfg.model.random_state,
    )
    add_model_evaluation(rep, ev, uncertain_below=cfg.report.uncertain_below, names=comp_names)
    if cfg.report.plots:
        rep.image(
            ctx.save_figure(
                plot_confidence_histogram(P.max(axis=1), threshold=cfg.report.uncertain_below), "confidence.png"
            )
        )
        if Z.shape[1] >= 2:
            X2, m2, c2 = projection_2d(seg.model.means_, seg.model.covariance_matrices(), Z)
            f = plot_ellipses(
                X2,
                seg.model.predict(Z),
                m2,
                c2,
                names=comp_names,
                xlabel=f"log {seg.features[0]} (standardised)",
                ylabel=f"log {seg.features[1]} (standardised)",
                title="Segments in feature space (1-3 sigma)",
                random_state=cfg.model.random_state,
            )
            rep.image(ctx.save_figure(f, "feature_space.png"))


def _caveats_section(rep, cfg, seg, summary):
    separate = seg.separate
    rep.section("Caveats")
    rep.caveats(
        [
            "Segments describe past behaviour in the calibration window; the holdout check shows how well that carries forward, not why.",
            f"The GMM sees log1p of {', '.join(seg.features)}, standardised; customers with few purchases sit on discrete "
            f"values, so a variance floor (model.reg_covar = {cfg.model.reg_covar:g}) keeps components from collapsing onto them.",
            f"The criterion ({cfg.model.criterion.upper()}) chose among candidates whose every segment holds at least "
            f"{cfg.model.min_segment_size} customers (model.min_segment_size; the model selection table shows the smallest "
            "segment of each candidate checked)"
            + (
                ""
                if summary["smallest_segment"] >= cfg.model.min_segment_size
                else "; no candidate met it, so the one with the largest smallest segment was kept"
            )
            + ".",
            "One-time buyers are "
            + (
                "one fixed segment outside the model."
                if separate
                else "modelled with everyone else; segments made mostly of them are named new / lapsed one-timers."
            ),
            "Names come from simple rules on each segment's mean frequency, recency and spend relative to the repeat buyers; "
            "check the profile table before acting on a name.",
        ]
    )
