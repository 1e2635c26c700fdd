"""Where a run may be written: never over a system folder, an input, a file the tool did not write.

:func:`check_destination` is called before anything is created; it refuses
in one line what ``--overwrite`` must never replace.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import DataError, UserError
from .paths import SAMPLE_PREFIX, foreign_entries, is_run_folder, local_path


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


# long: one rule per kind of destination, in the order of the table in docs/promises.md, each refusal its own message
def check_destination(final, *, inputs=(), overwrite=False, option="--out"):
    """Refuse a destination whose replacement would destroy something the user has.

    What may be replaced (docs/promises.md has the same table):

    - a path that does not exist, an empty folder: always;
    - an earlier run's folder exactly as the run left it (every file in the
      list its marker holds, unchanged; files deleted since aside): only with
      ``overwrite``;
    - never, ``overwrite`` or not, what gmm_apps did not write: an ordinary folder,
      a regular file, a symbolic link, a run folder holding a file the run did
      not write or that changed since, a folder that only looks like a run (no
      list of its files), an input of the run (the config being run included)
      or anything holding one, the current folder or one holding it, a device,
      FIFO, socket, mount point, the root, a folder directly under it, the home
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
        Allow replacing an earlier run, as it was left.
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
    never = f"gmm_apps never replaces what it did not write, even with --overwrite; choose a new folder, e.g. {option} {final}-2"
    if stat.S_ISLNK(st.st_mode):
        raise UserError(f"{option} {final}: is a symbolic link, not a run folder; {never}")
    if not stat.S_ISDIR(st.st_mode):
        raise UserError(f"{option} {final}: is a file, not a run folder; {never}")
    if _system_folder(real):
        raise UserError(
            f"{option} {final}: is a system folder or a mount point; gmm_apps never replaces one, "
            f"even with --overwrite; name a new folder inside it, e.g. {option} {final}/my-run"
        )
    foreign = foreign_entries(target)
    if foreign == []:  # an earlier run, as it was left
        if overwrite:
            return
        raise UserError(
            f"{option} {final}: holds an earlier run; pass --overwrite (from Python: overwrite=True) to replace it, or choose a new folder"
        )
    try:
        empty = next(target.iterdir(), None) is None
    except OSError as exc:
        raise UserError(f"{option} {final}: cannot read the folder ({exc.strerror})") from None
    if empty:
        return
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise UserError(
            f"{option} {final}: an earlier run's folder that now holds files the run did not write or that "
            f"changed since ({shown}); {never}"
        )
    what = (
        "a run folder of an older gmm_apps, which kept no list of its files"
        if is_run_folder(target)
        else ("the folder exists and is not a gmm_apps run folder")
    )
    raise UserError(f"{option} {final}: {what}; {never}")
