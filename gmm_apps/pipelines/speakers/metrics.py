"""How well speakers are told apart: the equal error rate, the DET curve, the EER's bootstrap interval, the most
confused pairs and the accuracy per speaker."""

from __future__ import annotations

import numpy as np
import pandas as pd


def equal_error_rate(target_scores, impostor_scores):
    """Equal error rate and its threshold.

    Parameters
    ----------
    target_scores, impostor_scores : ndarray

    Returns
    -------
    eer : float
    threshold : float
    """
    t = np.sort(np.asarray(target_scores, dtype=float))
    i = np.sort(np.asarray(impostor_scores, dtype=float))
    cands = np.unique(np.r_[t, i])
    frr = np.searchsorted(t, cands, side="left") / max(1, len(t))  # targets below the threshold
    far = 1 - np.searchsorted(i, cands, side="left") / max(1, len(i))  # impostors at or above it
    j = int(np.argmin(np.abs(frr - far)))
    return float((frr[j] + far[j]) / 2), float(cands[j])


def det_curve(target_scores, impostor_scores):
    """False-acceptance and false-rejection rates over all thresholds.

    Returns
    -------
    far, frr, thresholds : ndarrays
    """
    t = np.sort(np.asarray(target_scores, dtype=float))
    i = np.sort(np.asarray(impostor_scores, dtype=float))
    th = np.unique(np.r_[t, i])
    frr = np.searchsorted(t, th, side="left") / max(1, len(t))
    far = 1 - np.searchsorted(i, th, side="left") / max(1, len(i))
    return far, frr, th


#: bootstrap resamples of the test recordings behind the EER's interval
EER_BOOTSTRAP = 200


def eer_interval(S, y, *, level=0.95, n_boot=EER_BOOTSTRAP, seed=0):
    """A bootstrap interval of the equal error rate: the test recordings resampled with replacement
    (each keeps its target score and its impostor scores), percentiles of the resampled EERs.

    Parameters
    ----------
    S : ndarray of shape (n_recordings, n_speakers)
    y : ndarray of shape (n_recordings,)
        Each recording's speaker as a column of ``S``; -1 for a speaker never enrolled (impostor scores only).

    Returns
    -------
    [low, high] : list of float
    """
    rng = np.random.default_rng(seed)
    n, own = len(y), np.flatnonzero(y >= 0)
    target = np.full(n, np.nan)
    target[own] = S[own, y[own]]
    impostor = S.astype(float)
    impostor[own, y[own]] = np.nan
    eers = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        t, imp = target[idx], impostor[idx].ravel()
        if np.isfinite(t).any():
            eers.append(equal_error_rate(t[np.isfinite(t)], imp[np.isfinite(imp)])[0])
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(eers, tail)), float(np.percentile(eers, 100 - tail))]


def confused_pairs(M, labels_true, speakers, *, top=10):
    """The most frequent (true speaker, identified as) mistakes among enrolled speakers, most frequent first."""
    rows = [
        {"true": t, "identified_as": speakers[j], "recordings": int(M[i, j]), "share_of_true": M[i, j] / M[i].sum()}
        for i, t in enumerate(labels_true)
        for j in range(len(speakers))
        if t in speakers and speakers[j] != t and M[i, j] > 0
    ]
    rows.sort(key=lambda r: (-r["recordings"], r["true"], r["identified_as"]))
    return [dict(r, share_of_true=float(r["share_of_true"])) for r in rows[:top]]


#: a speaker enrolled with this share of the median speaker's seconds of speech or less is named: with one
#: FSDD recording of twenty a speaker's recordings were recognised 43% of the time, with five 77%, with twenty
#: 87% (``benchmarks/bench_speakers_uneven.py``)
UNDER_ENROLLED_SHARE = 1 / 3
UNDER_ENROLLED = (
    "speaker {speaker!r} is enrolled with {speech_s:.1f} s of speech ({recordings} recording(s)), a third or less "
    "of the median speaker's {median:.1f} s: the fewer a speaker's seconds, the less often their voice is "
    "recognised; enrol more of their recordings"
)


def enrolment_per_speaker(labels, speech):
    """Each enrolled speaker's recordings and seconds of speech: ``{speaker: {recordings, speech_s}}``."""
    out = {}
    for name, s in zip(labels, speech):
        row = out.setdefault(str(name), {"recordings": 0, "speech_s": 0.0})
        row["recordings"] += 1
        row["speech_s"] += float(s)
    return {k: {"recordings": v["recordings"], "speech_s": round(v["speech_s"], 2)} for k, v in sorted(out.items())}


def under_enrolled(enrolled):
    """The speakers enrolled with :data:`UNDER_ENROLLED_SHARE` of the median speaker's speech or less."""
    median = float(np.median([v["speech_s"] for v in enrolled.values()])) if enrolled else 0.0
    return [k for k, v in enrolled.items() if v["speech_s"] <= UNDER_ENROLLED_SHARE * median]


def enrolment_cautions(enrolled):
    """What the log and the report say of each speaker :func:`under_enrolled` names."""
    median = float(np.median([v["speech_s"] for v in enrolled.values()])) if enrolled else 0.0
    return [UNDER_ENROLLED.format(speaker=k, **enrolled[k], median=median) for k in under_enrolled(enrolled)]


def per_speaker(M, labels_true, speakers, *, enrolled=None):
    """Accuracy per enrolled speaker from the confusion matrix ``M`` (true labels x speakers), with the speaker
    each is most often taken for (recordings of speakers who were not enrolled are left to the unknown-speaker
    figures), and with ``enrolled`` (:func:`enrolment_per_speaker`) their enrolment recordings and speech."""
    rows = []
    for i, t in enumerate(labels_true):
        if t not in speakers or M[i].sum() == 0:
            continue
        own = speakers.index(t)
        wrong = M[i].astype(float)
        wrong[own] = 0
        rows.append(
            {
                "speaker": t,
                "recordings": int(M[i].sum()),
                "accuracy": float(M[i, own] / M[i].sum()),
                "most_confused_with": speakers[int(np.argmax(wrong))] if wrong.any() else "",
                **(
                    {
                        "enrolment_recordings": enrolled[t]["recordings"],
                        "enrolment_speech_s": enrolled[t]["speech_s"],
                    }
                    if enrolled and t in enrolled
                    else {}
                ),
            }
        )
    columns = ["speaker", "recordings", "accuracy", "most_confused_with"]
    return pd.DataFrame(rows, columns=columns + (["enrolment_recordings", "enrolment_speech_s"] if enrolled else []))


def ranked(S, speakers, threshold):
    """Each row's answer from its scores ``S`` (rows, one column a speaker): the best speaker (``predicted``),
    its ``score``, the ``runner_up``, the ``margin`` between them, and ``unknown`` when the best is below
    ``threshold``."""
    names = np.array(speakers, dtype=object)
    order = np.argsort(-S, axis=1)
    rows = np.arange(len(S))
    best = S[rows, order[:, 0]]
    two = S.shape[1] > 1
    second = S[rows, order[:, 1]] if two else np.full(len(S), -np.inf)
    return pd.DataFrame(
        {
            "predicted": names[order[:, 0]],
            "score": best,
            "runner_up": names[order[:, 1]] if two else None,
            "margin": best - second,
            "unknown": best < threshold,
        }
    )
