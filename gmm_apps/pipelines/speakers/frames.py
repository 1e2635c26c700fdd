"""Feature frames of a set of recordings: each decoded once, resampled to the run's rate, its MFCCs (and, for
who spoke when, those of each window of it); with ``data.unreadable: skip`` one that cannot be decoded is left
out as it is read."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from ...errors import DataError
from ...paths import left_out
from .audio import read_audio, resampled
from .features import recording_features, speech_seconds

logger = logging.getLogger("gmm_apps.speakers")


def features_of(y, sample_rate, f):
    """The feature frames of a recording (or a piece of one) as the config's ``features`` section says
    (:func:`.features.recording_features`)."""
    return recording_features(
        y,
        sample_rate=sample_rate,
        n_mfcc=f.n_mfcc,
        n_mels=f.n_mels,
        window_ms=f.window_ms,
        hop_ms=f.hop_ms,
        deltas=f.deltas,
        normalisation=f.normalise,
        vad_db=f.vad_db,
    )


def window_edges(n_samples, sample_rate, seconds):
    """Sample indices where windows of ``seconds`` start, and the end: a grid from 0, the last piece shorter
    than half a window joined to the one before (a recording shorter than a window is one window)."""
    step = max(1, int(round(seconds * sample_rate)))
    starts = list(range(0, n_samples, step)) or [0]
    if len(starts) > 1 and n_samples - starts[-1] < step / 2:
        starts.pop()
    return np.array([*starts, n_samples])


def window_frames(y, sample_rate, seconds, features):
    """Each window's feature frames (as :func:`.features.recording_features` of the window alone), its start
    and end in seconds, and its seconds of speech."""
    edges = window_edges(len(y), sample_rate, seconds)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        piece = y[a:b]
        F = features_of(piece, sample_rate, features)
        out.append((a / sample_rate, b / sample_rate, F, speech_seconds(piece, len(F), features.hop_ms)))
    return out


def extract(files, cfg, ctx, desc, sr, *, key, windows=None):
    """Feature frames, durations and seconds of speech (:func:`.features.speech_seconds`) of every file
    (resampled to ``sr`` Hz), in order; with ``data.unreadable: skip`` a file that cannot be decoded (cut short
    after its header) is left out as it is read, so each is decoded once; ``windows`` (seconds): each file's
    windows too (:func:`window_frames`), from the same decoding.  Recordings sampled below ``sr`` are logged
    (:func:`warn_below_rate`).

    Returns
    -------
    files, frames, durations, speech, left_out, pieces : the files read and theirs; ``left_out``: ``file``,
    ``reason``; ``pieces``: each file's windows, or None without ``windows``
    """

    def one(path):
        y, native = read_audio(path, channel=cfg.data.channel)
        y = resampled(y, native, sr)
        F = features_of(y, sr, cfg.features)
        pieces = window_frames(y, sr, windows, cfg.features) if windows else None
        return F, y.size / sr, speech_seconds(y, len(F), cfg.features.hop_ms), pieces, native

    # one file at a time: a file takes about a millisecond, and threads only contend for the GIL
    # (2,700 FSDD files: 5.8 s on two threads, 4.4 s in one before the deltas and filterbank were sped up)
    out, kept, left = [], [], []
    for p in ctx.progress(files, total=len(files), desc=desc):
        try:
            out.append(one(p))
        except DataError as exc:
            if cfg.data.unreadable != "skip":
                raise
            left.append(left_out(p, str(exc)))
            continue
        kept.append(p)
    if not out:
        raise DataError(f"{key}: none of the {len(files)} recordings can be read (data.unreadable: skip left each out)")
    pieces = [o[3] for o in out] if windows else None
    warn_below_rate([o[4] for o in out], sr, key=key)
    return kept, [o[0] for o in out], np.array([o[1] for o in out]), np.array([o[2] for o in out]), left, pieces


def of_kept(files, values, kept):
    """``values`` (one per file of ``files``) of the files ``kept`` (None stays None)."""
    keep = set(kept)
    return None if values is None else [v for f, v in zip(files, values) if f in keep]


def warn_below_rate(rates, rate, *, key):
    """Log the recordings whose own sample rates, ``rates``, are below ``rate`` Hz, the rate every recording is
    resampled to: resampled up, they hold no sound above half their own rate, so their features differ from the
    others' by the device as much as by the voice (a phone call among studio recordings).

    Returns
    -------
    counts : dict
        Each lower rate and how many recordings have it.
    """
    counts = Counter(r for r in rates if r < rate)
    if counts:
        low = min(counts)
        logger.warning(
            "%s: %d of %d recordings are sampled below the %d Hz every recording is resampled to (%s): each holds "
            "no sound above half its own rate, where the others do; set data.sample_rate: %d to compare every "
            "recording on the band they all have",
            key,
            sum(counts.values()),
            len(rates),
            rate,
            ", ".join(f"{r} Hz x {n}" for r, n in sorted(counts.items())),
            low,
        )
    return dict(sorted(counts.items()))
