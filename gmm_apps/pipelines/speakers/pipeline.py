"""The speakers pipeline: recordings -> MFCC frames -> UBM + speaker models -> who spoke."""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ...errors import ArgumentError, DataError
from ...paths import check_input, require_file, with_left_out
from ...registry import Pipeline
from ...runs import read_summary
from .audio import native_rate, sample_rate
from .calibration import build_models, calibrate, calibration_split, fit_background, held_out_scores
from .config import SpeakersConfig, is_list
from .data import (
    as_enrolled,
    label_root,
    labelled,
    read_claims,
    readable_recordings,
    recordings,
    suggested_sources,
)
from .features import MIN_SPEECH_S
from .frames import extract, of_kept
from .ivector import TotalVariability, baum_welch_statistics
from .metrics import (
    confused_pairs,
    det_curve,
    eer_interval,
    enrolment_cautions,
    enrolment_per_speaker,
    equal_error_rate,
    per_speaker,
    ranked,
    under_enrolled,
)
from .model import SpeakerModels
from .windows import headline_part, who_spoke_when

logger = logging.getLogger("gmm_apps.speakers")


#: speech frames the background model needs per component
FRAMES_PER_COMPONENT = 10


def ubm_sizes(n_components, n_frames):
    """The background model sizes to try: ``model.n_components`` (one, or candidates), those the enrolment
    frames support; a size the frames cannot support is refused before anything is fitted."""
    sizes = sorted(set(n_components if isinstance(n_components, list) else [n_components]))
    most = n_frames // FRAMES_PER_COMPONENT
    fit = [k for k in sizes if k <= most]
    if not fit:
        k = sizes[0]
        raise DataError(
            f"data.enrol: model.n_components={k:,} needs at least {FRAMES_PER_COMPONENT * k:,} speech frames "
            f"({FRAMES_PER_COMPONENT} per component), the enrolment recordings give {n_frames:,}; use at "
            f"most {max(most, 1):,} components or enrol more speech"
        )
    return fit


#: enrolment frames (a random subset of them) the candidate background models are fitted on
SELECTION_FRAMES = 10_000


def choose_ubm_size(frames, labels, sizes, cfg, seed, ctx):
    """The background model size whose speaker models identify held-out enrolment recordings best.

    The held-out recordings are the threshold calibration's (``threshold.calibration_share`` of each
    speaker's); for each size a background model is fitted on the other recordings and the speakers
    adapted from it (kind ubm_map, whatever ``model.kind``; raw scores: S-norm's cohort scoring would
    double the cost).  Best identification accuracy wins, then
    the lower equal error rate, then the larger size.  A background model larger than the enrolment's
    variety of sounds splits into components that belong to one speaker each, and adapting from it no
    longer tells the speakers apart (a word or passphrase enrolled by every speaker).

    Returns
    -------
    size : int
    table : list of dict or None
        Each size's held-out accuracy and EER; None when there was nothing to choose.
    start : GaussianMixture or None
        The chosen size's background model, where the one on every frame starts (no second k-means).
    """
    if len(sizes) == 1 or cfg.model.kind == "independent":
        return sizes[-1], None, None
    held = calibration_split(labels, cfg.threshold.calibration_share, seed)
    if not held:
        return sizes[-1], None, None
    held_set = set(held)
    raw = {"kind": "ubm_map", "score_norm": "none"}
    adapted = cfg.model_copy(update={"model": cfg.model.model_copy(update=raw)})
    pool = np.vstack([f for i, f in enumerate(frames) if i not in held_set])
    if len(pool) > SELECTION_FRAMES:  # the candidates' background models need not see every frame
        pool = pool[np.sort(np.random.default_rng(seed).choice(len(pool), SELECTION_FRAMES, replace=False))]
    table, fitted = [], []
    for k in sizes:
        ubm = background_model([pool], cfg, seed, ctx, n_components=k)
        fitted.append(ubm)
        S, own = held_out_scores(ubm, frames, labels, held, adapted, seed)
        target = S[np.arange(len(held)), own]
        others = np.ones_like(S, dtype=bool)
        others[np.arange(len(held)), own] = False
        table.append(
            {
                "n_components": int(ubm.n_components),
                "accuracy": float((S.argmax(axis=1) == own).mean()),
                "eer": float(equal_error_rate(target, S[others])[0]),
            }
        )
    best = min(table, key=lambda r: (-r["accuracy"], r["eer"], -r["n_components"]))
    start = fitted[table.index(best)]
    logger.info(
        "background model: %d components, chosen on %d held-out enrolment recordings (%s)",
        best["n_components"],
        len(held),
        "; ".join(
            f"{r['n_components']}: accuracy {100 * r['accuracy']:.1f}%, EER {100 * r['eer']:.2f}%" for r in table
        ),
    )
    return best["n_components"], table, start


def background_model(frames, cfg, seed, ctx, *, n_components, start=None):
    """The universal background model on every enrolment frame (a progress bar over its EM iterations);
    ``start``: a mixture of that size that EM continues from (:func:`~.model.train_ubm`)."""
    bar = ctx.progress(total=cfg.model.max_iter, desc=f"background model, {n_components} components (EM iterations)")
    try:
        return fit_background(
            frames, cfg, seed, n_components=n_components, progress=lambda i, lb: bar.update(1), start=start
        )
    finally:
        bar.close()


def total_variability(ubm, frames, cfg, seed, ctx):
    """``model.kind: ivector``: the total-variability model on every enrolment recording's statistics; else None."""
    m = cfg.model
    if m.kind != "ivector":
        return None
    N, F = baum_welch_statistics(ubm, frames)
    logger.info(
        "total variability: rank %d, %d EM iterations on %d recordings",
        m.ivector_dim,
        m.ivector_iterations,
        len(frames),
    )
    bar = functools.partial(ctx.progress, total=m.ivector_iterations, desc="total variability")
    return TotalVariability(m.ivector_dim, n_iter=m.ivector_iterations, random_state=seed).fit(N, F, progress=bar)


def identify(models, frames, files, threshold, true=None):
    """Identification table: best speaker, score, runner-up, margin, unknown decision."""
    S = models.score(frames)
    df = ranked(S, models.speakers, threshold)
    df.insert(0, "file", [str(f) for f in files])
    if true is not None and any(t is not None for t in true):
        df["true"] = true
    return df, S


def without_speech(ident, speech, true, key):
    """Recordings with too little speech to identify (:data:`.features.MIN_SPEECH_S`; silence) marked
    unknown in ``ident`` (its ``speech_s`` column), named in a warning, and unlabelled in the ``true`` the
    metrics read (returned)."""
    ident["speech_s"] = speech
    mute = speech < MIN_SPEECH_S
    if not mute.any():
        return true
    ident.loc[mute, "unknown"] = True
    logger.warning(
        "%s: %d recording(s) hold too little speech to identify (under %s s; silence?), marked unknown and left "
        "out of the accuracy figures: %s",
        key,
        int(mute.sum()),
        MIN_SPEECH_S,
        ", ".join(Path(f).name for f in ident.loc[mute, "file"][:5]) + (", ..." if mute.sum() > 5 else ""),
    )
    return None if true is None else [None if m else t for t, m in zip(true, mute)]


def identified_headline(n, speakers, mute, metrics, who=None):
    """The run's one line: recordings identified (and how many without speech), accuracy and EER when the
    recordings' speakers are known; with windows, how many turns they make."""
    acc = metrics.get("accuracy")
    head = f"identified {n} recordings of {speakers} enrolled speakers" + (f" ({mute} without speech)" if mute else "")
    if who:
        head += headline_part(who)
    if acc is None:
        return head
    lo, hi = metrics["eer_interval"]
    return f"{head}: accuracy {100 * acc:.1f}%, EER {100 * metrics['eer']:.2f}% (95% interval {100 * lo:.2f}-{100 * hi:.2f}%)"


def write_confusion(ctx, confusion, speakers, enrolled):
    """``per_speaker.csv`` (accuracy and enrolment per speaker) and ``confusion.csv`` (true x predicted)."""
    M = np.asarray(confusion["matrix"])
    ctx.write_table("per_speaker.csv", per_speaker(M, confusion["labels"], speakers, enrolled=enrolled))
    table = pd.DataFrame(M, index=confusion["labels"], columns=speakers).rename_axis("true \\ predicted")
    ctx.write_table("confusion.csv", table, index=True)


def verify(models, S, files, claims):
    """Accept or reject each claim: the claimed speaker's score against the threshold (a claimed name that
    differs from one enrolled speaker's only in case, ``george`` for ``George``, is that speaker's)."""
    rows = []
    for i, (f, c) in enumerate(zip(files, as_enrolled(claims, models.speakers))):
        if c is None:
            continue
        if c not in models.speakers:
            rows.append(
                {"file": str(f), "claimed": c, "score": np.nan, "accepted": False, "note": "speaker not enrolled"}
            )
            continue
        sc = float(S[i, models.speakers.index(c)])
        rows.append({"file": str(f), "claimed": c, "score": sc, "accepted": sc >= models.threshold, "note": ""})
    return pd.DataFrame(rows, columns=["file", "claimed", "score", "accepted", "note"])


def identify_files(models, files, cfg, ctx, key, sr, spec):
    """Features, identification, verification of claims and the output tables for a set of recordings
    (``spec``: the file, folder or glob they came from); returns the files read (:func:`extract`), the
    identifications, scores and true speakers, the files left out, and who spoke when
    (:func:`.windows.who_spoke_when`, from the same decoding of each recording)."""
    true = as_enrolled(labelled(files, cfg.data, key, required=False, spec=spec), models.speakers)
    read, frames, dur, speech, left, pieces = extract(
        files, cfg, ctx, f"{key} features", sr, key=key, windows=cfg.data.window_seconds
    )
    files, true = read, of_kept(files, true, read)
    ident, S = identify(models, frames, files, models.threshold, true)
    ident["duration_s"] = dur
    true = without_speech(ident, speech, true, key)
    ctx.write_table("identifications.csv", ident)
    sc = pd.DataFrame(S, columns=models.speakers)
    sc.insert(0, "file", ident["file"])
    ctx.write_table("scores.csv", sc)
    d = cfg.data
    claims = (
        read_claims(d.claims, files, file_column=d.file_column, speaker_column=d.speaker_column) if d.claims else true
    )
    ver = verify(models, S, files, claims)
    if len(ver):
        ctx.write_table("verifications.csv", ver)
    return files, ident, S, true, left, who_spoke_when(models, files, pieces, cfg, ctx)


def _two_speakers(labels, data):
    """The enrolled speakers, refused unless there are two or more."""
    speakers = sorted(set(labels))
    if len(speakers) < 2:
        root = label_root(data.enrol)
        loose = root is not None and speakers == [root.name] and data.label_from == "folder"
        hint = f" (the name of {data.enrol}: the recordings sit directly in it, not in a folder a speaker)"
        raise DataError(
            f"data.enrol: found only speaker(s) {speakers}{hint if loose else ''}; identification needs at least "
            "two speakers"
        )
    return speakers


class SpeakersPipeline(Pipeline):
    name = "speakers"
    input_keys = ("data.enrol", "data.test", "data.claims")
    quick_sets = ("report.plots=false", "model.n_components=16")

    def apply_example(self, run_dir, folder):
        return yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))["data"]["test"]

    def write_data(self, data, folder):
        """A mapping of speaker name -> recordings (paths, or ``(samples, sample_rate)`` pairs), one folder a speaker."""
        import soundfile as sf  # start-up time: soundfile loads only when audio is read or written

        if not isinstance(data, Mapping) or not data:
            raise ArgumentError(
                f"data: the speakers pipeline takes a non-empty mapping of speaker name -> recordings "
                f"or a path, got {type(data).__name__ if not isinstance(data, Mapping) else 'an empty mapping'}"
            )
        for speaker, takes in data.items():
            name = str(speaker)
            if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0"):
                raise DataError(
                    f"data: speaker name {name!r} cannot name a folder; use letters, digits, spaces, '-' or '_'"
                )
            if isinstance(takes, (str, bytes, Path)) or not isinstance(takes, Sequence) or not takes:
                raise DataError(
                    f"data[{name!r}]: expected a non-empty list of recordings (paths or (samples, "
                    f"sample_rate) pairs), got {type(takes).__name__}"
                )
            sub = Path(folder) / name
            sub.mkdir()
            for i, rec in enumerate(takes):
                where = f"data[{name!r}][{i}]"
                if isinstance(rec, (str, Path)):  # keep the file's name (numbered, as names may repeat)
                    src = require_file(rec, key=where, expected="a recording")
                    shutil.copy(src, sub / f"{i:04d}_{src.name}")
                    continue
                if not isinstance(rec, (tuple, list)) or len(rec) != 2:
                    raise DataError(
                        f"{where}: expected a path or a (samples, sample_rate) pair, got "
                        f"{type(rec).__name__}{f' of {len(rec)} items' if isinstance(rec, (tuple, list)) else ''}"
                    )
                y, sr = rec
                y = np.asarray(y)
                if y.dtype.kind not in "fiu" or y.ndim not in (1, 2) or y.size == 0 or not np.all(np.isfinite(y)):
                    raise DataError(
                        f"{where}: samples must be a non-empty 1-D (or samples x channels) array of finite "
                        f"numbers, got {y.dtype} of shape {y.shape}"
                    )
                if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not 1000 <= int(sr) <= 768_000:
                    raise DataError(
                        f"{where}: sample rate must be a whole number of Hz from 1000 to 768000, got {sr!r}"
                    )
                sf.write(sub / f"{i:04d}.wav", y.astype(np.float32), int(sr))
        return str(folder)

    def data_overrides(self, path):
        """Recordings to enrol, one folder a speaker (the Python API's ``data``); no test set."""
        return {"data.enrol": str(path), "data.label_from": "folder", "data.test": None}

    def suggest(self, path):
        """A folder or list of recordings (one holding an enrolment and a test set: both), read as the run reads
        them: their speakers found, every recording's header read; what the run would refuse is said now
        (``init --data``)."""

        def attempt(data):
            for key in ("enrol", "test"):
                spec = getattr(data, key)
                if spec:
                    files = recordings(spec, data, key=f"data.{key}", source="init")
                    labelled(files, data, f"data.{key}", required=key == "enrol", spec=spec)
                    for f in files if data.unreadable == "error" else ():
                        native_rate(f)

        return self.with_fixes(suggested_sources(path), attempt)

    description = "speaker identification and verification: UBM + MAP-adapted GMMs on MFCCs"
    config_model = SpeakersConfig
    model_class = SpeakerModels
    each_file = False  # a run enrols a set of recordings, several a speaker
    folder_input = True

    def check(self, config, source):
        if config.data.claims:
            check_input(config.data.claims, key="data.claims", source=source)
        for key in ("enrol", "test"):
            spec = getattr(config.data, key)
            if is_list(spec):
                check_input(spec, key=f"data.{key}", source=source)
            if spec and not is_list(spec):
                recordings(spec, config.data, key=f"data.{key}", source=source)

    def run(self, cfg, ctx):
        from . import report as rep  # start-up time: the report module loads matplotlib

        seed = cfg.model.random_state
        enrol_files, enrol_labels, enrol_frames, sr, sizes, skipped, enrolled = self._enrolment(cfg, ctx)
        size, sizes_tried, start = choose_ubm_size(enrol_frames, enrol_labels, sizes, cfg, seed, ctx)
        ubm = background_model(enrol_frames, cfg, seed, ctx, n_components=size, start=start)
        extractor = total_variability(ubm, enrol_frames, cfg, seed, ctx)
        left_out = functools.partial(ctx.progress, desc="unknown-speaker threshold (speakers left out in turn)")
        threshold, calib = calibrate(ubm, enrol_frames, enrol_labels, cfg, seed, extractor, progress=left_out)
        models = build_models(ubm, enrol_frames, enrol_labels, cfg, seed, extractor)
        models.threshold = threshold
        models.save(
            ctx.path("model.npz"),
            meta={"pipeline": "speakers", "features": cfg.features.model_dump(), "sample_rate": sr},
        )
        speakers = models.speakers
        summary = {
            "speakers": speakers,
            "enrolment_recordings": len(enrol_files),
            "sample_rate": sr,
            "threshold": threshold,
            "threshold_calibration": calib,
            "model_kind": cfg.model.kind,
            "ubm_components": int(models.ubm.n_components),
            "ubm_sizes_tried": sizes_tried,
            "enrolment_per_speaker": enrolled,
            "under_enrolled": under_enrolled(enrolled),
        }
        if extractor is not None:
            summary["ivector_dim"] = int(extractor.T_.shape[2])
            summary["ivector_scored_dim"] = int(models.backend.projection_.shape[1])  # after LDA
        if not cfg.data.test:
            summary["headline"] = f"enrolled {len(speakers)} speakers from {len(enrol_files)} recordings"
            summary = with_left_out(summary, skipped, "recording", "that could not be read")
            rep.build_report(ctx, cfg, summary=summary, ident=None, scores=None, models=models, curves={})
            return summary
        test = recordings(cfg.data.test, cfg.data, key="data.test", source="config", warn=False)
        test_files, more = readable_recordings(test, cfg.data, key="data.test")
        test_files, ident, S, true, gone, (who, turns) = identify_files(
            models, test_files, cfg, ctx, "data.test", sr, cfg.data.test
        )
        more += gone
        metrics = self._metrics(ident, S, models, true, seed)
        curves = {k: metrics.pop(k) for k in list(metrics) if k.startswith("_")}
        mute = int((ident["speech_s"] < MIN_SPEECH_S).sum())
        summary.update({"test_recordings": len(test_files), "without_speech": mute, **metrics, **who})
        if "confusion" in metrics:
            write_confusion(ctx, metrics["confusion"], speakers, enrolled)
        summary["headline"] = identified_headline(len(test_files), len(speakers), mute, metrics, who)
        if summary["under_enrolled"]:
            summary["headline"] += f"; enrolled with little speech: {', '.join(summary['under_enrolled'])}"
        summary = with_left_out(summary, skipped + more, "recording", "that could not be read")
        rep.build_report(ctx, cfg, summary=summary, ident=ident, scores=S, models=models, curves=curves, turns=turns)
        return summary

    @staticmethod
    def _enrolment(cfg, ctx):
        """Enrolment recordings, their speakers, speech frames (checked: two speakers, enough frames) and the
        sample rate."""
        every = recordings(cfg.data.enrol, cfg.data, key="data.enrol", source="config", warn=False)
        files, skipped = readable_recordings(every, cfg.data, key="data.enrol")
        labels = labelled(files, cfg.data, "data.enrol", required=True, spec=cfg.data.enrol)
        speakers = _two_speakers(labels, cfg.data)
        sr = sample_rate(cfg, files)
        read, frames, _, speech, more, _ = extract(files, cfg, ctx, "enrolment features", sr, key="data.enrol")
        if more:  # recordings cut short after their header, left out as they were read
            files, labels, skipped = read, of_kept(files, labels, read), skipped + more
            speakers = _two_speakers(labels, cfg.data)
        if (speech < MIN_SPEECH_S).any():
            i = int(np.flatnonzero(speech < MIN_SPEECH_S)[0])
            raise DataError(
                f"{files[i]}: holds {speech[i]:.2f} s of speech (silence, or too short), less than the {MIN_SPEECH_S} s "
                f"a voice needs; remove it from data.enrol ({int((speech < MIN_SPEECH_S).sum())} such file(s))"
            )
        n_frames = sum(len(f) for f in frames)
        logger.info("enrolment: %d recordings of %d speakers, %d speech frames", len(files), len(speakers), n_frames)
        enrolled = enrolment_per_speaker(labels, speech)
        for said in enrolment_cautions(enrolled):
            logger.warning("%s", said)
        return files, labels, frames, sr, ubm_sizes(cfg.model.n_components, n_frames), skipped, enrolled

    @staticmethod
    def _metrics(ident, S, models, true, seed):
        if true is None or all(t is None for t in true):
            return {"unknown_rate": float(ident["unknown"].mean())}
        known = np.array([t in models.speakers for t in true])
        stranger = np.array([t is not None for t in true]) & ~known  # labelled, never enrolled: an impostor
        y = np.array([models.speakers.index(t) if t in models.speakers else -1 for t in true])
        pred = S.argmax(axis=1)
        out = {
            "accuracy": float((pred[known] == y[known]).mean()) if known.any() else None,
            "errors": int((pred[known] != y[known]).sum()),
            "unknown_rate_enrolled": float(ident["unknown"][known].mean()) if known.any() else None,
            "open_set_accuracy": float(((pred[known] == y[known]) & ~ident["unknown"][known].to_numpy()).mean())
            if known.any()
            else None,
        }
        if stranger.any():
            out["unknown_speakers_rejected"] = float(ident["unknown"][stranger].mean())
        if known.any():  # an unlabelled recording (no speaker folder, too little speech) is no trial at all
            tgt = S[np.flatnonzero(known), y[known]]
            mask = np.zeros_like(S, dtype=bool)
            mask[known | stranger] = True
            mask[np.flatnonzero(known), y[known]] = False
            imp = S[mask]
            eer, eer_th = equal_error_rate(tgt, imp)
            trials = known | stranger
            out.update(
                {"eer": eer, "eer_threshold": eer_th, "eer_interval": eer_interval(S[trials], y[trials], seed=seed)}
            )
            labels_true = sorted({t for t in true if t is not None})
            M = np.zeros((len(labels_true), len(models.speakers)), dtype=int)
            for t, p in zip(true, pred):
                if t is not None:
                    M[labels_true.index(t), p] += 1
            out["confusion"] = {"labels": labels_true, "matrix": M.tolist()}
            out["confused_pairs"] = confused_pairs(M, labels_true, models.speakers)
            far, frr, _ = det_curve(tgt, imp)
            out["_det"] = (far, frr)
            out["_target"], out["_impostor"] = tgt, imp
        return out

    def apply(self, run_dir, input, config, ctx):
        models, meta = SpeakerModels.load(Path(run_dir) / "model.npz")
        files, skipped = readable_recordings(
            recordings(input, config.data, key="input", source="apply"), config.data, key="input"
        )
        files, ident, S, true, gone, (who, _) = identify_files(
            models, files, config, ctx, "input", int(meta["sample_rate"]), input
        )
        skipped += gone
        m = self._metrics(ident, S, models, true, config.model.random_state)
        counts = ident["predicted"].where(~ident["unknown"], "unknown").value_counts().to_dict()
        head = f"identified {len(files)} recording(s)"
        if m.get("accuracy") is not None:
            head += f": accuracy {100 * m['accuracy']:.1f}%"
        if who:
            head += headline_part(who)
        if few := read_summary(run_dir).get("under_enrolled"):  # the least reliable answers, said each time
            head += f"; enrolled with little speech: {', '.join(few)}"
        out = {
            "headline": head,
            "recordings": len(files),
            "predicted_counts": counts,
            **{k: v for k, v in m.items() if not k.startswith("_") and k != "confusion"},
            **who,
        }
        return with_left_out(out, skipped, "recording", "that could not be read")
