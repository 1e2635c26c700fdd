"""Pipeline registry and the contract every pipeline fulfils.

Built-in pipelines are listed in :data:`BUILTIN` (name -> ``module:attribute``,
imported only when used).  Third-party packages add pipelines through the
entry-point group ``gmm_apps.pipelines``::

    [project.entry-points."gmm_apps.pipelines"]
    churn = "my_package.churn:ChurnPipeline"

A pipeline is a class with:

``name``
    The value of the config's ``pipeline`` key.
``description``
    One line for ``gmm-apps list``.
``config_model``
    A :class:`gmm_apps.config.PipelineConfig` subclass.
``input_keys``
    Dotted config keys naming the run's input files or folders; a run never
    writes inside, over or around them (default ``("data.path",)``).
``model_sections``
    Dotted config keys that define the fitted model (default ``("features",
    "model")``); ``apply`` refuses a run folder whose ``config.yaml`` changed
    any of them after the run.
``model_file``
    The run folder's model file (relative path) that ``apply`` reads.
``model_class``
    The class in the pipeline's ``model.py`` that fits, saves and loads the
    model: ``fit(...)`` returns the fitted model, ``save(path, *, meta)``
    writes ``model_file`` through the engine's checked files, and the
    classmethod ``load(path) -> (model, meta)`` reads it back.
``model_paths()``
    The files or folders holding the fitted model (default: ``model_file``, or
    its top folder when it lies in one); the run's marker records the SHA-256
    of every file there, and ``apply`` refuses a model file the run did not write.
``quick_sets``
    ``--set`` overrides that make a run on the default data quick (the contract
    test and smoke checks use them).
``apply_example(run_dir, folder)``
    A path of new input to apply a finished run to (written into ``folder``
    when needed), or None for a pipeline without ``apply``.
``check(config, source)``
    Cheap checks before any work (input files exist ...); raise ``ConfigError``.
``run(config, ctx) -> dict``
    Load, build features, fit with the core engine, write outputs through the
    :class:`gmm_apps.run_context.RunContext`; return the key figures for ``summary.json``.
``apply(run_dir, input, config, ctx) -> dict``
    Use a finished run's saved model on new data.
``updates_model``
    True when ``apply`` can also learn from its input (``apply --update``; the
    pipeline sees ``ctx.update``) and write the updated model under
    ``model_file`` of the new folder; default False.
``write_data(data, folder) -> str``
    In-memory input of the Python API (``gmm_apps.run(..., data=...)``),
    checked as the pipeline checks its files, written as input files into
    ``folder``; returns the path to read.  By default a pandas DataFrame (or
    Series) becomes a CSV file.
``data_overrides(path) -> dict``
    The config overrides (dotted key -> value) that make a run read ``path``
    (the ``data`` argument of the Python API); by default ``data.path``.
``suggest(path) -> dict``
    The config values ``gmm-apps init <pipeline> --data PATH`` writes for a user's own input: by default
    ``data_overrides(path)``; a pipeline adds what the file's content tells (its columns).
``load_model(run_dir)``
    The fitted model object of a finished run (what ``apply`` uses), or None
    when the folder holds no model file (an ``apply`` run): ``model_class.load``
    of ``model_file``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import NamedTuple

from .errors import ArgumentError, ConfigError, DataError

ENTRY_POINT_GROUP = "gmm_apps.pipelines"

BUILTIN = {
    "regimes": "gmm_apps.pipelines.regimes:RegimesPipeline",
    "customers": "gmm_apps.pipelines.customers:CustomersPipeline",
    "speakers": "gmm_apps.pipelines.speakers:SpeakersPipeline",
    "anomaly": "gmm_apps.pipelines.anomaly:AnomalyPipeline",
    "images": "gmm_apps.pipelines.images:ImagesPipeline",
}


class Part(NamedTuple):
    """An input of its own inside one file (:meth:`Pipeline.parts`): ``kind`` (``sheet``, ``series``), its
    ``name`` (a run's name) and the config ``overrides`` (dotted key -> value) that make a run read it."""

    kind: str
    name: str
    overrides: dict


class Pipeline:
    """Base class of pipelines (see the module docstring for the contract)."""

    name = ""
    description = ""
    config_model = None
    input_keys = ("data.path",)
    model_sections = ("features", "model")
    model_file = "model.npz"
    model_class = None
    quick_sets = ()
    updates_model = False
    #: whether one input file makes a run (``run --each`` runs one per file); False where a run reads a set
    each_file = True
    #: the plot (a file of a run's plots folder) a batch's report shows for each of its runs (``run --each``)
    batch_plot = None
    #: whether a folder is one input (a folder of photos); else ``init --data FOLDER`` reads one of its files
    #: and suggests ``run --each FOLDER``
    folder_input = False

    def apply_example(self, run_dir, folder):
        """New input for ``apply`` on a run of the default config: by default the run's own ``data.path``."""
        import yaml  # start-up time: only when an example config is written

        cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
        return (cfg.get("data") or {}).get("path")

    def inputs(self, config):
        """``(key, path)`` of every input the config names (see ``input_keys``).

        Parameters
        ----------
        config : PipelineConfig

        Returns
        -------
        inputs : list of (str, str)
        """
        out = []
        for key in self.input_keys:
            node = config
            for part in key.split("."):
                node = getattr(node, part, None)
            for v in node if isinstance(node, (list, tuple)) else [node]:
                if isinstance(v, str) and v:
                    out.append((key, v))
        return out

    def model_paths(self):
        """The run-relative files or folders that hold the fitted model (bound to the run by their digests)."""
        return (Path(self.model_file).parts[0],)

    def check(self, config, source):  # pragma: no cover - default does nothing
        """Validate inputs cheaply before any work; raise ConfigError."""

    def data_overrides(self, path):
        """The config overrides (dotted key -> value) that make a run read its input from ``path``."""
        return {"data.path": str(path)}

    def parts(self, path):
        """The inputs of their own the file at ``path`` holds, each a :class:`Part`, which ``run --each`` given
        that file alone runs one by one: by default a workbook's sheets with the same columns, for a pipeline that
        reads one sheet (``data.sheet``); None when the file is one input."""
        if not self.reads_sheets:
            return None
        from .tabular import workbook_sheets  # start-up time: pandas loads on first use

        sheets = workbook_sheets(path)
        return [Part("sheet", str(s), {"data.sheet": s}) for s in sheets] if sheets else None

    def file_parts(self, path):
        """``(parts, runs)`` for ``init --data``: :meth:`parts` of the file at ``path`` (a list, maybe empty), and
        whether they are runs of their own for ``run --each`` (a workbook's sheets: :meth:`sheets_are_runs`; a
        file's series always), else parts of one input (a series split into sheets by year, stacked). Read once a
        file: init looks at it twice (the command it suggests, and the config values)."""
        stamp = (str(path), os.stat(path).st_mtime_ns)
        if getattr(self, "_file_parts", (None,))[0] != stamp:
            parts = self.parts(path) or []
            runs = bool(parts) and (parts[0].kind != "sheet" or self.sheets_are_runs(path, [p.name for p in parts]))
            self._file_parts = (stamp, (parts, runs))
        return self._file_parts[1]

    def sheets_are_runs(self, path, sheets):
        """Whether the sheets with the same columns of the workbook at ``path`` (``sheets``, two or more) are
        inputs of their own (an asset a sheet), so ``init --data`` suggests ``run --each`` over them; by default
        not (a log split by month, whose sheets ``data.sheet`` stacks)."""
        return False

    @property
    def reads_sheets(self):
        """Whether a run reads one sheet of a workbook (a ``data.sheet`` key): ``run --each`` given one workbook
        runs each of its sheets alike (:func:`gmm_apps.batch.each_inputs`)."""
        data = self.config_model.model_fields.get("data") if self.config_model is not None else None
        return data is not None and "sheet" in getattr(data.annotation, "model_fields", {})

    def batch_figures(self, summary):
        """A run's key figures for its row of a batch's ``runs.csv`` (``run --each``), from its summary."""
        return {"headline": summary.get("headline")}

    def batch_headline(self, rows):
        """What a batch's headline says of its runs together (``rows``: each run's :meth:`batch_figures`), e.g.
        how many assets are in each regime today; by default nothing."""
        return ""

    def suggest(self, path):
        """The config values (dotted key -> value) ``init --data`` writes for the input at ``path``."""
        return self.data_overrides(path)

    def with_fixes(self, values, attempt, *, tries=3):
        """``values`` (``data.*`` key -> value) with the settings a run's refusals ask for written in:
        ``attempt(data)`` reads the input as the run would, given the config's validated ``data`` section; a
        :class:`~gmm_apps.errors.DataError` carrying ``fix`` (dotted key -> value) is answered by it and the
        reading tried again, at most ``tries`` times; one without ``fix`` is said now (:func:`say_unsettled`)
        and left for the user to settle (for :meth:`suggest`)."""
        unsettled, settled = None, []
        with muted(logging.INFO):  # the run says what it reads; these tries would say it again
            for _ in range(tries):
                data = {k.split(".", 1)[1]: v for k, v in values.items()}
                try:
                    attempt(self.config_model.model_validate({"pipeline": self.name, "data": data}).data)
                    break
                except DataError as exc:
                    if not getattr(exc, "fix", None):
                        unsettled = exc
                        break
                    values.update(exc.fix)
                    settled.append(exc)
        for exc in settled:  # what was written and why, so that a column left out is seen
            logging.getLogger("gmm_apps").info("settled in the config (%s): %s", ", ".join(exc.fix), exc)
        if unsettled is not None:
            say_unsettled(unsettled)
        return values

    def write_data(self, data, folder):
        """Write in-memory ``data`` as input files into ``folder``; return the path a run or apply reads.

        Parameters
        ----------
        data : pandas.DataFrame or pandas.Series (other types where a pipeline overrides this)
        folder : Path
            A private temporary folder, removed after the run.

        Returns
        -------
        path : str
        """
        import pandas as pd  # start-up time: pandas loads on first use

        if isinstance(data, pd.Series):
            data = data.to_frame()
        if not isinstance(data, pd.DataFrame):
            raise ArgumentError(
                f"data: the {self.name} pipeline takes a pandas DataFrame or a path, got {type(data).__name__}"
            )
        if data.shape[0] == 0 or data.shape[1] == 0:
            raise DataError(
                f"data: the DataFrame is empty ({data.shape[0]} rows, {data.shape[1]} columns); pass the "
                f"{self.name} pipeline's input table"
            )
        if data.columns.nlevels > 1:  # a groupby's ('amount', 'mean'): one header, amount_mean
            flat = ["_".join(str(part) for part in c if str(part) != "") for c in data.columns]
            data = data.set_axis(flat, axis=1)
        if index_holds_labels(data.index) and not {n for n in data.index.names if n is not None} & set(data.columns):
            data = data.reset_index()  # ids or dates set as the index (and not kept as a column too)
        p = Path(folder) / "dataframe.csv"
        data.to_csv(p, index=False)
        return str(p)

    def run(self, config, ctx):
        raise NotImplementedError

    def apply(self, run_dir, input, config, ctx):
        raise ConfigError(f"pipeline {self.name!r} does not support apply")

    def load_model(self, run_dir):
        """The fitted model of a finished run, or None when the folder has no ``model_file``."""
        path = Path(run_dir) / self.model_file
        return self.read_model(path) if path.is_file() else None

    def read_model(self, path):
        """The model saved at ``path``: ``model_class.load``, or a core mixture when no class is named."""
        if self.model_class is None:
            from .core import load_model  # start-up time: `list` and `init` need no engine

            return load_model(path)
        return self.model_class.load(path)[0]


def _load(target):
    module, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    return obj() if isinstance(obj, type) else obj


def _entry_points():
    try:
        return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    except Exception:  # pragma: no cover - broken metadata of another package
        return {}


def available():
    """Names of all registered pipelines, sorted.

    Returns
    -------
    names : list of str
    """
    return sorted(set(BUILTIN) | set(_entry_points()))


def get_pipeline(name, *, source=None):
    """The pipeline object registered under ``name``.

    Parameters
    ----------
    name : str
    source : str, optional
        Config file, for the error message.

    Returns
    -------
    pipeline : Pipeline
    """
    if name in BUILTIN:
        return _load(BUILTIN[name])
    eps = _entry_points()
    if name in eps:
        obj = eps[name].load()
        return obj() if isinstance(obj, type) else obj
    where = f"{source}: " if source else ""
    raise ConfigError(f"{where}pipeline: unknown pipeline {name!r}; available: {', '.join(available())}")


def describe():
    """``(name, description)`` of every pipeline.

    Returns
    -------
    rows : list of tuple(str, str)
    """
    rows = []
    for n in available():
        try:
            rows.append((n, get_pipeline(n).description))
        except Exception as exc:  # a broken third-party plugin must not break `list`
            rows.append((n, f"(cannot load: {exc})"))
    return rows


@contextlib.contextmanager
def muted(level):
    """Log records of ``level`` and below are dropped inside the block (``init --data`` reading a file the run
    will read again, and say then what it read)."""
    logging.disable(level)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def index_holds_labels(index):
    """Whether a DataFrame's index holds the user's labels (ids, dates: named, or text) rather than row
    positions (unnamed numbers, as a filtered frame's are), so that it is written as a column."""
    import pandas as pd  # start-up time: pandas loads on first use

    named = any(n is not None for n in index.names)
    return named or pd.api.types.is_object_dtype(index) or pd.api.types.is_string_dtype(index)


def say_unsettled(exc):
    """Say, as ``init --data`` writes a config, what the run will refuse in the file that the config written
    does not settle (a wide file's price column, a record's text where a number belongs)."""
    logging.getLogger("gmm_apps").warning("to settle in the config before it runs: %s", exc)
