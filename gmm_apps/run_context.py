"""A run folder being written: staged beside its destination, locked, logged, sealed and renamed into place.

A run is built in a hidden temporary folder beside its destination and
renamed into place only when everything is written, so a failed or
interrupted run leaves nothing behind and an earlier run at the same place
stays intact.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
from glob import escape as glob_escape
from pathlib import Path

from . import __version__
from .core.persistence import file_digest, jsonable, signature
from .destination import check_destination
from .errors import UserError
from .paths import RUN_MARKER, foreign_entries, is_run_folder, run_manifest, shown_paths
from .plot_fonts import save_png

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


class _ShownPaths(logging.Formatter):
    """The run log's lines with in-memory data's temporary paths called what they are (:func:`shown_paths`)."""

    def __init__(self, fmt, private):
        super().__init__(fmt)
        self.private = private

    def format(self, record):
        return shown_paths(super().format(record), self.private)


class RunWriter:
    """What a pipeline writes through: paths inside the run folder, text, JSON, tables, figures, progress.

    Every path is checked to stay inside the folder being built (``self.dir``).
    """

    #: temporary folders of in-memory data -> what the run's files call them (:func:`gmm_apps.paths.shown_paths`)
    private = {}

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
        p.write_text(shown_paths(text, self.private), encoding="utf-8")
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
        save_png(fig, p)
        self.figures[name] = p
        return p

    def progress(self, iterable=None, *, total=None, desc=None):
        return progress(iterable, total=total, desc=desc, quiet=self.quiet)


class StagingFolder:
    """The hidden folder a run is built in, beside its destination, and the lock that keeps a second run out.

    Mixed into :class:`RunContext`, which sets ``final_dir``, ``option``, ``dir`` and ``_lock``.
    """

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


class RunContext(RunWriter, StagingFolder):
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
        Replace an earlier run at ``final_dir`` (as it was left; never anything else).
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

    def __init__(
        self, final_dir, *, quiet=False, seed=0, overwrite=False, inputs=(), option="--out", kind="run", private=None
    ):
        self.final_dir = Path(final_dir)
        self.private = dict(private or {})  # in-memory data's temporary folder -> what the run's files call it
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
        self._attach_log()

    # ---------------------------------------------------------------- the run's log
    def _attach_log(self):
        """Send everything gmm_apps and Python's warnings log to ``run.log`` in the folder being built."""
        self._handler = logging.FileHandler(self.dir / "run.log", encoding="utf-8")
        self._handler.setFormatter(_ShownPaths("%(asctime)s %(levelname)s %(name)s: %(message)s", self.private))
        self._handler.setLevel(logging.DEBUG)
        for name in ("gmm_apps", "py.warnings"):
            lg = logging.getLogger(name)
            lg.addHandler(self._handler)
            if lg.level == logging.NOTSET or lg.level > logging.DEBUG:
                lg.setLevel(logging.DEBUG)

    def _detach(self):
        if self._handler is None:
            return
        for name in ("gmm_apps", "py.warnings"):
            logging.getLogger(name).removeHandler(self._handler)
        self._handler.close()
        self._handler = None

    # ---------------------------------------------------------------- sealing and moving into place
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
        """Write the final marker, with the model files' digests and the list of every file the run wrote
        (:func:`gmm_apps.paths.run_manifest`: only a folder matching it is ever replaced), signed when a
        signing key is set."""
        marker = dict(self._marker)
        marker["files"] = run_manifest(self.dir)
        if getattr(self, "_model_paths", ()):
            marker["model_sha256"] = model_digests(self.dir, self._model_paths)
        raw = json.dumps(marker, sort_keys=True).encode("utf-8")
        sig = signature(raw)
        if sig is not None:
            marker["signature"] = sig
        (self.dir / MARKER).write_text(json.dumps(marker, sort_keys=True) + "\n", encoding="utf-8")

    def commit(self):
        """Move the finished run into place, replacing an earlier run there (checked again now)."""
        self._detach()  # run.log is complete before the list of files is taken
        self._seal()
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
            _remove_replaced(backup)
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


def _remove_replaced(backup):
    """Remove what a run replaced (checked before the swap: an earlier run as it was left, or an empty
    folder), unless it changed in the meantime: then it is kept, and its place said."""
    if backup.is_dir() and not backup.is_symlink() and foreign_entries(backup) == []:
        shutil.rmtree(backup, ignore_errors=True)
        return
    try:
        backup.rmdir()  # an empty folder; fails on anything else
    except OSError:
        logger.warning("%s: kept: what --out held changed while the run was written; move what you need", backup)


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
