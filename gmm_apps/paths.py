"""Paths a config names: input files, folders and globs, the bundled samples, run folders, file kinds."""

from __future__ import annotations

import glob
import logging
import os
import re
import stat
from collections import Counter
from pathlib import Path

from .core.persistence import loads_json
from .errors import ConfigError, DataError

logger = logging.getLogger("gmm_apps")


def resolve_inputs(pattern, *, key, source, suffixes=None, allow_dir=True, warn=True):
    """Expand ``data.path`` (file, folder or glob) into a sorted list of files.

    Parameters
    ----------
    pattern : str
    key : str
        Dotted key for messages (e.g. ``data.path``).
    source : str
        Config file name for messages.
    suffixes : iterable of str, optional
        Accepted file endings (lower case, with the dot) when listing a folder.
    allow_dir : bool, default=True
    warn : bool, default=True
        Log the files of a folder or glob that are left out (False where the config's check has said so).

    Returns
    -------
    files : list of Path
    """
    p = local_path(pattern).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir() and allow_dir:
        skipped = []
        every = sorted(_walk_files(p, skipped))
        files = [f for f in every if suffixes is None or f.suffix.lower() in suffixes]
        if warn:
            _say_housekeeping(skipped, pattern)
            _say_left_out(every, files, pattern, suffixes)
        if not files:
            want = ", ".join(sorted(suffixes)) if suffixes else "files"
            raise ConfigError(f"{source}: {key}: folder {pattern} holds no {want}")
        return files
    if any(ch in pattern for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(str(p), recursive=True) if Path(f).is_file())
        # a glob's wildcards pass over hidden names already, not over __MACOSX or @eaDir: those unless named
        skipped = [f for f in files if any(_housekeeping(n) and n not in p.parts for n in f.parts)]
        if skipped:
            left_out = set(skipped)  # once: not rebuilt for every file of a large glob
            files = [f for f in files if f not in left_out]
            if warn:
                _say_housekeeping(skipped, pattern)
        folders = {f.parent for f in files}
        outputs = {d for d in folders.union(*(d.parents for d in folders)) if is_run_folder(d)}  # each checked once
        if outputs:
            files = [f for f in files if outputs.isdisjoint(f.parents)]
        if suffixes is not None:
            every, files = files, [f for f in files if f.suffix.lower() in suffixes]
            if warn:
                _say_left_out(every, files, pattern, suffixes)
        if not files:
            where = "" if glob.glob(str(p), recursive=True) else _where_looked(pattern, source)
            raise ConfigError(f"{source}: {key}: the pattern {pattern!r} matches no files{where}")
        return files
    problem = path_problem(p) or "file not found"
    where = _where_looked(pattern, source) if problem == "file not found" else ""
    raise ConfigError(f"{source}: {key}: {problem}: {pattern}{where}")


def check_input(path, *, key, source, each=False, one="file"):
    """Refuse ``path`` (a file a config names) in one line unless it is a readable regular file.

    A relative path missing from the current folder is said to be looked for there, and where the config's
    own folder holds it, that is said too (paths in a config are read from the folder the run starts in).

    Parameters
    ----------
    path : str or Path
    key : str
        Dotted key for messages (e.g. ``data.path``).
    source : str
        Config file name for messages.
    each : bool or str, default=False
        ``key`` is where ``run --each`` puts each file: a folder or a glob of files given there is offered to it
        (a text: what to say instead, ``{path}`` and ``{key}`` filled in).
    one : str, default="file"
        What a run reads there, for a glob's refusal ("expected the name of one price file").

    Raises
    ------
    ConfigError
    """
    problem = path_problem(path)
    if problem:
        hint = _where_looked(path, source) if problem == "file not found" else ""
        if each and (files := _many_files(path, key=key, source=source)) is not None:
            if not Path(local_path(path)).expanduser().is_dir():
                problem = f"a glob of {len(files)} file{'s' if len(files) != 1 else ''}, expected the name of one {one}"
            said = (
                each
                if isinstance(each, str)
                else "to run each of its files on its own, pass --each {path} in place of {key}"
            )
            hint = "; " + said.format(path=f'"{path}"' if glob.has_magic(str(path)) else path, key=key)  # for a shell
        raise ConfigError(f"{source}: {key}: {problem}: {path}{hint}")


def _many_files(path, *, key, source):
    """The files of a folder or a glob given where a run reads one file (``key``: ``data.path``), or None when
    it is neither (or a glob matching nothing): what a refusal of it offers ``--each`` for."""
    if not (Path(local_path(path)).is_dir() or glob.has_magic(str(path))):
        return None
    try:
        return resolve_inputs(path, key=key, source=source, warn=False)
    except ConfigError:  # an empty folder, a glob matching nothing
        return [] if Path(local_path(path)).is_dir() else None


def _where_looked(path, source):
    """Where a relative ``path`` that is not there was looked for, and whether the config's folder holds it."""
    s = str(path)
    p = Path(s).expanduser()
    if s.startswith(SAMPLE_PREFIX) or p.is_absolute() or os.path.lexists(p):
        return ""
    here = Path.cwd()
    config = Path(str(source))
    beside = config.parent / p if config.suffix.lower() in (".yaml", ".yml") and config.is_file() else None
    if beside is not None and (glob.glob(str(beside)) if any(ch in s for ch in "*?[") else beside.exists()):
        return (
            f" (relative paths are read from the current folder, {here}; the config's folder holds it: "
            f"write {beside.resolve()}, or run from {config.parent.resolve()})"
        )
    return f" (relative paths are read from the current folder, {here})"


#: written into every run folder by :class:`gmm_apps.run_context.RunContext`
RUN_MARKER = ".gmm_apps_run"


def is_run_folder(path):
    """Whether ``path`` is a folder that gmm_apps wrote (a run, or a run's temporary folder).

    Such a folder holds the :data:`RUN_MARKER` file; folders written before the
    marker existed are recognised by their ``summary.json`` (with the
    ``gmm_apps_version`` key) beside a ``config.yaml``.  Only these are ever
    replaced, and input scans skip them.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
    """
    p = Path(path)
    if p.is_symlink() or not p.is_dir():
        return False
    if (p / RUN_MARKER).is_file():
        return True
    try:
        summary = loads_json((p / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and "gmm_apps_version" in summary and (p / "config.yaml").is_file()


def run_manifest(folder):
    """What a run folder holds besides its marker: ``{relative path: [size, mtime_ns]}`` (``[-1, 0]`` for a
    folder), recorded in the marker when the run is sealed."""
    folder = Path(folder)
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            if rel == RUN_MARKER:
                continue
            st = os.lstat(p)
            out[rel] = [-1, 0] if stat.S_ISDIR(st.st_mode) else [st.st_size, st.st_mtime_ns]
    return dict(sorted(out.items()))


def foreign_entries(folder):
    """What a finished run folder holds that its run did not write, or that changed since it was written.

    Returns
    -------
    list of str or None
        Relative paths (empty: the folder is exactly as its run left it, files deleted since aside), or
        None when ``folder`` is not a run folder sealed with the list of its files (a folder of the
        user's, one that only looks like a run, or a run of a version that kept no such list).
    """
    p = Path(folder)
    if p.is_symlink() or not p.is_dir():
        return None
    try:
        marker = loads_json((p / RUN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = marker.get("files") if isinstance(marker, dict) else None
    if not isinstance(files, dict):
        return None
    try:
        now = run_manifest(p)
    except OSError:
        return None
    return [rel for rel, seen in now.items() if files.get(rel) != seen]


#: what cameras write that is not read here, and what to convert it to
CONVERT_TO = {
    ext: "JPEG or TIFF (export them from the camera's or a photo editor's software)"
    for ext in (".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2", ".pef", ".srw")
}


def _say_left_out(every, kept, where, suffixes):
    """A warning naming the kinds of file a folder or glob held that are not read (a phone's .heic photos),
    and what to convert those of a known kind to."""
    if len(every) == len(kept):
        return
    kinds = Counter(f.suffix.lower() or f.name for f in every if f.suffix.lower() not in suffixes)
    convert = [f"{k} to {CONVERT_TO[k]}" for k in kinds if k in CONVERT_TO]
    logger.warning(
        "%s: %d file(s) left out, not of a kind read here (%s); read: %s%s",
        where,
        sum(kinds.values()),
        ", ".join(f"{k} {n}" for k, n in kinds.most_common(6)),
        ", ".join(sorted(suffixes)),
        f"; convert {', '.join(convert)}" if convert else "",
    )


#: folders and files an operating system, a NAS or an archiver writes beside a user's own (a Mac's ``._photo.jpg``
#: resource copies and ``__MACOSX`` in a zip, a Synology's ``@eaDir`` thumbnails, Windows' recycle bin and
#: thumbnail caches); with names starting with a dot, never read from a folder or a glob
HOUSEKEEPING = {"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information", "Thumbs.db", "desktop.ini"}


def _housekeeping(name):
    return name.startswith(".") or name in HOUSEKEEPING


def _walk_files(root, skipped=None):
    """Regular files under ``root``, skipping run folders written by gmm_apps and what the system keeps there
    (:data:`HOUSEKEEPING`, hidden names), whose paths go to ``skipped``."""
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if skipped is not None:
            skipped.extend(d / n for n in dirnames + filenames if _housekeeping(n))
        dirnames[:] = sorted(n for n in dirnames if not _housekeeping(n) and not is_run_folder(d / n))
        for n in filenames:
            f = d / n
            if not _housekeeping(n) and f.is_file():
                yield f


def _say_housekeeping(skipped, where):
    if skipped:
        names = sorted({p.name for p in skipped})
        logger.info(
            "%s: %d hidden or system file(s) and folder(s) left out (%s); name one alone to read it",
            where,
            len(skipped),
            ", ".join(names[:4]) + (", ..." if len(names) > 4 else ""),
        )


#: ``sample:NAME`` in a data key names a file or folder of the sample data installed with gmm_apps
SAMPLE_PREFIX = "sample:"
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def sample_path(name):
    """The installed sample data file or folder ``name`` (e.g. ``"cdnow_sample.txt"``, ``"fsdd_sample/enrol"``).

    Parameters
    ----------
    name : str

    Returns
    -------
    path : Path

    Raises
    ------
    DataError
        No such sample; the message lists the samples there are.
    """
    p = SAMPLES_DIR / name
    if not name or ".." in Path(name).parts or not p.exists():
        have = ", ".join(sorted(q.name for q in SAMPLES_DIR.iterdir() if not q.name.startswith(("_", "."))))
        raise DataError(f"{SAMPLE_PREFIX}{name}: no such sample; the samples are {have}")
    return p


def local_path(path):
    """``path`` with a ``sample:NAME`` prefix resolved to the installed sample data; other paths as they are.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    path : Path
    """
    s = str(path)
    return sample_path(s[len(SAMPLE_PREFIX) :]) if s.startswith(SAMPLE_PREFIX) else Path(s)


def require_file(path, *, key=None, expected=None, allow_empty=False):
    """``path`` as a Path if it is a readable, non-empty regular file; else a one-line :class:`DataError`.

    Parameters
    ----------
    path : str or Path
    key : str, optional
        The config key that named the file, added to the message.
    expected : str, optional
        What the file should hold, for the empty-file message.
    allow_empty : bool

    Returns
    -------
    path : Path
    """
    p = local_path(path)
    where = f" ({key})" if key else ""
    problem = path_problem(p)
    if problem:
        raise DataError(f"{p}: {problem}{where}")
    if not allow_empty and p.stat().st_size == 0:
        raise DataError(f"{p}: file is empty" + (f"; expected {expected}" if expected else ""))
    return p


def path_problem(path):
    """Why ``path`` is not a readable regular file, or None when it is one.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    problem : str or None
        e.g. ``"file not found"``, ``"is a folder, expected a file"``,
        ``"is a named pipe (FIFO), expected a regular file"``.
    """
    if str(path).startswith(SAMPLE_PREFIX):
        try:
            path = local_path(path)
        except DataError:
            return "no such sample (see gmm_apps/samples)"
    try:
        st = os.stat(path)
    except ValueError:  # a NUL character: no file system has such a name
        return "not a valid file name (it holds a NUL character)"
    except (FileNotFoundError, NotADirectoryError):
        return "file not found"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None if os.access(path, os.R_OK) else "permission denied"
    if stat.S_ISDIR(mode):
        return "is a folder, expected a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), expected a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, expected a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, expected a regular file"
    return "is not a regular file"


def left_out(path, reason):
    """Log an input file left out under ``data.unreadable: skip`` (in the run's own process: a worker's log is
    not the run's); its ``file`` and ``reason``, as the summary lists it."""
    logger.warning("%s; left out (data.unreadable: skip)", reason)
    return {"file": str(path), "reason": reason}


def with_left_out(summary, skipped, noun, why):
    """``summary`` with the inputs left out under ``data.unreadable: skip`` listed (``skipped``) and counted in its
    headline ("; 2 files left out as no readable image"); as it was when none were."""
    if not skipped:
        return summary
    n = len(skipped)
    return {
        **summary,
        "headline": f"{summary['headline']}; {n} {noun}{'s' if n != 1 else ''} left out {why}",
        "skipped": skipped,
    }


def shown_paths(text, private):
    """``text`` with every path inside a private folder (``private``: folder -> what to call it; the in-memory data
    of a Python call, written to a temporary folder for the run to read) called what it is, as the caller gave it:
    the run's files and log then name ``(the DataFrame given)``, not a folder removed after the run, and are the
    same for the same data."""
    for folder, label in (private or {}).items():
        text = re.sub(re.escape(str(folder)) + r"(?:[/\\][^\s:;,)'\"]*)?", lambda _m, lb=label: lb, text)
    return text
