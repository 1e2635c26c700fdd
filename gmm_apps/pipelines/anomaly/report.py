"""The anomaly report: score histogram and threshold, top anomalies explained, projection, ROC/PR."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...report import PALETTE, Report, figure, plot_score_histogram
from .shift import shift_verdict


def plot_histogram(scores, threshold, labels=None):
    """Anomaly scores (by label when labels are known) and the flagging threshold."""
    groups = (
        [("labelled normal", scores[labels == 0], 0), ("labelled outlier", scores[labels == 1], 2)]
        if labels is not None
        else [(None, scores, 0)]
    )
    return plot_score_histogram(
        groups, threshold, xlabel="anomaly score (higher is more unusual)", ylabel="records", upper_quantile=0.995
    )


def plot_projection(Z, scores, threshold):
    """First two principal components of the robust-scaled records, coloured by score.

    With one feature the records are shown against their rank instead.  A
    missing value is drawn at the feature's median (0 on the robust scale).
    """
    Z = np.nan_to_num(Z, nan=0.0)
    Zc = Z - Z.mean(axis=0)
    _, _, vt = np.linalg.svd(Zc[: min(len(Zc), 20000)], full_matrices=False)
    P = Zc @ vt[:2].T
    labels = ("principal component 1", "principal component 2")
    if P.shape[1] < 2:
        P = np.c_[P[:, 0] if P.shape[1] else Zc[:, 0], np.argsort(np.argsort(scores)) / max(1, len(scores) - 1)]
        labels = ("the feature (scaled)", "score rank (0-1)")
    fig = figure(6, 4.8)
    ax = fig.add_subplot()
    order = np.argsort(scores)
    sc = ax.scatter(
        P[order, 0], P[order, 1], c=np.minimum(scores[order], np.quantile(scores, 0.99)), s=7, cmap="viridis"
    )
    flag = scores > threshold
    ax.scatter(P[flag, 0], P[flag, 1], s=30, facecolors="none", edgecolors=PALETTE[2], lw=0.8, label="flagged")
    fig.colorbar(sc, ax=ax, label="anomaly score")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.legend(fontsize=8)
    ax.set_title("Records in two dimensions")
    return fig


def plot_roc_pr(labels, scores):
    from sklearn.metrics import (  # start-up time: scikit-learn loads only where it does the work
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    fig = figure(9, 3.8)
    a, b = fig.subplots(1, 2)
    fpr, tpr, _ = roc_curve(labels, scores)
    a.plot(fpr, tpr, color=PALETTE[0])
    a.plot([0, 1], [0, 1], color="grey", ls=":")
    a.set_xlabel("false positive rate")
    a.set_ylabel("true positive rate")
    a.set_title(f"ROC (AUC {roc_auc_score(labels, scores):.3f})")
    p, r, _ = precision_recall_curve(labels, scores)
    b.plot(r, p, color=PALETTE[1])
    b.axhline(labels.mean(), color="grey", ls=":")
    b.set_xlabel("recall")
    b.set_ylabel("precision")
    b.set_title(f"Precision-recall (AP {average_precision_score(labels, scores):.3f})")
    return fig


def add_verdicts(rep, cfg, v, scores):
    """What the analyst's verdicts changed: how many were used, which evidence the score now rests on, the
    precision among the top-ranked labelled records before and after (cross-fitted), and the threshold rule."""
    rep.section("Learning from the verdicts")
    if not v["used"]:
        rep.text(f"{v['normals']:,} confirmed normal record(s) and no confirmed anomaly: {v['why']}.")
        return
    n = v["top_n"]
    rule = (
        f"at most {cfg.threshold.rate:g} of the reference records flagged"
        if cfg.threshold.method == "rate"
        else f"a fixed score of {cfg.threshold.value:g}"
    )
    rep.kv(
        {
            "confirmed anomalies used": v["anomalies"],
            "confirmed normals used": v["normals"],
            f"precision among the top {n} labelled records, unsupervised score": _pct(v["precision_before"]),
            f"precision among the top {n} labelled records, with the verdicts": _pct(v["precision_after"]),
            "threshold": f"{rule}, applied to the score with the verdicts (0 to 1)",
        }
    )
    rep.text(
        "Each labelled record is scored without its own verdict (cross-fitted), so the precision above is what "
        "the verdicts add on records they have not seen.",
        cls="note",
    )
    import pandas as pd  # start-up time: pandas loads on first use

    table = pd.DataFrame(v["candidates"]).rename(
        columns={"name": "evidence", "labelled_auc": "ROC-AUC, confirmed anomalies against the other records"}
    )
    table["weight"] = table["weight"].map(lambda w: f"{100 * w:.1f}%")
    rep.table(
        table,
        caption="The score is the weighted mean of each kind of evidence's reference percentile; a "
        "weight follows how well that evidence ranks the confirmed anomalies above the other "
        "records, discounted when there are few of them.",
    )
    if "flagged_by" in scores:
        by = (
            scores.loc[scores["flag"], "flagged_by"]
            .value_counts()
            .rename_axis("flagged by")
            .reset_index(name="records")
        )
        if len(by):
            rep.table(
                by,
                caption="Which evidence gave each flagged record most of its score: a view of the "
                "unsupervised detector flags a record unlike the confirmed anomalies; 'near a "
                "confirmed anomaly' one like them.",
            )


def _pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def build_report(ctx, cfg, *, summary, scores, det, rec, names):
    """The anomaly report, section by section."""
    rep = Report(
        cfg.report.title or "Anomaly detection",
        subtitle=f"learned from {summary['reference_records']:,} records of {cfg.data.path}; "
        f"{len(names)} features; {summary['members']} GMMs in the ensemble",
    )
    rep.headline(summary["headline"])
    rep.kv(_key_figures(cfg, summary))
    s = scores["score"].to_numpy()
    labels = scores["label"].to_numpy() if "label" in scores else None
    if cfg.report.plots:
        rep.image(ctx.save_figure(plot_histogram(s, summary["threshold"], labels), "scores.png"))
    _top_section(rep, cfg, scores, rec)
    if summary.get("compared_with_reference"):
        _shift_section(rep, summary["compared_with_reference"])
    _score_plots(ctx, rep, cfg, det, rec, s, labels, summary["threshold"])
    if summary.get("verdicts"):
        add_verdicts(rep, cfg, summary["verdicts"], scores)
    _method_section(rep, cfg, summary, det)
    rep.write(ctx.path("report.html"))


def _key_figures(cfg, summary):
    rule = {
        "rate": f"at most {cfg.threshold.rate:g} of the reference records flagged (expected contamination)",
        "fixed": "a fixed score",
    }[cfg.threshold.method]
    own, new = summary["threshold_reference"], summary["threshold_new_records"]
    if own == new:
        kv = {"threshold": own, "threshold set by": rule}
    else:  # a small reference: new records get the threshold set on its held-out scores
        kv = {
            "threshold for the reference records": own,
            "threshold set by": rule,
            "threshold for new records": new,
            "threshold for new records set by": f"at most {cfg.threshold.rate:g} of the reference records flagged "
            "when each is scored by a detector fitted without it (five held-out folds): a detector scores records "
            "it was not fitted on as more unusual than those it learned from",
        }
    if expected := summary.get("new_records_flagged_expected"):
        kv["share of new records like the reference it flags"] = (
            f"{100 * expected['share']:.1f}% (estimated on {expected['from']})"
        )
    for key, read in summary.get("sections", {}).items():
        kv[f"read as a report in sections ({key})"] = (
            f"{read['sections']:,} sections, each row's in column {read['column']!r}; {read['names']:,} rows naming "
            f"a section and {read['totals']:,} totals left out"
        )
    if summary["evaluation"]:
        ev = summary["evaluation"]
        kv.update(
            {
                "ROC-AUC (labels used only here)": ev["roc_auc"],
                "average precision": ev["average_precision"],
                "labelled outlier share": f"{100 * ev['outlier_share']:.1f}%",
            }
        )
    return kv


def _shift_section(rep, found):
    rep.section("Compared with the reference")
    said = shift_verdict(found)
    rep.text(
        f"{100 * found['flagged_share']:.1f}% of the scored records are flagged, against "
        f"{100 * found['expected_share']:.1f}% of records like the reference (estimated on "
        f"{found.get('expected_from', 'the reference records')}; binomial test p = {found['p_value']:.2g}). "
        + (
            f"{said[0].upper()}{said[1:]}."
            if said
            else "The flags are at the reference's rate: no sign that the records moved as a whole."
        )
    )
    rep.table(
        pd.DataFrame(
            {
                "feature": [f["feature"] for f in found["features"]],
                "reference": [_value(f, f["reference"]) for f in found["features"]],
                "scored records": [_value(f, f["new"]) for f in found["features"]],
                "move": [f"{f['effect']:+.2f}" + (" (named)" if f["named"] else "") for f in found["features"]],
            }
        ),
        caption="The features that moved most",
    )
    rep.text(
        "A number's value is its mean with the values beyond 5 spreads from the reference's median counted at "
        "that limit (so that a few anomalies cannot move it), its move in the reference's spreads; a category's "
        "value is its share of records, its move Cohen's h. Moves of 0.25 spreads or h 0.2 and more, four standard "
        "errors or more from none, are named.",
        cls="note",
    )


def _value(f, v):
    return f"{100 * v:.1f}%" if f["kind"] == "share" else f"{v:.4g}"


def _top_section(rep, cfg, scores, rec):
    rep.section(f"Top {cfg.report.top} anomalies")
    top = scores.sort_values("score", ascending=False).head(cfg.report.top)
    if "verdict" in top:  # as the analyst gave them, not as 1.000 and 0.000
        top = top.assign(verdict=top["verdict"].map({1.0: "confirmed anomaly", 0.0: "confirmed normal"}).fillna(""))
    shown = record_values(rec, top.index, taken=top.columns)
    rep.table(
        pd.concat([top, shown], axis=1)[
            [
                c
                for c in (
                    "id",
                    "score",
                    "unsupervised_score",
                    "probability",
                    "flag",
                    "flagged_by",
                    "top_features",
                    *[c for c in top if " usual for " in c],  # data.group_column's context
                    "verdict",
                    "label",
                    *shown,
                )
                if c in top or c in shown
            ]
        ]
    )
    rep.text(
        "top_features: the features farthest from the record's most likely cluster in the view that gives "
        "it its score, in robust standard deviations (z); high / low says in which direction; a record in a cluster "
        "of fewer than 1% of the reference records is said to be in one (its rarity makes it unusual). probability: the "
        "score's distance from the threshold on a 0-1 scale (the normal distribution function, a record at the "
        "threshold 0.5, the reference's median record the share flagged): above 0.5 exactly where flagged, and "
        "not squeezed towards 0 by a few extreme records; it ranks as the score does but is no calibrated chance "
        "of an anomaly."
        + (
            " verdict: the analyst's; a record's own verdict does not move its score (each labelled record is scored "
            "as the verdicts on the others rank it), so one reviewed may stay on top."
            if "verdict" in top
            else ""
        )
        + (
            f" Then the record as written in the file: {len(shown.columns)} of its columns, those scored first"
            " (a column the same in every record is not shown)."
            if len(shown.columns)
            else ""
        ),
        cls="note",
    )


def record_values(rec, rows, *, taken=(), width=40):
    """The values as written of the records at positions ``rows`` (:attr:`Records.frame`), each cut to
    ``width`` characters, indexed by ``rows``; a column named like one of ``taken`` (the scores') is suffixed
    `` (record)``.  Empty when the records kept no columns (encoded without ``shown=True``, as apply's chunks are)."""
    if rec.frame is None:
        return pd.DataFrame(index=rows)
    out = rec.frame.iloc[np.asarray(rows)].set_axis(rows, axis=0)

    def text(v):
        t = "" if pd.isna(v) else f"{v:.10g}" if isinstance(v, float) else str(v)
        return t if len(t) <= width else t[: width - 1] + "…"

    out = out.apply(lambda col: col.map(text))
    return out.rename(columns=lambda c: f"{c} (record)" if c in set(taken) else str(c))


def _score_plots(ctx, rep, cfg, det, rec, s, labels, threshold):
    if cfg.report.plots:
        rep.image(ctx.save_figure(plot_projection(det.scaler_.transform(rec.X), s, threshold), "projection.png"))
        if labels is not None and len(np.unique(labels)) == 2:
            rep.section("Against the labels")
            rep.image(ctx.save_figure(plot_roc_pr(labels, s), "roc_pr.png"))


def _method_section(rep, cfg, summary, det):
    rep.section("Method")
    m = cfg.model
    parts = [
        f"one view per K in {m.member_components()} ({', '.join(m.covariance_types())} covariance, "
        f"{m.seeds} random starts averaged for each K above 1)"
    ]
    if m.marginal_components:
        parts.append(f"one per-feature view (a mixture of at most {m.marginal_components} components for each feature)")
    if m.bags:
        parts.append(f"{m.bags} groups of full-covariance mixtures on random feature subsets")
    if det.projection_ is not None:
        parts.append("the distance from the leading principal components")
    views = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    rule = (
        "the score is the largest of them: a record is as unusual as the view that finds it most unusual"
        if m.combine == "max"
        else "the score is their mean"
    )
    rep.text(
        f"Features are centred on their median and scaled by their interquartile range (robust to the outliers "
        f"themselves). {summary['members']} Gaussian mixtures make {views}. Each view's negative log-density "
        f"is standardised by its median and IQR on the reference records; {rule}."
    )
