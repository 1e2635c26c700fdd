"""Runs: an atomically written run directory, its log, progress, and the run/apply drivers.

A run is built in a hidden temporary folder beside its destination and
renamed into place only when everything is written, so a failed or
interrupted run leaves nothing behind and an earlier run at the same place
stays intact.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

from . import __version__
from .config import dump_config, load_config, read_yaml, validate_config
from .errors import ConfigError, UserError
from .registry import get_pipeline

logger = logging.getLogger("gmm_apps")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (datetime,)):
        return obj.isoformat()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def progress(iterable=None, *, total=None, desc=None, quiet=False):
    """A progress bar on stderr, silent with ``quiet`` or when stderr is not a terminal.

    Parameters
    ----------
    iterable : iterable, optional
    total : int, optional
    desc : str, optional
    quiet : bool

    Returns
    -------
    bar : tqdm.tqdm
    """
    from tqdm.auto import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=disable, leave=False)


class RunContext:
    """The place a pipeline writes its outputs during one run.

    Parameters
    ----------
    final_dir : Path
        Where the run ends up.
    quiet : bool
        No progress bars.
    seed : int
        The run's random seed (``model.random_state``).

    Attributes
    ----------
    dir : Path
        The temporary folder being written; paths handed out point here.
    figures : dict of str -> Path
        PNG files written with :meth:`save_figure`, by name.
    """

    def __init__(self, final_dir, *, quiet=False, seed=0):
        self.final_dir = Path(final_dir)
        self.quiet = quiet
        self.seed = seed
        parent = self.final_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        self.dir = parent / f".{self.final_dir.name}.tmp-{os.getpid()}"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir()
        self.figures = {}
        self._handler = logging.FileHandler(self.dir / "run.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._handler.setLevel(logging.DEBUG)
        for name in ("gmm_apps", "py.warnings"):
            lg = logging.getLogger(name)
            lg.addHandler(self._handler)
            if lg.level == logging.NOTSET or lg.level > logging.DEBUG:
                lg.setLevel(logging.DEBUG)

    def path(self, name):
        """Path of an output file inside the run (parent folders created).

        Parameters
        ----------
        name : str
            Relative path, e.g. ``"labels/img.png"``.

        Returns
        -------
        path : Path
        """
        p = self.dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_text(self, name, text):
        p = self.path(name)
        p.write_text(text, encoding="utf-8")
        return p

    def write_json(self, name, obj):
        """Write ``obj`` as indented JSON (NumPy values converted; NaN as null)."""
        return self.write_text(name, json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")

    def write_table(self, name, df, *, index=False, parquet_above=200_000):
        """Write a DataFrame as CSV (and Parquet too when it has many rows).

        Parameters
        ----------
        name : str
            CSV file name.
        df : pandas.DataFrame
        index : bool
        parquet_above : int
            Row count above which a Parquet copy is also written.

        Returns
        -------
        path : Path
        """
        p = self.path(name)
        df.to_csv(p, index=index, float_format="%.10g", lineterminator="\n")
        if len(df) > parquet_above:
            df.to_parquet(p.with_suffix(".parquet"), index=index)
        return p

    def save_figure(self, fig, name):
        """Save a matplotlib figure as PNG (deterministic bytes) and remember it.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
        name : str
            File name without folder, e.g. ``"bic.png"``; stored under ``plots/``.

        Returns
        -------
        path : Path
        """
        p = self.path(f"plots/{name}")
        fig.savefig(p, dpi=100, metadata={"Software": None})
        self.figures[name] = p
        return p

    def progress(self, iterable=None, *, total=None, desc=None):
        return progress(iterable, total=total, desc=desc, quiet=self.quiet)

    def _detach(self):
        for name in ("gmm_apps", "py.warnings"):
            logging.getLogger(name).removeHandler(self._handler)
        self._handler.close()

    def commit(self):
        """Move the finished run into place (replacing an earlier run there)."""
        self._detach()
        final = self.final_dir
        backup = None
        if final.exists():
            backup = final.parent / f".{final.name}.old-{os.getpid()}"
            os.replace(final, backup)
        try:
            os.replace(self.dir, final)
        except BaseException:
            if backup is not None:
                os.replace(backup, final)
            raise
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
        return final

    def abort(self):
        """Discard everything written."""
        self._detach()
        shutil.rmtree(self.dir, ignore_errors=True)


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
    config, _ = load_config(config_path, _model_for, overrides=sets, seed=seed)
    pipeline = get_pipeline(config.pipeline, source=str(config_path))
    pipeline.check(config, str(config_path))
    return pipeline, config


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


def execute_run(config_path, *, out=None, seed=None, sets=None, quiet=False):
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

    Returns
    -------
    run_dir : Path
    summary : dict
    """
    started = time.time()
    pipeline, config = prepare(config_path, sets=sets, seed=seed)
    final = Path(out) if out else default_run_dir(config.pipeline)
    ctx = RunContext(final, quiet=quiet, seed=config.model.random_state)
    try:
        logger.info("run %s: pipeline %s, writing %s", config_path, config.pipeline, final)
        ctx.write_text("config.yaml", dump_config(config))
        summary = pipeline.run(config, ctx)
        summary = _finish(ctx, summary, started, {"pipeline": config.pipeline, "config": str(config_path)})
        run_dir = ctx.commit()
    except BaseException:
        ctx.abort()
        raise
    return run_dir, summary


def execute_apply(run_dir, input, *, out=None, quiet=False):
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

    Returns
    -------
    out_dir : Path
    summary : dict
    """
    started = time.time()
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run folder not found")
    if not cfg_path.is_file():
        raise UserError(f"{run_dir}: not a gmm_apps run folder (no config.yaml); pass the folder a 'run' wrote")
    raw = read_yaml(cfg_path)
    name = raw.get("pipeline")
    if not isinstance(name, str):
        raise ConfigError(f"{cfg_path}: missing required key 'pipeline'")
    pipeline = get_pipeline(name, source=str(cfg_path))
    config = validate_config(raw, pipeline.config_model, source=str(cfg_path))
    final = Path(out) if out else default_run_dir(name, kind="apply")
    ctx = RunContext(final, quiet=quiet, seed=config.model.random_state)
    try:
        logger.info("apply %s to %s, writing %s", run_dir, input, final)
        ctx.write_text("config.yaml", yaml.safe_dump(raw, sort_keys=False))
        summary = pipeline.apply(run_dir, str(input), config, ctx)
        summary = _finish(ctx, summary, started, {"pipeline": name, "applied_run": str(run_dir), "input": str(input)})
        out_dir = ctx.commit()
    except BaseException:
        ctx.abort()
        raise
    return out_dir, summary
