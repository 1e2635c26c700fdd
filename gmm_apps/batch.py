"""``gmm-apps run CONFIG --each FILES``: one run of a config per input file, side by side in one folder.

A trader's folder of price files, a chain's logs store by store: each file is run with the same config (the
file in the place ``data.path`` names, as the Python API's ``data`` puts it), into a run folder of its own
inside the batch's folder, so ``apply`` and ``show`` take each one as they take any run; ``runs.csv`` and
``report.html`` put the runs' key figures side by side. The batch is one run as far as the folder goes:
built aside and moved into place whole, or nothing is left (a file that cannot be run stops it, named).

One file holding several inputs (a workbook of an asset a sheet, a wide or long price file:
:meth:`~gmm_apps.registry.Pipeline.parts`) runs once per input. ``apply`` takes a batch to new files of its
runs' names (:func:`execute_batch_apply`), and one run to each file of a folder (:func:`execute_apply_each`).
``n_jobs`` runs that many files at once in worker processes (:func:`gmm_apps.workers.map_jobs`), the same
runs and the same messages as one after another.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import time
from pathlib import Path

from .errors import ArgumentError, ConfigError, DataError, UserError
from .paths import resolve_inputs
from .registry import get_pipeline
from .run_context import RunContext
from .runs import (
    default_run_dir,
    execute_apply,
    execute_run,
    finish_run,
    open_run,
    prepare,
    read_summary,
    run_kind,
)
from .workers import Said, collected, map_jobs, pool_size, say_again

logger = logging.getLogger("gmm_apps")

#: what a batch folder holds besides its runs; a run is never given one of these names
BATCH_FILES = frozenset({"runs.csv", "report.html", "summary.json", "run.log", "config.yaml"})


def each_files(specs, source):
    """The files ``--each`` names: each a file, a folder (its files) or a glob, in the order given, each once.

    Parameters
    ----------
    specs : list of str
    source : str
        The config, for messages.

    Returns
    -------
    files : list of Path
    """
    if not specs:
        raise ConfigError(f"{source}: --each: no files named; give a file, a folder or a glob")
    files, seen = [], set()
    for spec in specs:
        for f in resolve_inputs(str(spec), key="--each", source=source):
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files


def each_inputs(specs, pipeline, source):
    """The inputs ``--each`` names, each ``(file, part)``: its files (part None), or, when ``specs`` names one
    file that holds several inputs of their own (:meth:`~gmm_apps.registry.Pipeline.parts`: a workbook of an
    asset a sheet, a wide file of a series a column), each of those parts.

    Parameters
    ----------
    specs : list of str
    pipeline : Pipeline
    source : str
        The config or batch, for messages.

    Returns
    -------
    inputs : list of (Path, Part or None)
    """
    files = each_files(specs, source)
    if len(specs) == 1 and len(files) == 1 and Path(specs[0]).is_file():
        parts = pipeline.parts(files[0])
        if parts:
            return [(files[0], part) for part in parts]
    return [(f, None) for f in files]


#: endings of the files a run reads its table from, first when a folder's first file is taken as an example
_TABLES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".ods", ".parquet", ".json", ".gz", ".zip")


def each_example(folder):
    """The first file of ``folder`` that ends like a table (else its first file), as an example of the files
    ``--each`` will run (``init --data FOLDER``), and what ``--each`` is given: the folder, or a glob of the
    files ending as that one does when others lie beside them (a README among price files).

    Returns
    -------
    example : str
    each : str
    """
    try:
        files = each_files([str(folder)], f"--data {folder}")
    except ConfigError:  # a folder is refused only when it holds no files
        raise ConfigError(f"{folder}: an empty folder, expected a file or a folder of files (--data)") from None
    example = next((f for f in files if f.suffix.lower() in _TABLES), files[0])
    alike = all(f.suffix.lower() == example.suffix.lower() for f in files)
    return str(example), str(folder) if alike or not example.suffix else f'"{Path(folder) / ("*" + example.suffix)}"'


def run_names(files, parts=None):
    """A folder name for each file's run: its name without the extension, with its folder's name before it
    where two files share one (``2025/sales``, ``2026/sales`` -> ``2025_sales``, ``2026_sales``), and a number
    after it where that does not tell them apart either, nor from the batch's own files; a part's run is
    named as its part (a sheet ``SPY``, a series ``Japan``).

    Parameters
    ----------
    files : list of Path
    parts : list of (Part or None), optional
        Each file's part, for inputs from :func:`each_inputs`.

    Returns
    -------
    names : list of str
    """
    stems = [_stem(f) for f in files]
    names = [f"{f.parent.name}_{s}" if stems.count(s) > 1 and f.parent.name else s for f, s in zip(files, stems)]
    if parts is not None:
        names = [name if part is None else str(part.name).strip() or name for name, part in zip(names, parts)]
    out, taken = [], set(BATCH_FILES)
    for name in names:
        unique, i = name, 2
        while unique in taken or unique.startswith("."):
            unique, i = f"{name.lstrip('.')}-{i}", i + 1
        taken.add(unique)
        out.append(unique)
    return out


def _stem(path):
    """``prices.csv.gz`` -> ``prices``; ``S&P 500.csv`` -> ``S&P 500``."""
    name = Path(path).name
    for ending in (".gz", ".zip", ".bz2", ".xz"):
        if name.lower().endswith(ending) and len(name) > len(ending):
            name = name[: -len(ending)]
    stem = Path(name).stem
    return stem or name


def execute_batch(
    config_path, each, *, out=None, seed=None, sets=None, quiet=False, overwrite=False, keep_going=False, n_jobs=1
):
    """Run a config once per file of ``each``, each run in a folder of its own inside one batch folder.

    Parameters
    ----------
    config_path : str, Path or dict
    each : list of str
        Files, folders or globs; each file is run with the config, in the place ``data.path`` names
        (:meth:`~gmm_apps.registry.Pipeline.data_overrides`).
    out : str or Path, optional
        The batch folder (default ``runs/<pipeline>-each-<timestamp>``).
    seed, sets, quiet, overwrite
        As :func:`~gmm_apps.runs.execute_run`; ``overwrite`` replaces an earlier batch at ``out`` as it was
        left, never anything else.
    keep_going : bool, default=False
        A file that cannot be run is left out, its error in ``runs.csv`` and the summary (``failed``), and
        the others are run; without it, such a file stops the batch and nothing is written.
    n_jobs : int, default=1
        Files run at once, each in a process of its own (capped by the cores); the runs are the same as one
        after another, byte for byte.

    Returns
    -------
    batch_dir : Path
    summary : dict
    """
    started = time.time()
    pipeline, config = prepare(config_path, sets=sets, seed=seed)
    source = "config" if isinstance(config_path, dict) else str(config_path)
    if not pipeline.each_file:
        raise ConfigError(
            f"--each: a {pipeline.name} run reads a set of files, not one; name them in the config "
            f"({', '.join(pipeline.input_keys)}: a folder, a glob or a list) and run it once"
        )
    _check_jobs(config, n_jobs, source)
    items = each_inputs(each, pipeline, source)
    _refuse_sets_of_each(pipeline, items, sets)
    names = run_names(*zip(*items))
    final = Path(out) if out else default_run_dir(config.pipeline, kind="each")
    files = list(dict.fromkeys(str(f) for f, _ in items))
    inputs = [("--each", f) for f in files] + ([] if isinstance(config_path, dict) else [("config", source)])
    ctx = RunContext(
        final, quiet=quiet, seed=config.model.random_state, overwrite=overwrite, inputs=inputs, kind="batch"
    )

    def one(path, part, name):
        over = list(sets or []) + list(pipeline.data_overrides(str(path)).items())
        over += [] if part is None else list(part.overrides.items())
        return {"config_path": config_path, "out": ctx.dir / name, "seed": seed, "sets": over, "shown_as": final / name}

    def work():
        kind = items[0][1].kind if items[0][1] is not None else None
        kinds = f"{kind}s" if kind == "sheet" else kind  # 'series' is its own plural
        what = f"{len(items)} {kinds} of {files[0]}" if kind else f"{len(items)} files"
        logger.info("run %s on %s (--each), writing %s", source, what, final)
        jobs = [(execute_run, one(path, part, name)) for (path, part), name in zip(items, names)]
        rows, failed = _each(
            pipeline, items, names, jobs, quiet=quiet, keep_going=keep_going, what="--each", n_jobs=n_jobs
        )
        parts = {n: part.overrides for (_, part), n in zip(items, names) if part is not None}
        unit = kind or "file"
        return _write_batch(ctx, pipeline, rows, failed, done=f", one per {unit}", parts=parts, unit=unit)

    return finish_run(ctx, work, started, {"pipeline": config.pipeline, "config": source, "kind": "batch"})


def execute_batch_apply(
    batch_dir, input, *, out=None, quiet=False, overwrite=False, update=False, keep_going=False, n_jobs=1
):
    """Apply each run of a batch to the new file of the same name: ``gmm-apps apply BATCH new/`` after
    ``run --each`` (a trader's models of each asset on today's prices).

    Parameters
    ----------
    batch_dir : str or Path
        A folder written by :func:`execute_batch`.
    input : str
        New files: a folder or a glob (a file's name, without its ending, is the run it goes to); a run with
        no new file is left out and said.
    out, quiet, overwrite, update
        As :func:`~gmm_apps.runs.execute_apply`.
    keep_going : bool, default=False
        As :func:`execute_batch`.
    n_jobs : int, default=1
        As :func:`execute_batch`.

    Returns
    -------
    out_dir : Path
    summary : dict
    """
    started = time.time()
    batch_dir = Path(batch_dir)
    summary = read_summary(batch_dir)
    if summary.get("applied_run") and not summary.get("updated_models"):
        raise UserError(
            f"{batch_dir}: runs applied to new files hold no models; apply the run or batch they came from, "
            f"{summary['applied_run']}"
        )
    runs = [r["run"] for r in summary.get("runs", [])]
    made = {r["run"]: r.get("part") for r in summary.get("runs", [])}  # what of its file each run read
    pipeline = get_pipeline(summary.get("pipeline"), source=str(batch_dir))
    if update and not pipeline.updates_model:
        raise ConfigError(f"--update: the {pipeline.name} pipeline cannot update its models in apply; rerun the batch")
    if n_jobs > 1 and runs:
        _check_jobs(open_run(batch_dir / runs[0])[1], n_jobs, f"{batch_dir / runs[0]}/config.yaml")
    items, names = _new_inputs(input, pipeline, batch_dir, runs)
    final = Path(out) if out else default_run_dir(pipeline.name, kind="apply")
    inputs = [("run folder", str(batch_dir)), *(("input", f) for f in dict.fromkeys(str(f) for f, _ in items))]
    ctx = RunContext(final, quiet=quiet, seed=summary.get("seed", 0), overwrite=overwrite, inputs=inputs, kind="batch")

    def work():
        left = [r for r in runs if r not in names]
        if left:
            logger.info("%d run(s) of %s have no new file and are left out: %s", len(left), batch_dir, ", ".join(left))

        jobs = [
            (
                execute_apply,
                {
                    "run_dir": batch_dir / n,
                    "input": str(f),
                    "out": ctx.dir / n,
                    "update": update,
                    "shown_as": final / n,
                    "reading": _reading(part, made.get(n)),
                },
            )
            for (f, part), n in zip(items, names)
        ]
        rows, failed = _each(
            pipeline, items, names, jobs, quiet=quiet, keep_going=keep_going, what="the new files", n_jobs=n_jobs
        )
        parts = {n: part.overrides for (_, part), n in zip(items, names) if part is not None}
        return _write_batch(
            ctx,
            pipeline,
            rows,
            failed,
            done=f" of {batch_dir} applied to their new files",
            parts=parts,
            unit=items[0][1].kind if items[0][1] is not None else "file",
        )

    extra = {"pipeline": pipeline.name, "applied_run": str(batch_dir), "input": str(input), "kind": "batch"}
    if update:  # each run's model learned from its new file too: the batch applies again
        extra["updated_models"] = True
    return finish_run(ctx, work, started, extra)


def applies_each(run_dir, input):
    """Whether ``apply RUN INPUT`` is one application a file: the run reads one file (a price file, a log, a table
    of records; not a folder of photos or recordings) and ``input`` is a folder or a glob of files."""
    if run_kind(run_dir) not in ("run", "apply") or Path(input).is_file():
        return False
    pipeline = get_pipeline(read_summary(run_dir).get("pipeline"), source=str(run_dir))
    if not pipeline.each_file or pipeline.folder_input:
        return False
    try:
        return len(each_files([str(input)], str(run_dir))) > 0
    except UserError:  # nothing there: the one application says so
        return False


#: how the command line spells the options of apply
FLAGS = {"update": "--update", "keep_going": "--keep-going", "n_jobs": "--jobs", "each": "run --each"}
#: how Python spells them (:meth:`gmm_apps.api.Run.apply`)
KEYWORDS = {"update": "update", "keep_going": "keep_going", "n_jobs": "n_jobs", "each": "run with each=..."}


def apply_route(run_dir, data, *, update=False, keep_going=False, n_jobs=None, names=FLAGS):
    """Which ``apply RUN DATA`` this is: a function taking ``(run_dir, data, out=, quiet=, overwrite=)`` for a
    batch of runs (each on the new file of its name) or for one run's model on each file of a folder or glob;
    None for one application of the model, which the caller makes (Python's may hold its data in memory).

    ``n_jobs``: None when not given; ``names``: how the caller spells the options, for its errors
    (:data:`FLAGS` or :data:`KEYWORDS`)."""
    files = isinstance(data, (str, Path))
    many = {"keep_going": keep_going, "n_jobs": n_jobs or 1}
    if run_kind(run_dir) == "batch":
        if not files:
            raise ArgumentError(
                f"data: a batch applies to a folder or glob of files named as its runs, got {type(data).__name__}"
            )
        return functools.partial(execute_batch_apply, update=update, **many)
    if files and applies_each(run_dir, data):  # one model, a folder of new files: each in turn
        if update:
            raise ArgumentError(f"{names['update']}: learns from one file; give one file of {data}, or join them")
        return functools.partial(execute_apply_each, **many)
    if keep_going or n_jobs is not None:
        raise ArgumentError(
            f"{names['keep_going'] if keep_going else names['n_jobs']}: only when applying a batch of runs "
            f"({names['each']}), or a run to a folder of files"
        )
    return None


def execute_apply_each(run_dir, input, *, out=None, quiet=False, overwrite=False, keep_going=False, n_jobs=1):
    """Apply one run's model to each file of a folder or glob (an analyst's daily exports of transactions), each
    into an applied run of its own inside one batch folder, their figures side by side, as
    :func:`execute_batch_apply` does for a batch of runs.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``run`` (or ``apply --update``).
    input : str
        A folder or a glob of new files.
    out, quiet, overwrite, keep_going, n_jobs
        As :func:`execute_batch_apply`.

    Returns
    -------
    out_dir : Path
    summary : dict
    """
    started = time.time()
    run_dir = Path(run_dir)
    pipeline, config = open_run(run_dir)[:2]
    _check_jobs(config, n_jobs, f"{run_dir}/config.yaml")
    items = [(f, None) for f in each_files([str(input)], str(run_dir))]
    names = run_names([f for f, _ in items])
    final = Path(out) if out else default_run_dir(pipeline.name, kind="apply")
    inputs = [("run folder", str(run_dir)), *(("input", str(f)) for f, _ in items)]
    ctx = RunContext(
        final, quiet=quiet, seed=config.model.random_state, overwrite=overwrite, inputs=inputs, kind="batch"
    )

    def work():
        logger.info("apply %s to %d files of %s, writing %s", run_dir, len(items), input, final)
        jobs = [
            (execute_apply, {"run_dir": run_dir, "input": str(f), "out": ctx.dir / n, "shown_as": final / n})
            for (f, _), n in zip(items, names)
        ]
        rows, failed = _each(
            pipeline, items, names, jobs, quiet=quiet, keep_going=keep_going, what=str(input), n_jobs=n_jobs
        )
        return _write_batch(ctx, pipeline, rows, failed, done=f" of {run_dir} applied to each file")

    extra = {"pipeline": pipeline.name, "applied_run": str(run_dir), "input": str(input), "kind": "batch"}
    return finish_run(ctx, work, started, extra)


def _refuse_sets_of_each(pipeline, items, sets):
    """Refuse a ``--set`` of a key ``--each`` sets for each run: ``data.path``, and a part's (``data.sheet``)."""
    named = {s.split("=", 1)[0].strip() if isinstance(s, str) else s[0] for s in sets or []}
    if clash := [k for k in pipeline.data_overrides("FILE") if k in named]:
        raise ConfigError(
            f"--set {clash[0]}: --each puts each file there; leave out --set {clash[0]}, or --each to run one file"
        )
    file, part = items[0]
    if clash := [k for k in (part.overrides if part else {}) if k in named]:
        raise ConfigError(
            f"--set {clash[0]}: --each runs each {part.kind} of {file}, reading it there; leave out --set "
            f"{clash[0]}, or run the one {part.kind} without --each"
        )


def _new_inputs(input, pipeline, batch_dir, runs):
    """The new files (or parts of one) a batch is applied to, and the run each goes to: its name, or the run
    whose name is the same without a date at its end (a daily download, ``wti_2026-12-06.csv`` -> ``wti`` or
    ``wti_2026-12-01``); one named as no run of the batch, or two going to one run, is refused before anything
    is read."""
    items = each_inputs([input], pipeline, str(batch_dir))
    undated = {}
    for r in runs:  # a run of a dated file (wti_2026-12-01) takes the same name of another day too
        undated.setdefault(_undated(r), []).append(r)
    names = [
        n if n in runs or len(undated.get(_undated(n), [])) != 1 else undated[_undated(n)][0]
        for n in run_names(*zip(*items))
    ]
    strays = [f"{_shown(f, part)} ({n})" for (f, part), n in zip(items, names) if n not in runs]
    if strays:
        what = f"{items[0][1].kind}(s)" if items[0][1] is not None else "file(s)"
        raise DataError(
            f"{input}: {len(strays)} {what} whose name is no run of {batch_dir}: {', '.join(strays[:5])}; its runs "
            f"are {', '.join(runs[:10])}{' ...' if len(runs) > 10 else ''}: name each new file (sheet, series) as its run "
            "(or pick the files with a glob)"
        )
    if twice := next((n for n in names if names.count(n) > 1), None):
        files = [_shown(f, part) for (f, part), n in zip(items, names) if n == twice]
        raise DataError(
            f"{input}: {len(files)} files go to run {twice} of {batch_dir}: {', '.join(files[:5])}; pick one day's "
            "files with a glob (e.g. '*2026-12-06*')"
        )
    return items, names


#: a date at the end of a file's name (``_2026-12-06``, ``-20261206``, `` 2026_12_06``)
_DATED = re.compile(r"^(.+?)[ _.-]+(?:\d{4}[-_.]?\d{2}[-_.]?\d{2})$")


def _undated(name):
    """A run's name without a date at its end (a daily download's), or the name as it is."""
    m = _DATED.match(name)
    return m.group(1) if m else name


def _check_jobs(config, n_jobs, source):
    """Refuse ``--jobs`` for a config that runs on Dask, whose cluster spreads each run already."""
    engine = getattr(config, "engine", None)
    if n_jobs > 1 and getattr(engine, "kind", "local") == "dask":
        raise ConfigError(
            f"{source}: --jobs {n_jobs}: engine.kind is dask, whose cluster spreads each run already; leave out --jobs "
            "(the files run one after another on the cluster), or set engine.kind: local"
        )


def _each(pipeline, items, names, jobs, *, quiet, keep_going, what, n_jobs=1):
    """Every input's run (``items``: ``(file, part)`` from :func:`each_inputs`; ``jobs``: for each,
    :func:`~gmm_apps.runs.execute_run` or :func:`~gmm_apps.runs.execute_apply` and its keyword arguments),
    ``n_jobs`` at once: the rows of ``runs.csv``, and the inputs left out with their errors (``keep_going``;
    else the first error stops the batch, naming its file or part)."""
    rows, failed = [], []
    # a worker reads relative paths from the folder the run was started in
    here = os.getcwd() if pool_size(n_jobs, len(items)) > 1 else None
    tasks = [
        (fn, {**kw, "quiet": quiet or here is not None}, (i, len(items), what, part), keep_going, here)
        for i, ((fn, kw), (_, part)) in enumerate(zip(jobs, items), 1)
    ]
    preload = [__name__, type(pipeline).__module__]
    with map_jobs(_one_run, tasks, n_jobs, preload=preload) as results:
        for i, ((path, part), name) in enumerate(zip(items, names), 1):
            shown = _shown(path, part)
            logger.info("[%d/%d] %s -> %s", i, len(items), shown, name)
            summary, error, logged = next(results)
            say_again(logged)  # a worker's run: said here too, as one after another says it
            where = {"run": name, "input": str(path), **({part.kind: part.name} if part is not None else {})}
            if error is not None:
                logger.warning("left out (--keep-going): %s", error)
                failed.append({**where, "error": error})
                continue
            row = {**where, **pipeline.batch_figures(summary)}
            rows.append({k: v for k, v in row.items() if v is not None or k == "headline"})
    if not rows:
        raise UserError(f"every file of {what} failed; the first: {failed[0]['error']}")
    return rows, failed


def _one_run(task):
    """One file's run of a batch, here or in a worker process (``task``: from :func:`_each`): its summary, its
    error (with ``keep_going``; else the error is raised, naming the file) and, in a worker, what it logged."""
    fn, kwargs, (i, n, what, part), keep_going, here = task
    said = Said()
    if here is not None:
        os.chdir(here)
    with collected(said) if here is not None else contextlib.nullcontext():
        try:
            return fn(**kwargs)[1], None, said.messages
        except UserError as exc:
            if not keep_going:
                raise _in_batch(exc, i, n, what, part) from None
            return None, str(exc), said.messages


def _shown(path, part):
    """An input of a batch as its messages and ``runs.csv`` name it: ``prices/wti.csv``, ``book.xlsx, sheet SPY``."""
    return str(path) if part is None else f"{path}, {part.kind} {part.name}"


def _reading(part, made):
    """What an applied run reads of its new file (``reading`` of :func:`~gmm_apps.runs.execute_apply`): the
    part's keys (a sheet, a series), and those its run was made with set back to their defaults (a run of a
    workbook's sheet applied to a file of its own); None: as its run's config says."""
    over = {**dict.fromkeys(made or {}), **(part.overrides if part is not None else {})}
    return over or None


def _in_batch(exc, i, n, what, part=None):
    """A run's one-line error, saying which file (or part) of the batch it stopped at."""
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    if part is None:
        where, how = f"file {i} of {n}", "fix or leave out that file, e.g. with a glob that picks the files"
    else:
        where, how = (
            f"{part.kind} {part.name!r}, {i} of {n},",
            f"fix that {part.kind}, or leave it out with --keep-going",
        )
    exc.args = (f"{text} ({where} of {what}; nothing was written: {how})", *exc.args[1:])
    return exc


def _write_batch(ctx, pipeline, rows, failed=(), done=", one per file", parts=None, unit="file"):
    """``runs.csv`` and ``report.html`` of a batch (the figures side by side, and each run's
    :attr:`~gmm_apps.registry.Pipeline.batch_plot` one under another); its figures for ``summary.json``."""
    import pandas as pd  # start-up time: pandas loads on first use

    from .report import Report  # start-up time: the report module loads matplotlib

    table = pd.DataFrame(rows)
    ctx.write_table("runs.csv", pd.concat([table, pd.DataFrame(list(failed))], ignore_index=True))
    headline = f"{len(rows)} {pipeline.name} run{'s' if len(rows) != 1 else ''}{done}"
    if together := pipeline.batch_headline(rows):
        headline += f"; {together}"
    if failed:
        headline += f"; {len(failed)} {unit}(s) could not be run, left out (runs.csv says why)"
    rep = Report(f"{pipeline.name}: one run per {unit}", subtitle=headline)
    rep.headline(headline)
    if failed:
        rep.table(pd.DataFrame(list(failed)), caption=f"{unit.capitalize()}s that could not be run (--keep-going)")
    shown = table.drop(columns=["input", *(["headline"] if table.shape[1] > 3 else [])])  # headlines: under Runs
    rep.table(shown.rename(columns=lambda c: c.replace("_", " ")), caption="Each run's key figures (runs.csv)")
    plots = [(r["run"], ctx.dir / r["run"] / "plots" / (pipeline.batch_plot or "-")) for r in rows]
    if any(p.is_file() for _, p in plots):
        rep.section("Side by side")
        rep.image([(p, name) for name, p in plots if p.is_file()])
    rep.section("Runs")
    rep.links({f"{r['run']} ({r['input']}): {r.get('headline') or ''}": f"{r['run']}/report.html" for r in rows})
    rep.text("Each run is a run folder of its own: gmm-apps show and apply take it as they take any run.")
    rep.write(ctx.path("report.html"))
    parts = parts or {}  # run -> the keys that made it read its part of its file (apply reads the same)
    runs = [
        {"run": r["run"], "input": r["input"], **({"part": parts[r["run"]]} if r["run"] in parts else {})} for r in rows
    ]
    said = {"headline": headline, "runs": runs}
    return {**said, "failed": list(failed)} if failed else said
