"""Reading recordings and their speaker labels."""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path

from ...errors import DataError
from ...paths import left_out, local_path, path_problem, resolve_inputs
from ...tabular import read_table
from .audio import AUDIO_SUFFIXES, native_rate
from .config import is_list

logger = logging.getLogger("gmm_apps.speakers")


def readable_recordings(files, data, *, key):
    """``files`` as the run reads them: all (``data.unreadable: error``: one no reader can open stops the run
    when it is read), or those whose header reads (``skip``: the others left out and logged; one cut short after
    its header is left out as it is decoded, once); and those left out (``file``, ``reason``)."""
    if data.unreadable == "error":
        return files, []
    kept, skipped = [], []
    for f in files:
        try:
            native_rate(f)
            kept.append(f)
        except DataError as exc:
            skipped.append(left_out(f, str(exc)))
    if not kept:
        raise DataError(f"{key}: none of the {len(files)} recordings can be read (data.unreadable: skip left each out)")
    return kept, skipped


def recordings(spec, data, *, key, source, warn=True):
    """The recordings of a set (``data.enrol``, ``data.test``, ``apply``'s input): those a list names
    (:func:`list_of_recordings`), or a file, folder or glob's audio files."""
    if is_list(spec):
        return list_of_recordings(spec, key=key, file_column=data.file_column, speaker_column=data.speaker_column)[0]
    return resolve_inputs(spec, key=key, source=source, suffixes=AUDIO_SUFFIXES, warn=warn)


@functools.lru_cache(maxsize=4)
def _listed(path, stamp, file_column, speaker_column):
    """:func:`list_of_recordings` of a table as it was at ``stamp`` (its size and time), read once a run."""
    df = read_table(path, dtype=str)
    missing = [c for c in (file_column, speaker_column) if c not in df.columns]
    if file_column in missing:
        raise DataError(
            f"{path}: column {file_column!r} (data.file_column) not found; columns are "
            f"{', '.join(map(str, df.columns[:12]))}; name the column of recordings with data.file_column "
            "(and that of speakers with data.speaker_column)"
        )
    base, found, lost = path.parent, {}, []
    speakers = df[speaker_column] if not missing else [None] * len(df)
    for f, who in zip(df[file_column], speakers):
        if not isinstance(f, str) or not f.strip():
            continue
        rel = Path(f.strip().replace("\\", "/"))
        hit = next((c for c in (base / rel, base / "clips" / rel) if c.is_file()), None)
        if hit is None:
            lost.append(f)
            continue
        who = who.strip() if isinstance(who, str) and who.strip() else None
        if found.get(hit, who) != who:
            raise DataError(f"{path}: {f!r} is listed for {found[hit]!r} and for {who!r}; keep one row per recording")
        found[hit] = who
    return list(found), (None if missing else list(found.values())), lost


def list_of_recordings(spec, *, key, file_column, speaker_column):
    """The recordings a table lists, and their speakers (None without a speaker column).

    ``file_column`` holds each recording's path from the table's folder or from its ``clips`` folder (as Common
    Voice's ``train.tsv`` names the files of ``clips/``); a recording not found is left out (logged, with the
    count), one listed twice is read once; none found is an error.

    Returns
    -------
    files : list of Path
    speakers : list of str or None, or None
    """
    p = local_path(spec).expanduser()
    problem = path_problem(p)
    if problem:
        raise DataError(f"{p}: {problem} ({key})")
    stat = p.stat()
    files, speakers, lost = _listed(p.resolve(), (stat.st_size, stat.st_mtime_ns), file_column, speaker_column)
    if not files:
        raise DataError(
            f"{p}: none of the recordings its {file_column!r} column names was found "
            f"(e.g. {lost[0] if lost else 'no row names one'!r}, looked for in {p.parent} and {p.parent / 'clips'}); "
            f"set data.file_column to the column of file names, or move the table beside the recordings ({key})"
        )
    if lost:
        logger.warning(
            "%s: %d of the %d recordings it lists are not found (e.g. %r) and are left out",
            p,
            len(lost),
            len(lost) + len(files),
            lost[0],
        )
    return files, speakers


def listed_speakers(spec, data):
    """The speakers a list of recordings names for its recordings (after :func:`recordings` read it), or None:
    not a list, or one without a speaker column."""
    if not is_list(spec):
        return None
    p = local_path(spec).expanduser()
    stat = p.stat()
    return _listed(p.resolve(), (stat.st_size, stat.st_mtime_ns), data.file_column, data.speaker_column)[1]


def label_root(spec):
    """The folder a file, folder or glob of recordings starts from (a glob: its part before the first wildcard)."""
    if spec is None:
        return None
    text = str(local_path(spec))
    cut = min((text.index(ch) for ch in "*?[" if ch in text), default=None)
    if cut is None:
        root = Path(text)
    else:
        prefix = text[:cut]
        root = Path(prefix) if prefix.endswith(("/", os.sep)) else Path(prefix).parent
    return root if root.is_dir() else None


def label_of(path, *, label_from="pattern", pattern=None, root=None, level=1):
    """The speaker of a file from its name (regular expression) or its folder; None if no match.

    With ``label_from='folder'`` the speaker is the folder ``level`` below ``root`` that holds the file,
    however deep (``root/84/121123/84-121123-0000.flac``: speaker 84, as LibriSpeech and VoxCeleb lay
    out sessions inside each speaker's folder; ``root/DR1/FCJF0/SA1.WAV`` with ``level=2``: speaker
    FCJF0, as TIMIT groups speakers by region); None for a file less deep than that; without ``root``,
    or for a file directly in it, the folder holding the file (level 1 only).
    """
    path = Path(path)
    if label_from == "folder":
        if root is not None:
            try:
                parts = path.relative_to(root).parts
            except ValueError:
                parts = ()
            if len(parts) > level:
                return parts[level - 1]
        return path.parent.name if level == 1 else None
    m = re.match(pattern, path.stem)
    return m.group("speaker") if m else None


#: file-name patterns offered when data.pattern does not fit: a name then a number (``alice_01``, ``Bob 2``),
#: a name then anything after a separator (``alice-kitchen-take3``)
PATTERN_HINTS = (r"^(?P<speaker>[^\W\d_]+)[ _-]*\d+$", r"^(?P<speaker>[^\W_]+)[ _-]")


#: folder names of a set of recordings rather than a speaker: ``enrol``, ``train``, ``train-clean-100``
#: (LibriSpeech), ``test``, ``eval``, ``dev``, ``validation`` ...
_ENROL_SET = re.compile(r"(enrol+(ment)?|train(ing)?)([-_. ].*)?", re.IGNORECASE)
_TEST_SET = re.compile(r"(test(ing)?|eval(uation)?)([-_. ].*)?", re.IGNORECASE)
_OTHER_SET = re.compile(r"(dev(elopment)?|val(id(ation)?)?)([-_. ].*)?", re.IGNORECASE)


def set_folders(folder):
    """``data.enrol`` and ``data.test`` for a folder that holds sets of recordings (``enrol/`` and ``test/``,
    LibriSpeech's ``train-clean-100/`` and ``test-clean/``) or is the enrolment set beside a test set: the first
    enrolment folder by name, and the first test folder (else a development one); {} for any other folder."""
    folder = Path(folder)

    def named(pattern, where):
        return sorted(p for p in where.iterdir() if p.is_dir() and pattern.fullmatch(p.name))

    if not folder.is_dir():
        return {}
    if _ENROL_SET.fullmatch(folder.resolve().name):
        enrol, beside = [folder], folder.resolve().parent
        tests = named(_TEST_SET, beside) or named(_OTHER_SET, beside)
        tests = [folder / ".." / t.name for t in tests]
    else:
        enrol = named(_ENROL_SET, folder)
        tests = named(_TEST_SET, folder) or named(_OTHER_SET, folder)
    if not enrol or (not tests and enrol[0] == folder):
        return {}
    return {"data.enrol": os.path.normpath(enrol[0]), "data.test": os.path.normpath(tests[0]) if tests else None}


def _refuse_set_folders(named, spec, key):
    """Refuse speakers found in folders (``data.label_from: auto``) that are all named as sets of recordings
    (``enrol``, ``test``): the recordings are split into sets, each holding one folder a speaker (the keys that
    read them so are the error's ``fix``, which ``init --data`` writes)."""
    sets = (_ENROL_SET, _TEST_SET, _OTHER_SET)
    if len(named) < 2 or not all(any(s.fullmatch(n) for s in sets) for n in named):
        return
    root = label_root(spec)
    fix = set_folders(root) if key.startswith("data.enrol") and root is not None else {}
    how = " and ".join(f"{k}: {v}" for k, v in fix.items() if v) if fix else "data.enrol and data.test to them"
    err = DataError(
        f"{key}: the folders under {spec} are named as sets of recordings ({', '.join(named)}), not as speakers; "
        f"set {how} (each holding one folder a speaker), or data.label_from: folder if these are the speakers"
    )
    err.fix = fix
    raise err


def labelled(files, data, key, *, required, spec):
    """Each file's speaker (:func:`speaker_labels` by the config's ``data`` section; ``spec``: the file, folder
    or glob the files came from, where folder labels start)."""
    return speaker_labels(
        files,
        label_from=data.label_from,
        pattern=data.pattern,
        spec=spec,
        key=key,
        required=required,
        listed=listed_speakers(spec, data),
        level=data.speaker_folder,
    )


def _folder_labels(files, spec):
    """Each file's speaker folder directly under ``spec``'s folder, None for a file directly in it (or outside it)."""
    root = label_root(spec)
    out = []
    for p in files:
        try:
            inside = root is not None and len(Path(p).relative_to(root).parts) > 1
        except ValueError:
            inside = False
        out.append(label_of(p, label_from="folder", root=root) if inside else None)
    return out


def _say_folders(files, labels, spec, key, level):
    """Log which folders were read as the speakers and, when they hold folders of their own (one speaker's
    sessions, or the speakers themselves grouped by region as in TIMIT), the data.speaker_folder that reads
    those instead."""
    root = label_root(spec)
    named = sorted({lab for lab in labels if lab is not None})
    below = set()
    for p, lab in zip(files, labels):
        parts = Path(p).relative_to(root).parts if lab is not None and root in Path(p).parents else ()
        if len(parts) > level + 1:
            below.add("/".join(parts[: level + 1]))
    note = ""
    if below:
        note = (
            f"; they hold {len(below)} folder(s) of their own (e.g. {min(below)}), read as one speaker's sessions: "
            f"if those are the speakers, set data.speaker_folder: {level + 1}"
        )
    logger.info(
        "%s: each recording's speaker is the folder %s %s (%d: %s)%s",
        key,
        "directly under" if level == 1 else f"{level} levels below",
        root if root is not None else spec,
        len(named),
        ", ".join(named[:5]) + (", ..." if len(named) > 5 else ""),
        note,
    )


def as_enrolled(names, speakers):
    """Speaker names as enrolled: one that differs from a single enrolled speaker's only in case (``george``
    for ``George``, a claim typed by hand, a test folder named otherwise) is that speaker's; others as given."""
    folded = {}
    for s in speakers:
        folded.setdefault(str(s).casefold(), []).append(s)

    def one(n):
        same = [] if n is None or n in speakers else folded.get(str(n).casefold(), [])
        return same[0] if len(same) == 1 else n

    return None if names is None else [one(n) for n in names]


def speaker_labels(files, *, label_from, pattern, spec, key, required, listed=None, level=1):
    """Each recording's speaker, by ``data.label_from``.

    ``'pattern'``: the named group ``speaker`` of ``pattern`` matched to the file name; ``'folder'``:
    the folder ``level`` below ``spec``'s (:func:`label_of`); ``'table'``: the speakers a list of recordings
    names (``listed``, :func:`list_of_recordings`); ``'auto'``: those when the recordings came from a list
    with a speaker column, else the pattern when every file name matches it (unless ``level`` is over 1,
    which asks for folders), else the folders when the files sit in speaker folders (enrolment: every
    file, in two or more; other recordings: those in a folder, the rest unlabelled), logged.

    Parameters
    ----------
    files : list of Path
    spec : str
        The file, folder or glob the files came from.
    key : str
        ``data.enrol``, ``data.test`` or ``input``, for messages.
    required : bool
        Every file must have a speaker (enrolment): refused otherwise, with a pattern that would fit.
    listed : list of str or None
        The speaker of each file as the list it came from names it (None: not from a list, or one without
        a speaker column).
    level : int
        ``data.speaker_folder``: which folder below ``spec``'s names the speaker.

    Returns
    -------
    labels : list of str or None
    """
    if listed is not None and label_from in ("table", "auto"):
        if required and None in listed:
            raise DataError(
                f"{key}: recording {files[listed.index(None)]} has no speaker in the list's speaker column "
                "(data.speaker_column); name one in every row, or leave the row out"
            )
        return listed
    if label_from == "table":
        raise DataError(
            f"{key}: data.label_from: table reads the speakers from a list of recordings with a speaker column "
            f"(data.speaker_column), but {spec} is not one; set data.label_from: auto"
        )
    if label_from == "folder" or (label_from == "auto" and level > 1):
        root = label_root(spec)
        labels = [label_of(p, label_from="folder", root=root, level=level) for p in files]
        if required and None in labels:
            raise DataError(
                f"{files[labels.index(None)]}: data.speaker_folder: {level} reads each speaker from the folder "
                f"{level} levels below {key}'s ({spec}), but this recording is not that deep "
                f"({labels.count(None)} file(s)); set data.speaker_folder to the level of the speakers' folders"
            )
        _say_folders(files, labels, spec, key, level)
        return labels
    labels = [label_of(p, pattern=pattern) for p in files]
    if label_from == "auto" and None in labels:
        folders = _folder_labels(files, spec)
        named = {f for f in folders if f is not None}
        if required and None not in folders and len(named) == 1:
            raise DataError(
                f"{key}: every recording sits in one folder ({next(iter(named))}), and their names do not match "
                f"data.pattern: read as one speaker, where identification needs two or more; put each speaker's "
                "recordings in a folder of their own beside it, or set data.pattern to read the speakers from the "
                "file names"
            )
        if (None not in folders and len(named) >= 2) if required else named:
            _refuse_set_folders(sorted(named), spec, key)
            _say_folders(files, folders, spec, f"{key} (the file names do not match data.pattern)", 1)
            return folders
    missing = [p for p, lab in zip(files, labels) if lab is None]
    if required and missing:
        tried = {h: [label_of(p, pattern=h) for p in files] for h in PATTERN_HINTS}
        fits = next((h for h, got in tried.items() if None not in got and len(set(got)) >= 2), None)
        hint = f"set data.pattern: '{fits}' (it fits every file name)" if fits else "fix data.pattern"
        folders = "data.label_from: folder" if label_from == "pattern" else "read as such with data.label_from: auto"
        raise DataError(
            f"{missing[0]}: the file name does not match data.pattern {pattern!r} ({len(missing)} file(s) in "
            f"{key}); {hint}, or put each speaker's recordings in a folder of their own ({folders})"
        )
    return labels


def read_claims(path, files, *, file_column="file", speaker_column="speaker"):
    """Each file's claimed speaker by ``data.claims``, a table (CSV / TSV, Excel, Parquet or JSON) of recordings
    and speakers; None for a file the table does not name.

    A row's file is matched to the end of each recording's path: a name alone (``3_theo_12.wav``) when names
    are unique, or as much of the path as tells recordings apart (``id10270/5r0dWxy17C8/00001.wav`` where
    every video folder has an ``00001.wav``); a name without its extension (``p225_001``) fits any extension.
    One row fitting two recordings, or two rows naming two speakers for one file, is an error.

    Parameters
    ----------
    path : str or Path
    files : list of Path
    file_column, speaker_column : str
        ``data.file_column``, ``data.speaker_column``.

    Returns
    -------
    speakers : list of str or None
    """
    p = local_path(path)
    problem = path_problem(p)
    if problem:
        raise DataError(f"{p}: {problem} (data.claims)")
    df = read_table(p, dtype=str)
    missing = [c for c in (file_column, speaker_column) if c not in df.columns]
    if missing:
        which = "data.file_column" if missing[0] == file_column else "data.speaker_column"
        raise DataError(
            f"{p}: column {missing[0]!r} ({which}) not found; columns are "
            f"{', '.join(map(str, df.columns[:12]))}; name the column of recordings with data.file_column and "
            "that of speakers with data.speaker_column"
        )
    rows, by_name = {}, {}
    for f, who in zip(df[file_column], df[speaker_column]):
        if not isinstance(f, str) or not f.strip() or not isinstance(who, str) or not who.strip():
            continue  # a row without a file or a speaker names nothing
        parts = Path(f.strip().replace("\\", "/")).parts
        if parts in rows and rows[parts] != who:
            raise DataError(f"{p}: {f!r} is claimed for {rows[parts]!r} and for {who!r}; keep one row per recording")
        if parts not in rows:
            by_name.setdefault(parts[-1], []).append(parts)
        rows[parts] = who
    out, used = [], {}
    for f in files:
        fp = Path(f).parts
        heads = by_name.get(fp[-1], []) + by_name.get(Path(f).stem, [])
        hits = [k for k in heads if len(k) <= len(fp) and fp[len(fp) - len(k) : -1] == k[:-1]]
        best = max(hits, key=len) if hits else None
        out.append(rows[best] if best else None)
        if best in used:  # one row would speak for two recordings: it names neither
            raise DataError(
                f"{p}: the row for {'/'.join(best)!r} fits {used[best]} and {f}; give more of its path in the "
                f"{file_column!r} column (e.g. the folder that tells them apart)"
            )
        if best:
            used[best] = f
    return out


#: headers of a list of recordings: the recording's path, and its speaker (Common Voice's path and client_id,
#: NeMo's audio_filepath, LibriSpeech-like speaker_id)
_FILE_HEADER = re.compile(r"path|file|wav|audio|recording|clip", re.IGNORECASE)
_SPEAKER_HEADER = re.compile(r"speaker|spk|client|voice|person|talker|name", re.IGNORECASE)


def suggested_sources(path):
    """The data keys ``init --data`` writes for a set of recordings: a folder or glob of them (speakers from
    their names or folders); or a list of them (a table), its columns of recordings and speakers found by their
    headers."""
    if not is_list(path):  # auto: the file names' pattern, else the folders
        return {"data.enrol": path, "data.label_from": "auto", "data.test": None, **set_folders(path)}
    cols = [str(c) for c in read_table(path, dtype=str).columns]
    out = {"data.enrol": path, "data.label_from": "table", "data.test": None}
    for key, header in (("data.file_column", _FILE_HEADER), ("data.speaker_column", _SPEAKER_HEADER)):
        found = [c for c in cols if header.search(c) and c not in out.values()]
        if found:
            out[key] = found[0]
    return out
