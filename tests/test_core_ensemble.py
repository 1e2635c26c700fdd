"""Many diagonal mixtures fitted at once (gmm_apps.core.ensemble) against scikit-learn and the engine, one by one."""

import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmm_apps.core import (
    GaussianMixture,
    as_slice,
    column_log_densities,
    diagonal_log_densities,
    fit_diagonal_columns,
    fit_diagonal_starts,
)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(0, 1, (400, 3)), rng.normal([4, -2, 1], 0.5, (300, 3)), rng.normal(-3, 2, (100, 3))]


def _starts(X, S, K, seed=0):
    """S different starting points: weights, means (rows of X), variances."""
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(K), S)
    mu = np.stack([X[rng.choice(len(X), K, replace=False)] for _ in range(S)])
    var = rng.uniform(0.3, 2.0, (S, K, X.shape[1]))
    return w, mu, var


def _sklearn(X, w, mu, var, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkGaussianMixture(
            len(w), covariance_type="diag", weights_init=w, means_init=mu, precisions_init=1 / var, **kw
        ).fit(X)


def test_each_start_follows_scikit_learns_em_path(blobs):
    w, mu, var = _starts(blobs, 4, 3)
    models = fit_diagonal_starts(blobs, 3, [0, 1, 2, 3], reg_covar=1e-3, tol=1e-7, max_iter=400, init=(w, mu, var))
    for s, g in enumerate(models):
        ref = _sklearn(blobs, w[s], mu[s], var[s], reg_covar=1e-3, tol=1e-7, max_iter=400)
        assert g.n_iter_ == ref.n_iter_  # its own convergence test: frozen when it converged, not when the last did
        np.testing.assert_allclose(g.means_, ref.means_, atol=1e-9)
        np.testing.assert_allclose(g.covariances_, ref.covariances_, atol=1e-9)
        np.testing.assert_allclose(g.weights_, ref.weights_, atol=1e-9)
        assert g.lower_bound_ == pytest.approx(ref.lower_bound_, abs=1e-10)
        assert g.converged_ == ref.converged_
    assert len({g.n_iter_ for g in models}) > 1  # the starts really stopped at different iterations


def test_kmeans_plusplus_starts_are_reproducible_and_differ(blobs):
    a = fit_diagonal_starts(blobs, 3, [5, 6, 7], reg_covar=1e-3)
    b = fit_diagonal_starts(blobs, 3, [5, 6, 7], reg_covar=1e-3)
    for g, h in zip(a, b):
        np.testing.assert_array_equal(g.means_, h.means_)
    # a well separated mixture: every start finds the three blobs, up to the order of components
    truth = np.array([[0, 0, 0], [4, -2, 1], [-3, -3, -3]])
    for g in a:
        found = g.means_[np.argmin(((g.means_[:, None] - truth[None]) ** 2).sum(axis=2), axis=0)]
        np.testing.assert_allclose(found, truth, atol=0.5)


def test_models_continue_with_partial_fit_as_an_engine_fit_does(blobs):
    w, mu, var = _starts(blobs, 1, 3, seed=3)
    g = fit_diagonal_starts(blobs, 3, [0], reg_covar=1e-3, tol=1e-8, max_iter=60, init=(w, mu, var))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = GaussianMixture(
            3,
            covariance_type="diag",
            reg_covar=1e-3,
            tol=1e-8,
            max_iter=60,
            weights_init=w[0],
            means_init=mu[0],
            precisions_init=1 / var[0],
        ).fit(blobs)
    np.testing.assert_allclose(g.means_, e.means_, atol=1e-9)
    batch = np.random.default_rng(1).normal(2, 1, (50, 3))
    np.testing.assert_allclose(g.partial_fit(batch).means_, e.partial_fit(batch).means_, atol=1e-9)
    np.testing.assert_allclose(g.covariances_, e.covariances_, atol=1e-9)


def test_float32_products_stay_close_to_float64(blobs):
    w, mu, var = _starts(blobs, 2, 3, seed=4)
    a = fit_diagonal_starts(blobs, 3, [0, 1], reg_covar=1e-3, max_iter=30, init=(w, mu, var))
    b = fit_diagonal_starts(blobs, 3, [0, 1], reg_covar=1e-3, max_iter=30, init=(w, mu, var), dtype=np.float32)
    for g, h in zip(a, b):
        np.testing.assert_allclose(g.means_, h.means_, atol=1e-3)
        assert g.means_.dtype == np.float64


def test_columns_follow_scikit_learn_from_the_quantile_start(blobs):
    X = blobs.copy()
    X[::5, 1] = np.nan  # a column's missing values are left out of its mixture
    ks = [2, 3, 1]
    models = fit_diagonal_columns(X, ks, reg_covar=0.05, tol=1e-7, max_iter=500)
    for j, (g, k) in enumerate(zip(models, ks)):
        x = X[:, j][~np.isnan(X[:, j])]
        q = np.quantile(x, (np.arange(k) + 0.5) / k)
        v = np.full(k, np.var(x) / k**2 + 0.05)
        ref = _sklearn(x[:, None], np.full(k, 1 / k), q[:, None], v[:, None], reg_covar=0.05, tol=1e-7, max_iter=500)
        assert g.n_components == k and g.n_features_in_ == 1
        np.testing.assert_allclose(g.means_, ref.means_, atol=1e-8)
        np.testing.assert_allclose(g.covariances_, ref.covariances_, atol=1e-8)
        assert g.score(x[:, None]) == pytest.approx(ref.score(x[:, None]), abs=1e-10)


def test_batched_log_densities_equal_score_samples(blobs):
    models = fit_diagonal_starts(blobs, 4, [0, 1], reg_covar=1e-2) + fit_diagonal_starts(blobs, 1, [0])
    models += fit_diagonal_starts(blobs, 2, [3], reg_covar=1e-2)
    new = np.random.default_rng(2).normal(0, 3, (3000, 3))  # enough rows for two threads
    expected = np.column_stack([g.score_samples(new) for g in models])
    np.testing.assert_allclose(diagonal_log_densities(models, new), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(diagonal_log_densities(models, new, exp_dtype=np.float32), expected, rtol=0, atol=1e-6)
    cols = fit_diagonal_columns(blobs, [2, 3, 1], reg_covar=0.05)
    new[::7, 2] = np.nan
    got = column_log_densities(cols, new)
    for j, g in enumerate(cols):
        seen = ~np.isnan(new[:, j])
        np.testing.assert_allclose(got[seen, j], g.score_samples(new[seen, j][:, None]), rtol=1e-10)
        assert np.isnan(got[~seen, j]).all()


def test_collapsed_components_are_reseeded_with_a_warning(blobs):
    from gmm_apps.errors import DegenerateComponentWarning

    w, mu, var = _starts(blobs, 1, 3, seed=5)
    mu[0, 2] = 1e4  # a component nowhere near the data: no record is its own
    with pytest.warns(DegenerateComponentWarning, match=r"component\(s\) \[2\] collapsed"):
        g = fit_diagonal_starts(blobs, 3, [0], reg_covar=1e-3, init=(w, mu, var))[0]
    assert g.n_reseeds_ == 1 and np.abs(g.means_).max() < 10 and g.converged_
    x = np.c_[np.full(50, 1.0), np.full(50, 2.0)]
    x[::2] += 1.0  # two distinct rows, five components: the extra components start as copies, and say so
    with pytest.warns(DegenerateComponentWarning, match="only 2 distinct rows"):
        g = fit_diagonal_starts(x, 5, [0], reg_covar=1e-9)[0]
    assert np.isfinite(g.score_samples(x)).all() and g.weights_.sum() == pytest.approx(1.0)


def test_bad_arguments_are_refused(blobs):
    with pytest.raises(ValueError, match="n_components"):
        fit_diagonal_starts(blobs[:3], 5, [0])
    bad = blobs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_diagonal_starts(bad, 2, [0])
    with pytest.raises(ValueError, match="column 0"):
        fit_diagonal_columns(np.full((10, 1), np.nan), [1])
    # without a variance floor a component on records sharing a value has a variance of 0: refused up front
    counts = np.c_[np.zeros(50), np.arange(50.0)]
    for zero in (0, 0.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="reg_covar must be a finite number above 0"):
            fit_diagonal_starts(counts, 2, [0], reg_covar=zero)
        with pytest.raises(ValueError, match="reg_covar must be a finite number above 0"):
            fit_diagonal_columns(counts, [2, 2], reg_covar=zero)


def test_float32_products_give_way_to_float64_for_a_value_float32_cannot_square(blobs):
    X = blobs.copy()
    X[7, 1] = 1e25  # an export's runaway cell: its square is beyond float32 (3.4e38)
    w, mu, var = _starts(X, 2, 3, seed=4)
    kw = dict(reg_covar=0.5, max_iter=20, init=(w, mu, var))
    a = fit_diagonal_starts(X, 3, [0, 1], dtype=np.float32, **kw)
    b = fit_diagonal_starts(X, 3, [0, 1], dtype=np.float64, **kw)
    for ga, gb in zip(a, b):  # the same fit as float64 throughout, every parameter finite
        assert np.isfinite(ga.covariances_).all() and np.isfinite(ga.lower_bound_)
        np.testing.assert_array_equal(ga.means_, gb.means_)
        np.testing.assert_array_equal(ga.covariances_, gb.covariances_)


def test_as_slice():
    assert as_slice([3, 4, 5]) == slice(3, 6)
    assert as_slice([1, 3]) == [1, 3]
    assert as_slice([]) == []


def test_reseeding_bookkeeping_warns_then_refuses():
    from gmm_apps.core.ensemble import _Runs
    from gmm_apps.errors import DegenerateComponentWarning, DegenerateDataError

    runs = _Runs(2, 3, tol=1e-3, max_iter=10)
    w, mu, var = np.array([0.5, 0.5, 0.0]), np.zeros((3, 2)), np.ones((3, 2))
    with pytest.warns(DegenerateComponentWarning, match=r"\[2\] collapsed"):
        runs.reseed(1, w, mu, var, np.array([2]), np.array([[4.0, 5.0]]), np.array([2.0, 3.0]), np.zeros((5, 2)))
    np.testing.assert_allclose(w, [0.375, 0.375, 0.25])  # the new component at 1/K, then renormalised
    np.testing.assert_array_equal(mu[2], [4.0, 5.0])
    np.testing.assert_array_equal(var[2], [2.0, 3.0])
    assert runs.reseeds.tolist() == [0, 1]
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 5, axis=0)
    with pytest.warns(DegenerateComponentWarning), pytest.raises(DegenerateDataError, match="2 distinct rows"):
        for _ in range(3 * 3 + 10):  # more than 3 K + 10 re-seeds: the data cannot hold K components
            runs.reseed(1, w, mu, var, np.array([2]), np.array([[4.0, 5.0]]), np.array([2.0, 3.0]), X)
