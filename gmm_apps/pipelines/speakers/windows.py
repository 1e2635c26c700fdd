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

from .features import MIN_SPEECH_S
from .metrics import ranked

#: the turn a window belongs to when it holds too little speech to identify, and when its best score is below
#: the unknown-speaker threshold
NO_SPEECH, UNKNOWN = "(no speech)", "(unknown)"


def identify_windows(models, files, pieces):
    """Every window of every recording identified (``pieces``: each file's windows, from
    :func:`.frames.extract`), and the turns they make.

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
    for path, windows in zip(files, pieces):
        for start, end, F, speech in windows:
            rows.append({"file": str(path), "start_s": round(start, 3), "end_s": round(end, 3), "speech_s": speech})
            frames.append(F)
    windows = pd.DataFrame(rows, columns=["file", "start_s", "end_s", "speech_s"])
    spoken = np.flatnonzero(windows["speech_s"].to_numpy() >= MIN_SPEECH_S)
    S = models.score([frames[i] for i in spoken]) if spoken.size else np.zeros((0, len(models.speakers)))
    windows = windows.join(ranked(S, models.speakers, models.threshold).set_axis(spoken))
    windows["unknown"] = windows["unknown"].fillna(True).astype(bool)  # no speech: no answer
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


def who_spoke_when(models, files, pieces, cfg, ctx):
    """With ``data.window_seconds``: the windows (``pieces``, from :func:`.frames.extract`) and turns of the
    recordings identified, written as windows.csv and turns.csv; returns what summary.json says of them and the
    turns (for the report), or ({}, None)."""
    if pieces is None:
        return {}, None
    windows, turns = identify_windows(models, files, pieces)
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
