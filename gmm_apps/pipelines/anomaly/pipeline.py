"""The anomaly pipeline: reference records -> GMM ensemble -> scores, flags and explanations."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ...engine import ROWS_READ, dask_client, dask_frame
from ...errors import ConfigError, DataError
from ...paths import check_input, local_path, require_file
from ...registry import Pipeline, index_holds_labels
from ...tabular import check_sheet, header_with
from .answers import join_verdicts
from .config import AnomalyConfig
from .data import (
    BadValueError,
    ends_in_totals,
    read_frame,
    say_balance_rows,
    suggested_id_column,
    without_balance_rows,
)
from .features import Schema
from .model import GMMDetector
from .shift import HELD_OUT_FOLDS, HELD_OUT_MAX, RATIO, Profile, Tally, shift_sentence, shift_summary
from .verdicts import LOCAL, NEAR, precision_at

logger = logging.getLogger("gmm_apps.anomaly")


def check_variation(X, names, source):
    """Refuse reference records with nothing to learn from: a feature with fewer than 2 values (missing
    values allowed), every feature constant, or too few distinct records."""
    if X.shape[0] < 2:
        return  # the detector says how many it needs
    seen = (~np.isnan(X)).sum(axis=0)
    if seen.min() < 2:
        j = int(np.argmin(seen))
        raise DataError(
            f"{source}: column {names[j]!r} has {int(seen[j])} value(s) among the {len(X)} reference "
            "records; a feature needs at least 2 to be learned; fill it or leave it out of data.columns"
        )
    if np.all(np.nanmax(X, axis=0) - np.nanmin(X, axis=0) == 0):
        raise DataError(
            f"{source}: every feature is constant over the {len(X)} reference records "
            f"({', '.join(map(str, names[:5]))}{', ...' if len(names) > 5 else ''}); there is nothing to "
            "tell normal from unusual; use reference data that varies"
        )
    distinct = len(np.unique(X, axis=0)) if len(X) <= 200_000 else None
    if distinct is not None and distinct < 3:
        raise DataError(f"{source}: only {distinct} distinct reference records; a detector needs at least 3")


def apply_threshold(det, cfg, held_out=None):
    """Set the detector's thresholds from ``cfg.threshold`` (with ``held_out``, the reference's cross-fitted scores,
    a rate's threshold for new records is set on them)."""
    t = cfg.threshold
    if t.method == "fixed":
        det.set_threshold(value=t.value)
    else:
        det.set_threshold(rate=t.rate, held_out=held_out)


def held_out_scores(cfg, det, train, progress=None):
    """Each reference record's score by a detector fitted without it (:data:`~.shift.HELD_OUT_FOLDS` folds), on a
    reference of at most :data:`~.shift.HELD_OUT_MAX` records; None for a larger one (a detector fitted on so many
    flags new records like them at about its own rate), one whose scores are cross-fitted already (verdicts),
    or one too small to leave a fifth out. A detector scores records it was not fitted on as more unusual
    than those it learned from, the more so the fewer they are: these scores set the threshold for new records
    and the share of them to expect."""
    n = len(train.X)
    largest_fold = -(-n // HELD_OUT_FOLDS)  # rounded up: the fewest records a fold detector is fitted on is n minus it
    if n > HELD_OUT_MAX or det.verdicts_ is not None or n - largest_fold < GMMDetector.MIN_RECORDS:
        return None
    fold = np.random.default_rng(cfg.model.random_state).permutation(n) % HELD_OUT_FOLDS
    held = np.empty(n)
    for k in range(HELD_OUT_FOLDS):
        d = GMMDetector.from_config(cfg).fit(train.X[fold != k])
        held[fold == k] = d.decision_function(train.X[fold == k])
        if progress is not None:
            progress(k + 1, HELD_OUT_FOLDS)
    return held


def say_held_out(det, held, train):
    """Log how far the reference's own threshold is from the one new records get (when the gap matters)."""
    own, unseen = float(np.mean(det.labels_)), float(np.mean(held > det.threshold_))
    if unseen < RATIO * max(own, 1e-12):
        return
    if det.threshold_rate_ is not None:
        logger.info(
            "new records are flagged above %.4g, the score %.1f%% of the reference records pass when scored by a "
            "detector fitted without them (five folds); the reference's own threshold, %.4g, would flag about %.1f%% "
            "of new records like them: %d records are few for %d features",
            det.threshold_new_,
            100 * float(np.mean(held > det.threshold_new_)),
            det.threshold_,
            100 * unseen,
            len(train.X),
            train.X.shape[1],
        )
    else:
        logger.info(
            "the fixed threshold flags %.1f%% of the reference records and about %.1f%% of new records like them "
            "(scored by detectors fitted without them, five folds): %d records are few for %d features",
            100 * own,
            100 * unseen,
            len(train.X),
            train.X.shape[1],
        )


def score_table(det, rec, names, explain, *, reference=False):
    """Scores, flags, probabilities and explanations of records; ``reference``: ``rec`` are the records the
    detector was fitted on (with verdicts, their cross-fitted scores are used)."""
    blended = det.verdicts_ is not None
    if blended:
        v = det.verdict_scores(rec.X)
        s, unsupervised = (det.decision_scores_, det.unsupervised_scores_) if reference else (v.score, v.unsupervised)
    else:  # the reference's scores are those of the fit (the same computation)
        s = det.decision_scores_ if reference else det.decision_function(rec.X)
    flag = s > (det.threshold_ if reference else det.threshold_new_)
    p = det.proba_from_scores(s, reference=reference)[:, 1]
    df = pd.DataFrame({"id": rec.ids, "score": s, "flag": flag, "probability": p})
    if blended:
        df["unsupervised_score"] = unsupervised
        df["flagged_by"] = np.where(flag, v.flagged_by, "")
    why = [""] * len(s)
    idx = np.flatnonzero(flag)
    if idx.size:
        for i, e in zip(idx, det.explain(rec.X[idx], top=explain, names=names)):
            close = blended and v.flagged_by[i] in (NEAR, LOCAL)
            why[i] = "; ".join(([f"close to confirmed anomaly {v.nearest[i]}"] if close else []) + e)
    df["top_features"] = why
    for name, values in (rec.context or {}).items():  # the record's group's usual amount beside its score
        df[name] = values
    if rec.labels is not None:
        df["label"] = rec.labels
    if blended and rec.verdicts is not None:
        df["verdict"] = rec.verdicts
    return df


def verdict_summary(det, train):
    """What the verdicts did: counts, each candidate's weight and cross-fitted AUC, and the precision among the
    top-N labelled records (N = the confirmed anomalies) by the unsupervised score and by the blend."""
    if det.verdicts_ is None:
        if train.verdicts is not None and np.any(~np.isnan(train.verdicts)):
            return {
                "used": False,
                "anomalies": 0,
                "normals": int(np.sum(train.verdicts == 0)),
                "why": "no confirmed anomaly among the verdicts; the unsupervised score is used",
            }
        return None
    vm = det.verdicts_
    y = det.verdict_y_
    labelled = ~np.isnan(train.verdicts)
    before = precision_at(det.unsupervised_scores_[labelled], y, vm.n_anomalies_)
    after = precision_at(vm.labelled_scores_, y, vm.n_anomalies_)
    return {
        "used": True,
        "anomalies": vm.n_anomalies_,
        "normals": vm.n_normals_,
        "candidates": [
            {"name": n, "weight": float(w), "labelled_auc": float(a)}
            for n, w, a in zip(vm.names_, vm.weights_, vm.auc_)
        ],
        "top_n": vm.n_anomalies_,
        "precision_before": before,
        "precision_after": after,
    }


def evaluation(labels, scores):
    if labels is None or len(np.unique(labels)) < 2:
        return None
    from sklearn.metrics import average_precision_score, roc_auc_score  # reason: start-up; only with labels

    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "outlier_share": float(np.mean(labels)),
    }


class AnomalyPipeline(Pipeline):
    name = "anomaly"
    model_sections = ("model", "threshold")
    input_keys = ("data.path", "data.score", "data.verdicts")
    model_file = "model/detector.npz"
    model_class = GMMDetector
    batch_plot = "scores.png"
    updates_model = True
    quick_sets = ("report.plots=false", "model.seeds=2", "model.components=[1, 4]")

    def suggest(self, path):
        """The records to learn from, scored themselves, the column of their ids, the columns to score when
        some are categories too many to score (ids, notes), and missing values scored by the other features
        when some are empty (``init --data``)."""
        frame = read_frame(path)

        def attempt(data):  # a fix may name the id column, then the columns to leave out, then data.missing
            Schema.learn(frame, data, path).records(frame, path)

        return self.with_fixes(
            {"data.path": path, "data.score": None, "data.id_column": suggested_id_column(frame)}, attempt
        )

    def apply_example(self, run_dir, folder):
        cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))["data"]
        return cfg.get("score") or cfg["path"]

    description = "anomaly scores for records, with thresholds and per-record explanations"
    config_model = AnomalyConfig

    def write_data(self, data, folder):
        """A DataFrame of records; its index, when it holds ids (named, or text), is the records' ``id`` column
        (``data.id_column``'s default), unless the frame has one already."""
        if isinstance(data, pd.DataFrame) and data.index.nlevels == 1 and index_holds_labels(data.index):
            if "id" not in data.columns:
                data = data.rename_axis("id").reset_index()
        return super().write_data(data, folder)

    def batch_headline(self, rows):
        """Records flagged of those scored, over every run, and the files that moved as a whole: 'flagged 21 of
        150 records in all; far more flagged than records like the reference in 1 (day3)'."""
        scored = [r for r in rows if r.get("scored_records") is not None and r.get("flagged") is not None]
        if len(scored) < 2:
            return ""
        line = f"flagged {sum(r['flagged'] for r in scored):,} of {sum(r['scored_records'] for r in scored):,} records in all"
        for how, said in (("more unusual", "far more"), ("less unusual", "far fewer")):
            if runs := [str(r["run"]) for r in rows if r.get("compared_with_reference") == how]:
                shown = ", ".join(runs[:5]) + (", ..." if len(runs) > 5 else "")
                line += f"; {said} flagged than records like the reference in {len(runs)} ({shown})"
        return line

    def batch_figures(self, summary):
        """Records learned from and scored, those flagged, whether they moved as a whole from the reference
        (``more unusual``, ``less unusual``, ``like the reference``; empty when not compared), and how well the
        scores ranked labels a file had."""
        judged = summary.get("evaluation") or {}
        return {
            "reference_records": summary.get("reference_records"),
            "scored_records": summary.get("scored_records"),
            "flagged": summary.get("flagged"),
            "compared_with_reference": _compared(summary.get("compared_with_reference")),
            "roc_auc": judged.get("roc_auc"),
            "headline": summary.get("headline"),
        }

    def check(self, config, source):
        if config.data.missing == "marginalize" and config.model.bags:
            raise ConfigError(
                f"{source}: model.bags: bagged members on feature subsets cannot score a record missing "
                "every feature of a subset; set model.bags: 0 with data.missing: marginalize"
            )
        for key in ("path", "score", "verdicts"):
            v = getattr(config.data, key)
            if v:
                check_input(v, key=f"data.{key}", source=source, each=key == "path")
        files = [f for f in (config.data.path, config.data.score) if f]
        if config.data.decimal_mark != "auto" and all(Path(f).suffix.lower() == ".mat" for f in files):
            raise ConfigError(
                f"{source}: data.decimal_mark is set, but .mat files hold numbers, not text to read; leave it auto"
            )

    def run(self, cfg, ctx):
        from . import report as rep  # start-up time: the report module loads matplotlib

        schema, train, sections = self._reference(cfg)
        det, verdicts, held = self._fit(cfg, train, ctx)
        expected = None if held is None else float(np.mean(held > det.threshold_new_))
        profile = Profile.of(train.X, det.labels_.astype(bool), expected=expected)
        meta = {"pipeline": "anomaly", "schema": schema.to_dict(), "features": schema.features}
        det.save(ctx.path("model"), meta={**meta, "reference_profile": profile.to_dict()})
        rec = train
        if cfg.data.score and _same_file(cfg.data.score, cfg.data.path):
            logger.info("%s: data.score is data.path: its records are scored as the reference", cfg.data.score)
        elif cfg.data.score:
            new = read_frame(cfg.data.score, sheet=cfg.data.sheet, named=_named(cfg))
            sections["data.score"] = new.attrs.get("sections")
            rec = schema.records(new, cfg.data.score, shown=True)
        out = score_table(det, rec, schema.features, cfg.report.explain, reference=rec is train)
        ctx.write_table("scores.csv", out)
        summary = self._summary(cfg, det, schema, train, rec, out, verdicts)
        summary["new_records_flagged_expected"] = {"share": profile.expected_share, "from": profile.expected_from}
        if sections := {key: read for key, read in sections.items() if read}:  # a report in sections read as a table
            summary["sections"] = sections
        if rec is not train:
            compare(summary, profile, profile.tally(rec.X, out["flag"].to_numpy()), schema.features, cfg.data.score)
        rep.build_report(ctx, cfg, summary=summary, scores=out, det=det, rec=rec, names=schema.features)
        return summary

    def _reference(self, cfg):
        """The reference records, the schema learned from them, and ``{"data.path": how a report in sections was
        read}`` (:func:`gmm_apps.sections.in_sections`; None for a table)."""
        if cfg.data.sheet is not None:  # the run's files: a sheet named for a file without sheets is refused
            for key, f in (("data.path", cfg.data.path), ("data.score", cfg.data.score)):
                if f and Path(f).suffix.lower() != ".mat":
                    check_sheet(require_file(f, key=key), cfg.data.sheet)
        ref = read_frame(cfg.data.path, sheet=cfg.data.sheet, named=_named(cfg))
        if cfg.data.verdicts:
            ref = join_verdicts(ref, cfg.data, cfg.data.path)
        schema = Schema.learn(ref, cfg.data, cfg.data.path)
        train = schema.records(ref, cfg.data.path, shown=True)
        logger.info("%s: %d reference records, %d features", cfg.data.path, len(train.X), train.X.shape[1])
        check_variation(train.X, schema.features, cfg.data.path)
        return schema, train, {"data.path": ref.attrs.get("sections")}

    def _fit(self, cfg, train, ctx):
        """The detector fitted on the reference (and its verdicts), its threshold set; with the verdicts' summary."""
        det = GMMDetector.from_config(cfg)
        if det.max_fit_rows and len(train.X) > det.max_fit_rows:
            logger.info(
                "each view is fitted on its own random sample of %d of the %d reference records "
                "(model.max_fit_rows); every record is scored",
                det.max_fit_rows,
                len(train.X),
            )
        with ctx.progress(desc="fitting the GMM ensemble") as bar:
            det.fit(train.X, verdicts=train.verdicts, ids=train.ids, progress=_moves(bar))
        with ctx.progress(desc="scoring held-out folds") as bar:
            held = held_out_scores(cfg, det, train, progress=_moves(bar))
        apply_threshold(det, cfg, held)
        if held is not None:
            say_held_out(det, held, train)
        verdicts = verdict_summary(det, train)
        if verdicts is not None:
            logger.info(
                "verdicts: %d confirmed anomalies, %d confirmed normals%s",
                verdicts["anomalies"],
                verdicts["normals"],
                "" if verdicts["used"] else f" ({verdicts['why']})",
            )
        return det, verdicts, held

    def _summary(self, cfg, det, schema, train, rec, out, verdicts):
        """The run's key figures for ``summary.json``, the headline and the report."""
        target = cfg.data.score or cfg.data.path
        ev = evaluation(rec.labels, out["score"].to_numpy())
        ev_train = evaluation(train.labels, det.decision_scores_) if cfg.data.score else None
        summary = {
            "headline": f"{int(out['flag'].sum()):,} of {len(out):,} records flagged in {local_path(target).name}"
            + (f" (ROC-AUC {ev['roc_auc']:.3f})" if ev else ""),
            "reference_records": len(train.X),
            "scored_records": len(out),
            "features": schema.features,
            "members": len(det.members_),
            "threshold": det.threshold_ if rec is train else det.threshold_new_,
            "threshold_reference": det.threshold_,
            "threshold_new_records": det.threshold_new_,
            "threshold_method": cfg.threshold.method,
            "flagged": int(out["flag"].sum()),
            "evaluation": ev,
            "evaluation_reference": ev_train,
        }
        if verdicts is not None:
            summary["verdicts"] = verdicts
            if verdicts["used"]:
                summary["evaluation_unsupervised"] = evaluation(rec.labels, out["unsupervised_score"].to_numpy())
        return summary

    def apply(self, run_dir, input, config, ctx):
        det, meta = GMMDetector.load(Path(run_dir) / "model")
        schema = Schema.from_dict(meta["schema"], meta.get("features"))
        profile = Profile.from_dict(meta["reference_profile"]) if "reference_profile" in meta else None
        out_path = ctx.path("scores.csv")
        n = flagged = 0
        tally = Tally()
        labels, scores = [], []
        update = getattr(ctx, "update", False)  # learning is sequential: the chunks are read here, in order
        with dask_client(config.engine) as client, contextlib.ExitStack() as stack:
            tables = _scored_chunks(input, config, det, schema, profile, update=update, client=client, stack=stack)
            for i, (t, part) in enumerate(ctx.progress(tables, desc="scoring chunks")):
                if part is not None:
                    tally = tally + part
                t.to_csv(out_path, mode="a", header=(i == 0), index=False, float_format="%.10g", lineterminator="\n")
                n += len(t)
                flagged += int(t["flag"].sum())
                scores.append(t["score"].to_numpy())
                if "label" in t:
                    labels.append(t["label"].to_numpy())
        if n == 0:
            raise DataError(
                f"{input}: no records to score (only a header?); expected rows of the run's feature columns"
            )
        if 0 < len(labels) < len(scores):  # labels found by name in some blocks only (auto): not comparable
            logger.warning(
                "%s: labels found in %d of %d blocks; the scores are not evaluated", input, len(labels), len(scores)
            )
            labels = []
        ev = evaluation(np.concatenate(labels) if labels else None, np.concatenate(scores))
        summary = {
            "headline": f"{flagged:,} of {n:,} records flagged" + (f" (ROC-AUC {ev['roc_auc']:.3f})" if ev else ""),
            "scored_records": n,
            "flagged": flagged,
            "threshold": det.threshold_new_,
            "evaluation": ev,
        }
        if profile is not None and tally.n:  # a model saved before records were compared has no profile
            compare(summary, profile, tally, schema.features, input)
        if update:
            if profile is not None and tally.n:  # the levels to compare with follow the records learned from
                meta = dict(meta, reference_profile=profile.merged(tally).to_dict())
            self._save_update(ctx, det, meta, run_dir, n, len(scores), summary)
        return summary

    def _save_update(self, ctx, det, meta, run_dir, n, batches, summary):
        """Save the detector that learned from the applied records, and say so in ``summary``."""
        det.save(ctx.path("model"), meta=dict(meta, updated_from=str(run_dir)))
        logger.info(
            "the detector learned from %d new records in %d batches; saved in %s",
            n,
            batches,
            ctx.final_dir / "model",
        )
        summary["headline"] += f"; detector updated with {n:,} records"
        summary["update"] = {
            "records": n,
            "batches": batches,
            "batches_since_fit": det.n_updates_,
            "threshold_after": det.threshold_new_,
        }
        if det.verdicts_ is not None:  # every verdict so far, not only this file's
            summary["update"]["verdicts"] = {
                "anomalies": det.verdicts_.n_anomalies_,
                "normals": det.verdicts_.n_normals_,
            }
            summary["headline"] += (
                f"; the score now learns from {det.verdicts_.n_anomalies_:,} confirmed "
                f"anomalies and {det.verdicts_.n_normals_:,} confirmed normals"
            )


def _scored_chunks(input, config, det, schema, profile, *, update, client, stack):
    """Each chunk of ``input`` scored, with its sums for the comparison with the reference: read here, in
    order (learning from them with ``update``), or on the Dask cluster's workers."""
    blocks = None
    if client is not None and not update and Path(input).suffix.lower() != ".mat":
        blocks = dask_frame(
            input,
            chunk_rows=config.engine.chunk_rows,
            header_has=header_with(_named(config)),
            keep=_named(config),
            local_if=ends_in_totals,
        )  # None: read in one process
    if blocks is not None:
        return _score_on_dask(client, blocks.to_delayed(), det, schema, input, config.report.explain, profile)
    frames = read_frame(input, chunksize=config.engine.chunk_rows, sheet=config.data.sheet, named=_named(config))
    if hasattr(frames, "close"):  # the CSV reader holds the file open until closed
        stack.callback(frames.close)
    chunk = score_and_update if update else score_chunk
    if update and config.data.verdicts:  # verdicts given since on the new records, by their id
        frames = (join_verdicts(f, config.data, input) for f in frames)
    # a chunk's index counts its rows from the file's first (records without ids are named by their row)
    return (chunk(frame, det, schema, input, config.report.explain, profile) for frame in frames if len(frame))


def score_chunk(frame, det, schema, source, explain, profile=None):
    """Scores of one chunk of records (runs locally or on a Dask worker), with the chunk's sums for the comparison
    with the reference (:class:`.shift.Tally`; None without a ``profile``)."""
    rec = schema.records(frame, source)
    table = score_table(det, rec, schema.features, explain)
    return table, None if profile is None else profile.tally(rec.X, table["flag"].to_numpy())


def score_partition(frame, det, schema, source, explain, profile=None):
    """:func:`score_chunk` of a Dask partition read as it is in the file, without a statement's balance rows (a
    local read leaves them out as it reads), with how many there were and the first of them, to be logged, and
    the rows the partition had in the file (its records are named by their row from its first)."""
    rows = frame.attrs.get(ROWS_READ, len(frame))  # before any row is left out: where the next partition starts
    frame, balance = without_balance_rows(frame)
    return (*score_chunk(frame, det, schema, source, explain, profile), len(balance), balance.head(3), rows)


def score_and_update(frame, det, schema, source, explain, profile=None):
    """:func:`score_chunk` by the detector as it is, then the detector learns from the chunk (``apply --update``)."""
    rec = schema.records(frame, source)
    table = score_table(det, rec, schema.features, explain)
    det.update(rec.X, verdicts=rec.verdicts, ids=rec.ids)
    return table, None if profile is None else profile.tally(rec.X, table["flag"].to_numpy())


def compare(summary, profile, tally, names, source):
    """The scored records against the reference (``compared_with_reference``), said in the headline and the log
    when they moved as a whole."""
    found = shift_summary(profile, tally, names)
    summary["compared_with_reference"] = found
    if said := shift_sentence(found):
        summary["headline"] += f"; {said}"
        logger.warning("%s: %s", source, said)


def _compared(found):
    """A file's records against the reference, in a word for a batch's table (None: not compared)."""
    return None if not found else found["shifted"] or "like the reference"


def _moves(bar):
    """A ``progress(i, n)`` callback that moves the progress bar ``bar`` to ``i`` of ``n``."""

    def step(i, n):
        bar.total = n
        bar.n = i
        bar.refresh()

    return step


def _same_file(a, b):
    """Whether two input paths name one file (the reference given again as the records to score)."""
    try:
        return local_path(a).resolve().samefile(local_path(b).resolve())
    except OSError:
        return False


def _named(cfg):
    """The columns a config names, by which a header below a report's title rows is found."""
    return [cfg.data.id_column, *(cfg.data.columns or [])]


def _score_on_dask(client, parts, det, schema, source, explain, profile=None):
    """Score partitions on the workers, a few at a time, yielding the tables in file order.

    Each partition is read once: workers count rows from the partition's start and the rows of the
    partitions before it in the file are added here (to default ids, and to the row of a bad value).
    """
    import dask  # scale-out only: dask loads when Dask is used

    det_f = client.scatter(det, broadcast=True)
    window = 2 * max(1, len(client.scheduler_info()["workers"])) + 1
    pending = []
    offset = 0

    def collect():
        nonlocal offset
        try:
            t, tally, balances, first, rows = pending.pop(0).result()
        except BadValueError as exc:
            raise exc.shifted(offset) from None
        say_balance_rows(source, balances, first)
        if schema.id_column is None:
            t["id"] += offset
        offset += rows
        return t, tally

    for part in parts:
        pending.append(client.compute(dask.delayed(score_partition)(part, det_f, schema, source, explain, profile)))
        if len(pending) >= window:
            yield collect()
    while pending:
        yield collect()
