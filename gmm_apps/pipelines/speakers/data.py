"""Reading recordings and their speaker labels."""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...paths import local_path, path_problem
from ...tabular import read_table

logger = logging.getLogger("gmm_apps.speakers")

#: what to do with a file no reader can open
UNREADABLE = (
    "expected WAV, FLAC, OGG / Opus, MP3, AIFF, or audio in M4A / AAC / MP4 / WebM / 3GP / WMA: "
    "re-export the file, or move it out of the folder"
)
#: read by libsndfile (.opus: WhatsApp voice notes)
SNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".mp3", ".caf"}
#: read by FFmpeg through PyAV: phone voice memos (.m4a, .3gp, .amr), meeting and video recordings' sound
CONTAINER_SUFFIXES = {".m4a", ".aac", ".mp4", ".mov", ".webm", ".mkv", ".mka", ".3gp", ".amr", ".wma"}
AUDIO_SUFFIXES = SNDFILE_SUFFIXES | CONTAINER_SUFFIXES


def load_audio(path, *, sample_rate, channel="mix"):
    """Read an audio file as mono float32 at ``sample_rate``.

    libsndfile reads WAV, FLAC, OGG / Opus, MP3 and AIFF; anything else (a phone's M4A voice memo, the
    sound of an MP4 meeting recording) is decoded with FFmpeg through PyAV.

    Parameters
    ----------
    path : str or Path
    sample_rate : int
    channel : 'mix' or int
        'mix': the channels averaged; a number: that channel alone, from 0 (``data.channel``).

    Returns
    -------
    y : ndarray of shape (n_samples,)
    """
    import soundfile as sf  # start-up time: soundfile loads only when audio is read or written

    path = Path(path)
    try:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
        y = y.T
    except Exception as exc:  # soundfile raises several types for unreadable files
        y, sr = _decode(path, exc, channel)
    y = _one_channel(y, channel, path)
    if y.size == 0:
        raise DataError(f"{path}: the recording is empty (0 samples)")
    if not np.all(np.isfinite(y)):
        raise DataError(f"{path}: the recording holds NaN or infinite samples")
    if sr != sample_rate:
        import librosa  # reason: start-up (2-3 s); only recordings at another rate

        y = librosa.resample(y, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(y, dtype=np.float32)


def _audio_stream(container, path):
    if not container.streams.audio:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
        raise DataError(f"{path}: the file holds no sound track (only {kinds}); {UNREADABLE}")
    return container.streams.audio[0]


def _decode(path, sndfile_error, channel):
    """Samples (float32, one row) and rate of the first sound track of a file libsndfile could not read, its
    channels reduced as ``data.channel`` says block by block, so that an hour's meeting is never held in
    every channel at once."""
    import av  # reason: start-up; only files libsndfile cannot read

    def one(block):
        return _one_channel(block, channel, path)[None, :]

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = _audio_stream(container, path)
            # planar float keeps every channel apart, so they are averaged as libsndfile's are
            resampler = av.AudioResampler(format="fltp", rate=stream.rate)
            blocks = [one(out.to_ndarray()) for frame in container.decode(stream) for out in resampler.resample(frame)]
            blocks += [one(out.to_ndarray()) for out in resampler.resample(None)]
            rate = stream.rate
    except av.FFmpegError as exc:
        raise DataError(
            f"{path}: cannot read audio ({type(sndfile_error).__name__}: {sndfile_error}; FFmpeg: {exc}); {UNREADABLE}"
        ) from None
    if not blocks:
        return np.zeros((1, 0), dtype=np.float32), rate
    return np.concatenate(blocks, axis=1).astype(np.float32, copy=False), rate


def _one_channel(y, channel, path):
    """The recording ``y`` (channels, samples) as one channel: their mean, or the one ``data.channel`` names
    (a mono recording, such as an enrolment clip beside two-channel calls, is its own channel)."""
    if channel == "mix" or y.shape[0] == 1:
        return y.mean(axis=0) if y.shape[1] else np.zeros(0, dtype=np.float32)
    if channel >= y.shape[0]:
        raise DataError(
            f"{path}: has {y.shape[0]} channel(s), so no channel {channel} (data.channel counts from 0); set "
            "data.channel: mix, or a channel the recordings have"
        )
    return y[channel]


def native_rate(path):
    """A recording's own sample rate (Hz), from its header."""
    import soundfile as sf  # start-up time: soundfile loads only when audio is read or written

    try:
        return int(sf.info(str(path)).samplerate)
    except Exception as exc:  # soundfile raises several types for unreadable files
        import av  # reason: start-up; only files libsndfile cannot read

        try:
            with av.open(str(path), metadata_errors="ignore") as container:
                return int(_audio_stream(container, path).rate)
        except av.FFmpegError as err:
            raise DataError(
                f"{path}: cannot read audio ({type(exc).__name__}: {exc}; FFmpeg: {err}); {UNREADABLE}"
            ) from None


def common_rate(paths):
    """The most common sample rate of ``paths`` (the higher on a tie), and the count of each rate."""
    counts = Counter(native_rate(p) for p in paths)
    return max(counts, key=lambda r: (counts[r], r)), dict(sorted(counts.items(), key=lambda kv: -kv[1]))


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


def label_of(path, *, label_from="pattern", pattern=None, root=None):
    """The speaker of a file from its name (regular expression) or its folder; None if no match.

    With ``label_from='folder'`` the speaker is the folder directly under ``root`` that holds the file,
    however deep (``root/84/121123/84-121123-0000.flac``: speaker 84, as LibriSpeech and VoxCeleb lay
    out sessions inside each speaker's folder); without ``root``, or for a file directly in it, the
    folder holding the file.
    """
    path = Path(path)
    if label_from == "folder":
        if root is not None:
            try:
                parts = path.relative_to(root).parts
            except ValueError:
                parts = ()
            if len(parts) > 1:
                return parts[0]
        return path.parent.name
    m = re.match(pattern, path.stem)
    return m.group("speaker") if m else None


#: file-name patterns offered when data.pattern does not fit: a name then a number (``alice_01``, ``Bob 2``),
#: a name then anything after a separator (``alice-kitchen-take3``)
PATTERN_HINTS = (r"^(?P<speaker>[^\W\d_]+)[ _-]*\d+$", r"^(?P<speaker>[^\W_]+)[ _-]")


def _folder_labels(files, spec):
    """Each file's speaker folder under ``spec``'s folder, None for a file directly in it (or outside it)."""
    root = label_root(spec)
    out = []
    for p in files:
        try:
            inside = root is not None and len(Path(p).relative_to(root).parts) > 1
        except ValueError:
            inside = False
        out.append(label_of(p, label_from="folder", root=root) if inside else None)
    return out


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


def speaker_labels(files, *, label_from, pattern, spec, key, required):
    """Each recording's speaker, by ``data.label_from``.

    ``'pattern'``: the named group ``speaker`` of ``pattern`` matched to the file name; ``'folder'``:
    the folder directly under ``spec``'s (:func:`label_of`); ``'auto'``: the pattern when every file name
    matches it, else the folders when the files sit in speaker folders (enrolment: every file, in two
    or more; other recordings: those in a folder, the rest unlabelled), logged.

    Parameters
    ----------
    files : list of Path
    spec : str
        The file, folder or glob the files came from.
    key : str
        ``data.enrol``, ``data.test`` or ``input``, for messages.
    required : bool
        Every file must have a speaker (enrolment): refused otherwise, with a pattern that would fit.

    Returns
    -------
    labels : list of str or None
    """
    if label_from == "folder":
        root = label_root(spec)
        return [label_of(p, label_from="folder", root=root) for p in files]
    labels = [label_of(p, pattern=pattern) for p in files]
    if label_from == "auto" and None in labels:
        folders = _folder_labels(files, spec)
        named = {f for f in folders if f is not None}
        if (None not in folders and len(named) >= 2) if required else named:
            logger.info(
                "%s: the file names do not match data.pattern; each recording's speaker is its folder (%d: %s)",
                key,
                len(named),
                ", ".join(sorted(named)[:5]) + (", ..." if len(named) > 5 else ""),
            )
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


def read_claims(path, files):
    """Claimed speaker per file from a table (columns ``file``, ``speaker``; CSV / TSV, Excel or Parquet).

    A claim's ``file`` is matched to the end of each recording's path: a name alone (``3_theo_12.wav``)
    when names are unique, or as much of the path as tells recordings apart
    (``id10270/5r0dWxy17C8/00001.wav`` where every video folder has an ``00001.wav``).
    """
    p = local_path(path)
    problem = path_problem(p)
    if problem:
        raise DataError(f"{p}: claims file: {problem} (data.claims)")
    df = read_table(p, dtype=str)
    missing = [c for c in ("file", "speaker") if c not in df.columns]
    if missing:
        raise DataError(f"{p}: column {missing[0]!r} not found; the claims table needs columns file, speaker")
    claims = {}
    for f, who in zip(df["file"], df["speaker"]):
        key = Path(str(f)).parts
        if key in claims and claims[key] != who:
            raise DataError(f"{p}: {f!r} is claimed for {claims[key]!r} and for {who!r}; keep one claim per recording")
        claims[key] = who
    out, used = [], {}
    for f in files:
        parts = Path(f).parts
        hits = [k for k in claims if len(k) <= len(parts) and parts[-len(k) :] == k]
        best = max(hits, key=len) if hits else None
        out.append(claims[best] if best else None)
        if best in used:  # one claim would speak for two recordings: it names neither
            raise DataError(
                f"{p}: the claim for {'/'.join(best)!r} fits {used[best]} and {f}; give more of its path in the "
                "file column (e.g. the folder that tells them apart)"
            )
        if best:
            used[best] = f
    return out
