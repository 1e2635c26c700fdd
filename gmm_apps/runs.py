"""Running a pipeline: ``run`` and ``apply`` from a config to a finished run folder, and reading runs back.

The folder itself (staging, lock, log, seal, rename) is
:class:`gmm_apps.run_context.RunContext`; where it may go is
:func:`gmm_apps.destination.check_destination`.
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path

import yaml

from . import __version__
from .config import dump_config, load_config, upgrade_run_config, validate_config
from .core.persistence import SIGNING_KEY_ENV, jsonable, loads_json, signature
from .errors import ConfigError, ModelFileError, UserError
from .paths import is_run_folder
from .registry import get_pipeline
from .run_context import MARKER, RunContext, model_digests
from .yaml_io import dotted_get, dotted_pop, dotted_put, read_yaml

logger = logging.getLogger("gmm_apps")


def model_settings(pipeline, config):
    """The parts of a config that define a pipeline's fitted model (its ``model_sections``), as plain data."""
    dumped = config.model_dump(mode="json")
    return {key: dotted_get(dumped, key, None) for key in pipeline.model_sections}


_UNVERIFIED = (
    "{run_dir}: written by an older gmm_apps that did not record its model files' checksums; the model "
    "is applied unverified (rerun to write a run whose model files are checked)"
)


def verify_run(run_dir, settings, model_paths=(), *, upgrade=None):
    """Check that a run folder's settings and model files are the ones its model was fitted with and written to
    (and signed, with a key).

    Parameters
    ----------
    run_dir : Path
    settings : dict
        :func:`model_settings` of the run folder's ``config.yaml`` as it is now.
    model_paths : iterable of str
        The pipeline's model files or folders (:meth:`Pipeline.model_paths`).
    upgrade : callable, optional
        Maps the settings the marker recorded to today's key names (a run of an
        earlier version), as its ``config.yaml`` is mapped.

    Returns
    -------
    warning : str or None
        Set when the run predates model checksums (its model is applied unverified).

    Raises
    ------
    ModelFileError
    """
    run_dir = Path(run_dir)
    keyed = os.environ.get(SIGNING_KEY_ENV)
    try:
        marker = loads_json((run_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = None
    if not isinstance(marker, dict) or "model_settings" not in marker:
        marker = None  # written by an older gmm_apps
    if keyed:
        sig = marker.pop("signature", None) if marker else None
        if sig is None:
            raise ModelFileError(
                f"{run_dir}: the run is not signed, and {SIGNING_KEY_ENV} is set; only runs written "
                "with the key are accepted (rerun it with the key set)"
            )
        want = signature(json.dumps(marker, sort_keys=True).encode("utf-8"))
        if not isinstance(sig, str) or not hmac.compare_digest(sig, want):
            raise ModelFileError(
                f"{run_dir / MARKER}: the signature does not match {SIGNING_KEY_ENV}; the run folder "
                "was altered or signed with another key"
            )
    if marker is None:
        return _UNVERIFIED.format(run_dir=run_dir)
    fitted = marker["model_settings"]
    if upgrade is not None and isinstance(fitted, dict):  # a run of an earlier version: its keys by today's names
        fitted = upgrade(fitted)
    now = jsonable(settings)
    for key in sorted(set(fitted) | set(now)):
        diff = _first_difference(fitted.get(key), now.get(key), key)
        if diff:
            where, was, is_ = diff
            raise ModelFileError(
                f"{run_dir / 'config.yaml'}: {where} was changed after the run (the model was fitted "
                f"with {json.dumps(was)}, the file now says {json.dumps(is_)}); restore it, or rerun "
                "to fit with the new setting"
            )
    recorded = marker.get("model_sha256")
    if recorded is None:
        return _UNVERIFIED.format(run_dir=run_dir)
    found = model_digests(run_dir, model_paths)
    if not isinstance(recorded, dict):
        raise ModelFileError(f"{run_dir / MARKER}: the model checksums are malformed; the run folder was altered")
    for name in sorted(set(recorded) | set(found)):
        if recorded.get(name) != found.get(name):
            what = (
                "is missing"
                if name not in found
                else "was not written by this run"
                if name not in recorded
                else "is not the file this run wrote (its checksum differs)"
            )
            raise ModelFileError(
                f"{run_dir / name}: {what}; a model file was edited, replaced or copied from another "
                "run; rerun 'gmm-apps run' to fit the model again"
            )
    return None


def _first_difference(a, b, where):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            d = _first_difference(a.get(k), b.get(k), f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    return None if a == b else (where, a, b)


def default_run_dir(pipeline, *, root="runs", kind=None):
    """``runs/<pipeline>-<timestamp>`` (with a suffix if it exists already)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{pipeline}-{kind}-{stamp}" if kind else f"{pipeline}-{stamp}"
    p = Path(root) / base
    i = 2
    while p.exists():
        p = Path(root) / f"{base}-{i}"
        i += 1
    return p


def _model_for(name, source):
    return get_pipeline(name, source=source).config_model


def prepare(config_path, *, sets=None, seed=None):
    """Load and validate a config and its pipeline; nothing is written.

    Returns
    -------
    pipeline, config
    """
    source = "config" if isinstance(config_path, dict) else str(config_path)
    config, _ = load_config(config_path, _model_for, overrides=sets, seed=seed)
    pipeline = get_pipeline(config.pipeline, source=source)
    config.check_unread_keys(source)
    pipeline.check(config, source)
    return pipeline, config


def finish_run(ctx, work, started, extra):
    """Run ``work()`` in ``ctx``, write ``summary.json`` and move the run into place; nothing is left on failure."""
    try:
        summary = _finish(ctx, work(), started, extra)
        return ctx.commit(), summary
    except BaseException:
        ctx.abort()
        raise


def _finish(ctx, summary, started, extra):
    summary = dict(summary or {})
    head = {
        "pipeline": extra["pipeline"],
        "gmm_apps_version": __version__,
        "seed": ctx.seed,
        "started": datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "elapsed_seconds": round(time.time() - started, 3),
    }
    head.update({k: v for k, v in extra.items() if k != "pipeline"})
    head.update(summary)
    ctx.write_json("summary.json", head)
    return head


def execute_run(
    config_path, *, out=None, seed=None, sets=None, quiet=False, overwrite=False, shown_as=None, private=None
):
    """Validate a config, run its pipeline and write the run directory.

    Parameters
    ----------
    config_path : str or Path
    out : str or Path, optional
        Destination folder (default ``runs/<pipeline>-<timestamp>``).
    seed : int, optional
        Overrides ``model.random_state``.
    sets : list of str, optional
        ``KEY=VALUE`` overrides.
    quiet : bool
    overwrite : bool
        Replace an earlier run at ``out``, as its run left it (never a folder or file gmm_apps did not write).
    shown_as : str or Path, optional
        Where the log says the run goes, when ``out`` is a place it passes through (a batch being built).
    private : dict, optional
        Temporary folders holding in-memory data (a Python call's) and what the run's files call them.

    Returns
    -------
    run_dir : Path
    summary : dict
    """
    started = time.time()
    pipeline, config = prepare(config_path, sets=sets, seed=seed)
    final = Path(out) if out else default_run_dir(config.pipeline)
    source = "config" if isinstance(config_path, dict) else str(config_path)
    inputs = pipeline.inputs(config) + ([] if isinstance(config_path, dict) else [("config", source)])
    ctx = RunContext(
        final, quiet=quiet, seed=config.model.random_state, overwrite=overwrite, inputs=inputs, private=private
    )

    def work():
        logger.info("run %s: pipeline %s, writing %s", source, config.pipeline, shown_as or final)
        ctx.write_text("config.yaml", dump_config(config))
        ctx.bind(model_settings(pipeline, config), pipeline.model_paths())
        return pipeline.run(config, ctx)

    return finish_run(ctx, work, started, {"pipeline": config.pipeline, "config": source})


def open_run(run_dir):
    """A finished run folder's pipeline and config, checked as ``apply`` checks them before using its model.

    The config is read with today's schema (renamed keys mapped), and the
    run's marker must agree with it and with the model files (their digests;
    the signature when a signing key is set).

    Parameters
    ----------
    run_dir : Path

    Returns
    -------
    pipeline : Pipeline
    config : PipelineConfig
    raw : dict
        The config as read (after renamed keys were mapped).
    warning : str or None
        Set when the run predates model checksums (its model is used unverified).

    Raises
    ------
    UserError
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        what = "run folder not found" if not run_dir.exists() else "is a file, not a run folder"
        raise UserError(f"{run_dir}: {what}; pass the folder a 'run' wrote")
    if run_kind(run_dir) == "batch":
        names = sorted(p.name for p in run_dir.iterdir() if is_run_folder(p))
        raise UserError(
            f"{run_dir}: a batch of runs, one per file (run --each); apply takes it with new files named as its runs "
            f"(a folder or a glob), or pass one of its runs, e.g. {run_dir / (names[0] if names else 'NAME')}"
        )
    if not cfg_path.is_file() or not is_run_folder(run_dir):
        raise UserError(f"{run_dir}: not a gmm_apps run folder (no config.yaml); pass the folder a 'run' wrote")
    raw = read_yaml(cfg_path)
    name = raw.get("pipeline")
    if not isinstance(name, str):
        raise ConfigError(f"{cfg_path}: missing required key 'pipeline'")
    pipeline = get_pipeline(name, source=str(cfg_path))
    raw = upgrade_run_config(raw, pipeline.config_model)
    config = validate_config(raw, pipeline.config_model, source=str(cfg_path))
    warning = verify_run(
        run_dir,
        model_settings(pipeline, config),
        pipeline.model_paths(),
        upgrade=lambda fitted: _upgraded_settings(fitted, pipeline, raw, str(cfg_path)),
    )
    return pipeline, config, raw, warning


def run_kind(run_dir):
    """What wrote a run folder, as its marker says (``run``, ``apply``, ``batch``), or None."""
    try:
        marker = loads_json((Path(run_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker.get("kind") if isinstance(marker, dict) else None


def _upgraded_settings(fitted, pipeline, raw_now, source):
    """A marker's recorded model settings read as today's schema reads the config: renamed keys mapped, retired
    ones dropped, and keys added since (which the run's version did not have) at their defaults."""
    raw = copy.deepcopy(raw_now)
    for key, value in fitted.items():
        dotted_pop(raw, key)
        dotted_put(raw, key, copy.deepcopy(value))
    raw = upgrade_run_config(raw, pipeline.config_model)
    try:
        return model_settings(pipeline, validate_config(raw, pipeline.config_model, source=source))
    except ConfigError:  # settings today's schema refuses: compared as recorded, so the difference is named
        return {key: dotted_get(raw, key, None) for key in fitted}


def execute_apply(
    run_dir, input, *, out=None, quiet=False, overwrite=False, update=False, shown_as=None, reading=None, private=None
):
    """Apply a finished run's saved model to new input.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by :func:`execute_run`.
    input : str
        New data (file, folder or glob, as the pipeline expects).
    out : str or Path, optional
        Destination (default ``runs/<pipeline>-apply-<timestamp>``).
    quiet : bool
    overwrite : bool
        Replace an earlier run at ``out``, as its run left it (never a folder or file gmm_apps did not write).
    update : bool
        Also learn from the input and save the updated model in the new folder
        (which ``apply`` then accepts like a run); only for pipelines with
        ``updates_model``.  The applied run folder is never changed.

    shown_as : str or Path, optional
        Where the log says the new folder goes, when ``out`` is a place it passes through (a batch being built).
    reading : dict, optional
        ``data.*`` keys (dotted key -> value) read in place of the run's own: which part of ``input`` to read
        (a batch applied to a workbook of a sheet a run: ``data.sheet``; to a wide file: ``data.price_column``).
    private : dict, optional
        As for :func:`execute_run`.

    Returns
    -------
    out_dir : Path
    summary : dict
    """
    started = time.time()
    run_dir = Path(run_dir)
    pipeline, config, raw, unverified = open_run(run_dir)
    if reading:
        keys = {k.split(".", 1)[1]: v for k, v in reading.items()}
        config = config.model_copy(update={"data": config.data.model_copy(update=keys)})
        raw = {**raw, "data": {**(raw.get("data") or {}), **keys}}
    name = pipeline.name
    if update and not pipeline.updates_model:
        raise ConfigError(f"--update: the {name} pipeline cannot update its model in apply; rerun it on the new data")
    final = Path(out) if out else default_run_dir(name, kind="apply")
    ctx = RunContext(
        final,
        quiet=quiet,
        seed=config.model.random_state,
        overwrite=overwrite,
        kind="apply",
        inputs=[("run folder", str(run_dir)), ("input", str(input))],
        private=private,
    )
    ctx.update = bool(update)
    if update:  # the new folder holds a model: apply checks its settings and files as a run's
        ctx.bind(model_settings(pipeline, config), pipeline.model_paths())

    def work():
        logger.info("apply %s to %s, writing %s", run_dir, input, shown_as or final)
        if unverified:
            logger.warning("%s", unverified)
        ctx.write_text("config.yaml", yaml.safe_dump(raw, sort_keys=False))
        return pipeline.apply(run_dir, str(input), config, ctx)

    extra = {"pipeline": name, "applied_run": str(run_dir), "input": str(input)}
    if unverified:
        extra["warning"] = unverified
    if update:
        extra["updated_model"] = pipeline.model_file
    return finish_run(ctx, work, started, extra)


def read_summary(run_dir):
    """A finished run folder's ``summary.json``; a one-line :class:`UserError` for anything else.

    Parameters
    ----------
    run_dir : Path

    Returns
    -------
    summary : dict
    """
    if not is_run_folder(run_dir):
        raise UserError(f"{run_dir}: not a gmm_apps run folder; pass a folder that 'run' or 'apply' wrote")
    path = Path(run_dir) / "summary.json"
    try:
        summary = loads_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read ({exc}); the run folder is damaged") from None
    if not isinstance(summary, dict):
        raise UserError(
            f"{path}: expected a mapping of key figures, got a {type(summary).__name__}; the run folder is damaged"
        )
    return summary


def show(run_dir):
    """A finished run's headline and key figures, as text.

    Parameters
    ----------
    run_dir : str or Path

    Returns
    -------
    text : str
    """
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    lines = [str(summary.get("headline", "")), ""]
    if summary.get("kind") == "batch" and (run_dir / "runs.csv").is_file():
        import pandas as pd  # start-up time: pandas loads on first use

        table = pd.read_csv(run_dir / "runs.csv").drop(columns=["input", "headline"], errors="ignore")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            lines += [
                table.to_string(index=False, float_format=lambda v: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"),
                "",
                f"report: {run_dir / 'report.html'}",
            ]
        return "\n".join(lines)
    for key, value in summary.items():
        if key == "headline" or value is None:
            continue
        if isinstance(value, (dict, list)):
            text = json.dumps(value, sort_keys=False)
            if len(text) > 100:
                text = text[:97] + "..."
        elif isinstance(value, float):
            text = f"{value:.6g}"
        else:
            text = str(value)
        lines.append(f"{key:28s} {text}")
    report = run_dir / "report.html"
    if report.is_file():
        lines += ["", f"report: {report}"]
    return "\n".join(lines)
