"""Gaussian mixtures on rows with missing entries (NaN), as pure functions.

For a row with observed features ``o`` and missing features ``m``, component
``k`` gives the observed part the density ``N(x_o | mu_ko, S_koo)``; the
missing part is, given ``x_o``, Gaussian with mean
``xhat_km = mu_km + S_kmo S_koo^-1 (x_o - mu_ko)`` and covariance
``C_k = S_kmm - S_kmo S_koo^-1 S_kom``.  EM for incomplete data (Ghahramani &
Jordan 1994) uses the observed-part density in the E-step and, in the M-step,
the completed row ``xhat_k`` and ``C_k`` in place of ``x`` and 0:

    nk  += r_nk
    s1k += r_nk (xhat_nk - c)
    s2k += r_nk [(xhat_nk - c)(xhat_nk - c)^T + C_k]      (C_k on the m x m block)

Rows are grouped by their pattern of missing features, so each pattern needs
one small factorisation per component whatever its number of rows.  The
statistics come out in the layout of :class:`gmm_apps.core.SufficientStats`
about the centre ``c`` and add to those of complete rows.
"""

from __future__ import annotations

import math

import numpy as np

from ._covariance import full_covariances
from ._stats import SufficientStats, logsumexp_rows

_LOG_2PI = math.log(2.0 * math.pi)
#: rows of one pattern handled at once (bounds the (K, rows, d) temporaries)
GROUP_ROWS = 4096


def missing_patterns(mask):
    """Rows grouped by their pattern of missing features.

    Parameters
    ----------
    mask : ndarray of shape (n, d), bool
        True where an entry is missing.

    Returns
    -------
    groups : list of (observed, rows)
        ``observed``: the indices of the observed features; ``rows``: the
        rows (sorted) with that pattern.  Patterns are in a fixed order.
    """
    if mask.shape[0] == 0:
        return []
    keys = np.packbits(mask, axis=1)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    groups = []
    for rows in np.split(order, bounds):
        groups.append((np.flatnonzero(~mask[rows[0]]), rows))
    return groups


def empty_rows(mask):
    """Indices of rows with no observed feature."""
    return np.flatnonzero(mask.all(axis=1))


class Conditionals:
    """Per-component Gaussians of one missingness pattern: the observed part's density and the missing part's regression.

    Parameters
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    covariances : ndarray of shape (K, d, d)
        Full matrices (see :func:`gmm_apps.core.full_covariances`).
    observed : ndarray of int
        The observed features.
    """

    def __init__(self, weights, means, covariances, observed):
        d = means.shape[1]
        o = observed
        m = np.setdiff1d(np.arange(d), o)
        self.o, self.m = o, m
        S_oo = covariances[:, o[:, None], o]
        L = np.linalg.cholesky(S_oo)
        self.whiten = np.swapaxes(np.linalg.inv(L), 1, 2)  # (K, do, do): z = (x_o - mu_o) @ whiten
        self.log_norm = (np.log(weights) - 0.5 * len(o) * _LOG_2PI
                         - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1))
        self.mu_o = means[:, o]
        self.mu_m = means[:, m]
        if len(m):
            S_mo = covariances[:, m[:, None], o]
            S_oo_inv = self.whiten @ np.swapaxes(self.whiten, 1, 2)
            self.regress = S_mo @ S_oo_inv  # (K, dm, do)
            self.cond_cov = covariances[:, m[:, None], m] - self.regress @ np.swapaxes(S_mo, 1, 2)
        else:
            self.regress = np.zeros((len(weights), 0, len(o)))
            self.cond_cov = np.zeros((len(weights), 0, 0))

    def log_prob(self, Xo):
        """``log w_k + log N(x_o | k)`` of rows restricted to the observed features, shape (n, K)."""
        D = Xo[None, :, :] - self.mu_o[:, None, :]
        Z = D @ self.whiten
        return (self.log_norm[:, None] - 0.5 * np.einsum("kni,kni->kn", Z, Z)).T, D

    def completed(self, Xo, D):
        """Each component's conditional mean of the full rows, shape (K, n, d)."""
        K, n = D.shape[0], D.shape[1]
        d = len(self.o) + len(self.m)
        out = np.empty((K, n, d))
        out[:, :, self.o] = Xo[None]
        if len(self.m):
            out[:, :, self.m] = self.mu_m[:, None, :] + D @ np.swapaxes(self.regress, 1, 2)
        return out


def _with_weights(lp, sample_weight):
    ll = logsumexp_rows(lp)
    with np.errstate(under="ignore"):
        R = np.exp(lp - ll[:, None])
    if sample_weight is not None:
        R *= sample_weight[:, None]
    return R, ll


def pattern_statistics(X, rows, observed, sample_weight, weights, means, covariances, covariance_type, centre):
    """Sufficient statistics of rows sharing one missingness pattern (all in float64).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        All rows (NaN where missing); only ``rows`` are read.
    rows : ndarray of int
    observed : ndarray of int
    sample_weight : ndarray of shape (n,) or None
    weights, means : ndarrays
    covariances : ndarray of shape (K, d, d)
        Full matrices.
    covariance_type : str
        Decides the layout of ``s2``: (K, d, d) 'full', (d, d) 'tied',
        (K, d) 'diag' and 'spherical'.
    centre : ndarray of shape (d,)

    Returns
    -------
    stats : SufficientStats
        ``worst_index`` is a row index of ``X``.
    """
    cond = Conditionals(weights, means, covariances, observed)
    K, d = means.shape
    m = cond.m
    total = None
    for start in range(0, len(rows), GROUP_ROWS):
        idx = rows[start:start + GROUP_ROWS]
        Xo = X[np.ix_(idx, observed)].astype(np.float64)
        lp, D = cond.log_prob(Xo)
        sw = None if sample_weight is None else sample_weight[idx].astype(np.float64)
        R, ll = _with_weights(lp, sw)
        Y = cond.completed(Xo, D) - centre  # (K, n, d)
        nk = R.sum(axis=0)
        s1 = np.einsum("nk,knd->kd", R, Y)
        RY = Y * R.T[:, :, None]
        if covariance_type in ("full", "tied"):
            s2 = np.swapaxes(RY, 1, 2) @ Y
            if len(m):
                s2[:, m[:, None], m] += nk[:, None, None] * cond.cond_cov
            if covariance_type == "tied":
                s2 = s2.sum(axis=0)
        else:
            s2 = np.einsum("knd,knd->kd", RY, Y)
            if len(m):
                s2[:, m] += nk[:, None] * np.diagonal(cond.cond_cov, axis1=1, axis2=2)
        if sw is None:
            loglik, weight, llw = float(ll.sum()), float(len(idx)), ll
        else:
            loglik, weight = float(ll @ sw), float(sw.sum())
            llw = np.where(sw > 0, ll, np.inf)
        i = int(np.argmin(llw))
        part = SufficientStats(nk, s1, s2, loglik, weight, np.broadcast_to(centre, (K, d)),
                               float(llw[i]), int(idx[i]))
        total = part if total is None else total + part
    return total


def pattern_log_prob(X, rows, observed, weights, means, covariances):
    """``log w_k + log N(x_o | k)`` for rows of one pattern, shape (len(rows), K)."""
    cond = Conditionals(weights, means, covariances, observed)
    return cond.log_prob(X[np.ix_(rows, observed)].astype(np.float64))[0]


def pattern_impute(X, rows, observed, weights, means, covariances):
    """Posterior-weighted conditional means of the missing entries of rows of one pattern, shape (len(rows), n_missing)."""
    cond = Conditionals(weights, means, covariances, observed)
    Xo = X[np.ix_(rows, observed)].astype(np.float64)
    lp, D = cond.log_prob(Xo)
    R, _ = _with_weights(lp, None)
    filled = cond.completed(Xo, D)[:, :, cond.m]  # (K, n, dm)
    return np.einsum("nk,knd->nd", R, filled), cond.m


def as_full(covariances, covariance_type, n_components, n_features):
    """Covariances as (K, d, d) float64 matrices."""
    return full_covariances(np.asarray(covariances, dtype=np.float64), covariance_type, n_components, n_features)


def recentre(stats, centre, covariance_type):
    """``stats`` re-expressed as moments about one ``centre`` of shape (d,), in the standard layout.

    The engine's exact path takes moments about each component's mean (and, for
    'tied', keeps them per component); statistics from different sources add
    only once they share a centre and a layout.
    """
    c = np.asarray(stats.centre, dtype=np.float64)
    a = c - centre[None, :]  # (K, d): old centre minus new
    tied_per_component = covariance_type == "tied" and stats.s2.ndim == 3
    if not np.any(a) and not tied_per_component:
        return stats
    nk, s1 = stats.nk, stats.s1
    s1n = s1 + nk[:, None] * a
    if covariance_type in ("full", "tied") and stats.s2.ndim == 3:
        s2n = (stats.s2 + s1[:, :, None] * a[:, None, :] + a[:, :, None] * s1[:, None, :]
               + nk[:, None, None] * a[:, :, None] * a[:, None, :])
        if covariance_type == "tied":
            s2n = s2n.sum(axis=0)
    elif covariance_type == "tied":
        # pooled (d, d) about one common centre already (a is the same for every k)
        w = stats.weight
        s1tot = s1.sum(axis=0)
        a0 = a[0]
        s2n = stats.s2 + np.outer(s1tot, a0) + np.outer(a0, s1tot) + w * np.outer(a0, a0)
    else:
        s2n = stats.s2 + 2.0 * s1 * a + nk[:, None] * a**2
    return SufficientStats(nk, s1n, s2n, stats.loglik, stats.weight, np.broadcast_to(centre, c.shape),
                           stats.worst_value, stats.worst_index)
