"""Speaker models: a universal background model, MAP-adapted speaker models, scoring."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...core import (
    ConvergenceWarning,
    GaussianMixture,
    check_mixture,
    diagonal_log_densities,
    load_model,
    model_file_guard,
    save_model,
)
from ...errors import DataError
from .ivector import CosineBackend, baum_welch_statistics, ivector_arrays, ivector_models, length_normalise


def map_adapt_means(ubm, X, *, relevance_factor=16.0):
    """MAP adaptation of a UBM's means to one speaker's frames (Reynolds et al. 2000).

    ``mu_k' = a_k E_k[x] + (1 - a_k) mu_k`` with ``a_k = n_k / (n_k + r)``, where
    ``n_k`` is the soft count of frames in component k and ``E_k[x]`` their mean.

    Parameters
    ----------
    ubm : gmm_apps.core.GaussianMixture
    X : ndarray of shape (n_frames, d)
    relevance_factor : float
        ``r``: how many frames a component needs before its data outweighs the UBM.

    Returns
    -------
    means : ndarray of shape (K, d)
    """
    gamma = ubm.predict_proba(X).astype(np.float64)
    n = gamma.sum(axis=0)
    Ex = (gamma.T @ X.astype(np.float64)) / np.maximum(n, 1e-10)[:, None]
    a = (n / (n + relevance_factor))[:, None]
    return a * Ex + (1 - a) * ubm.means_.astype(np.float64)


def _adapted(ubm, means):
    return GaussianMixture.from_parameters(ubm.weights_, means, ubm.covariances_, covariance_type=ubm.covariance_type)


class SpeakerModels:
    """Enrolled speakers.

    Parameters
    ----------
    ubm : gmm_apps.core.GaussianMixture
        The universal background model.
    kind : {'ubm_map', 'independent', 'ivector'}
        'ivector': each recording is an i-vector of ``extractor`` projected by a
        :class:`~.ivector.CosineBackend` learnt in :meth:`fit`; a speaker is the mean
        direction of their recordings' vectors, and scores are cosine similarities.
    relevance_factor : float
    score_norm : {'none', 'snorm'}
        'snorm': symmetric score normalisation (S-norm) with the enrolled speakers
        as the cohort; :meth:`fit_score_norm` learns its enrolment side.
    top_components : int or None
        ``kind='ubm_map'`` with diagonal covariances: score each frame on the
        background model's ``top_components`` best components only, for the
        background model and every speaker alike (:func:`top_component_llr`);
        None scores every component.
    extractor : TotalVariability, optional
        Fitted on the background model's statistics; needed by ``kind='ivector'``.
    lda_dim : int or None
        ``kind='ivector'``: dimensions LDA keeps (at most the speakers minus one); None: no LDA.
    snorm_cohort : int or None
        S-norm's enrolment side in :meth:`fit` scores at most this many recordings of each
        speaker (see :meth:`fit_score_norm`); None: every enrolment recording.
    """

    def __init__(
        self,
        ubm,
        *,
        kind="ubm_map",
        relevance_factor=16.0,
        score_norm="none",
        top_components=None,
        extractor=None,
        lda_dim=None,
        snorm_cohort=None,
    ):
        if kind == "ivector" and extractor is None:
            raise ValueError("kind='ivector' needs a fitted TotalVariability extractor")
        self.ubm = ubm
        self.extractor = extractor
        self.backend = CosineBackend(lda_dim) if kind == "ivector" else None
        self.kind = kind
        self.relevance_factor = relevance_factor
        self.score_norm = score_norm
        self.top_components = top_components
        self.snorm_cohort = snorm_cohort
        self.speakers = []
        self._models = {}
        self.threshold = None
        self.norm_mean = self.norm_std = None

    def fit(self, frames_list, labels, *, n_components=16, random_state=0, reg_covar=1e-3):
        """Enrol every speaker from their recordings' frames, then learn S-norm's enrolment side (if used).

        Parameters
        ----------
        frames_list : list of ndarray of shape (n_frames_i, d)
            One array per recording.
        labels : list of str
            The speaker of each recording.
        n_components, random_state, reg_covar
            For ``kind='independent'`` (see :meth:`enrol`).

        Returns
        -------
        self
        """
        if self.kind == "ivector":
            V = self.extractor.transform(*baum_welch_statistics(self.ubm, frames_list))
            Z = self.backend.fit(V, labels).transform(V)
            for spk in sorted(set(labels)):
                self._add(spk, length_normalise(Z[np.asarray(labels) == spk].mean(axis=0, keepdims=True))[0])
            if self.score_norm == "snorm":  # the enrolment vectors are at hand: their cosines are the raw scores
                keep = _cohort(labels, self.snorm_cohort)
                self._set_norm(Z[keep] @ np.stack([self._models[s] for s in self.speakers]).T, np.asarray(labels)[keep])
            return self
        for spk in sorted(set(labels)):
            X = np.vstack([f for f, lab in zip(frames_list, labels) if lab == spk])
            self.enrol(spk, X, n_components=n_components, random_state=random_state, reg_covar=reg_covar)
        if self.score_norm == "snorm":
            self.fit_score_norm(frames_list, labels, per_speaker=self.snorm_cohort)
        return self

    def enrol(self, speaker, X, *, n_components=16, random_state=0, reg_covar=1e-3):
        """Add (or replace) one speaker; the other speakers' models are untouched.

        Parameters
        ----------
        speaker : str
        X : ndarray of shape (n_frames, d)
            The speaker's speech frames.
        """
        if X.shape[0] < 2:
            raise DataError(f"speaker {speaker!r} has only {X.shape[0]} speech frame(s); enrol longer recordings")
        if self.kind == "ivector":
            if self.backend.projection_ is None:
                raise ValueError(
                    "kind='ivector': fit() on labelled recordings first; enrol() adds to a fitted back end"
                )
            model = self.backend.transform(self.extractor.transform(*baum_welch_statistics(self.ubm, [X])))[0]
        elif self.kind == "ubm_map":
            model = _adapted(self.ubm, map_adapt_means(self.ubm, X, relevance_factor=self.relevance_factor))
        else:
            k = min(n_components, X.shape[0])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = GaussianMixture(k, covariance_type="diag", random_state=random_state, reg_covar=reg_covar).fit(
                    X
                )
        return self._add(speaker, model)

    def _add(self, speaker, model):
        if speaker not in self._models:
            self.speakers.append(speaker)
        self._models[speaker] = model
        self.norm_mean = self.norm_std = None  # S-norm's cohort statistics include every speaker: refit them
        return self

    def model(self, speaker):
        return self._models[speaker]

    def frame_llr(self, X):
        """Per-frame log-likelihood ratio of every speaker against the UBM, shape (n_frames, S).

        With diagonal models (the default) the UBM and every speaker are scored together by the engine's
        :func:`~gmm_apps.core.diagonal_log_densities`, a block of frames at a time.
        """
        models = [self.ubm] + [self._models[s] for s in self.speakers]
        top = self.top_components
        if self.kind == "ubm_map" and self.ubm.covariance_type == "diag" and top and top < self.ubm.n_components:
            return top_component_llr(self.ubm, np.stack([m.means_ for m in models[1:]]), X, top=top)
        if all(m.covariance_type == "diag" for m in models):
            dens = diagonal_log_densities(models, X)
            return dens[:, 1:] - dens[:, :1]
        base = self.ubm.score_samples(X).astype(np.float64)
        return np.stack([m.score_samples(X).astype(np.float64) - base for m in models[1:]], axis=1)

    def score(self, frames_list):
        """Each recording's score for each speaker: :meth:`raw_score`, S-normalised with ``score_norm='snorm'``.

        Parameters
        ----------
        frames_list : list of ndarray (n_frames_i, d)

        Returns
        -------
        scores : ndarray of shape (n_recordings, S)
        """
        raw = self.raw_score(frames_list)
        if self.score_norm != "snorm":
            return raw
        if self.norm_mean is None or len(self.norm_mean) != len(self.speakers):
            raise ValueError(
                "score_norm='snorm' needs the cohort statistics of every enrolled speaker; call "
                "fit_score_norm(enrolment recordings, their speakers) after the last enrol()"
            )
        return self.normalise(raw)

    def fit_score_norm(self, frames_list, labels, *, per_speaker=None):
        """Learn S-norm's enrolment side: each speaker's raw scores on the other speakers' enrolment recordings.

        Parameters
        ----------
        frames_list : list of ndarray (n_frames_i, d)
            The enrolment recordings, one array each.
        labels : list of str
            Their speakers.
        per_speaker : int, optional
            Score at most this many recordings of each speaker (evenly spaced through
            their recordings, in the order given); default: all of them.
        """
        labels = np.asarray(labels)
        keep = _cohort(labels, per_speaker)
        return self._set_norm(self.raw_score([frames_list[i] for i in keep]), labels[keep])

    def _set_norm(self, raw, labels):
        """S-norm's speaker side from the raw scores ``raw`` of enrolment recordings of the speakers ``labels``."""
        mean, std = np.empty(len(self.speakers)), np.empty(len(self.speakers))
        for j, spk in enumerate(self.speakers):
            impostor = raw[labels != spk, j]
            mean[j], std[j] = impostor.mean(), max(impostor.std(), 1e-6)
        self.norm_mean, self.norm_std = mean, std
        return self

    def normalise(self, raw):
        """S-norm (Kenny 2010): the mean of the score standardised by the speaker's impostor scores (the
        other speakers' enrolment recordings) and by the recording's scores against the other enrolled
        speakers.  With two speakers the recording's side has a single cohort score, so only the
        speaker's side is applied."""
        z = (raw - self.norm_mean) / self.norm_std
        n = raw.shape[1]
        if n < 3:
            return z
        mu = (raw.sum(axis=1, keepdims=True) - raw) / (n - 1)
        var = ((raw**2).sum(axis=1, keepdims=True) - raw**2) / (n - 1) - mu**2
        return 0.5 * (z + (raw - mu) / np.sqrt(np.maximum(var, 1e-12)))

    def raw_score(self, frames_list):
        """Average frame log-likelihood ratio of each recording for each speaker, shape (n_recordings, S).

        ``kind='ivector'``: the cosine similarity of the recording's i-vector and the speaker's."""
        if not frames_list:
            return np.zeros((0, len(self.speakers)))
        if self.kind == "ivector":  # cosine similarity of the recording's vector and each speaker's
            Z = self.backend.transform(self.extractor.transform(*baum_welch_statistics(self.ubm, frames_list)))
            return Z @ np.stack([self._models[s] for s in self.speakers]).T
        lengths = np.array([len(f) for f in frames_list])
        X = np.vstack(frames_list)
        llr = self.frame_llr(X)
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        return np.add.reduceat(llr, starts, axis=0) / lengths[:, None]

    # ------------------------------------------------------------ persistence
    def save(self, path, *, meta):
        arrays = {}
        if self.kind == "ubm_map":
            arrays["speaker_means"] = np.stack([self._models[s].means_ for s in self.speakers])
        elif self.kind == "ivector":
            arrays.update(ivector_arrays(self.extractor, self.backend, [self._models[s] for s in self.speakers]))
        else:
            for i, s in enumerate(self.speakers):
                m = self._models[s]
                arrays[f"spk{i}_weights"] = m.weights_
                arrays[f"spk{i}_means"] = m.means_
                arrays[f"spk{i}_variances"] = m.covariances_
        meta = dict(
            meta,
            speakers=self.speakers,
            kind=self.kind,
            relevance_factor=self.relevance_factor,
            threshold=self.threshold,
            score_norm=self.score_norm,
            top_components=self.top_components,
        )
        if self.score_norm == "snorm":
            arrays["norm_mean"], arrays["norm_std"] = self.norm_mean, self.norm_std
        return save_model(self.ubm, path, extra=meta, arrays=arrays)

    @classmethod
    def load(cls, path):
        ubm, extra = load_model(path, with_extra=True)
        meta, a = extra["meta"], extra["arrays"]
        need = model_file_guard.require
        with model_file_guard(path):
            K, d = ubm.means_.shape
            speakers = meta["speakers"]
            need(
                isinstance(speakers, list)
                and len(speakers) >= 1
                and all(isinstance(x, str) for x in speakers)
                and len(set(speakers)) == len(speakers),
                path,
                "the speaker list is malformed",
            )
            need(meta["kind"] in ("ubm_map", "independent", "ivector"), path, f"unknown model kind {meta['kind']!r}")
            rf, thr = meta["relevance_factor"], meta.get("threshold")
            need(isinstance(rf, (int, float)) and rf > 0, path, "relevance_factor is not a positive number")
            need(
                thr is None or (isinstance(thr, (int, float)) and math.isfinite(thr)),
                path,
                "the threshold is not a number",
            )
            if meta["kind"] == "independent" and "spk0_variances" not in a:
                raise model_file_guard.older(path, "independent speaker models", "each speaker's variances")
            if meta["kind"] == "ubm_map":
                need(
                    a["speaker_means"].shape == (len(speakers), K, d) and np.all(np.isfinite(a["speaker_means"])),
                    path,
                    "speaker means do not fit the background model",
                )
            norm = meta.get("score_norm", "none")  # files from before score normalisation: none
            need(norm in ("none", "snorm"), path, f"unknown score normalisation {norm!r}")
            if norm == "snorm":
                for key in ("norm_mean", "norm_std"):
                    need(
                        key in a and a[key].shape == (len(speakers),) and np.all(np.isfinite(a[key])),
                        path,
                        f"{key} does not match the {len(speakers)} speakers",
                    )
                need(np.all(a["norm_std"] > 0), path, "norm_std is not positive")
            top = meta.get("top_components")  # files from before top-component scoring scored every component
            need(top is None or (isinstance(top, int) and top >= 1), path, "top_components is not a positive integer")
            ivec = ivector_models(a, K, d, len(speakers), path) if meta["kind"] == "ivector" else (None, None, None)
            m = cls(ubm, kind=meta["kind"], relevance_factor=rf, score_norm=norm, top_components=top, extractor=ivec[0])
            m.threshold = thr
            if ivec[1] is not None:
                m.backend = ivec[1]
            for i, s in enumerate(speakers):
                m._add(s, ivec[2][i] if m.kind == "ivector" else _saved_speaker(ubm, m.kind, a, i, s, path))
            m.norm_mean, m.norm_std = (a["norm_mean"], a["norm_std"]) if norm == "snorm" else (None, None)
        return m, meta


def _cohort(labels, per_speaker):
    """Indices of at most ``per_speaker`` recordings of each speaker, evenly spaced through theirs (None: all)."""
    labels = np.asarray(labels)
    if per_speaker is None:
        return np.arange(len(labels))
    keep = np.concatenate(
        [
            idx[np.unique(np.linspace(0, len(idx) - 1, min(per_speaker, len(idx))).round().astype(int))]
            for idx in (np.flatnonzero(labels == spk) for spk in dict.fromkeys(labels.tolist()))
        ]
    )
    return np.sort(keep)


def _saved_speaker(ubm, kind, arrays, i, speaker, path):
    """Speaker ``i``'s GMM from a model file's arrays (kinds ubm_map and independent)."""
    if kind == "ubm_map":
        return _adapted(ubm, arrays["speaker_means"][i])
    model = GaussianMixture.from_parameters(
        arrays[f"spk{i}_weights"], arrays[f"spk{i}_means"], arrays[f"spk{i}_variances"], covariance_type="diag"
    )
    check_mixture(model, path)
    d = ubm.means_.shape[1]
    model_file_guard.require(
        model.means_.shape[1] == d, path, f"speaker {speaker!r} has {model.means_.shape[1]} features, not {d}"
    )
    return model


def top_component_llr(ubm, speaker_means, X, *, top, block=None):
    """Per-frame log-likelihood ratios of MAP-adapted speakers, each frame on its ``top`` best UBM components.

    Fast GMM-UBM scoring (Reynolds, Quatieri and Dunn 2000): a frame's density under
    the background model and under every speaker (same weights and diagonal
    variances, adapted means) is summed over the ``top`` components that score it
    highest under the background model alone; the other components add almost
    nothing to either.  The speakers' terms are matrix products: for each
    component, the frames that use it against every speaker's mean shift there.

    Parameters
    ----------
    ubm : GaussianMixture
        Diagonal covariances.
    speaker_means : ndarray of shape (S, K, d)
    X : ndarray of shape (n, d)
    top : int
        Components per frame (at most K).
    block : int, optional
        Frames handled at once (memory: about ``3 * block * top * S`` floats); by default as
        many as keep that near 60 million (about 400 MB), between 256 and 16,384.

    Returns
    -------
    llr : ndarray of shape (n, S)
        ``log p_s(x) - log p_ubm(x)``, both summed over the frame's top components.
    """
    w = np.asarray(ubm.weights_, dtype=np.float64)
    prec = 1.0 / np.asarray(ubm.covariances_, dtype=np.float64)
    centre = w @ np.asarray(ubm.means_, dtype=np.float64)
    mu = np.asarray(ubm.means_, dtype=np.float64) - centre
    K, d = mu.shape
    top = min(int(top), K)
    shift = np.asarray(speaker_means, dtype=np.float64) - centre - mu  # (S, K, d)
    A = shift * prec  # x . A[s, c] + b[s, c]: speaker s's component c relative to the UBM's
    b = -np.einsum("skd,skd->sk", mu + 0.5 * shift, A)
    const = np.log(w) - 0.5 * (d * np.log(2 * np.pi) - np.log(prec).sum(axis=1) + (mu * mu * prec).sum(axis=1))
    X = np.asarray(X, dtype=np.float64) - centre
    out = np.empty((X.shape[0], A.shape[0]))
    block = block or max(256, min(16384, 20_000_000 // (top * max(A.shape[0], 1))))
    for start in range(0, X.shape[0], block):
        xb = X[start : start + block]
        n = len(xb)
        L = const - 0.5 * (xb * xb) @ prec.T + xb @ (mu * prec).T  # (n, K): log w_k N(x; mu_k, var_k)
        best = np.argpartition(L, K - top, axis=1)[:, K - top :]
        Lt = np.take_along_axis(L, best, axis=1)
        post = np.exp(Lt - Lt.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)  # the UBM's posterior over the frame's top components
        comp = best.ravel()
        order = np.argsort(comp, kind="stable")
        edges = np.searchsorted(comp[order], np.arange(K + 1))
        xs = xb[order // top]  # the (frame, component) pairs grouped by component
        shifts = np.empty((n * top, A.shape[0]))
        for c in np.flatnonzero(np.diff(edges)):  # the frames that use component c, against every speaker
            lo, hi = edges[c], edges[c + 1]
            shifts[lo:hi] = xs[lo:hi] @ A[:, c].T + b[:, c]
        a = np.empty_like(shifts)
        a[order] = shifts
        a = a.reshape(n, top, -1)  # log N_s / N_ubm of each top component: the speaker's mean shift there
        m = a.max(axis=1)
        e = np.exp((a - m[:, None, :]).astype(np.float32))
        out[start : start + n] = m + np.log(np.einsum("nj,njs->ns", post.astype(np.float32), e), dtype=np.float64)
    return out


def train_ubm(
    frames,
    *,
    n_components,
    covariance_type="diag",
    random_state=0,
    n_init=1,
    max_iter=200,
    tol=1e-3,
    reg_covar=1e-3,
    progress=None,
    start=None,
):
    """The universal background model on all enrolment speech frames.

    ``start``: a fitted mixture of ``n_components`` components (the same size fitted on part of the
    frames) that EM continues from, in place of a k-means start.

    With one start, the k-means start and the first EM step run in float64 and the iterations to
    convergence in float32 (statistics still summed in float64), about twice as fast; the model
    keeps float64 parameters. They agree with an all-float64 fit to about 1e-5: the float32 leg
    starts where the float64 fit would continue (a float32 k-means would start elsewhere).
    ``progress``, if given, is called after every EM iteration as ``progress(n_iter, lower_bound)``.
    """
    X = np.vstack(frames)
    k = min(n_components, X.shape[0])
    params = dict(covariance_type=covariance_type, tol=tol, reg_covar=reg_covar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if n_init > 1 or max_iter < 2:
            return GaussianMixture(
                k, random_state=random_state, n_init=n_init, max_iter=max_iter, callback=progress, **params
            ).fit(X)
        if start is None or start.n_components != k:
            start = GaussianMixture(k, random_state=random_state, max_iter=1, callback=progress, **params).fit(X)
        fast = GaussianMixture(
            k,
            dtype=np.float32,
            max_iter=max_iter - 1,
            callback=None if progress is None else (lambda i, lb: progress(i + 1, lb)),
            weights_init=start.weights_,
            means_init=start.means_,
            precisions_init=start.precisions_,
            **params,
        ).fit(X)
    ubm = GaussianMixture.from_parameters(
        fast.weights_, fast.means_, fast.covariances_, random_state=random_state, max_iter=max_iter, **params
    )
    ubm.converged_, ubm.n_iter_, ubm.lower_bound_ = fast.converged_, fast.n_iter_ + 1, fast.lower_bound_
    return ubm
