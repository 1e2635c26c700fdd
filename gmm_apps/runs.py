"""Runs: an atomically written run directory, its log, progress, and the run/apply drivers.

A run is built in a hidden temporary folder beside its destination and
renamed into place only when everything is written, so a failed or
interrupted run leaves nothing behind and an earlier run at the same place
stays intact.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import shutil
import signal
import stat
import sys
import threading
import time
from datetime import datetime
from glob import escape as glob_escape
from pathlib import Path

import yaml

from . import __version__
from .config import dump_config, load_config, upgrade_run_config, validate_config
from .core.persistence import SIGNING_KEY_ENV, file_digest, jsonable, loads_json, signature
from .errors import ConfigError, DataError, ModelFileError, UserError
from .paths import RUN_MARKER, SAMPLE_PREFIX, is_run_folder, local_path
from .registry import get_pipeline
from .yaml_io import dotted_get, read_yaml

logger = logging.getLogger("gmm_apps")


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
    from tqdm.auto import tqdm  # start-up time: tqdm loads only when progress is shown

    disable = quiet or not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=disable, leave=False)


#: a file written into every run folder: only folders holding it are ever replaced
MARKER = RUN_MARKER


def model_settings(pipeline, config):
    """The parts of a config that define a pipeline's fitted model (its ``model_sections``), as plain data."""
    dumped = config.model_dump(mode="json")
    return {key: dotted_get(dumped, key, None) for key in pipeline.model_sections}


_UNVERIFIED = (
    "{run_dir}: written by an older gmm_apps that did not record its model files' checksums; the model "
    "is applied unverified (rerun to write a run whose model files are checked)"
)


def verify_run(run_dir, settings, model_paths=()):
    """Check that a run folder's settings and model files are the ones its model was fitted with and written to
    (and signed, with a key).

    Parameters
    ----------
    run_dir : Path
    settings : dict
        :func:`model_settings` of the run folder's ``config.yaml`` as it is now.
    model_paths : iterable of str
        The pipeline's model files or folders (:meth:`Pipeline.model_paths`).

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


def model_digests(folder, paths):
    """SHA-256 of every file at ``paths`` (files, or folders taken whole) under ``folder``, by relative path."""
    folder = Path(folder)
    out = {}
    for rel in paths:
        p = folder / rel
        if p.is_symlink():
            out[str(rel)] = "symbolic link"
        elif p.is_file():
            out[str(rel)] = file_digest(p)
        elif p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file() or q.is_symlink()):
                out[f.relative_to(folder).as_posix()] = "symbolic link" if f.is_symlink() else file_digest(f)
    return out


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


def _within(inner, outer):
    """``inner`` equals ``outer`` or lies inside it (both absolute, resolved)."""
    return inner == outer or outer in inner.parents


def _input_root(entry):
    """The existing path an input entry names (the folder before the first wildcard of a glob), or None."""
    s = str(entry)
    if not s or s.startswith("skimage:"):
        return None
    if s.startswith(SAMPLE_PREFIX):
        try:
            return local_path(s).resolve()
        except DataError:
            return None
    if os.path.lexists(Path(s).expanduser()):  # a path that exists is itself, even with [ or * in its name
        return Path(s).expanduser().resolve()
    parts = Path(s).expanduser().parts
    for i, part in enumerate(parts):
        if any(ch in part for ch in "*?["):
            parts = parts[:i]
            break
    if not parts:
        return Path.cwd().resolve()
    p = Path(*parts)
    return p.resolve() if p.exists() else None


#: longest file name most file systems take, in bytes
_NAME_MAX = 255
#: what a run adds to the destination's name for its temporary and backup folders
_NAME_EXTRA = len(".tmp-4294967295.999")
#: folders under which nothing is ever replaced
_SYSTEM_TREES = ("/dev", "/proc", "/sys", "/run", "/boot")


def _system_folder(real):
    """Whether ``real`` (absolute, resolved) is a folder a run must never replace: the root, a folder
    directly under it (``/etc``, ``/home``, ``/tmp`` ...), the home folder, a mount point, or anything
    under ``/dev``, ``/proc``, ``/sys``, ``/run`` or ``/boot``."""
    root = Path(real.anchor)
    if real == root or real.parent == root:
        return True
    try:
        if real == Path.home().resolve():
            return True
    except (RuntimeError, OSError):  # no home folder
        pass
    if any(_within(real, Path(t)) for t in _SYSTEM_TREES):
        return True
    try:
        return os.path.ismount(real)
    except OSError:
        return True


def _kind(mode):
    """A user-facing name of a file type that a run never replaces, or None for folders, files and links."""
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return None
    return "a special file"


def check_destination(final, *, inputs=(), overwrite=False, option="--out"):
    """Refuse a destination whose replacement would destroy something the user has.

    What may be replaced (docs/promises.md has the same table):

    - a path that does not exist, a gmm_apps run folder, an empty folder: always;
    - an ordinary folder, a regular file, a symbolic link (the link, never its
      target): only with ``overwrite``;
    - never: an input of the run (the config being run included) or anything
      holding one, the current folder or one holding it, a device, FIFO,
      socket, mount point, the root, a folder directly under it, the home
      folder, or anything under ``/dev``, ``/proc``, ``/sys``, ``/run``, ``/boot``.

    Parameters
    ----------
    final : Path
        The run folder to write.
    inputs : iterable of (str, str)
        ``(what, path)`` of every input of the run (config, data files and
        folders, the run an ``apply`` reads); the destination may neither be,
        hold nor lie inside any of them.
    overwrite : bool
        Allow replacing an existing folder, file or link that is not a run folder.
    option : str
        The option's name in messages.

    Raises
    ------
    UserError
    """
    final = Path(final)
    target = Path(os.path.abspath(final.expanduser()))
    if target.name in ("", ".", ".."):
        raise UserError(
            f"{option} {final}: is the current folder or holds it; name a new folder, e.g. {option} runs/my-run"
        )
    size = len(os.fsencode(target.name))
    if size + _NAME_EXTRA > _NAME_MAX:
        raise UserError(
            f"{option} {str(final)[:60]}...: the folder name is {size} bytes long; at most "
            f"{_NAME_MAX - _NAME_EXTRA} fit (file systems take {_NAME_MAX}); choose a shorter name"
        )
    try:
        real = target.resolve()
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"{option} {final}: cannot resolve the path ({getattr(exc, 'strerror', None) or exc}); choose another place"
        ) from None
    here = Path.cwd().resolve()
    if _within(here, real):
        raise UserError(
            f"{option} {final}: is the current folder or holds it; name a new folder, e.g. {option} runs/my-run"
        )
    for what, entry in inputs:
        root = _input_root(entry)
        if root is None:
            continue
        if _within(real, root) or _within(root, real):
            rel = "is" if real == root else ("lies inside" if _within(real, root) else "holds")
            raise UserError(
                f"{option} {final}: {rel} the input {what} ({entry}); writing there would destroy it; "
                f"choose {option} outside the inputs"
            )
    try:
        st = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):  # nothing there (a file on the way is named when writing)
        return
    except OSError as exc:
        raise UserError(
            f"{option} {final}: cannot inspect it ({(exc.strerror or type(exc).__name__).lower()}); "
            "choose another place"
        ) from None
    kind = _kind(st.st_mode)
    if kind:
        raise UserError(
            f"{option} {final}: is {kind}; gmm_apps never replaces a device, pipe or socket, even with "
            "--overwrite; choose a new folder"
        )
    if stat.S_ISLNK(st.st_mode):
        if overwrite:
            return  # the link is replaced; what it points to is never touched
        raise UserError(
            f"{option} {final}: is a symbolic link, not a run folder; choose a new folder, or pass "
            "--overwrite to replace the link (what it points to is kept)"
        )
    if stat.S_ISDIR(st.st_mode):
        if _system_folder(real):
            raise UserError(
                f"{option} {final}: is a system folder or a mount point; gmm_apps never replaces one, "
                f"even with --overwrite; name a new folder inside it, e.g. {option} {final}/my-run"
            )
        if is_run_folder(target):
            return
        try:
            empty = next(target.iterdir(), None) is None
        except OSError as exc:
            raise UserError(f"{option} {final}: cannot read the folder ({exc.strerror})") from None
        if empty or overwrite:
            return
        raise UserError(
            f"{option} {final}: the folder exists and is not a gmm_apps run folder; choose a new folder, "
            "or pass --overwrite to replace it and everything in it"
        )
    if overwrite:
        return
    raise UserError(
        f"{option} {final}: is a file, not a run folder; choose a new folder, or pass --overwrite to replace it"
    )


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _folder_error(final, exc, option):
    for anc in Path(os.path.abspath(final)).parents:
        if anc.exists():
            if not anc.is_dir():
                return UserError(f"{option} {final}: {anc} is a file, not a folder; choose another place")
            break
    why = (exc.strerror or type(exc).__name__).lower()
    return UserError(f"{option} {final}: cannot write there ({why}); choose a folder you can write to")


class RunContext:
    """The place a pipeline writes its outputs during one run.

    The destination is checked first (:func:`check_destination`), then locked
    against a second run writing the same place; temporary folders left by
    killed runs at the same place are removed.

    Parameters
    ----------
    final_dir : Path
        Where the run ends up.
    quiet : bool
        No progress bars.
    seed : int
        The run's random seed (``model.random_state``).
    overwrite : bool
        Replace an existing folder or file at ``final_dir`` that is not a run folder.
    inputs : iterable of (str, str)
        The run's inputs, which ``final_dir`` must neither be, hold nor lie inside.
    option : str
        How the destination is named in messages.

    Attributes
    ----------
    dir : Path
        The temporary folder being written; paths handed out point here.
    figures : dict of str -> Path
        PNG files written with :meth:`save_figure`, by name.
    """

    def __init__(self, final_dir, *, quiet=False, seed=0, overwrite=False, inputs=(), option="--out", kind="run"):
        self.final_dir = Path(final_dir)
        self.quiet = quiet
        self.seed = seed
        self.overwrite = overwrite
        self.inputs = list(inputs)
        self.option = option
        self._lock = None
        self._handler = None
        self.dir = None
        self._marker = {"gmm_apps_version": __version__, "kind": kind}
        self.update = False  # apply --update: the pipeline also learns from the input
        check_destination(self.final_dir, inputs=self.inputs, overwrite=overwrite, option=option)
        parent = self.final_dir.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if not parent.is_dir():
                raise NotADirectoryError(20, "not a folder")
            self.dir = self._make_temp(parent)
            self._acquire_lock(parent)
            self._remove_stale(parent)
        except OSError as exc:
            self._discard()
            raise _folder_error(self.final_dir, exc, option) from None
        except BaseException:
            self._discard()
            raise
        self.figures = {}
        self._handler = logging.FileHandler(self.dir / "run.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._handler.setLevel(logging.DEBUG)
        for name in ("gmm_apps", "py.warnings"):
            lg = logging.getLogger(name)
            lg.addHandler(self._handler)
            if lg.level == logging.NOTSET or lg.level > logging.DEBUG:
                lg.setLevel(logging.DEBUG)

    # ---------------------------------------------------------------- temporary folder and locking
    def _sibling(self, kind):
        """A name beside the destination for this process's ``kind`` (tmp or old) folder that nothing holds yet."""
        parent, stem = self.final_dir.parent, f".{self.final_dir.name}.{kind}-{os.getpid()}"
        p, i = parent / stem, 1
        while os.path.lexists(p):  # never reuse a name something else holds, ours or not
            p, i = parent / f"{stem}.{i}", i + 1
        return p

    def _make_temp(self, parent):
        """Create this run's hidden folder (a new name, never an existing one) with the run marker."""
        while True:
            p = self._sibling("tmp")
            try:
                p.mkdir()
            except FileExistsError:  # created between the look and the mkdir
                continue
            self.dir = p
            (p / MARKER).write_text(json.dumps(self._marker) + "\n", encoding="utf-8")
            return p

    def _acquire_lock(self, parent):
        """Hold an exclusive lock on this run's own temporary folder, and refuse while another run writes here.

        The lock is the kernel's ``flock`` on the folder this run created, so it
        ends with the process however it ends, and no file of the user's is
        ever opened for it.  Another run's temporary folder (it carries the
        marker) whose lock is held means that run is writing: the later of the
        two gives way.
        """
        import fcntl  # POSIX only

        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock = fd
        mine = _age(self.dir)
        for other, pid in self._siblings(parent, "tmp"):
            if other == self.dir or not is_run_folder(other):
                continue
            if _locked(other) and _age(other) < mine:
                raise UserError(
                    f"{self.option} {self.final_dir}: another gmm_apps run (process {pid}) is writing "
                    "there; wait for it to finish or choose another folder"
                )

    def _release_lock(self):
        if self._lock is None:
            return
        fd, self._lock = self._lock, None
        os.close(fd)

    def _siblings(self, parent, kind):
        """``(path, pid)`` of the ``.NAME.kind-PID[.N]`` entries beside the destination."""
        pattern = re.compile(rf"^\.{re.escape(self.final_dir.name)}\.{kind}-(\d+)(?:\.\d+)?$")
        for p in parent.glob(f".{glob_escape(self.final_dir.name)}.{kind}-*"):
            m = pattern.match(p.name)
            if m:
                yield p, int(m.group(1))

    def _remove_stale(self, parent):
        """Remove temporary and backup folders of earlier runs at this place that were killed.

        Only folders carrying the run marker are removed, only when no process
        holds their lock, and only when the process that wrote them is gone.
        """
        for kind in ("tmp", "old"):
            for p, pid in self._siblings(parent, kind):
                if p == self.dir or not is_run_folder(p) or _locked(p):
                    continue
                if pid != os.getpid() and _pid_alive(pid):
                    continue
                logger.debug("removing %s, left by an interrupted run", p)
                _remove(p)

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
        return self.write_text(name, json.dumps(jsonable(obj), indent=2, sort_keys=False) + "\n")

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
        if self._handler is None:
            return
        for name in ("gmm_apps", "py.warnings"):
            logging.getLogger(name).removeHandler(self._handler)
        self._handler.close()
        self._handler = None

    def bind(self, settings, model_paths=()):
        """Record the settings the saved model was fitted with, and which files hold it.

        ``apply`` then refuses the run if its model-defining settings were
        edited, or if a model file is not the one this run wrote (the marker
        holds each one's SHA-256, computed when the run is sealed).

        Parameters
        ----------
        settings : dict
            JSON-serialisable, by dotted section name.
        model_paths : iterable of str
            Files or folders (relative to the run) holding the model.
        """
        self._marker["model_settings"] = jsonable(settings)
        self._model_paths = tuple(model_paths)

    def _seal(self):
        """Write the final marker, with the model files' digests (signed when a signing key is set)."""
        marker = dict(self._marker)
        if getattr(self, "_model_paths", ()):
            marker["model_sha256"] = model_digests(self.dir, self._model_paths)
        raw = json.dumps(marker, sort_keys=True).encode("utf-8")
        sig = signature(raw)
        if sig is not None:
            marker["signature"] = sig
        (self.dir / MARKER).write_text(json.dumps(marker, sort_keys=True) + "\n", encoding="utf-8")

    def commit(self):
        """Move the finished run into place, replacing an earlier run there (checked again now)."""
        self._seal()
        self._detach()
        final = self.final_dir
        try:
            check_destination(final, inputs=self.inputs, overwrite=self.overwrite, option=self.option)
        except BaseException:
            self.abort()
            raise
        backup = None
        blocked = _block_signals()
        try:
            if os.path.lexists(final):
                backup = self._sibling("old")
                os.rename(final, backup)
            try:
                os.rename(self.dir, final)
            except BaseException:
                if backup is not None:
                    os.rename(backup, final)
                raise
        except OSError as exc:
            self.abort()
            raise _folder_error(final, exc, self.option) from None
        finally:
            _unblock_signals(blocked)
        if backup is not None:
            _remove(backup)
        self._release_lock()
        return final

    def abort(self):
        """Discard everything written."""
        self._detach()
        self._discard()

    def _discard(self):
        d = getattr(self, "dir", None)
        if d is not None and is_run_folder(d):
            shutil.rmtree(d, ignore_errors=True)
        self._release_lock()


def _age(path):
    """Creation order of a folder: (change time, name), so two runs compare the same way."""
    try:
        return (os.stat(path).st_ctime_ns, path.name)
    except OSError:
        return (0, path.name)


def _locked(path):
    """Whether a process holds the lock on a run's temporary folder."""
    import fcntl  # POSIX only

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


_SIGNALS = ("SIGINT", "SIGTERM")


def _block_signals():
    """Hold SIGINT/SIGTERM while the finished run is swapped into place (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    sigs = {getattr(signal, s) for s in _SIGNALS}
    return signal.pthread_sigmask(signal.SIG_BLOCK, sigs)


def _unblock_signals(previous):
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
    pipeline.check(config, source)
    return pipeline, config


def _complete(ctx, work, started, extra):
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


def execute_run(config_path, *, out=None, seed=None, sets=None, quiet=False, overwrite=False):
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
        Replace an existing folder or file at ``out`` that is not a run folder.

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
    ctx = RunContext(final, quiet=quiet, seed=config.model.random_state, overwrite=overwrite, inputs=inputs)

    def work():
        logger.info("run %s: pipeline %s, writing %s", source, config.pipeline, final)
        ctx.write_text("config.yaml", dump_config(config))
        ctx.bind(model_settings(pipeline, config), pipeline.model_paths())
        return pipeline.run(config, ctx)

    return _complete(ctx, work, started, {"pipeline": config.pipeline, "config": source})


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
    if not cfg_path.is_file() or not is_run_folder(run_dir):
        raise UserError(f"{run_dir}: not a gmm_apps run folder (no config.yaml); pass the folder a 'run' wrote")
    raw = read_yaml(cfg_path)
    name = raw.get("pipeline")
    if not isinstance(name, str):
        raise ConfigError(f"{cfg_path}: missing required key 'pipeline'")
    pipeline = get_pipeline(name, source=str(cfg_path))
    raw = upgrade_run_config(raw, pipeline.config_model)
    config = validate_config(raw, pipeline.config_model, source=str(cfg_path))
    warning = verify_run(run_dir, model_settings(pipeline, config), pipeline.model_paths())
    return pipeline, config, raw, warning


def execute_apply(run_dir, input, *, out=None, quiet=False, overwrite=False, update=False):
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
        Replace an existing folder or file at ``out`` that is not a run folder.
    update : bool
        Also learn from the input and save the updated model in the new folder
        (which ``apply`` then accepts like a run); only for pipelines with
        ``updates_model``.  The applied run folder is never changed.

    Returns
    -------
    out_dir : Path
    summary : dict
    """
    started = time.time()
    run_dir = Path(run_dir)
    pipeline, config, raw, unverified = open_run(run_dir)
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
    )
    ctx.update = bool(update)
    if update:  # the new folder holds a model: apply checks its settings and files as a run's
        ctx.bind(model_settings(pipeline, config), pipeline.model_paths())

    def work():
        logger.info("apply %s to %s, writing %s", run_dir, input, final)
        if unverified:
            logger.warning("%s", unverified)
        ctx.write_text("config.yaml", yaml.safe_dump(raw, sort_keys=False))
        return pipeline.apply(run_dir, str(input), config, ctx)

    extra = {"pipeline": name, "applied_run": str(run_dir), "input": str(input)}
    if unverified:
        extra["warning"] = unverified
    if update:
        extra["updated_model"] = pipeline.model_file
    return _complete(ctx, work, started, extra)


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
