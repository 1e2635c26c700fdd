"""Who spoke when (``data.window_seconds``): each recording to identify (a meeting, an interview, a call) cut
into windows of that many seconds, each window identified as a recording is, and consecutive windows given to
one speaker joined into turns.

A window is scored alone: its own speech frames, voice-activity detection and normalisation, the speakers'
scores and the unknown-speaker threshold as for a whole recording.  Windows are laid on a grid from the start
(0-3 s, 3-6 s, ...); a last piece shorter than half a window joins the window before it.

A window's own answer can flicker between two voices on a short or noisy window.  The answer a turn takes
(``speaker``) is the best sequence of answers for the recording's speech windows in order (Viterbi decoding):
each window's score for its answer (unknown scores the threshold) times its seconds of speech, summed, less
``data.switch_penalty`` for every change of answer.  Weighing by speech makes the penalty mean the same for any
window length.  With a penalty of 0 every window keeps its own answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .features import MIN_SPEECH_S
from .metrics import ranked

#: ``data.switch_penalty`` when null, with S-normalised scores (chosen on constructed meetings: docs/decisions.md)
SNORM_PENALTY = 1.0

#: the turn a window belongs to when it holds too little speech to identify, and when its best score is below
#: the unknown-speaker threshold
NO_SPEECH, UNKNOWN = "(no speech)", "(unknown)"


def decode(S, threshold, penalty, seconds):
    """The best sequence of answers for one recording's speech windows, in order: the sum of each window's score
    for its answer times its seconds of speech, less ``penalty`` for every change of answer.

    Parameters
    ----------
    S : ndarray (n_windows, n_speakers)
        The windows' scores.
    threshold : float or None
        What the answer unknown scores (None: never unknown).
    penalty : float
        Given up for each change of answer between consecutive windows; 0: each window's best answer.
    seconds : ndarray (n_windows,)
        Each window's seconds of speech: how much its score weighs.

    Returns
    -------
    ndarray of int (n_windows,)
        Each window's answer: a speaker's column in ``S``, or ``n_speakers`` for unknown.
    """
    E = np.column_stack([S, np.full(len(S), -np.inf if threshold is None else threshold)]) * seconds[:, None]
    n, k = E.shape
    path = np.zeros(n, dtype=np.intp)
    if n == 0:
        return path
    came = np.empty((n, k), dtype=np.intp)
    states = np.arange(k)
    total = E[0].copy()
    for t in range(1, n):
        best = int(np.argmax(total))
        stay = total >= total[best] - penalty  # a tie keeps the answer
        came[t] = np.where(stay, states, best)
        total = np.where(stay, total, total[best] - penalty) + E[t]
    path[-1] = int(np.argmax(total))
    for t in range(n - 1, 0, -1):
        path[t - 1] = came[t, path[t]]
    return path


def answers(windows, S, spoken, speakers, threshold, penalty):
    """Each window's answer in its turn (:func:`decode` over each recording's speech windows): a speaker,
    :data:`UNKNOWN` or :data:`NO_SPEECH`."""
    out = np.full(len(windows), NO_SPEECH, dtype=object)
    names = np.array([*speakers, UNKNOWN], dtype=object)
    files, seconds = windows["file"].to_numpy()[spoken], windows["speech_s"].to_numpy(dtype=float)[spoken]
    for f in dict.fromkeys(files):
        rows = np.flatnonzero(files == f)
        out[spoken[rows]] = names[decode(S[rows], threshold, penalty, seconds[rows])]
    return out


def identify_windows(models, files, pieces, penalty=0.0):
    """Every window of every recording identified (``pieces``: each file's windows, from
    :func:`.frames.extract`), and the turns they make (``penalty``: ``data.switch_penalty``).

    Returns
    -------
    windows : pandas.DataFrame
        ``file``, ``start_s``, ``end_s``, ``speech_s``, ``predicted`` (empty without speech), ``score``,
        ``runner_up``, ``margin``, ``unknown`` (below the threshold, or no speech): each window alone; and
        ``speaker``, its answer in its turn (:func:`answers`).
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
    windows["speaker"] = answers(windows, S, spoken, models.speakers, models.threshold, penalty)
    return windows, turns_of(windows)


def turns_of(windows):
    """Consecutive windows of one recording with one ``speaker`` (a speaker, unknown, or no speech) as one turn."""
    who = windows["speaker"].to_numpy()
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


def switch_penalty(cfg):
    """``data.switch_penalty``, or when null :data:`SNORM_PENALTY` with S-normalised scores and 0 with raw ones
    (whose scale no penalty was measured on)."""
    if cfg.data.switch_penalty is not None:
        return cfg.data.switch_penalty
    return SNORM_PENALTY if cfg.model.score_norm == "snorm" else 0.0


def who_spoke_when(models, files, pieces, cfg, ctx):
    """With ``data.window_seconds``: the windows (``pieces``, from :func:`.frames.extract`) and turns of the
    recordings identified, written as windows.csv and turns.csv; returns what summary.json says of them and the
    turns (for the report), or ({}, None)."""
    if pieces is None:
        return {}, None
    penalty = switch_penalty(cfg)
    windows, turns = identify_windows(models, files, pieces, penalty)
    ctx.write_table("windows.csv", windows)
    ctx.write_table("turns.csv", turns)
    said = {
        "window_seconds": cfg.data.window_seconds,
        "switch_penalty": penalty,
        "windows": len(windows),
        "turns": len(turns),
        "talk_time_s": talk_time(turns),
    }
    return said, turns


def headline_part(who):
    """What the headline says of the windows (``who``: from :func:`who_spoke_when`)."""
    return f"; who spoke when: {who['windows']} windows of {who['window_seconds']:g} s, {who['turns']} turns"
