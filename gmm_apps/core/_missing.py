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

from ._schedule import parallel_map
from ._stats import SufficientStats, logsumexp_rows

_LOG_2PI = math.log(2.0 * math.pi)
#: rows handled at once (bounds the temporaries)
GROUP_ROWS = 4096
#: patterns with fewer rows share one pass (each row with its pattern's coefficients)
SMALL_PATTERN = 256


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
    if mask.shape[1] <= 62:  # one integer per pattern: a 1-D sort
        keys = mask.astype(np.int64) @ (np.int64(1) << np.arange(mask.shape[1], dtype=np.int64))
        _, inverse = np.unique(keys, return_inverse=True)
    else:
        _, inverse = np.unique(np.packbits(mask, axis=1), axis=0, return_inverse=True)
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
        self.log_norm = np.log(weights) - 0.5 * len(o) * _LOG_2PI - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
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


#: largest acceptable ``eps * max_k e_k^T P_k e_k`` for the quadratic-form path (as the engine's)
_QUAD_BUDGET = 1e-10


def _triu_pairs(p):
    iu = np.triu_indices(p)
    return iu, np.where(iu[0] == iu[1], 1.0, 2.0)


def _stats(nk, s1, s2, ll, sw, idx, centre, K, d):
    if sw is None:
        loglik, weight, llw = float(ll.sum()), float(len(idx)), ll
    else:
        loglik, weight = float(ll @ sw), float(sw.sum())
        llw = np.where(sw > 0, ll, np.inf)
    i = int(np.argmin(llw))
    return SufficientStats(nk, s1, s2, loglik, weight, np.broadcast_to(centre, (K, d)), float(llw[i]), int(idx[i]))


def pattern_statistics_direct(
    X, rows, observed, sample_weight, weights, means, covariances, covariance_type, centre, cond=None
):
    """Sufficient statistics of rows of one pattern, every row completed explicitly.

    The accurate path of :meth:`IncompleteRows.statistics` when components sit
    too far from the centre for the quadratic form; slower.
    """
    cond = cond or Conditionals(weights, means, covariances, observed)
    K, d = means.shape
    m = cond.m
    total = None
    for start in range(0, len(rows), GROUP_ROWS):
        idx = rows[start : start + GROUP_ROWS]
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
        part = _stats(nk, s1, s2, ll, sw, idx, centre, K, d)
        total = part if total is None else total + part
    return total


def batched_conditionals(weights, means, covariances, missing):
    """Every pattern's conditional Gaussians at once, as full-size matrices padded with zeros.

    With ``S~`` equal to ``S`` on the observed block and to the identity on the
    missing one, ``inv(S~)`` holds ``S_oo^-1`` and ``det(S~) = det(S_oo)``, so
    one batched factorisation serves all (pattern, component) pairs.

    Parameters
    ----------
    weights, means : ndarrays of shape (K,), (K, d)
    covariances : ndarray of shape (K, d, d)
    missing : ndarray of shape (P, d), bool
        One row per pattern.

    Returns
    -------
    log_norm : ndarray of shape (P, K)
        ``log w_k - |o|/2 log(2 pi) - 1/2 log det S_koo``.
    prec : ndarray of shape (P, K, d, d)
        ``S_koo^-1`` on the observed block, 0 elsewhere.
    regress : ndarray of shape (P, K, d, d)
        ``S_kmo S_koo^-1`` on the (missing, observed) block, 0 elsewhere.
    cond_cov : ndarray of shape (P, K, d, d)
        ``S_kmm - S_kmo S_koo^-1 S_kom`` on the missing block, 0 elsewhere.
    """
    obs = ~missing
    oo = (obs[:, :, None] & obs[:, None, :])[:, None]  # (P, 1, d, d)
    mo = (missing[:, :, None] & obs[:, None, :])[:, None]
    mm = (missing[:, :, None] & missing[:, None, :])[:, None]
    d = means.shape[1]
    eye_m = np.eye(d)[None, None] * missing[:, None, None, :]  # identity on the missing features
    S = covariances[None]  # (1, K, d, d)
    padded = np.where(oo, S, 0.0) + eye_m
    L = np.linalg.cholesky(padded)
    prec = np.linalg.inv(padded) - eye_m
    logdet = 2.0 * np.log(np.diagonal(L, axis1=2, axis2=3)).sum(axis=2)  # the identity block adds 0
    n_obs = obs.sum(axis=1)
    log_norm = np.log(weights)[None, :] - 0.5 * n_obs[:, None] * _LOG_2PI - 0.5 * logdet
    regress = np.where(mo, S, 0.0) @ prec
    cond_cov = np.where(mm, S - regress @ S, 0.0)
    return log_norm, prec, regress, cond_cov


def diag_log_prob(U, weights, means, variances):
    """``log w_k + log N(x_o | k)`` for diagonal covariances, every row at once, shape (n, K).

    With independent features given the component, the observed part's log
    density is a sum over the observed features: products of the masked rows
    with ``1 / v``, ``mu / v`` and ``mu^2 / v`` give it for all components.

    Parameters
    ----------
    U : ndarray of shape (n, d)
        Rows (NaN where missing), shifted by the same centre as ``means``.
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    variances : ndarray of shape (K, d)
    """
    seen = ~np.isnan(U)
    Uz = np.where(seen, U, 0.0)
    iv = 1.0 / variances
    quad = (Uz * Uz) @ iv.T - 2.0 * Uz @ (means * iv).T + seen @ (means * means * iv).T
    return np.log(weights)[None, :] - 0.5 * (quad + seen @ np.log(2.0 * math.pi * variances).T)


def diag_statistics(U, index, sample_weight, weights, means, variances, covariance_type, centre):
    """Sufficient statistics of rows with missing entries for 'diag' and 'spherical' covariances.

    Given the component, a missing entry is ``N(mu_kj, v_kj)`` whatever the
    observed ones, so ``xhat_kj = mu_kj`` and ``C_k = diag(v_km)``: the
    statistics are products of the responsibilities with the masked rows.

    Parameters
    ----------
    U : ndarray of shape (n, d)
        Rows shifted by ``centre`` (NaN where missing).
    index : ndarray of shape (n,)
        Their row numbers (for ``worst_index``).
    sample_weight : ndarray of shape (n,) or None
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
        Unshifted.
    variances : ndarray of shape (K, d)
    covariance_type : {'diag', 'spherical'}
    centre : ndarray of shape (d,)
    """
    K, d = means.shape
    mc = means - centre
    total = None
    for a in range(0, len(U), GROUP_ROWS):
        Ub = U[a : a + GROUP_ROWS]
        lp = diag_log_prob(Ub, weights, mc, variances)
        sw = None if sample_weight is None else sample_weight[a : a + GROUP_ROWS]
        R, ll = _with_weights(lp, sw)
        seen = ~np.isnan(Ub)
        Uz = np.where(seen, Ub, 0.0)
        RM = R.T @ (~seen).astype(np.float64)
        nk = R.sum(axis=0)
        s1 = R.T @ Uz + mc * RM
        s2 = R.T @ (Uz * Uz) + (mc * mc + variances) * RM
        part = _stats(nk, s1, s2, ll, sw, index[a : a + GROUP_ROWS], centre, K, d)
        total = part if total is None else total + part
    return total


def diag_posterior(X, weights, means, variances):
    """Responsibilities of rows with missing entries under diagonal covariances, shape (n, K)."""
    c = np.nanmean(means, axis=0)
    R, _ = _with_weights(diag_log_prob(X - c, weights, means - c, variances), None)
    return R


class IncompleteRows:
    """Rows with missing entries, sorted by pattern, for repeated E-steps (a fit or a batch).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The rows (NaN where missing); every row has a missing entry.
    index : ndarray of shape (n,)
        Their row numbers in the caller's data (for ``worst_index``).
    sample_weight : ndarray of shape (n,) or None
    """

    def __init__(self, X, index, sample_weight):
        mask = np.isnan(X)
        # large patterns first: the rows of small ones are then contiguous and go through one shared path
        groups = sorted(missing_patterns(mask), key=lambda g: -len(g[1]))
        order = np.concatenate([rows for _, rows in groups])
        self.X = X[order]
        self.index = np.asarray(index)[order]
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[order]
        self.missing = np.array([mask[rows[0]] for _, rows in groups])
        sizes = [len(rows) for _, rows in groups]
        self.bounds = np.concatenate([[0], np.cumsum(sizes)])
        self.groups = [
            (observed, np.arange(self.bounds[i], self.bounds[i + 1])) for i, (observed, _) in enumerate(groups)
        ]
        small = [i for i, n in enumerate(sizes) if n < SMALL_PATTERN]
        self.n_large = small[0] if small else len(sizes)  # patterns [0, n_large) each get their own product
        self.pattern_of_row = np.repeat(np.arange(len(sizes)), sizes)
        self._centre = None

    def _shifted(self, centre):
        if self._centre is None or not np.array_equal(self._centre, centre):
            self._U = np.nan_to_num(self.X - centre, nan=0.0)
            self._centre = np.array(centre)
        return self._U

    # long: the E-step of every missing-data pattern shares its intermediate arrays (T_k, M_k, the v products); split, they would travel through a dozen arguments
    def statistics(self, weights, means, covariances, covariance_type, centre, n_jobs=1, executor=None):
        """Sufficient statistics of all these rows about ``centre``, in float64.

        Every completed row is an affine map of the row's observed part, the
        same for all rows of a pattern: with ``u = x_o - c_o`` and ``v = (1,
        u)``, ``xhat_k - c = T_k v``.  So one product of the responsibilities
        with the products ``v_i v_j`` gives ``M_k = sum_n r_nk v v^T`` per
        pattern and component, and ``s1_k = T_k M_k e_1``, ``s2_k = T_k M_k
        T_k^T + n_k C_k``; the log densities are the same kind of quadratic
        form in ``v``.  When the components sit so far from the centre that the
        form would lose digits, the rows are completed one by one instead
        (:func:`pattern_statistics_direct`).
        """
        K, d = means.shape
        if covariance_type in ("diag", "spherical"):
            variances = np.diagonal(covariances, axis1=1, axis2=2)
            return diag_statistics(
                self.X - centre, self.index, self.sample_weight, weights, means, variances, covariance_type, centre
            )
        log_norm, prec, regress, cond_cov = batched_conditionals(weights, means, covariances, self.missing)
        obs = ~self.missing
        e = (means[None] - centre) * obs[:, None, :]  # (P, K, d)
        Pe = np.einsum("pkij,pkj->pki", prec, e)
        ePe = np.einsum("pki,pki->pk", e, Pe)
        if float(ePe.max()) * np.finfo(np.float64).eps > _QUAD_BUDGET:  # far from the centre: complete row by row
            full = covariances
            parts = [
                pattern_statistics_direct(
                    self.X, rows, observed, self.sample_weight, weights, means, full, covariance_type, centre
                )
                for observed, rows in self.groups
            ]
            total = parts[0]
            for p in parts[1:]:
                total = total + p
            return SufficientStats(
                total.nk,
                total.s1,
                total.s2,
                total.loglik,
                total.weight,
                total.centre,
                total.worst_value,
                int(self.index[total.worst_index]),
            )
        G = np.zeros((len(self.missing), K, d + 1, d + 1))
        G[:, :, 0, 0] = ePe
        G[:, :, 0, 1:] = -Pe
        G[:, :, 1:, 0] = -Pe
        G[:, :, 1:, 1:] = prec
        (iu0, iu1), twice = _triu_pairs(d + 1)
        coef = np.swapaxes(G[:, :, iu0, iu1] * twice, 1, 2)  # (P, p, K)
        U = self._shifted(centre)
        jobs = [
            (i, a, min(a + GROUP_ROWS, self.bounds[i + 1]))
            for i in range(self.n_large)
            for a in range(self.bounds[i], self.bounds[i + 1], GROUP_ROWS)
        ]
        jobs += [(None, a, min(a + GROUP_ROWS, len(U))) for a in range(self.bounds[self.n_large], len(U), GROUP_ROWS)]

        def one(job):
            i, a, b = job
            V = np.empty((b - a, d + 1))
            V[:, 0] = 1.0
            V[:, 1:] = U[a:b]
            Q = V[:, iu0] * V[:, iu1]
            if i is not None:  # one pattern: one product for all rows
                lp = log_norm[i][None, :] - 0.5 * (Q @ coef[i])
            else:  # rows of many small patterns: each row with its pattern's coefficients
                pid = self.pattern_of_row[a:b]
                lp = log_norm[pid] - 0.5 * np.einsum("np,npk->nk", Q, coef[pid])
            sw = None if self.sample_weight is None else self.sample_weight[a:b]
            R, ll = _with_weights(lp, sw)
            if sw is None:
                loglik, weight, llw = float(ll.sum()), float(b - a), ll
            else:
                loglik, weight = float(ll @ sw), float(sw.sum())
                llw = np.where(sw > 0, ll, np.inf)
            j = int(np.argmin(llw))
            if i is not None:
                moments = R.T @ Q
            else:
                starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
                moments = (pid[starts], np.add.reduceat(R[:, :, None] * Q[:, None, :], starts, axis=0))
            return i, moments, loglik, weight, float(llw[j]), a + j

        packed = np.zeros((len(self.missing), K, len(iu0)))
        loglik = weight = 0.0
        worst = (math.inf, -1)
        for i, pk, ll, w, wv, wi in parallel_map(one, jobs, n_jobs, executor=executor):
            if i is None:
                packed[pk[0]] += pk[1]
            else:
                packed[i] += pk
            loglik += ll
            weight += w
            if wv < worst[0]:
                worst = (wv, wi)
        M = np.empty((len(self.missing), K, d + 1, d + 1))
        M[:, :, iu0, iu1] = packed
        M[:, :, iu1, iu0] = packed
        # the affine maps xhat_k - c = T v, per pattern and component
        T = np.zeros((len(self.missing), K, d, d + 1))
        T[:, :, :, 1:] = regress + np.eye(d) * obs[:, None, None, :]
        T[:, :, :, 0] = ((means[None] - centre) - np.einsum("pkij,pkj->pki", regress, e)) * self.missing[:, None, :]
        nk_p = M[:, :, 0, 0]  # (P, K)
        nk = nk_p.sum(axis=0)
        s1 = np.einsum("pkij,pkj->ki", T, M[:, :, :, 0])
        if covariance_type in ("full", "tied"):
            s2 = np.einsum("pkij,pkjl,pkml->kim", T, M, T, optimize=True)
            s2 += np.einsum("pk,pkij->kij", nk_p, cond_cov)
            if covariance_type == "tied":
                s2 = s2.sum(axis=0)
        else:
            s2 = np.einsum("pkij,pkjl,pkil->ki", T, M, T, optimize=True)
            s2 += np.einsum("pk,pkii->ki", nk_p, cond_cov)
        return SufficientStats(
            nk,
            s1,
            s2,
            loglik,
            weight,
            np.broadcast_to(centre, (K, d)),
            worst[0],
            int(self.index[worst[1]]) if worst[1] >= 0 else -1,
        )


def pattern_log_prob(X, rows, observed, weights, means, covariances):
    """``log w_k + log N(x_o | k)`` for rows of one pattern, shape (len(rows), K)."""
    cond = Conditionals(weights, means, covariances, observed)
    return cond.log_prob(X[np.ix_(rows, observed)].astype(np.float64))[0]


def pattern_entropy(X, rows, observed, weights, means, covariances):
    """Posterior-weighted entropy of the missing part given the observed part, for rows of one pattern, shape (len(rows),)."""
    cond = Conditionals(weights, means, covariances, observed)
    lp, _ = cond.log_prob(X[np.ix_(rows, observed)].astype(np.float64))
    R, _ = _with_weights(lp, None)
    dm = len(cond.m)
    logdet = np.linalg.slogdet(cond.cond_cov)[1]
    return R @ (0.5 * (dm * (1.0 + _LOG_2PI) + logdet))


def pattern_impute(X, rows, observed, weights, means, covariances):
    """Posterior-weighted conditional means of the missing entries of rows of one pattern, shape (len(rows), n_missing)."""
    cond = Conditionals(weights, means, covariances, observed)
    Xo = X[np.ix_(rows, observed)].astype(np.float64)
    lp, D = cond.log_prob(Xo)
    R, _ = _with_weights(lp, None)
    filled = cond.completed(Xo, D)[:, :, cond.m]  # (K, n, dm)
    return np.einsum("nk,knd->nd", R, filled), cond.m


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
        s2n = (
            stats.s2
            + s1[:, :, None] * a[:, None, :]
            + a[:, :, None] * s1[:, None, :]
            + nk[:, None, None] * a[:, :, None] * a[:, None, :]
        )
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
    return SufficientStats(
        nk, s1n, s2n, stats.loglik, stats.weight, np.broadcast_to(centre, c.shape), stats.worst_value, stats.worst_index
    )
