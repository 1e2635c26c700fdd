"""The fused chunked E/M pass: its exact fallback, threads, sampling for initialisation, memory.

Speed itself is measured in benchmarks/bench_core.py, never asserted here.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGMM

from gmm_apps.core import ConvergenceWarning as EngineConvergenceWarning
from gmm_apps.core import GaussianMixture
from gmm_apps.core._schedule import _CHUNK_BYTES
from gmm_apps.core._stats import chunk_statistics, m_step, prepare


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", EngineConvergenceWarning)
        return fn()


def tight_far_clusters(n=3000, seed=0):
    """Clusters 1e4 apart with spread 1e-2: the quadratic form would lose ~12 digits."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1e4, 0.0, 0.0], [0.0, 1e4, 0.0], [0.0, 0.0, -1e4]])
    z = rng.integers(0, 3, size=n)
    return centres[z] + rng.normal(0, 1e-2, size=(n, 3)), centres


@pytest.mark.parametrize("ct", ["full", "tied"])
def test_ill_conditioned_data_takes_the_exact_path_and_matches_sklearn(ct):
    X, centres = tight_far_clusters()
    K, d = 3, 3
    prec = np.stack([np.eye(d) * 1e4] * K) if ct == "full" else np.eye(d) * 1e4
    init = dict(weights_init=np.full(K, 1 / 3), means_init=centres + 0.01, precisions_init=prec)
    pc = np.sqrt(1e4) * (np.stack([np.eye(d)] * K) if ct == "full" else np.eye(d))
    prep = prepare(np.full(K, 1 / 3), centres, pc, ct, X.mean(0), np.float64)
    assert prep.exact and prep.conditioning > 1e10
    kw = dict(covariance_type=ct, max_iter=1, tol=0.0, reg_covar=1e-8, **init)
    ours = _quiet(lambda: GaussianMixture(K, **kw).fit(X))
    # one EM step by hand, two-pass (differences from the new means)
    from scipy.stats import multivariate_normal

    covs = np.linalg.inv(prec) if ct == "full" else [np.linalg.inv(prec)] * K
    logp = np.stack(
        [np.log(1 / 3) + multivariate_normal(init["means_init"][k], covs[k]).logpdf(X) for k in range(K)], 1
    )
    lse = np.logaddexp.reduce(logp, axis=1)
    r = np.exp(logp - lse[:, None])
    nk = r.sum(0)
    mu = (r.T @ X) / nk[:, None]
    scat = np.stack([(X - mu[k]).T @ ((X - mu[k]) * r[:, k, None]) for k in range(K)])
    want = scat / nk[:, None, None] if ct == "full" else scat.sum(0) / len(X)
    want = want + 1e-8 * np.eye(d)
    np.testing.assert_allclose(ours.means_, mu, rtol=1e-12)
    np.testing.assert_allclose(ours.covariances_, want, rtol=1e-7)
    np.testing.assert_allclose(ours.lower_bound_, lse.mean(), rtol=1e-12)
    if ct == "full":  # scikit-learn's full M-step is two-pass too
        ref = _quiet(lambda: SkGMM(K, **kw).fit(X))
        np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-7)


def test_well_conditioned_data_takes_the_fast_path():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4))
    prep = prepare(np.full(2, 0.5), rng.normal(size=(2, 4)), np.stack([np.eye(4)] * 2), "full", X.mean(0), np.float64)
    assert not prep.exact
    prep32 = prepare(np.full(2, 0.5), rng.normal(size=(2, 4)), np.stack([np.eye(4)] * 2), "full", X.mean(0), np.float32)
    assert prep32.quad.dtype == np.float32 and not prep32.exact


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_fast_and_exact_statistics_agree(ct):
    """The same E-step by the quadratic form and by differences from each mean."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(700, 5)) * 2 + 3
    K = 3
    means = rng.normal(size=(K, 5)) + 3
    A = rng.normal(size=(K, 5, 5)) * 0.2 + np.eye(5)
    pc = {"full": A, "tied": A[0], "diag": np.abs(A[:, 0]) + 0.5, "spherical": np.array([0.7, 1.0, 1.3])}[ct]
    if ct in ("full", "tied"):
        pc = np.triu(pc)
        pc[..., np.arange(5), np.arange(5)] = np.abs(pc[..., np.arange(5), np.arange(5)]) + 0.5
    w = np.array([0.2, 0.3, 0.5])
    fast = prepare(w, means, pc, ct, X.mean(0), np.float64)
    st_fast = chunk_statistics(X, None, fast)
    if ct in ("full", "tied"):
        exact = prepare(w, means, pc, ct, X.mean(0), np.float64)
        exact.exact = True
        st_exact = chunk_statistics(X, None, exact)
        assert st_fast.loglik == pytest.approx(st_exact.loglik, rel=1e-12)
        pf = m_step(st_fast, covariance_type=ct, reg_covar=0.0, eps=0.0)
        pe = m_step(st_exact, covariance_type=ct, reg_covar=0.0, eps=0.0)
        for a, b in zip(pf, pe):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # both agree with a direct computation of the log-likelihood
    from scipy.stats import multivariate_normal

    def cov_k(k):
        if ct == "full":
            P = pc[k] @ pc[k].T
        elif ct == "tied":
            P = pc @ pc.T
        elif ct == "diag":
            P = np.diag(pc[k] ** 2)
        else:
            P = np.eye(5) * pc[k] ** 2
        return np.linalg.inv(P)

    dens = sum(w[k] * multivariate_normal(means[k], cov_k(k)).pdf(X) for k in range(K))
    assert st_fast.loglik == pytest.approx(np.log(dens).sum(), rel=1e-11)


def test_threads_do_not_change_the_answer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 6)) + rng.integers(0, 4, size=(20000, 1)) * 3
    a = GaussianMixture(4, random_state=0, n_jobs=1, chunk_size=1000).fit(X)
    b = GaussianMixture(4, random_state=0, n_jobs=2, chunk_size=1000).fit(X)
    c = GaussianMixture(4, random_state=0, n_jobs=-1, chunk_size=1000).fit(X)
    for m in (b, c):
        np.testing.assert_array_equal(a.means_, m.means_)
        np.testing.assert_array_equal(a.covariances_, m.covariances_)
        assert a.lower_bound_ == m.lower_bound_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_initialisation_on_a_sample_for_large_data_is_reproducible_and_good():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, size=(5, 3))
    z = rng.integers(0, 5, size=60000)
    X = centres[z] + rng.normal(size=(60000, 3))
    kw = dict(random_state=3, order_by="mean", tol=1e-9, max_iter=1000)
    a = GaussianMixture(5, init_sample_size=5000, **kw).fit(X)
    b = GaussianMixture(5, init_sample_size=5000, **kw).fit(X)
    full = GaussianMixture(5, init_sample_size=None, **kw).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.lower_bound_ == pytest.approx(full.lower_bound_, rel=1e-9)
    np.testing.assert_allclose(a.means_, full.means_, rtol=1e-5)
    with pytest.raises(ValueError, match="init_sample_size"):
        GaussianMixture(5, init_sample_size=2).fit(X)


def test_float32_fit_keeps_float32_data_and_parameters():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 4)).astype(np.float32)
    gm = GaussianMixture(3, dtype=np.float32, random_state=0).fit(X)
    assert gm.means_.dtype == gm.covariances_.dtype == gm.precisions_cholesky_.dtype == np.float32


def test_peak_memory_is_a_chunk_not_the_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400_000, 8))
    K = 8
    init = dict(weights_init=np.full(K, 1 / K), means_init=X[:K].copy(), precisions_init=np.stack([np.eye(8)] * K))
    gm = GaussianMixture(K, max_iter=3, tol=0, n_jobs=2, **init)
    tracemalloc.start()
    _quiet(lambda: gm.fit(X))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # a few chunks' working sets (one per thread, plus the reduction), far below a copy of the data
    assert peak < 4 * _CHUNK_BYTES + 2**20
    assert peak < X.nbytes / 2
