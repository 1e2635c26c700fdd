"""The unknown-speaker threshold: held-out enrolment recordings scored as impostors, against the other
enrolled speakers, or as a voice never enrolled would be, by models built without their speaker.

A recording of an enrolled speaker scored against the other speakers is a weaker impostor than a stranger:
the background model learned its voice, and so did S-norm's cohort, whose scores for it pull the others'
down.  Leaving its speaker out of both (:func:`unseen_scores`) scores it as a stranger's recording would be
scored, so the run can say how often a voice never enrolled passes the threshold, or set the threshold there
(``threshold.impostors: unseen``).
"""

from __future__ import annotations

import logging

import numpy as np

from ...core import threshold_at_rate
from ...errors import DataError
from .ivector import TotalVariability, baum_welch_statistics
from .model import SpeakerModels, train_ubm

logger = logging.getLogger("gmm_apps.speakers")

#: at most this many groups of speakers are left out in turn (each a background model fitted again)
UNSEEN_FOLDS = 6
#: speech frames (a random subset of the others') each left-out group's background model is fitted on
UNSEEN_FRAMES = 50_000
#: speakers the unseen-voice scores need: one left out, two left to compare it with (S-norm's cohort)
UNSEEN_MIN_SPEAKERS = 3


def fit_background(frames, cfg, seed, *, n_components, progress=None, start=None):
    """A universal background model of ``n_components`` on ``frames`` with the config's ``model`` options
    (:func:`~.model.train_ubm`)."""
    m = cfg.model
    return train_ubm(
        frames,
        n_components=n_components,
        covariance_type=m.covariance_type,
        random_state=seed,
        n_init=m.n_init,
        max_iter=m.max_iter,
        tol=m.tol,
        reg_covar=m.reg_covar,
        progress=progress,
        start=start,
    )


def build_models(ubm, frames, labels, cfg, seed, extractor=None):
    """Speaker models from the background model ``ubm`` (and ``extractor``, kind ivector) and the enrolment frames."""
    m = cfg.model
    models = SpeakerModels(
        ubm,
        kind=m.kind,
        relevance_factor=m.relevance_factor,
        score_norm=m.score_norm,
        top_components=m.top_components,
        extractor=extractor,
        lda_dim=m.lda_dim,
        snorm_cohort=m.snorm_cohort,
    )
    return models.fit(frames, labels, n_components=m.speaker_components, random_state=seed, reg_covar=m.reg_covar)


def calibration_split(labels, share, seed):
    """Indices of each speaker's files held out for threshold calibration: ``share`` of them, and one of a
    speaker with too few for that share to make one (two or three recordings), at least one kept for enrolment."""
    rng = np.random.default_rng(seed)
    held = []
    for spk in sorted(set(labels)):
        idx = np.flatnonzero(np.array(labels) == spk)
        n = max(1, int(np.floor(share * len(idx))))
        if len(idx) >= 2:
            held.extend(rng.permutation(idx)[: min(n, len(idx) - 1)].tolist())
    return sorted(held)


def held_out_scores(ubm, frames, labels, held, cfg, seed, extractor=None):
    """The held-out recordings scored by speaker models built from ``ubm`` and the other recordings.

    Returns
    -------
    scores : ndarray of shape (len(held), n_speakers)
    own : ndarray of shape (len(held),)
        Each held-out recording's own speaker, as a column of ``scores``.
    """
    held_set = set(held)
    keep = [i for i in range(len(frames)) if i not in held_set]
    models = build_models(ubm, [frames[i] for i in keep], [labels[i] for i in keep], cfg, seed, extractor)
    return models.score([frames[i] for i in held]), np.array([models.speakers.index(labels[i]) for i in held])


def speaker_folds(speakers, n_folds=UNSEEN_FOLDS):
    """The enrolled ``speakers`` (sorted) dealt into at most ``n_folds`` groups left out in turn."""
    speakers = sorted(speakers)
    n = min(n_folds, len(speakers))
    return [speakers[i::n] for i in range(n)]


def unseen_scores(ubm, frames, labels, held, cfg, seed, *, progress=iter):
    """Each held-out recording's best score as a voice never enrolled: its speaker (with its group,
    :func:`speaker_folds`) left out of the background model, the total-variability model (kind ivector), the
    speaker models and S-norm's cohort, all fitted again on the other speakers' recordings as the run fits them
    (the background model on at most :data:`UNSEEN_FRAMES` of their frames, ``ubm``'s size).

    Returns
    -------
    scores : ndarray of shape (len(held),)
        In the order of ``held``; None with fewer than :data:`UNSEEN_MIN_SPEAKERS` speakers.
    """
    labels = np.asarray(labels)
    if len(set(labels.tolist())) < UNSEEN_MIN_SPEAKERS:
        return None
    m, held = cfg.model, np.asarray(held)
    held_out = np.zeros(len(frames), dtype=bool)
    held_out[held] = True
    out = np.empty(len(held))
    for group in progress(speaker_folds(set(labels.tolist()))):
        gone = np.isin(labels, group)
        pool = np.vstack([frames[i] for i in np.flatnonzero(~gone)])
        if len(pool) > UNSEEN_FRAMES:
            pool = pool[np.sort(np.random.default_rng(seed).choice(len(pool), UNSEEN_FRAMES, replace=False))]
        background = fit_background([pool], cfg, seed, n_components=ubm.n_components)
        rest = np.flatnonzero(~gone)
        extractor = None
        if m.kind == "ivector":
            stats = baum_welch_statistics(background, [frames[i] for i in rest])
            extractor = TotalVariability(m.ivector_dim, n_iter=m.ivector_iterations, random_state=seed).fit(*stats)
        keep = rest[~held_out[rest]]
        models = build_models(background, [frames[i] for i in keep], labels[keep].tolist(), cfg, seed, extractor)
        rows = np.flatnonzero(gone[held])
        out[rows] = models.score([frames[i] for i in held[rows]]).max(axis=1)
    return out


def calibrate(ubm, frames, labels, cfg, seed, extractor=None, *, progress=iter):
    """The unknown-speaker threshold: fixed, or set on held-out enrolment recordings scored as impostors.

    Each held-out recording is scored against the other speakers' models (built without it, from the same
    background model ``ubm``): with ``threshold.impostors: enrolled`` the threshold lets at most
    ``threshold.rate`` of these impostor trials through.  Its best score as a voice never enrolled
    (:func:`unseen_scores`) gives the share of such voices the threshold lets through, or with
    ``impostors: unseen`` sets the threshold at ``rate`` of them.

    Returns
    -------
    threshold : float
    calibration : dict or None
    """
    th = cfg.threshold
    if th.method == "fixed":
        return th.value, None
    held = calibration_split(labels, th.calibration_share, seed)
    if not held:
        raise DataError(
            "data.enrol: every speaker has one recording, and calibrating the unknown-speaker threshold holds one "
            "of a speaker's recordings out; enrol two or more of some speakers, or set threshold.method: fixed and "
            "threshold.value"
        )
    if th.impostors == "unseen" and len(set(labels)) < UNSEEN_MIN_SPEAKERS:
        raise DataError(
            f"threshold.impostors: unseen leaves each speaker out and compares its recordings with the others, "
            f"which needs {UNSEEN_MIN_SPEAKERS} or more enrolled speakers, got {len(set(labels))}; enrol another "
            "speaker, or set threshold.impostors: enrolled"
        )
    S, own = held_out_scores(ubm, frames, labels, held, cfg, seed, extractor)
    rows = np.arange(len(held))
    others = S.copy()
    others[rows, own] = -np.inf
    enrolled = others.max(axis=1)
    unseen = unseen_scores(ubm, frames, labels, held, cfg, seed, progress=progress)
    threshold = threshold_at_rate(unseen if th.impostors == "unseen" else enrolled, th.rate)
    said = f"unknown-speaker threshold {threshold:.3f}: {100 * (enrolled >= threshold).mean():.1f}% of {len(held)} "
    said += "held-out enrolment recordings pass as another enrolled speaker"
    if unseen is not None:
        said += (
            f", {100 * (unseen >= threshold).mean():.1f}% as a voice never enrolled would (scored with their speaker "
            "left out of every model)"
        )
        if th.impostors == "enrolled":
            said += "; threshold.impostors: unseen sets the threshold on those"
    logger.info(said)
    return threshold, {
        "held_out": len(held),
        "impostors": th.impostors,
        "target_far": th.rate,
        "false_rejection_at_threshold": float((S[rows, own] < threshold).mean()),
        "enrolled_impostors_accepted": float((enrolled >= threshold).mean()),
        "unseen_voices_accepted": None if unseen is None else float((unseen >= threshold).mean()),
    }
