"""Who spoke when (``data.window_seconds``): each recording to identify (a meeting, an interview, a call) cut
into windows of that many seconds, each window identified as a recording is, and consecutive windows given to
one speaker joined into turns.

A window is scored alone: its own speech frames, voice-activity detection and normalisation, the speakers'
scores and the unknown-speaker threshold as for a whole recording.  Windows are laid on a grid from the start
(0-3 s, 3-6 s, ...); a last piece shorter than half a window joins the window before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import load_audio
from .features import MIN_SPEECH_S, speech_seconds
from .frames import features_of

#: the turn a window belongs to when it holds too little speech to identify, and when its best score is below
#: the unknown-speaker threshold
NO_SPEECH, UNKNOWN = "(no speech)", "(unknown)"


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


def identify_windows(models, files, cfg, ctx, sample_rate):
    """Every window of every recording identified, and the turns they make.

    Returns
    -------
    windows : pandas.DataFrame
        ``file``, ``start_s``, ``end_s``, ``speech_s``, ``predicted`` (empty without speech), ``score``,
        ``runner_up``, ``margin``, ``unknown`` (below the threshold, or no speech).
    turns : pandas.DataFrame
        ``file``, ``start_s``, ``end_s``, ``speaker`` (a speaker, :data:`UNKNOWN` or :data:`NO_SPEECH`),
        ``windows``.
    """
    rows, frames = [], []
    for path in ctx.progress(files, total=len(files), desc="windows"):
        y = load_audio(path, sample_rate=sample_rate, channel=cfg.data.channel)
        for start, end, F, speech in window_frames(y, sample_rate, cfg.data.window_seconds, cfg.features):
            rows.append({"file": str(path), "start_s": round(start, 3), "end_s": round(end, 3), "speech_s": speech})
            frames.append(F)
    windows = pd.DataFrame(rows, columns=["file", "start_s", "end_s", "speech_s"])
    spoken = np.flatnonzero(windows["speech_s"].to_numpy() >= MIN_SPEECH_S)
    names = np.array(models.speakers, dtype=object)
    S = models.score([frames[i] for i in spoken]) if spoken.size else np.zeros((0, len(names)))
    order = np.argsort(-S, axis=1)
    best = S[np.arange(len(S)), order[:, 0]] if len(S) else np.zeros(0)
    second = S[np.arange(len(S)), order[:, 1]] if S.shape[1] > 1 else np.full(len(S), -np.inf)
    windows["predicted"], windows["score"], windows["runner_up"], windows["margin"] = None, np.nan, None, np.nan
    windows.loc[spoken, "predicted"] = names[order[:, 0]] if len(S) else []
    windows.loc[spoken, "score"] = best
    if S.shape[1] > 1:
        windows.loc[spoken, "runner_up"] = names[order[:, 1]]
    windows.loc[spoken, "margin"] = best - second
    windows["unknown"] = True
    windows.loc[spoken, "unknown"] = best < models.threshold
    return windows, turns_of(windows)


def turns_of(windows):
    """Consecutive windows of one recording given to one speaker (or unknown, or without speech) as one turn."""
    who = np.where(
        windows["speech_s"] < MIN_SPEECH_S,
        NO_SPEECH,
        np.where(windows["unknown"], UNKNOWN, windows["predicted"].astype(str)),
    )
    change = (windows["file"] != windows["file"].shift()) | (pd.Series(who) != pd.Series(who).shift())
    turn = change.cumsum()
    g = windows.assign(speaker=who).groupby(turn.to_numpy(), sort=False)
    return pd.DataFrame(
        {
            "file": g["file"].first().to_numpy(),
            "start_s": g["start_s"].first().to_numpy(),
            "end_s": g["end_s"].last().to_numpy(),
            "speaker": g["speaker"].first().to_numpy(),
            "windows": g.size().to_numpy(),
        }
    )


def talk_time(turns):
    """Seconds of each recording given to each speaker (unknown and no-speech turns too): file -> speaker ->
    seconds."""
    t = turns.assign(seconds=turns["end_s"] - turns["start_s"])
    out = {}
    for (f, who), s in t.groupby(["file", "speaker"], sort=False)["seconds"].sum().items():
        out.setdefault(f, {})[who] = round(float(s), 3)
    return out


def who_spoke_when(models, files, cfg, ctx, sample_rate):
    """With ``data.window_seconds``: the windows and turns of the recordings identified, written as windows.csv
    and turns.csv; returns what summary.json says of them and the turns (for the report), or ({}, None)."""
    if not cfg.data.window_seconds:
        return {}, None
    windows, turns = identify_windows(models, files, cfg, ctx, sample_rate)
    ctx.write_table("windows.csv", windows)
    ctx.write_table("turns.csv", turns)
    said = {
        "window_seconds": cfg.data.window_seconds,
        "windows": len(windows),
        "turns": len(turns),
        "talk_time_s": talk_time(turns),
    }
    return said, turns


def headline_part(who):
    """What the headline says of the windows (``who``: from :func:`who_spoke_when`)."""
    return f"; who spoke when: {who['windows']} windows of {who['window_seconds']:g} s, {who['turns']} turns"
