"""i-vectors: a total-variability model on the background model's statistics, and a cosine back end.

A recording's speech is summarised by its Baum-Welch statistics under the
universal background model (soft frame counts ``N_c`` and centred, whitened
first-order sums ``F_c`` per component).  The total-variability model (Dehak et
al. 2011) explains the supervector of a recording as ``m + T w`` with a low-rank
``T`` and a standard-normal latent ``w``; the i-vector is the posterior mean of
``w``.  ``T`` is learnt by EM on the enrolment recordings (Kenny's formulation
with the minimum-divergence step), every recording at once: the posterior
precisions are one matrix product, their inverses one batched solve.  The back
end centres and length-normalises the i-vectors, projects them by LDA (when there
are enough speakers) and WCCN, and scores by cosine similarity against each
speaker's mean vector.
"""

from __future__ import annotations

import numpy as np

from ...core import model_file_guard

#: frames whose posteriors are held at once (each a row of K floats)
FRAMES_PER_BLOCK = 100_000
#: recordings whose posterior covariances (R x R each) are held at once
RECORDINGS_PER_BLOCK = 2_000


def baum_welch_statistics(ubm, frames_list):
    """Zeroth- and centred, whitened first-order statistics of each recording.

    Parameters
    ----------
    ubm : GaussianMixture
        Diagonal covariances.
    frames_list : list of ndarray of shape (n_frames_i, d)

    Returns
    -------
    N : ndarray of shape (U, K)
        Soft frame counts per component.
    F : ndarray of shape (U, K, d)
        ``sum_t gamma_tc (x_t - mu_c) / sigma_c``.
    """
    K, d = ubm.means_.shape
    U = len(frames_list)
    N = np.zeros((U, K))
    F = np.zeros((U, K, d))
    if not U:
        return N, F
    lengths = np.array([len(f) for f in frames_list])
    ends = np.cumsum(lengths)
    lo = 0
    while lo < U:  # recordings a block of about FRAMES_PER_BLOCK frames at a time: the posteriors are frames x K
        hi = max(lo + 1, int(np.searchsorted(ends, ends[lo] - lengths[lo] + FRAMES_PER_BLOCK, side="right")))
        X = np.vstack(frames_list[lo:hi]).astype(np.float64)
        gamma = ubm.predict_proba(X).astype(np.float64) if len(X) else np.zeros((0, K))
        start = 0
        for u in range(lo, hi):
            g, x = gamma[start : start + lengths[u]], X[start : start + lengths[u]]
            N[u], F[u] = g.sum(axis=0), g.T @ x
            start += lengths[u]
        lo = hi
    mu = np.asarray(ubm.means_, dtype=np.float64)
    scale = 1.0 / np.sqrt(np.asarray(ubm.covariances_, dtype=np.float64))
    F = (F - N[:, :, None] * mu) * scale
    return N, F


class TotalVariability:
    """The total-variability matrix ``T`` (K, d, R) in the background model's whitened space.

    Parameters
    ----------
    rank : int
        ``R``, the i-vector dimension.
    n_iter : int
        EM iterations.
    random_state : int
        Seed of ``T``'s random start (the only randomness).
    dtype : numpy dtype
        Precision of the per-recording posterior covariances (their products,
        inverses and sums: most of the work).  float32 is safe here: each
        precision is the identity plus a positive semi-definite matrix, so its
        condition number is at most one plus the recording's largest soft count
        times ``T``'s squared norm; ``T`` and the i-vectors stay float64.
    """

    def __init__(self, rank=100, *, n_iter=10, random_state=0, dtype=np.float32):
        self.rank = rank
        self.n_iter = n_iter
        self.random_state = random_state
        self.dtype = dtype
        self.T_ = None

    def _posterior(self, N, F):
        """i-vectors (posterior means) and posterior covariances of every recording, shapes (U, R), (U, R, R)."""
        K, d, R = self.T_.shape
        TT = np.matmul(self.T_.transpose(0, 2, 1), self.T_).reshape(K, R * R).astype(self.dtype)
        precision = (N.astype(self.dtype) @ TT).reshape(-1, R, R)
        precision += np.eye(R, dtype=self.dtype)
        cov = np.linalg.inv(precision)
        linear = F.reshape(len(F), K * d) @ self.T_.reshape(K * d, R)
        w = np.einsum("urs,us->ur", cov, linear.astype(self.dtype)).astype(np.float64)
        return w, cov

    def fit(self, N, F, *, progress=None):
        """Learn ``T`` by EM from the statistics of :func:`baum_welch_statistics`; returns self.

        ``progress``, if given, wraps the iterations (e.g. a progress bar: ``progress(range(n_iter))``).
        """
        U, K, d = F.shape
        R = min(self.rank, K * d)
        rng = np.random.default_rng(self.random_state)
        self.T_ = rng.normal(scale=np.sqrt(1.0 / (K * d)), size=(K, d, R))
        for _ in (progress or iter)(range(self.n_iter)):
            A, C, M = np.zeros((K, R * R)), np.zeros((K * d, R)), np.zeros((R, R))
            for lo in range(0, U, RECORDINGS_PER_BLOCK):  # sums over recordings, in float64
                n, f = N[lo : lo + RECORDINGS_PER_BLOCK], F[lo : lo + RECORDINGS_PER_BLOCK]
                w, cov = self._posterior(n, f)
                second = cov + (w[:, :, None] * w[:, None, :]).astype(self.dtype)  # E[w w'] of each recording
                A += n.T.astype(self.dtype) @ second.reshape(len(n), R * R)
                C += f.reshape(len(f), K * d).T @ w
                M += second.sum(axis=0, dtype=np.float64)
            A = A.reshape(K, R, R)
            self.T_ = np.linalg.solve(A, C.reshape(K, d, R).transpose(0, 2, 1)).transpose(0, 2, 1)  # C_c A_c^-1
            # minimum divergence: make the latent prior standard normal again, T w unchanged
            self.T_ = self.T_ @ np.linalg.cholesky(M / U)
        return self

    def transform(self, N, F):
        """i-vectors of recordings, shape (U, R)."""
        R = self.T_.shape[2]
        parts = [
            self._posterior(N[lo : lo + RECORDINGS_PER_BLOCK], F[lo : lo + RECORDINGS_PER_BLOCK])[0]
            for lo in range(0, len(N), RECORDINGS_PER_BLOCK)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, R))


def length_normalise(V):
    """Each row scaled to unit length (rows of zeros stay zero)."""
    norm = np.linalg.norm(V, axis=1, keepdims=True)
    return V / np.where(norm > 0, norm, 1.0)


class CosineBackend:
    """Centring, length normalisation, LDA and WCCN learnt on labelled i-vectors; cosine scores.

    Parameters
    ----------
    lda_dim : int or None
        Dimensions kept by LDA, at most the number of speakers minus one; None skips
        LDA (WCCN on the length-normalised i-vectors alone).
    """

    def __init__(self, lda_dim=None):
        self.lda_dim = lda_dim
        self.mean_ = None
        self.projection_ = None

    def fit(self, V, labels):
        """Learn the projection from i-vectors ``V`` (U, R) of the speakers ``labels``; returns self."""
        labels = np.asarray(labels)
        self.mean_ = V.mean(axis=0)
        Z = length_normalise(V - self.mean_)
        P = np.eye(Z.shape[1])
        speakers = np.unique(labels)
        if self.lda_dim is not None and len(speakers) > 1:
            P = _lda(Z, labels, min(self.lda_dim, len(speakers) - 1))
        P = P @ _wccn(Z @ P, labels)
        self.projection_ = P
        return self

    def transform(self, V):
        """Projected, length-normalised vectors, shape (U, dims)."""
        return length_normalise(length_normalise(V - self.mean_) @ self.projection_)


def _within_class_scatter(Z, labels):
    S = np.zeros((Z.shape[1], Z.shape[1]))
    for spk in np.unique(labels):
        D = Z[labels == spk] - Z[labels == spk].mean(axis=0)
        S += D.T @ D
    return S / len(Z)


def _lda(Z, labels, dims):
    """Columns of the LDA projection (generalised eigenvectors of between- vs within-class scatter)."""
    from scipy.linalg import eigh  # start-up time: this part of SciPy loads only when used

    mean = Z.mean(axis=0)
    B = np.zeros((Z.shape[1], Z.shape[1]))
    for spk in np.unique(labels):
        m = Z[labels == spk].mean(axis=0) - mean
        B += (labels == spk).sum() * np.outer(m, m)
    W = _within_class_scatter(Z, labels) + 1e-6 * np.eye(Z.shape[1])
    vals, vecs = eigh(B / len(Z), W)
    return vecs[:, np.argsort(vals)[::-1][:dims]]


def _wccn(Z, labels):
    """Within-class covariance normalisation: the Cholesky factor of the inverse within-class covariance."""
    W = _within_class_scatter(Z, labels)
    W += 1e-6 * np.trace(W) / len(W) * np.eye(len(W)) + 1e-12 * np.eye(len(W))
    return np.linalg.cholesky(np.linalg.inv(W))


def ivector_arrays(extractor, backend, vectors):
    """The arrays a model file keeps of an i-vector system: ``T``, the back end and the speakers' vectors."""
    return {
        "ivector_T": extractor.T_,
        "ivector_mean": backend.mean_,
        "ivector_projection": backend.projection_,
        "ivector_speakers": np.stack(vectors),
    }


def ivector_models(arrays, K, d, n_speakers, path):
    """``(extractor, backend, speaker vectors)`` from a model file's arrays, each checked against the file's shapes."""
    need = model_file_guard.require
    if "ivector_T" not in arrays:
        raise model_file_guard.older(path, "i-vector speaker models", "the total-variability matrix")
    T = arrays["ivector_T"]
    need(T.ndim == 3 and T.shape[:2] == (K, d) and np.all(np.isfinite(T)), path, "ivector_T does not fit the UBM")
    R = T.shape[2]
    mean, P, V = arrays["ivector_mean"], arrays["ivector_projection"], arrays["ivector_speakers"]
    need(mean.shape == (R,) and P.ndim == 2 and P.shape[0] == R, path, "the i-vector back end does not fit ivector_T")
    need(V.shape == (n_speakers, P.shape[1]), path, "ivector_speakers does not match the speakers and the back end")
    need(all(np.all(np.isfinite(x)) for x in (mean, P, V)), path, "the i-vector arrays hold non-finite values")
    extractor = TotalVariability(R)
    extractor.T_ = T
    backend = CosineBackend()
    backend.mean_, backend.projection_ = mean, P
    return extractor, backend, list(V)
