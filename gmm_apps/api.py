"""The Python front door: the same runs as the command line, from a script or a notebook.

>>> import gmm_apps
>>> r = gmm_apps.run("configs/anomaly.yaml", out="runs/anomaly")     # doctest: +SKIP
>>> r.summary["headline"], r.tables["scores"].head()                  # doctest: +SKIP
>>> r2 = r.apply("new_records.csv")                                   # doctest: +SKIP

Errors are the command line's: a :class:`gmm_apps.errors.UserError` (one line
naming the file, key or column), never a half-written run folder.
"""

from __future__ import annotations

import base64
import html
import numbers
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from . import registry
from .errors import ArgumentError, ConfigError, UserError
from .paths import shown_paths
from .registry import get_pipeline
from .runs import execute_apply, execute_run, open_run, read_summary
from .yaml_io import read_yaml

_UNSET = object()

__all__ = ["Run", "load_run", "run"]


class Run:
    """A finished run folder: its summary, tables, report and saved model, and ``apply`` on new data.

    Parameters
    ----------
    path : str or Path
        A folder written by ``gmm-apps run`` / ``apply`` or :func:`run`.

    Attributes
    ----------
    dir : Path
    summary : dict
        ``summary.json``: the headline and key figures.
    tables : dict of str -> pandas.DataFrame
        Every CSV table of the run by name (``"scores"`` for ``scores.csv``), read on first use.
    report_path : Path or None
    model : object or None
        The fitted model, read on first use.
    """

    def __init__(self, path):
        self.dir = Path(path).absolute()
        self.summary = read_summary(self.dir)
        self.tables = _Tables(self.dir)
        report = self.dir / "report.html"
        self.report_path = report if report.is_file() else None

    @property
    def pipeline(self):
        """The pipeline's name."""
        return self.summary.get("pipeline")

    @property
    def runs(self):
        """A batch's runs (``run(..., each=...)``, ``run --each``) by name, each a :class:`Run`; {} for one run.
        ``tables["runs"]`` puts their key figures side by side."""
        if self.summary.get("kind") != "batch":
            return {}
        return {r["run"]: Run(self.dir / r["run"]) for r in self.summary.get("runs", [])}

    @property
    def model(self):
        """The fitted model, read on first use (None for an ``apply`` run, which fits none).

        The run folder is checked first as ``apply`` checks it: a model file
        the run did not write is refused with a :class:`~gmm_apps.errors.ModelFileError`.

        The pipeline's model class (its ``model_class``), as ``apply`` uses it:
        the anomaly ``GMMDetector``, the customers' ``Segmentation``, images'
        ``PaletteModel`` (its core mixture is ``.mixture_``), the regimes'
        ``RegimeModel`` (with its ``scaler``) or the ``SpeakerModels``.
        """
        if not hasattr(self, "_model"):
            pipeline = open_run(self.dir)[0] if (self.dir / "config.yaml").is_file() else None
            self._model = pipeline.load_model(self.dir) if pipeline is not None else None
        return self._model

    def apply(self, data, *, out=None, quiet=True, overwrite=False, update=False, keep_going=False, n_jobs=1):
        """Use this run's saved model on new data; returns the new :class:`Run`.

        Parameters
        ----------
        data : str, Path, pandas.DataFrame, array, list of arrays or mapping
            New input, as a path or in memory (see :func:`run`); for a batch (``run(..., each=...)``), a
            folder or glob of new files, each named as the run it goes to; for a run of one file, a folder or
            glob of files applies it to each (a batch of applied runs).
        out : str or Path, optional
            Destination (default ``runs/<pipeline>-apply-<timestamp>``).
        quiet, overwrite : bool
        update : bool
            Also learn from ``data`` (new reference data) and save the updated
            model in the new run (anomaly); this run is not changed.
        keep_going : bool
            A batch, or a folder of new files: a new file that cannot be applied is left out (its error in
            ``tables["runs"]``).
        n_jobs : int, default=1
            A batch, or a folder of new files: new files applied at once, each in a process of its own (at most
            the cores).
        """
        _check_arguments(out=out, quiet=quiet, overwrite=overwrite, update=update, keep_going=keep_going, n_jobs=n_jobs)
        if data is None:
            raise ArgumentError("data: apply needs new data (a path, or data in memory as for run)")
        from . import batch  # start-up time: only for apply

        options = {"update": update, "keep_going": keep_going, "n_jobs": None if n_jobs == 1 else n_jobs}
        route = batch.apply_route(self.dir, data, **options, names=batch.KEYWORDS)
        if route is not None:
            out_dir, _ = route(self.dir, str(data), out=out, quiet=quiet, overwrite=overwrite)
            return Run(out_dir)
        with (given := _Inputs(self.pipeline, data)) as (path, _):
            out_dir, _ = execute_apply(
                self.dir, path, out=out, quiet=quiet, overwrite=overwrite, update=update, private=given.private
            )
        return Run(out_dir)

    def __repr__(self):
        return f"Run({str(self.dir)!r}: {self.summary.get('headline', '')!r})"

    def _repr_html_(self):
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(_short(v))}</td></tr>"
            for k, v in self.summary.items()
            if k != "headline" and not isinstance(v, (dict, list))
        )
        plot = ""
        plots = sorted((self.dir / "plots").glob("*.png")) if (self.dir / "plots").is_dir() else []
        if plots:
            data = base64.b64encode(plots[0].read_bytes()).decode("ascii")
            plot = (
                f"<img alt='{html.escape(plots[0].name)}' style='max-width:640px' src='data:image/png;base64,{data}'>"
            )
        link = f"<p>report: {html.escape(str(self.report_path))}</p>" if self.report_path else ""
        return (
            f"<div><h3>{html.escape(str(self.summary.get('headline', '')))}</h3><table>{rows}</table>{plot}{link}</div>"
        )


def _short(v):
    return f"{v:.6g}" if isinstance(v, float) else str(v)


class _Tables(Mapping):
    """CSV tables of a run folder by name, each read on first use."""

    def __init__(self, folder):
        self._files = {p.stem: p for p in sorted(Path(folder).glob("*.csv"))}
        self._read = {}

    def __getitem__(self, name):
        import pandas as pd  # start-up time: pandas loads on first use

        if name not in self._files:
            raise KeyError(f"no table {name!r}; the run has {', '.join(self._files) or 'none'}")
        if name not in self._read:
            self._read[name] = pd.read_csv(self._files[name])
        return self._read[name]

    def __iter__(self):
        return iter(self._files)

    def __len__(self):
        return len(self._files)

    def __repr__(self):
        return f"tables({', '.join(self._files)})"


class _Inputs:
    """In-memory data written by its pipeline (:meth:`Pipeline.write_data`) into a private temporary folder,
    removed afterwards; a path is passed as it is.

    On entry: ``(path, overrides)``: the input path for ``apply`` and the config
    overrides that point a run at it (both None without data).
    """

    def __init__(self, pipeline, data):
        self.pipeline, self.data, self.tmp = pipeline, data, None
        self.given = f"(the {type(data).__name__} given)"

    @property
    def private(self):
        """The temporary folder and what the run's files call it (:func:`gmm_apps.paths.shown_paths`)."""
        return {} if self.tmp is None else {str(self.tmp): self.given}

    def __enter__(self):
        d = self.data
        if d is None:
            return None, None
        pipeline = get_pipeline(self.pipeline)
        if isinstance(d, (str, Path)):
            return str(d), pipeline.data_overrides(str(d))
        d = _as_pandas(d)
        self.tmp = Path(tempfile.mkdtemp(prefix="gmm_apps_data-"))
        try:
            path = pipeline.write_data(d, self.tmp)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
            raise
        return path, pipeline.data_overrides(path)

    def __exit__(self, kind, error, tb):
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if isinstance(error, UserError) and error.args and isinstance(error.args[0], str):
                # the private copy means nothing to the caller: name what they passed
                given = {str(self.tmp): f"data {self.given}"}
                error.args = (shown_paths(error.args[0], given), *error.args[1:])
        return False


def _as_pandas(data):
    """A table of another library as the pandas one it holds: a polars or pyarrow DataFrame, Table or Series (their
    ``to_pandas``), or any table offering the Arrow stream interface (``__arrow_c_stream__``: DuckDB's, ...);
    anything else as given."""
    import pandas as pd  # start-up time: pandas loads on first use

    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data
    if not (hasattr(data, "to_pandas") or hasattr(data, "__arrow_c_stream__")):
        return data
    kind = f"{type(data).__module__.split('.')[0]}.{type(data).__name__}"
    try:
        if hasattr(data, "to_pandas"):
            out = data.to_pandas()
        else:
            import pyarrow as pa  # reason: only tables given through the Arrow stream interface

            out = pa.table(data).to_pandas()
    except Exception as exc:  # the other library's own errors, of its own types
        raise ArgumentError(
            f"data: the {kind} given cannot be read as a pandas DataFrame ({type(exc).__name__}: {exc}); "
            "pass a pandas DataFrame, or write the table to a file and pass its path"
        ) from None
    if not isinstance(out, (pd.DataFrame, pd.Series)):
        raise ArgumentError(f"data: the {kind} given gave a {type(out).__name__}, not a table, as pandas")
    return out


def _check_arguments(
    *,
    config=_UNSET,
    out=None,
    seed=None,
    set=None,
    quiet=True,
    overwrite=False,
    update=False,
    keep_going=False,
    n_jobs=1,
):
    """Refuse arguments of the wrong type in one line (an :class:`ArgumentError`, a ``TypeError``)."""
    if config is not _UNSET and not isinstance(config, (str, Path, dict)):
        raise ArgumentError(
            f"config: expected a YAML file's path, a pipeline name or a dict, got {type(config).__name__}"
        )
    if out is not None and not isinstance(out, (str, Path)):
        raise ArgumentError(f"out: expected a folder path, got {type(out).__name__}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ArgumentError(f"seed: expected a whole number from 0 to {2**32 - 1}, got {seed!r}")
    if set is not None and (
        isinstance(set, (str, bytes)) or not isinstance(set, (list, tuple)) or not all(isinstance(x, str) for x in set)
    ):
        raise ArgumentError(f"set: expected a list of 'KEY=VALUE' strings, got {set!r}"[:200])
    for name, v in (("quiet", quiet), ("overwrite", overwrite), ("update", update), ("keep_going", keep_going)):
        if not isinstance(v, bool):
            raise ArgumentError(f"{name}: expected True or False, got {v!r}"[:200])
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs < 1:
        raise ArgumentError(f"n_jobs: expected a whole number of processes, 1 or more, got {n_jobs!r}"[:200])


def run(
    config,
    *,
    data=None,
    each=None,
    out=None,
    seed=None,
    set=None,
    quiet=True,
    overwrite=False,
    keep_going=False,
    n_jobs=1,
):
    """Run a pipeline as ``gmm-apps run`` does; returns the finished :class:`Run`.

    Parameters
    ----------
    config : str, Path or dict
        A YAML config file, the config as a mapping, or a pipeline name (its
        default config; default data paths are relative to the repository root).
    data : optional
        Input in memory instead of ``data.path``: a pandas DataFrame of prices
        (regimes; a date index or a date column), of transactions (customers)
        or of records (anomaly), or such a table of polars, pyarrow or another
        library offering ``to_pandas`` or the Arrow stream interface (an index
        holding ids or dates is one of its columns); an image array or Pillow
        image, or a list of them (images); for speakers a mapping of speaker
        name to recordings, each a path or a ``(samples, sample_rate)`` pair
        (enrolment).
    each : str, Path or list of them, optional
        Files, folders or globs: the config is run once per file, as ``gmm-apps run --each``; the
        :class:`Run` returned is the batch, its ``runs`` each file's run and ``tables["runs"]`` their key
        figures side by side.
    keep_going : bool, default=False
        With ``each``: a file that cannot be run is left out (its error in ``tables["runs"]`` and
        ``summary["failed"]``) and the others are run.
    n_jobs : int, default=1
        With ``each``: files run at once, each in a process of its own (at most the cores); the runs are
        the same, byte for byte, as one after another.
    out : str or Path, optional
        The run folder (default ``runs/<pipeline>-<timestamp>``, as on the command line).
    seed : int, optional
        Overrides ``model.random_state``.
    set : list of str, optional
        ``KEY=VALUE`` overrides, as ``--set``.
    quiet : bool, default=True
        No progress bars.
    overwrite : bool
        Replace an earlier run at ``out``, as its run left it (never a folder or file gmm_apps did not write).

    Returns
    -------
    run : Run

    Raises
    ------
    gmm_apps.errors.UserError
        The command line's one-line errors.
    """
    _check_arguments(
        config=config,
        out=out,
        seed=seed,
        set=set,
        quiet=quiet,
        overwrite=overwrite,
        keep_going=keep_going,
        n_jobs=n_jobs,
    )
    if keep_going and each is None:
        raise ArgumentError("keep_going: only with each (a file that cannot be run is left out of the batch)")
    if n_jobs != 1 and each is None:
        raise ArgumentError("n_jobs: only with each (files run at once); a run of one file uses one process")
    if isinstance(config, str) and config in registry.available() and not Path(config).exists():
        config = {"pipeline": config}
    sets = list(set or [])
    if each is not None:
        specs = [each] if isinstance(each, (str, Path)) else each
        if (
            data is not None
            or not isinstance(specs, (list, tuple))
            or not all(isinstance(s, (str, Path)) for s in specs)
        ):
            raise ArgumentError(
                f"each: expected a path or glob, or a list of them, without data, got {type(each).__name__}"
                + (" with data" if data is not None else "")
            )
        from .batch import execute_batch  # start-up time: only for runs of many files

        batch_dir, _ = execute_batch(
            config,
            [str(s) for s in specs],
            out=out,
            seed=seed,
            sets=sets,
            quiet=quiet,
            overwrite=overwrite,
            keep_going=keep_going,
            n_jobs=n_jobs,
        )
        return Run(batch_dir)
    with (given := _Inputs(_pipeline_of(config) if data is not None else None, data)) as (_, overrides):
        sets += list((overrides or {}).items())  # (key, value) pairs: never re-read as YAML text
        run_dir, _ = execute_run(
            config, out=out, seed=seed, sets=sets, quiet=quiet, overwrite=overwrite, private=given.private
        )
    return Run(run_dir)


def _pipeline_of(config):
    """The pipeline a config names (a one-line error when it names none)."""
    raw = config if isinstance(config, dict) else read_yaml(config)
    name = raw.get("pipeline")
    if not isinstance(name, str):
        raise ConfigError(
            f"{'config' if isinstance(config, dict) else config}: missing required key 'pipeline' (the "
            "pipeline's name, e.g. regimes)"
        )
    return name


def load_run(path):
    """Open a finished run folder (from the command line or :func:`run`).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    run : Run
    """
    return Run(path)
