"""One EM iteration as a map-reduce of sufficient statistics.

The *map* step (:func:`chunk_statistics`) takes one block of rows, computes the
weighted log densities, the per-row log-sum-exp, the responsibilities and adds
their contributions to the M-step's sufficient statistics.  The *reduce* step
is :meth:`SufficientStats.__add__`.  :func:`m_step` turns the summed statistics
into new parameters.  No ``(n_samples, K, d)`` array is ever formed: the
largest temporary is ``(chunk_rows, K, d)``.

Statistics are taken about a shift ``c`` for accuracy: for 'full' the shift is
each component's current mean (so the scatter is nearly centred, as in a
two-pass computation), for the other types a single global centre.  They are
accumulated in float64 whatever the data's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._covariance import LOG_2PI, _mahalanobis_sq, log_det_cholesky


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
        Second moments about the shift: (K, d, d) for 'full' (``sum w r (x-c_k)(x-c_k)^T``),
        (d, d) for 'tied' (``sum w (x-c)(x-c)^T``), (K, d) for 'diag'/'spherical'
        (``sum w r (x-c)**2``).
    loglik : float
        ``sum_n w_n log p(x_n)`` under the parameters used for the E-step.
    weight : float
        ``sum_n w_n``.
    worst_value, worst_index : float, int
        The lowest per-row log-likelihood seen and its global row index (used to
        re-seed a collapsed component).
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float
    weight: float
    worst_value: float = np.inf
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
            wv,
            wi,
        )


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


def weighted_log_prob(X, weights, means, precisions_cholesky, covariance_type, shift):
    """``log(pi_k) + log N(x | mu_k, Sigma_k)`` for a block of rows.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Rows, *not* shifted.
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    precisions_cholesky : ndarray
    covariance_type : str
    shift : ndarray of shape (d,)

    Returns
    -------
    wlp : ndarray of shape (n, K)
    diffs_or_xc : ndarray
        For 'full' the ``(K, n, d)`` differences ``x - mu_k``; otherwise the
        shifted rows ``x - shift`` of shape (n, d).  Reused by the M-step statistics.
    """
    d = X.shape[1]
    log_det = log_det_cholesky(precisions_cholesky, covariance_type, d)
    if covariance_type == "full":
        work = X[None, :, :] - means[:, None, :]
        maha = _mahalanobis_sq(None, None, precisions_cholesky, "full", diffs=work)
    else:
        work = X - shift
        maha = _mahalanobis_sq(work, means - shift, precisions_cholesky, covariance_type)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    wlp = -0.5 * (d * LOG_2PI + maha) + (log_det + log_w)
    return wlp.astype(X.dtype, copy=False), work


def chunk_statistics(
    X, sample_weight, weights, means, precisions_cholesky, covariance_type, shift, *, offset=0
):
    """Map step: E-step on one block of rows and its sufficient statistics.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    sample_weight : ndarray of shape (n,) or None
    weights, means, precisions_cholesky : current parameters
    covariance_type : str
    shift : ndarray of shape (d,)
        Global shift for 'tied', 'diag' and 'spherical' (ignored for 'full',
        whose shift is each component's current mean).
    offset : int
        Global index of the block's first row (for ``worst_index``).

    Returns
    -------
    stats : SufficientStats
    """
    wlp, work = weighted_log_prob(X, weights, means, precisions_cholesky, covariance_type, shift)
    lpn = logsumexp_rows(wlp)
    with np.errstate(under="ignore", invalid="ignore"):
        resp = np.exp(wlp - lpn[:, None])
    if sample_weight is None:
        wr = resp
        loglik = float(lpn.sum(dtype=np.float64))
        weight = float(X.shape[0])
        lpn_w = lpn
    else:
        wr = resp * sample_weight[:, None]
        loglik = float(np.dot(lpn.astype(np.float64), sample_weight.astype(np.float64)))
        weight = float(sample_weight.sum(dtype=np.float64))
        lpn_w = np.where(sample_weight > 0, lpn, np.inf)
    nk = wr.sum(axis=0, dtype=np.float64)
    if covariance_type == "full":
        # work: (K, n, d) differences from the current means
        s1 = np.einsum("nk,knd->kd", wr, work, optimize=False)
        s2 = np.matmul(np.swapaxes(work, 1, 2), wr.T[:, :, None] * work)
    elif covariance_type == "tied":
        s1 = wr.T @ work
        ws = work if sample_weight is None else work * sample_weight[:, None]
        s2 = work.T @ ws
    else:
        s1 = wr.T @ work
        s2 = wr.T @ (work * work)
    i = int(np.argmin(lpn_w)) if lpn_w.size else 0
    worst = float(lpn_w[i]) if lpn_w.size else np.inf
    return SufficientStats(
        nk,
        s1.astype(np.float64),
        s2.astype(np.float64),
        loglik,
        weight,
        worst,
        offset + i,
    )


def m_step(stats, *, shift, means, covariance_type, reg_covar, eps):
    """Reduce step's end: new parameters from summed statistics.

    Parameters
    ----------
    stats : SufficientStats
    shift : ndarray of shape (d,)
        The global shift used for 'tied', 'diag', 'spherical'.
    means : ndarray of shape (K, d)
        The means used as shift for 'full' (the parameters of the E-step).
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
    centre = means.astype(np.float64) if covariance_type == "full" else shift.astype(np.float64)
    new_means = centre + delta
    d = stats.s1.shape[1]
    if covariance_type == "full":
        s1d = stats.s1[:, :, None] * delta[:, None, :]
        cov = stats.s2 - s1d - np.swapaxes(s1d, 1, 2)
        cov += nk[:, None, None] * (delta[:, :, None] * delta[:, None, :])
        cov /= nk_eff[:, None, None]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
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
