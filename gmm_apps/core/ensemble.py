"""Many small diagonal mixtures fitted at once.

An ensemble detector fits dozens of diagonal mixtures on the same records
(several random starts per number of components) or one small mixture per
feature.  Fitted one by one, each pays the per-iteration overhead of the
general engine and of its own initialisation, and on a few thousand records
that overhead is most of the time.  Here every E-step of a whole group is one
matrix product ``[x, x**2] @ coefficients`` over all its mixtures' components,
and every M-step one product ``responsibilities.T @ [x, x**2]``.

Each mixture follows exactly the EM path it would follow on its own from the
same start (the same updates, its own convergence test, frozen once it has
converged), so :func:`fit_diagonal_starts` with one start agrees with
scikit-learn's ``GaussianMixture(covariance_type='diag')`` given the same
initial parameters.  The results are ordinary :class:`GaussianMixture` objects:
they score, save, load and continue with ``partial_fit`` as if fitted by
``GaussianMixture.fit``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import DegenerateComponentWarning, DegenerateDataError
from ._covariance import compute_precision_cholesky
from ._schedule import parallel_map, resolve_n_jobs, worker_pool
from ._stats import SufficientStats
from .backend import Params
from .mixture import GaussianMixture
from .monitor import ConvergenceMonitor

__all__ = [
    "as_slice",
    "column_log_densities",
    "diagonal_log_densities",
    "fit_diagonal_columns",
    "fit_diagonal_starts",
    "kmeans_plusplus_points",
]

_LOG_2PI = math.log(2 * math.pi)
#: rows per block of the E-step (the block's responsibilities are rows x all components of the group)
_BLOCK_BYTES = 32 * 2**20


def kmeans_plusplus_points(X, n_components, rng):
    """Indices of ``n_components`` rows chosen by k-means++ seeding (D² sampling, one candidate per step).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    n_components : int
    rng : numpy.random.Generator

    Returns
    -------
    indices : ndarray of shape (n_components,)
    """
    n = X.shape[0]
    idx = np.empty(n_components, dtype=np.intp)
    idx[0] = rng.integers(n)
    d2 = ((X - X[idx[0]]) ** 2).sum(axis=1)
    for k in range(1, n_components):
        total = d2.sum()
        if total <= 0:  # fewer distinct rows than components: the rest start as copies
            if k == len(np.unique(X[idx[:k]], axis=0)):
                warnings.warn(
                    f"{n_components} components but only {k} distinct rows: the other components start as "
                    "copies of them; use fewer components",
                    DegenerateComponentWarning,
                    stacklevel=3,
                )
            idx[k] = rng.integers(n)
        else:
            idx[k] = min(int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right")), n - 1)
        d2 = np.minimum(d2, ((X - X[idx[k]]) ** 2).sum(axis=1))
    return idx


def _rows_per_block(n, width, jobs):
    """Rows per block: the block's (rows x ``width``) float64 array within :data:`_BLOCK_BYTES`, one block per
    thread at least."""
    return int(max(1, min(max(n, 1), max(256, _BLOCK_BYTES // (8 * max(width, 1))), -(-n // jobs))))


def as_slice(idx):
    """``idx`` (sorted column indices) as a slice when it is a run, else as it is: assigning to ``a[:, slice]``
    is some thirty times faster than to ``a[:, list]`` on a tall array."""
    idx = [int(i) for i in idx]
    if idx and idx == list(range(idx[0], idx[-1] + 1)):
        return slice(idx[0], idx[-1] + 1)
    return idx


def _jobs(n, n_jobs):
    """Threads for ``n`` rows: one below 1,024 rows (thread hand-offs would cost more than they save)."""
    return resolve_n_jobs(n_jobs) if n > 1024 else 1


def _estep_blocks(XX, coef, const, M, K, pool, jobs, block):
    """Per-block E-step statistics of several mixtures whose components are the columns of ``coef``.

    ``XX`` is ``[x, x**2]`` (n, 2d); component j's log-density plus log
    weight is ``XX @ coef[:, j] + const[j]``; its mixture is ``j // K``.
    Returns the responsibilities' totals ``R.T @ 1``, ``R.T @ XX`` and each
    mixture's log-likelihood sum and lowest row log-likelihood (and its row).
    """
    n = XX.shape[0]

    def one(start):
        xb = XX[start : start + block]
        a = xb @ coef
        a += const
        a = a.reshape(len(xb), M, K)
        amax = a.max(axis=2, keepdims=True)
        a -= amax
        np.exp(a, out=a)
        s = a.sum(axis=2, keepdims=True)
        a /= s
        ll = (np.log(s) + amax)[:, :, 0]  # (b, M)
        R = a.reshape(len(xb), M * K)
        worst = ll.argmin(axis=0)
        return (
            R.sum(axis=0, dtype=np.float64),
            (R.T @ xb).astype(np.float64),
            ll.sum(axis=0, dtype=np.float64),
            ll[worst, np.arange(M)].astype(np.float64),
            worst + start,
        )

    parts = parallel_map(one, range(0, n, block), jobs, executor=pool)
    nk = sum(p[0] for p in parts)
    sx = sum(p[1] for p in parts)
    ll = sum(p[2] for p in parts)
    low = np.stack([p[3] for p in parts])
    at = np.stack([p[4] for p in parts])
    pick = low.argmin(axis=0)
    return nk, sx, ll, at[pick, np.arange(M)]


def _coefficients(w, mu, var):
    """E-step coefficients of diagonal components with weights (M, K), means and variances (M, K, d)."""
    prec = 1.0 / var
    coef = np.concatenate([mu * prec, -0.5 * prec], axis=2)  # (M, K, 2d)
    with np.errstate(divide="ignore"):
        const = (
            np.log(w) - 0.5 * (mu**2 * prec).sum(axis=2) - 0.5 * np.log(var).sum(axis=2) - 0.5 * mu.shape[2] * _LOG_2PI
        )
    return coef, const


class _Runs:
    """The EM bookkeeping of M mixtures fitted together: which still run, each one's
    :class:`ConvergenceMonitor`, the last E-step's statistics and the re-seeds."""

    def __init__(self, M, K, tol, max_iter):
        self.K = K
        self.active = np.ones(M, dtype=bool)
        self.monitors = [ConvergenceMonitor(tol, max_iter) for _ in range(M)]
        self.last = [None] * M
        self.reseeds = np.zeros(M, dtype=int)

    def m_step(self, act, nk, s1, s2, total, reg_covar):
        """Weights, means and variances from the statistics (as scikit-learn: nk + 10 eps, variance floor
        ``reg_covar``), which components collapsed, and the statistics kept as the last E-step's."""
        for j, m in enumerate(act):
            self.last[m] = (nk[j], s1[j], s2[j])
        nke = nk + 10 * np.finfo(np.float64).eps
        mu = s1 / nke[..., None]
        var = np.maximum(s2 / nke[..., None] - mu**2, 0.0) + reg_covar
        empty = (nk < 1e-6) if self.K > 1 else np.zeros(nk.shape, dtype=bool)
        return nke / np.asarray(total, dtype=np.float64).reshape(-1, 1), mu, var, empty

    def reseed(self, m, w, mu, var, dead, means, variances, X):
        """As GaussianMixture: collapsed components ``dead`` of mixture ``m`` start again at ``means`` with
        ``variances`` and weight 1/K, with a warning; an error (naming the distinct rows of ``X``) when it
        keeps happening."""
        self.reseeds[m] += len(dead)
        if self.reseeds[m] > 3 * self.K + 10:
            raise DegenerateDataError(
                f"mixture components keep collapsing: n_components={self.K} but the data has "
                f"{len(np.unique(X, axis=0))} distinct rows; use fewer components, a larger reg_covar or scale the data"
            )
        mu[dead] = means
        var[dead] = variances
        w[dead] = 1.0 / self.K
        w /= w.sum()
        warnings.warn(
            f"mixture component(s) {sorted(int(k) for k in dead)} collapsed (no data or a singular covariance) and "
            "were re-seeded; if this repeats, use fewer components, a larger reg_covar or scale the data",
            DegenerateComponentWarning,
            stacklevel=4,
        )

    def iteration(self, act, loglik, total, empty):
        """Report the mean log-likelihoods; stop the mixtures that converged (with no re-seed) or ran out."""
        lb = loglik / total
        for j, m in enumerate(act):
            mon = self.monitors[m]
            mon.report(lb[j])
            self.last[m] = (*self.last[m][:3], float(loglik[j]))
            if (mon.converged and not empty[j].any()) or mon.iter >= mon.max_iter:
                self.active[m] = False


def _em(XX, w, mu, var, *, reg_covar, tol, max_iter, n_jobs, d, rngs):
    """EM for M diagonal mixtures over the same rows ``XX = [x, x**2]`` at once; parameters are updated in place.

    Returns the bookkeeping (:class:`_Runs`): converged, iterations, the mean
    log-likelihood of each iteration and the last E-step's statistics.
    """
    M, K, _ = mu.shape
    n = XX.shape[0]
    runs = _Runs(M, K, tol, max_iter)
    jobs = _jobs(n, n_jobs)
    with worker_pool(jobs) as pool:
        while runs.active.any():
            act = np.flatnonzero(runs.active)
            coef, const = _coefficients(w[act], mu[act], var[act])
            block = _rows_per_block(n, len(act) * K, jobs)
            coef = coef.reshape(len(act) * K, 2 * d).T.astype(XX.dtype)
            nk, sx, ll, worst = _estep_blocks(XX, coef, const.ravel().astype(XX.dtype), len(act), K, pool, jobs, block)
            sx = sx.reshape(len(act), K, 2 * d)
            new_w, new_mu, new_var, empty = runs.m_step(
                act, nk.reshape(len(act), K), sx[:, :, :d], sx[:, :, d:], n, reg_covar
            )
            for j in np.flatnonzero(empty.any(axis=1)):  # the first at the least likely row, the others at random
                dead = np.flatnonzero(empty[j])
                rows = [worst[j], *rngs[act[j]].integers(0, n, len(dead) - 1)]
                gvar = np.maximum(sx[j, :, d:].sum(axis=0) / n - (sx[j, :, :d].sum(axis=0) / n) ** 2, 0.0)
                runs.reseed(
                    act[j],
                    new_w[j],
                    new_mu[j],
                    new_var[j],
                    dead,
                    XX[rows, :d].astype(np.float64),
                    gvar + reg_covar,
                    XX[:, :d],
                )
            w[act], mu[act], var[act] = new_w, new_mu, new_var
            runs.iteration(act, ll, n, empty)
    return runs


def _as_model(w, mu, var, centre, runs, m, total, **params):
    """Mixture ``m`` of ``runs`` as a fitted :class:`GaussianMixture`, finished as ``GaussianMixture.fit``
    finishes (a warning if it did not converge), with the last E-step's statistics (about ``centre``) to
    continue from."""
    K, d = mu.shape
    g = GaussianMixture(K, covariance_type="diag", **params)
    g.n_features_in_ = d
    params = Params(w, mu + centre, var, compute_precision_cholesky(var, "diag"))
    mon = runs.monitors[m]
    g._finish_fit((mon.history[-1], params, mon, runs.reseeds[m]), np.dtype(g.dtype))
    nk, s1, s2, ll = runs.last[m]
    g._start_stream(SufficientStats(nk, s1, s2, ll, total, np.broadcast_to(centre, (K, d))), centre)
    return g


def fit_diagonal_starts(
    X,
    n_components,
    random_states,
    *,
    reg_covar=1e-6,
    tol=1e-3,
    max_iter=100,
    n_jobs=None,
    init=None,
    dtype=np.float64,
    **params,
):
    """Fit one diagonal mixture per random start, all on the same records, at once.

    Each start is k-means++ seeding (``n_components`` records drawn by D²
    sampling, each the mean of a component with variance ``reg_covar`` and
    equal weight, as ``init_params='k-means++'``) followed by EM until the mean
    log-likelihood changes by less than ``tol`` or ``max_iter`` iterations.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Complete records (no NaN).
    n_components : int
    random_states : sequence of int
        One mixture per value, seeded by it.
    reg_covar, tol, max_iter, n_jobs
        As :class:`GaussianMixture`, but ``reg_covar`` must be above 0: it is
        each start's variance, and the floor that keeps a component on
        records sharing a value (a count that is often 0) from a variance of 0.
    init : tuple of arrays, optional
        ``(weights (S, K), means (S, K, d), variances (S, K, d))`` to start from
        instead of k-means++ (S = ``len(random_states)``).
    dtype : {numpy.float64, numpy.float32}
        Precision of the E-step's products (statistics are summed and
        parameters kept in float64).  float32 is 1.3 to 2 times faster
        (5,000 x 36 records, eight starts of 32 components); on centred
        records its rounding in a log-density is about 1e-7 of the
        record's squared distance in standard deviations.  Records with a
        value whose square float32 cannot hold are fitted in float64.
    **params
        Other :class:`GaussianMixture` parameters of the returned models
        (e.g. ``missing='marginalize'`` to score records with gaps).

    Returns
    -------
    models : list of GaussianMixture
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise ValueError("X must be a 2-D array of finite values")
    n, d = X.shape
    K = int(n_components)
    if K < 1 or K > n:
        raise ValueError(f"n_components must be between 1 and the number of rows ({n}), got {K}")
    _check_floor(reg_covar)
    S = len(random_states)
    centre = X.mean(axis=0)
    Xc = X - centre
    if np.dtype(dtype) == np.float32 and np.abs(Xc).max(initial=0.0) > _FLOAT32_SQUARE:
        dtype = np.float64  # a value whose square float32 cannot hold (an export's 1e25): products in float64
    XX = np.concatenate([Xc, Xc**2], axis=1).astype(dtype, copy=False)
    rngs = [np.random.default_rng(seed) for seed in random_states]  # each start's one source of randomness
    if init is None:
        w = np.full((S, K), 1.0 / K)
        mu = np.empty((S, K, d))
        for s in range(S):
            mu[s] = Xc[kmeans_plusplus_points(Xc, K, rngs[s])]
        var = np.full((S, K, d), float(reg_covar))
    else:
        w, mu, var = (np.array(a, dtype=np.float64) for a in init)
        mu = mu - centre
    runs = _em(XX, w, mu, var, reg_covar=reg_covar, tol=tol, max_iter=max_iter, n_jobs=n_jobs, d=d, rngs=rngs)
    return [
        _as_model(
            w[s],
            mu[s],
            var[s],
            centre,
            runs,
            s,
            n,
            reg_covar=reg_covar,
            tol=tol,
            max_iter=max_iter,
            random_state=seed,
            **params,
        )
        for s, seed in enumerate(random_states)
    ]


#: centred values beyond this have squares (and products with a precision) float32 cannot hold (3.4e38)
_FLOAT32_SQUARE = 1e17


def _check_floor(reg_covar):
    """The batched fitters re-seed empty components only: a variance floor above 0 keeps every other finite."""
    if not (isinstance(reg_covar, (int, float, np.floating)) and reg_covar > 0 and np.isfinite(reg_covar)):
        raise ValueError(
            f"reg_covar must be a finite number above 0 (a component on records sharing a value would have a "
            f"variance of 0), got {reg_covar!r}"
        )


def fit_diagonal_columns(X, n_components, *, reg_covar=1e-6, tol=1e-3, max_iter=100, **params):
    """Fit one 1-D mixture per column of ``X``, at once; a column's NaN are left out of its fit.

    Each column's mixture starts from components at its quantiles ``(k +
    0.5) / K`` with the column's variance over ``K**2`` and equal weights
    (deterministic: no random start), then runs EM as
    :func:`fit_diagonal_starts`.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    n_components : sequence of int
        Components of each column's mixture (at most its observed values).
    reg_covar, tol, max_iter
        As :class:`GaussianMixture`, but ``reg_covar`` must be above 0 (as
        :func:`fit_diagonal_starts`).
    **params
        Other :class:`GaussianMixture` parameters of the returned models.

    Returns
    -------
    models : list of GaussianMixture
        One per column, each with one feature.
    """
    _check_floor(reg_covar)
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    ks = [int(k) for k in n_components]
    out = [None] * d
    for K in sorted(set(ks)):  # columns with the same K form one group
        cols = [j for j in range(d) if ks[j] == K]
        for j in cols:
            x = X[:, j]
            x = x[~np.isnan(x)]
            if len(x) < max(K, 1):
                raise ValueError(f"column {j} has {len(x)} observed values; needs at least {K}")
        out_cols = _fit_columns(X[:, cols], K, reg_covar=reg_covar, tol=tol, max_iter=max_iter, params=params)
        for j, g in zip(cols, out_cols):
            out[j] = g
    return out


def _fit_columns(X, K, *, reg_covar, tol, max_iter, params):
    """1-D mixtures of K components for each column of ``X`` (elementwise EM over an (n, columns, K) array)."""
    n, c = X.shape
    seen = ~np.isnan(X)
    counts = seen.sum(axis=0).astype(np.float64)
    centre = np.nanmean(X, axis=0)
    Xc = np.where(seen, X - centre, 0.0)
    q = (np.arange(K) + 0.5) / K
    mu = np.stack([np.quantile(Xc[seen[:, j], j], q) for j in range(c)])  # (c, K)
    var = np.maximum(np.nanvar(np.where(seen, Xc, np.nan), axis=0) / K**2, 0)[:, None] + reg_covar
    var = np.broadcast_to(var, (c, K)).copy()
    w = np.full((c, K), 1.0 / K)
    runs = _Runs(c, K, tol, max_iter)
    x3 = Xc[:, :, None]
    m3 = seen[:, :, None]
    while runs.active.any():
        a = np.flatnonzero(runs.active)
        xa, ma = x3[:, a], m3[:, a]
        lp = (np.log(w[a]) - 0.5 * np.log(var[a]) - 0.5 * _LOG_2PI)[None] - 0.5 * (xa - mu[a][None]) ** 2 / var[a][None]
        amax = lp.max(axis=2, keepdims=True)
        r = np.exp(lp - amax)
        s = r.sum(axis=2, keepdims=True)
        r /= s
        r *= ma
        rowll = (np.log(s) + amax)[:, :, 0]
        ll = (rowll * ma[:, :, 0]).sum(axis=0)
        s1, s2 = (r * xa).sum(axis=0), (r * xa**2).sum(axis=0)
        new_w, new_mu, new_var, empty = runs.m_step(
            a, r.sum(axis=0), s1[:, :, None], s2[:, :, None], counts[a], reg_covar
        )
        for i in np.flatnonzero(empty.any(axis=1)):  # at the column's least likely values
            dead = np.flatnonzero(empty[i])
            x = Xc[seen[:, a[i]], a[i]]
            least = x[np.argsort(rowll[seen[:, a[i]], i], kind="stable")[: len(dead)]]
            runs.reseed(
                a[i], new_w[i], new_mu[i], new_var[i], dead, least[:, None], float(np.var(x)) + reg_covar, x[:, None]
            )
        w[a], mu[a], var[a] = new_w, new_mu[:, :, 0], new_var[:, :, 0]
        runs.iteration(a, ll, counts[a], empty)
    return [
        _as_model(
            w[j],
            mu[j][:, None],
            var[j][:, None],
            centre[j : j + 1],
            runs,
            j,
            counts[j],
            reg_covar=reg_covar,
            tol=tol,
            max_iter=max_iter,
            **params,
        )
        for j in range(c)
    ]


def diagonal_log_densities(models, X, *, n_jobs=None, exp_dtype=np.float64):
    """Log-density of each row under each of several diagonal mixtures over the same features, at once.

    Parameters
    ----------
    models : list of GaussianMixture
        Fitted, ``covariance_type='diag'``, all with ``X``'s features.
    X : ndarray of shape (n, d)
        Complete rows.

    n_jobs : int, optional
    exp_dtype : {numpy.float64, numpy.float32}
        Precision of the exponentials of ``log p_k - max_k log p_k`` (the
        products and the maximum stay float64).  float32 is three times
        faster, and a log-density then carries an absolute rounding of about
        1e-7 (relative to nothing: the largest component is exact).  Either
        way a row's value does not depend on the rows scored with it.

    Returns
    -------
    log_density : ndarray of shape (n, len(models)), float64
        Column m equals ``models[m].score_samples(X)``.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    # about a point of the models (not of the rows): a row's score does not depend on the rows scored with it
    centre = np.mean(
        [np.asarray(g.weights_, dtype=np.float64) @ np.asarray(g.means_, dtype=np.float64) for g in models], axis=0
    )
    groups = []  # mixtures with the same number of components share one product
    for K in sorted({g.n_components for g in models}):
        idx = [m for m, g in enumerate(models) if g.n_components == K]
        w = np.stack([models[m].weights_ for m in idx]).astype(np.float64)
        mu = np.stack([np.asarray(models[m].means_, dtype=np.float64) - centre for m in idx])
        var = np.stack([models[m].covariances_ for m in idx]).astype(np.float64)
        coef, const = _coefficients(w, mu, var)
        groups.append((as_slice(idx), len(idx), K, coef.reshape(len(idx) * K, 2 * d).T.copy(), const.ravel()))
    Xc = X - centre
    XX = np.concatenate([Xc, Xc**2], axis=1)
    out = np.empty((n, len(models)))
    jobs = _jobs(n, n_jobs)
    block = _rows_per_block(n, max(g[1] * g[2] for g in groups), jobs)

    def one(start):
        xb = XX[start : start + block]
        for idx, m, K, C, cst in groups:
            a = xb @ C
            a += cst
            if K == 1:
                out[start : start + block, idx] = a
                continue
            a = a.reshape(len(xb), m, K)
            amax = a.max(axis=2, keepdims=True)
            a -= amax
            with np.errstate(over="ignore"):  # a far-off value's gaps: -inf in float32, exp 0
                e = np.exp(a.astype(exp_dtype, copy=False))
            out[start : start + block, idx] = (np.log(e.sum(axis=2, keepdims=True), dtype=np.float64) + amax)[:, :, 0]

    with worker_pool(jobs) as pool:
        parallel_map(one, range(0, n, block), jobs, executor=pool)
    return out


def column_log_densities(models, X, *, n_jobs=None, exp_dtype=np.float64):
    """Log-density of each value of column j under ``models[j]`` (1-D mixtures), at once; NaN stays NaN.

    Parameters
    ----------
    models : list of GaussianMixture
        Fitted one-feature diagonal mixtures, one per column of ``X``.
    X : ndarray of shape (n, len(models))

    n_jobs : int, optional
    exp_dtype : {numpy.float64, numpy.float32}
        As :func:`diagonal_log_densities`.

    Returns
    -------
    log_density : ndarray of shape (n, len(models)), float64
        Column j equals ``models[j].score_samples(X[:, [j]])`` where observed.
    """
    X = np.asarray(X, dtype=np.float64)
    K = max(g.n_components for g in models)
    c = len(models)
    w, mu, var = np.zeros((c, K)), np.zeros((c, K)), np.ones((c, K))
    for j, g in enumerate(models):
        k = g.n_components
        w[j, :k] = g.weights_
        mu[j, :k] = np.asarray(g.means_, dtype=np.float64)[:, 0]
        var[j, :k] = np.asarray(g.covariances_, dtype=np.float64)[:, 0]
    with np.errstate(divide="ignore"):
        const = np.log(w) - 0.5 * np.log(var) - 0.5 * _LOG_2PI
    prec = 0.5 / var
    out = np.empty(X.shape)
    n = len(X)
    jobs = _jobs(n, n_jobs)
    block = _rows_per_block(n, c * K, jobs)

    def one(start):
        x = X[start : start + block, :, None]
        a = x - mu[None]
        a *= a
        a *= prec[None]
        np.subtract(const[None], a, out=a)
        amax = np.max(a, axis=2, keepdims=True)
        with np.errstate(invalid="ignore", over="ignore"):  # a far-off value's gaps: -inf in float32, exp 0
            a -= amax
            e = np.exp(a.astype(exp_dtype, copy=False))
            out[start : start + block] = (np.log(e.sum(axis=2, keepdims=True), dtype=np.float64) + amax)[:, :, 0]

    with worker_pool(jobs) as pool:
        parallel_map(one, range(0, n, block), jobs, executor=pool)
    return out
