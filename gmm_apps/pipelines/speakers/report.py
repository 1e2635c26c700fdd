"""The speakers report: accuracy, confusion matrix, score distributions, DET curve, accuracy by duration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtri  # the normal quantile, as scipy.stats.norm.ppf

from ...report import PALETTE, Report, figure, plot_score_histogram
from .metrics import enrolment_cautions, per_speaker
from .windows import NO_SPEECH, UNKNOWN


def plot_confusion(matrix, true_labels, speakers):
    M = np.asarray(matrix)
    fig = figure(0.7 * len(speakers) + 3, 0.6 * len(true_labels) + 2)
    ax = fig.add_subplot()
    ax.imshow(M, cmap="Blues")
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            ax.text(j, i, str(M[i, j]), ha="center", va="center", color="white" if M[i, j] > M.max() / 2 else "k")
    ax.set_xticks(range(len(speakers)), speakers, rotation=30, ha="right")
    ax.set_yticks(range(len(true_labels)), true_labels)
    ax.set_xlabel("identified as")
    ax.set_ylabel("true speaker")
    ax.set_title("Confusion matrix")
    return fig


#: above this many speakers the report shows the confusion as tables (confusion.csv has the matrix)
CONFUSION_PLOT_MAX = 20


def plot_scores(target, impostor, threshold, *, normalised=False):
    """Scores of true speakers and of impostors, and the unknown-speaker threshold."""
    return plot_score_histogram(
        [("impostors (other speakers)", impostor, 2), ("targets (true speaker)", target, 1)],
        threshold,
        xlabel="S-normalised score" if normalised else "average frame log-likelihood ratio against the UBM",
        ylabel="density",
        threshold_label="unknown threshold",
        title="Score distributions",
        bins=50,
        density=True,
        alpha=0.6,
        size=(6.5, 3.4),
    )


def plot_det(far, frr, eer):
    fig = figure(4.8, 4.6)
    ax = fig.add_subplot()
    eps = 1e-4
    x, y = ndtri(np.clip(far, eps, 1 - eps)), ndtri(np.clip(frr, eps, 1 - eps))
    ax.plot(x, y, color=PALETTE[0])
    ticks = [0.001, 0.01, 0.05, 0.2, 0.5]
    ax.set_xticks(ndtri(ticks), [f"{100 * t:g}%" for t in ticks])
    ax.set_yticks(ndtri(ticks), [f"{100 * t:g}%" for t in ticks])
    lim = ndtri([5e-4, 0.6])
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.plot(lim, lim, color="grey", ls=":", lw=1)
    ax.set_xlabel("false acceptance rate")
    ax.set_ylabel("false rejection rate")
    ax.set_title(f"DET curve (EER {100 * eer:.2f}%)")
    return fig


def per_speaker_table(confusion, speakers, enrolled=None):
    """Accuracy per enrolled speaker, least accurate first, with their enrolment speech when known."""
    table = per_speaker(np.asarray(confusion["matrix"]), confusion["labels"], speakers, enrolled=enrolled)
    return table.sort_values(["accuracy", "speaker"], kind="stable").reset_index(drop=True)


def accuracy_by_duration(ident):
    d = ident.dropna(subset=["true"]).copy()
    d["correct"] = d["predicted"] == d["true"]
    edges = np.unique(np.quantile(d["duration_s"], [0, 0.25, 0.5, 0.75, 1.0]))
    if len(edges) < 2:
        edges = np.array([d["duration_s"].min(), d["duration_s"].max() + 1e-9])
    d["bin"] = pd.cut(d["duration_s"], edges, include_lowest=True)
    g = d.groupby("bin", observed=True)
    return pd.DataFrame(
        {
            "duration (s)": [f"{iv.left:.2f}-{iv.right:.2f}" for iv in g.groups],
            "recordings": g.size().to_numpy(),
            "accuracy": g["correct"].mean().to_numpy(),
        }
    )


def build_report(ctx, cfg, *, summary, ident, scores, models, curves, turns=None):
    """The speakers report, section by section (``scores`` is unused: ``curves`` carries what is plotted;
    ``turns``: who spoke when, with ``data.window_seconds``)."""
    rep = Report(
        cfg.report.title or "Speaker identification",
        subtitle=f"{len(summary['speakers'])} enrolled speakers, {summary['enrolment_recordings']} enrolment recordings; "
        f"model: {summary['model_kind']} with a {summary['ubm_components']}-component UBM",
    )
    rep.headline(summary["headline"])
    rep.kv(_key_figures(cfg, summary))
    if said := enrolment_cautions(summary.get("enrolment_per_speaker") or {}):
        rep.caveats(said)
    if ident is not None:
        _per_speaker_sections(ctx, rep, cfg, summary, models)
        _verification_section(ctx, rep, cfg, summary, curves)
        _identification_sections(rep, ident)
    if turns is not None:
        _who_spoke_when_section(ctx, rep, cfg, summary, turns, models.speakers)
    _method_section(rep, cfg, summary)
    rep.write(ctx.path("report.html"))


#: recordings drawn in the who-spoke-when timeline, and turns listed in its table (turns.csv has all)
TIMELINE_FILES, TURNS_LISTED = 12, 40


def plot_timeline(turns, speakers):
    """Each recording's turns as bars along its time, one colour a speaker (grey: unknown, none: no speech)."""
    files = list(dict.fromkeys(turns["file"]))[:TIMELINE_FILES]
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(speakers)} | {UNKNOWN: "#bbbbbb"}
    fig = figure(9, 0.5 * len(files) + 1.6)
    ax = fig.add_subplot()
    shown = set()
    for row, f in enumerate(files):
        for t in turns[(turns["file"] == f) & (turns["speaker"] != NO_SPEECH)].itertuples():
            label = None if t.speaker in shown else t.speaker
            shown.add(t.speaker)
            ax.barh(row, t.end_s - t.start_s, left=t.start_s, color=colour.get(t.speaker, "#bbbbbb"), label=label)
    ax.set_yticks(range(len(files)), [Path(f).name for f in files])
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    handles = dict(zip(*ax.get_legend_handles_labels()[::-1]))  # label -> bar: speakers as enrolled, unknown last
    named = [n for n in [*speakers, UNKNOWN] if n in handles]
    ax.legend([handles[n] for n in named], named, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Who spoke when")
    return fig


def _who_spoke_when_section(ctx, rep, cfg, summary, turns, speakers):
    rep.section("Who spoke when")
    penalty = summary["switch_penalty"]
    together = (
        f"then each recording's windows answered together (switch penalty {penalty:g}: a change of speaker must "
        "gain more than that in score times seconds of speech), so a window that flickers to another voice stays in "
        "its turn"
        if penalty
        else "each window's own answer kept"
    )
    rep.text(
        f"Each recording cut into windows of {summary['window_seconds']:g} s, each identified alone (windows.csv: "
        f"predicted), {together} (windows.csv: speaker); consecutive windows of one speaker are one turn "
        "(turns.csv). A window with too little speech is no speech; unknown scores the unknown-speaker threshold."
    )
    if cfg.report.plots:
        rep.image(ctx.save_figure(plot_timeline(turns, speakers), "timeline.png"))
    talk = pd.DataFrame(summary["talk_time_s"]).T.fillna(0.0)
    talk = talk[[c for c in [*speakers, UNKNOWN, NO_SPEECH] if c in talk]].rename_axis("recording").reset_index()
    talk["recording"] = [Path(f).name for f in talk["recording"]]
    seconds = {c: "{:,.1f}".format for c in talk.columns[1:]}
    rep.table(talk, caption="Seconds of each recording given to each speaker", formats=seconds)
    listed = turns.head(TURNS_LISTED).assign(file=lambda t: [Path(f).name for f in t["file"]])
    more = f" (the first {TURNS_LISTED} of {len(turns)})" if len(turns) > TURNS_LISTED else ""
    rep.table(listed, caption=f"Turns{more}", formats={"start_s": "{:,.1f}".format, "end_s": "{:,.1f}".format})


def _key_figures(cfg, summary):
    kv = {
        "enrolled speakers": ", ".join(summary["speakers"]),
        "unknown-speaker threshold (score)": summary["threshold"],
    }
    cal = summary.get("threshold_calibration")
    if cal:
        against = {"enrolled": "the other enrolled speakers", "unseen": "voices never enrolled (speaker left out)"}
        kv["threshold calibration"] = (
            f"{cal['held_out']} held-out enrolment recordings as impostors against "
            f"{against[cal.get('impostors', 'enrolled')]}, target false acceptance {100 * cal['target_far']:g}%, "
            f"false rejection there {100 * cal['false_rejection_at_threshold']:.1f}%"
        )
        if cal.get("unseen_voices_accepted") is not None:
            kv["voices never enrolled accepted (estimated)"] = (
                f"{100 * cal['unseen_voices_accepted']:.1f}% (held-out recordings scored with their speaker left out "
                "of every model)"
            )
    for key, label in (
        ("accuracy", "identification accuracy (closed set)"),
        ("open_set_accuracy", "accuracy with the unknown decision"),
        ("eer", "equal error rate (verification)"),
        ("unknown_speakers_rejected", "unknown speakers rejected"),
    ):
        if summary.get(key) is not None:
            kv[label] = f"{100 * summary[key]:.2f}%"
    if summary.get("eer_interval"):
        lo, hi = summary["eer_interval"]
        kv["equal error rate (verification)"] += f" (95% bootstrap interval {100 * lo:.2f}-{100 * hi:.2f}%)"
    kv["scores"] = _KIND_NAMES[cfg.model.kind] + (
        ", S-normalised against the enrolled speakers" if cfg.model.score_norm == "snorm" else ", raw"
    )
    return kv


def _per_speaker_sections(ctx, rep, cfg, summary, models):
    if "confusion" in summary:
        table = per_speaker_table(summary["confusion"], models.speakers, summary.get("enrolment_per_speaker"))
        rep.section("Per speaker")
        if len(table) > CONFUSION_PLOT_MAX:
            rep.text(
                f"The {CONFUSION_PLOT_MAX} least accurate of {len(table)} speakers; per_speaker.csv has all.",
                cls="note",
            )
            table = table.head(CONFUSION_PLOT_MAX)
        rep.table(table, formats={"accuracy": lambda v: f"{100 * v:.1f}%"})
    if summary.get("confused_pairs"):
        rep.section("Most confused pairs")
        pairs = pd.DataFrame(summary["confused_pairs"])
        rep.table(pairs, formats={"share_of_true": lambda v: f"{100 * v:.1f}%"})
    if "confusion" in summary and cfg.report.plots and len(models.speakers) <= CONFUSION_PLOT_MAX:
        c = summary["confusion"]
        rep.section("Confusion matrix")
        rep.image(ctx.save_figure(plot_confusion(c["matrix"], c["labels"], models.speakers), "confusion.png"))


def _verification_section(ctx, rep, cfg, summary, curves):
    if "_target" in curves and cfg.report.plots:
        rep.section("Verification")
        rep.image(
            ctx.save_figure(
                plot_scores(
                    curves["_target"],
                    curves["_impostor"],
                    summary["threshold"],
                    normalised=cfg.model.score_norm == "snorm",
                ),
                "scores.png",
            )
        )
        rep.image(ctx.save_figure(plot_det(*curves["_det"], summary["eer"]), "det.png"))
        rep.text(
            "A claimed speaker is accepted when the recording's score for that speaker reaches the threshold. "
            "The DET curve shows every trade-off between false acceptance and false rejection.",
            cls="note",
        )


def _identification_sections(rep, ident):
    if "true" in ident:
        rep.section("Accuracy by recording length")
        rep.table(accuracy_by_duration(ident), formats={"accuracy": lambda v: f"{100 * v:.1f}%"})
    rep.section("Least certain identifications")
    worst = ident.sort_values("margin").head(10).drop(columns=["unknown"])
    worst["file"] = worst["file"].map(lambda f: f.rsplit("/", 1)[-1])
    rep.table(worst)


_KIND_NAMES = {
    "ubm_map": "MAP-adapted speaker models",
    "independent": "independent speaker GMMs",
    "ivector": "i-vectors, cosine-scored",
}


def _method_section(rep, cfg, summary):
    rep.section("Method")
    rep.text(
        f"Features: {cfg.features.n_mfcc} MFCCs from {cfg.features.n_mels} mel bands, {cfg.features.window_ms:g} ms windows "
        f"every {cfg.features.hop_ms:g} ms at {summary['sample_rate']} Hz"
        + (" (the enrolment recordings' most common rate)" if cfg.data.sample_rate == "auto" else "")
        + (", with deltas" if cfg.features.deltas else "")
        + (
            f"; frames more than {cfg.features.vad_db:g} dB below the loudest dropped as silence"
            if cfg.features.vad_db
            else ""
        )
        + {
            "gain": "; each recording's loudness (the zeroth cepstral coefficient) centred, its spectral shape kept.",
            "mean_variance": "; cepstral mean and variance normalised per recording.",
            "none": ".",
        }[cfg.features.normalise]
    )
    m = cfg.model
    rep.text(
        {
            "ubm_map": "Scores are the average frame log-likelihood ratio of a speaker's model against the universal "
            f"background model; speaker models are the UBM with MAP-adapted means (relevance factor "
            f"{m.relevance_factor:g}), each frame scored on its {m.top_components or 'all'} best UBM components.",
            "independent": "Scores are the average frame log-likelihood ratio of a speaker's model against the "
            f"universal background model; speaker models are independent {m.speaker_components}-component GMMs.",
            "ivector": f"Each recording is a {summary.get('ivector_dim', m.ivector_dim)}-dimensional i-vector of a "
            "total-variability model trained on the universal background model's statistics of the enrolment "
            f"recordings ({m.ivector_iterations} EM iterations), centred and length-normalised, projected by "
            + (f"LDA (to {summary.get('ivector_scored_dim', m.lda_dim)} dimensions) and " if m.lda_dim else "")
            + "WCCN learnt on the enrolment recordings; a speaker is the mean direction of their recordings' "
            "vectors and a score is the cosine similarity.",
        }[m.kind]
        + _size_sentence(summary)
        + (
            " Each score is then S-normalised: the mean of the score standardised by the speaker's scores on the "
            "other speakers' enrolment recordings and by the recording's scores for the other speakers, so that one "
            "threshold suits every speaker."
            if cfg.model.score_norm == "snorm"
            else ""
        )
    )


def _size_sentence(summary):
    """How the background model's size was chosen, when it was."""
    tried = summary.get("ubm_sizes_tried")
    if not tried:
        return ""
    each = ", ".join(f"{r['n_components']}: {100 * r['accuracy']:.1f}% / {100 * r['eer']:.2f}%" for r in tried)
    return (
        f" The background model's {summary['ubm_components']} components were chosen among {len(tried)} sizes by "
        f"identifying the held-out enrolment recordings (accuracy / EER: {each})."
    )
