"""One EM iteration as a map-reduce of sufficient statistics.

The *map* step (:func:`chunk_statistics`) takes one block of rows, computes the
weighted log densities, the per-row log-sum-exp, the responsibilities and their
contributions to the M-step's sufficient statistics, all in one pass.  The
*reduce* step is :meth:`SufficientStats.__add__` (in chunk order, so results do
not depend on thread timing).  :func:`m_step` turns summed statistics into new
parameters.  The same three functions serve the in-memory engine and a
distributed one.

Layout and maths.  Work arrays are components x rows (``(K, n)``) so that the
reductions over components run along contiguous rows.  For 'full' and 'tied'
covariances the squared Mahalanobis distance is evaluated as a quadratic form on
the data shifted by a global centre ``c``::

    (x - mu)^T P (x - mu) = q(x)^T vec(P) - 2 (x - c)^T P (mu - c) + (mu - c)^T P (mu - c)

where ``q(x)`` holds the ``d (d + 1) / 2`` products ``(x_i - c_i)(x_j - c_j)``.  One
matrix product then gives every component's distances, and the M-step's second
moments are ``R q`` — no ``(n, K, d)`` temporary.  The form loses about
``log10(max_k (mu_k - c)^T P_k (mu_k - c))`` digits; when that would exceed
the working precision's budget, an exact per-component evaluation (differences
from each mean) is used instead, chosen per iteration by :func:`prepare`.
Statistics are accumulated in float64 whatever the data's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._covariance import LOG_2PI, log_det_cholesky, precisions_from_cholesky
from ._schedule import parallel_map

#: largest acceptable ``eps * max_k (mu_k - c)^T P_k (mu_k - c)`` for the quadratic form
_QUAD_BUDGET = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 2e-4}
#: log-probabilities are clipped here before exp: exp(-700) is still a normal float64
_EXP_FLOOR = {np.dtype(np.float64): -700.0, np.dtype(np.float32): -87.0}


@dataclass
class SufficientStats:
    """Weighted sufficient statistics of one or more chunks of rows.

    Attributes
    ----------
    nk : ndarray of shape (K,)
        ``sum_n w_n r_nk``.
    s1 : ndarray of shape (K, d)
        ``sum_n w_n r_nk (x_n - c_k)``.
    s2 : ndarray
        Second moments about the centre: (K, d, d) for 'full'
        (``sum w r (x - c_k)(x - c_k)^T``; also for 'tied' on the exact path),
        (d, d) for 'tied' (``sum w (x - c)(x - c)^T``),
        (K, d) for 'diag' and 'spherical' (``sum w r (x - c)**2``).
    loglik : float
        ``sum_n w_n log p(x_n)`` under the parameters used for the E-step.
    weight : float
        ``sum_n w_n``.
    centre : ndarray of shape (K, d)
        The centre ``c_k`` the moments are taken about (equal rows for a global centre).
    worst_value, worst_index : float, int
        The lowest per-row log-likelihood seen and its global row index (used to
        re-seed a collapsed component).
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float
    weight: float
    centre: np.ndarray = field(repr=False, default=None)
    worst_value: float = math.inf
    worst_index: int = -1

    def __add__(self, other):
        if self.worst_value <= other.worst_value:
            wv, wi = self.worst_value, self.worst_index
        else:
            wv, wi = other.worst_value, other.worst_index
        return SufficientStats(
            self.nk + other.nk,
            self.s1 + other.s1,
            self.s2 + other.s2,
            self.loglik + other.loglik,
            self.weight + other.weight,
            self.centre,
            wv,
            wi,
        )


@dataclass
class Prepared:
    """Parameters in the form one E-step needs (computed once per iteration).

    Attributes
    ----------
    covariance_type : str
    dtype : numpy.dtype
    shift : ndarray of shape (d,)
        Global centre subtracted from the rows.
    offset : ndarray of shape (K,)
        ``log w_k + log det(U_k) - d/2 log(2 pi)``.
    quad, lin, const : ndarrays
        Coefficients of the quadratic form (see the module docstring).
    exact : bool
        Use the exact per-component evaluation ('full' / 'tied' only).
    means, precisions_cholesky : ndarrays
        For the exact evaluation.
    conditioning : float
        ``max_k (mu_k - c)^T P_k (mu_k - c)``.
    """

    covariance_type: str
    dtype: np.dtype
    shift: np.ndarray
    offset: np.ndarray
    quad: np.ndarray
    lin: np.ndarray
    const: np.ndarray
    exact: bool
    means: np.ndarray
    precisions_cholesky: np.ndarray
    conditioning: float

    @property
    def n_components(self):
        return self.offset.shape[0]


def _triu(d):
    iu = np.triu_indices(d)
    factor = np.where(iu[0] == iu[1], 1.0, 2.0)
    return iu, factor


def prepare(weights, means, precisions_cholesky, covariance_type, shift, dtype):
    """Coefficients for :func:`log_prob_T` and :func:`chunk_statistics`.

    Parameters
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    precisions_cholesky : ndarray, shaped by ``covariance_type``
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    shift : ndarray of shape (d,)
        Global centre (e.g. the data's weighted mean).
    dtype : numpy dtype
        Working precision of the E-step.

    Returns
    -------
    prepared : Prepared
    """
    dtype = np.dtype(dtype)
    means = np.asarray(means, dtype=np.float64)
    pc = np.asarray(precisions_cholesky, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    K, d = means.shape
    m = means - shift
    with np.errstate(divide="ignore"):
        log_w = np.log(np.asarray(weights, dtype=np.float64))
    offset = log_w + log_det_cholesky(pc, covariance_type, d) - 0.5 * d * LOG_2PI
    exact = False
    if covariance_type in ("full", "tied"):
        P = precisions_from_cholesky(pc, covariance_type)
        Pk = P if covariance_type == "full" else np.broadcast_to(P, (K, d, d))
        Pm = np.einsum("kij,kj->ki", Pk, m)
        const = np.einsum("ki,ki->k", m, Pm)
        iu, factor = _triu(d)
        quad = (P[:, iu[0], iu[1]] if covariance_type == "full" else P[iu][None, :]) * factor
        lin = -2.0 * Pm
        conditioning = float(np.max(const)) if K else 0.0
        exact = conditioning * float(np.finfo(dtype).eps) > _QUAD_BUDGET[dtype]
    elif covariance_type == "diag":
        prec = pc**2
        quad, lin, const = prec, -2.0 * prec * m, np.sum(prec * m * m, axis=1)
        conditioning = float(np.max(const))
    else:
        prec = pc**2
        quad, lin, const = prec, -2.0 * prec[:, None] * m, prec * np.sum(m * m, axis=1)
        conditioning = float(np.max(const))
    cast = lambda a: np.ascontiguousarray(a, dtype=dtype)  # noqa: E731
    return Prepared(
        covariance_type,
        dtype,
        cast(shift),
        cast(offset),
        cast(quad),
        cast(lin),
        cast(const),
        bool(exact),
        cast(means),
        cast(pc),
        conditioning,
    )


def moments_only(shift, n_components, covariance_type, dtype):
    """A :class:`Prepared` for computing moments about ``shift`` from given
    responsibilities (initialisation), without E-step coefficients."""
    dtype = np.dtype(dtype)
    K = n_components
    z = np.zeros(K, dtype=dtype)
    shift = np.ascontiguousarray(shift, dtype=dtype)
    return Prepared(covariance_type, dtype, shift, z, z, z, z, False, np.tile(shift, (K, 1)), z, 0.0)


def _quad_features(XT, out=None):
    """Products ``x_i x_j`` (i <= j) of the rows of ``XT`` (d, n) -> (d (d + 1) / 2, n)."""
    d, n = XT.shape
    if out is None:
        out = np.empty((d * (d + 1) // 2, n), dtype=XT.dtype)
    o = 0
    for i in range(d):
        np.multiply(XT[i], XT[i:], out=out[o : o + d - i])
        o += d - i
    return out


def features_T(X, prep):
    """Shifted rows transposed (d, n) and their quadratic features or squares.

    Returns
    -------
    XT : ndarray of shape (d, n)
    Q : ndarray
        ``(d (d + 1) / 2, n)`` products for 'full'/'tied' (None on the exact path),
        ``(d, n)`` squares for 'diag'/'spherical'.
    """
    XT = np.empty((X.shape[1], X.shape[0]), dtype=prep.dtype)
    np.subtract(X.T, prep.shift[:, None], out=XT)
    if prep.covariance_type in ("full", "tied"):
        Q = None if prep.exact else _quad_features(XT)
    else:
        Q = XT * XT
    return XT, Q


def log_prob_T(X, prep):
    """Weighted log densities ``log w_k + log N(x | k)`` of a block, transposed.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Rows (not shifted), in the working dtype.
    prep : Prepared

    Returns
    -------
    a : ndarray of shape (K, n)
    XT : ndarray of shape (d, n)
        The shifted rows, transposed.
    Q : ndarray or None
        ``(m, n)`` quadratic features for 'full'/'tied' (fast path), ``(d, n)``
        squares for 'diag'/'spherical', None for the exact path.
    """
    ct = prep.covariance_type
    XT, Q = features_T(X, prep)
    if prep.exact:
        K = prep.n_components
        a = np.empty((K, X.shape[0]), dtype=prep.dtype)
        for k in range(K):
            pc = prep.precisions_cholesky[k] if ct == "full" else prep.precisions_cholesky
            y = (X - prep.means[k]) @ pc
            a[k] = np.einsum("nd,nd->n", y, y)
        a *= -0.5
        a += prep.offset[:, None]
        return a, XT, None
    if ct == "spherical":
        a = prep.quad[:, None] * Q.sum(axis=0)[None, :]
    else:
        a = prep.quad @ Q
    if a.shape[0] != prep.n_components:
        a = np.repeat(a, prep.n_components, axis=0)
    a += prep.lin @ XT
    a += prep.const[:, None]
    a *= -0.5
    a += prep.offset[:, None]
    return a, XT, Q


def _normalise(a, dtype):
    """In place: ``a`` (K, n) log-probabilities -> responsibilities; returns log-sum-exp (n,)."""
    amax = a.max(axis=0)
    finite = np.isfinite(amax)
    if not finite.all():
        amax = np.where(finite, amax, 0.0).astype(dtype, copy=False)
    a -= amax
    np.maximum(a, _EXP_FLOOR[np.dtype(dtype)], out=a)
    np.exp(a, out=a)
    s = a.sum(axis=0)
    a /= s
    with np.errstate(divide="ignore"):
        return np.log(s) + amax


def logsumexp_rows(a):
    """Row-wise ``log(sum(exp(a)))``, stable; rows of all ``-inf`` give ``-inf``.

    Parameters
    ----------
    a : ndarray of shape (n, K)

    Returns
    -------
    out : ndarray of shape (n,)
    """
    amax = a.max(axis=1)
    finite = np.isfinite(amax)
    amax_safe = np.where(finite, amax, 0.0).astype(a.dtype, copy=False)
    with np.errstate(divide="ignore", under="ignore"):
        out = np.log(np.exp(a - amax_safe[:, None]).sum(axis=1)) + amax_safe
    return out


def weighted_log_prob(X, prep):
    """``log w_k + log N(x | k)`` for a block of rows, shape (n, K)."""
    return log_prob_T(X, prep)[0].T


def resp_statistics(XT, Q, R, sample_weight, prep, X=None):
    """Sufficient statistics from responsibilities (the M-step's map part).

    Parameters
    ----------
    XT : ndarray of shape (d, n)
        Shifted rows, transposed.
    Q : ndarray or None
        Quadratic features or squares from :func:`log_prob_T` (None: exact path).
    R : ndarray of shape (K, n)
        Responsibilities already multiplied by the sample weights.
    sample_weight : ndarray of shape (n,) or None
    prep : Prepared
    X : ndarray of shape (n, d), optional
        Unshifted rows (needed by the exact path).

    Returns
    -------
    nk, s1, s2, centre
    """
    ct = prep.covariance_type
    K, d = R.shape[0], XT.shape[0]
    nk = R.sum(axis=1, dtype=np.float64)
    if prep.exact:
        # moments about each component's current mean: accurate whatever the offsets
        # ('tied' pools these per-component scatters in the M-step)
        centre = prep.means.astype(np.float64)
        s1 = np.empty((K, d))
        s2 = np.empty((K, d, d))
        for k in range(K):
            D = X - prep.means[k]
            s1[k] = R[k] @ D
            s2[k] = D.T @ (D * R[k][:, None])
        return nk, s1, s2, centre
    centre = np.broadcast_to(prep.shift.astype(np.float64), (K, d))
    s1 = (R @ XT.T).astype(np.float64)
    if ct == "full":
        packed = (R @ Q.T).astype(np.float64)
        iu, _ = _triu(d)
        s2 = np.zeros((K, d, d))
        s2[:, iu[0], iu[1]] = packed
        s2[:, iu[1], iu[0]] = packed
    elif ct == "tied":
        ws = XT if sample_weight is None else XT * sample_weight
        s2 = (XT @ ws.T).astype(np.float64)
    else:
        s2 = (R @ Q.T).astype(np.float64)
    return nk, s1, s2, centre


def chunk_statistics(X, sample_weight, prep, *, offset=0):
    """Map step: E-step on one block of rows and its sufficient statistics.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Rows in the working dtype.
    sample_weight : ndarray of shape (n,) or None
    prep : Prepared
        From :func:`prepare` with the current parameters.
    offset : int
        Global index of the block's first row (for ``worst_index``).

    Returns
    -------
    stats : SufficientStats
    """
    a, XT, Q = log_prob_T(X, prep)
    lpn = _normalise(a, prep.dtype)
    if sample_weight is None:
        loglik = float(lpn.sum(dtype=np.float64))
        weight = float(X.shape[0])
        lpn_w = lpn
    else:
        a *= sample_weight[None, :]
        loglik = float(np.dot(lpn.astype(np.float64), sample_weight.astype(np.float64)))
        weight = float(sample_weight.sum(dtype=np.float64))
        lpn_w = np.where(sample_weight > 0, lpn, np.inf)
    nk, s1, s2, centre = resp_statistics(XT, Q, a, sample_weight, prep, X=X)
    i = int(np.argmin(lpn_w)) if lpn_w.size else 0
    worst = float(lpn_w[i]) if lpn_w.size else math.inf
    return SufficientStats(nk, s1, s2, loglik, weight, centre, worst, offset + i)


def map_reduce(X, sample_weight, prep, *, chunk_rows, n_jobs=1, executor=None):
    """One E-step over all rows, reduced to sufficient statistics.

    Chunks are processed by ``n_jobs`` threads (NumPy and BLAS release the
    GIL) and summed in chunk order, so the result does not depend on ``n_jobs``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, d)
    sample_weight : ndarray of shape (n_samples,) or None
    prep : Prepared
    chunk_rows : int
    n_jobs : int
    executor : concurrent.futures.Executor, optional
        A pool to reuse across iterations (see :func:`worker_pool`).

    Returns
    -------
    stats : SufficientStats
    """
    starts = range(0, X.shape[0], chunk_rows)

    def one(start):
        sw = None if sample_weight is None else sample_weight[start : start + chunk_rows]
        return chunk_statistics(X[start : start + chunk_rows], sw, prep, offset=start)

    parts = parallel_map(one, starts, n_jobs, executor=executor)
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def moments_about(X, ref, sample_weight=None):
    """Weight, weighted sum and scatter of ``X - ref``, packed in one float64 vector (partial results add).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    ref : ndarray of shape (d,)
        A point near the data (e.g. its first row), so large offsets do not cancel.
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    packed : ndarray of shape (1 + d + d * d,)
    """
    xc = X - ref
    if sample_weight is None:
        w, s1, s2 = float(xc.shape[0]), xc.sum(axis=0, dtype=np.float64), xc.T @ xc
    else:
        w, s1, s2 = float(sample_weight.sum(dtype=np.float64)), sample_weight @ xc, xc.T @ (xc * sample_weight[:, None])
    return np.concatenate([[w], np.asarray(s1, dtype=np.float64), np.asarray(s2, dtype=np.float64).ravel()])


def mean_cov_from_moments(packed, ref):
    """Mean and covariance from summed :func:`moments_about` vectors.

    Returns
    -------
    mean : ndarray of shape (d,)
    cov : ndarray of shape (d, d)
    """
    d = ref.size
    w, s1, s2 = packed[0], packed[1 : d + 1], packed[d + 1 :].reshape(d, d)
    m = s1 / w
    return ref + m, s2 / w - np.outer(m, m)


def m_step(stats, *, covariance_type, reg_covar, eps):
    """Reduce step's end: new parameters from summed statistics.

    Parameters
    ----------
    stats : SufficientStats
    covariance_type : str
    reg_covar : float
    eps : float
        Machine epsilon of the working dtype; ``10 * eps`` is added to each
        component's count as scikit-learn does.

    Returns
    -------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    covariances : ndarray, shaped by ``covariance_type``
    nk : ndarray of shape (K,)
        The raw component counts (without the ``10 * eps``).
    """
    nk = stats.nk
    nk_eff = nk + 10.0 * eps
    delta = stats.s1 / nk_eff[:, None]
    new_means = stats.centre + delta
    d = stats.s1.shape[1]
    if covariance_type == "full":
        s1d = stats.s1[:, :, None] * delta[:, None, :]
        cov = stats.s2 - s1d - np.swapaxes(s1d, 1, 2)
        cov += nk[:, None, None] * (delta[:, :, None] * delta[:, None, :])
        cov /= nk_eff[:, None, None]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "tied" and stats.s2.ndim == 3:
        # per-component scatters about each component's centre (exact path): pool them
        s1d = stats.s1[:, :, None] * delta[:, None, :]
        scat = stats.s2 - s1d - np.swapaxes(s1d, 1, 2)
        scat += nk[:, None, None] * (delta[:, :, None] * delta[:, None, :])
        cov = scat.sum(axis=0) / nk_eff.sum()
        cov.flat[:: d + 1] += reg_covar
    elif covariance_type == "tied":
        cov = stats.s2 - np.einsum("k,ki,kj->ij", nk, delta, delta)
        cov /= nk_eff.sum()
        cov.flat[:: d + 1] += reg_covar
    else:
        cov = (stats.s2 - 2.0 * stats.s1 * delta + nk[:, None] * delta**2) / nk_eff[:, None]
        cov += reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(axis=1)
    weights = nk_eff / nk_eff.sum()
    return weights, new_means, cov, nk
