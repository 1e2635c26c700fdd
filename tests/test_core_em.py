"""The EM engine against independent references: scikit-learn, scipy, known parameters."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGMM

from gmm_apps.core import COVARIANCE_TYPES, ConvergenceMonitor, GaussianMixture, n_parameters
from gmm_apps.core import ConvergenceWarning as EngineConvergenceWarning
from gmm_apps.core._covariance import covariance_shape
from gmm_apps.errors import DegenerateComponentWarning, DegenerateDataError

TRUE_MEANS = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [-4.0, 6.0, 3.0]])
TRUE_COVS = np.array(
    [
        [[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]],
        [[2.0, -0.5, 0.1], [-0.5, 1.0, 0.0], [0.1, 0.0, 1.5]],
        [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]],
    ]
)
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])


def draw(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    X = np.empty((n, 3))
    for k in range(3):
        idx = z == k
        X[idx] = rng.multivariate_normal(TRUE_MEANS[k], TRUE_COVS[k], size=idx.sum())
    return X, z


@pytest.fixture(scope="module")
def data():
    return draw()[0]


def _init_params(ct, d=3, K=3, seed=1):
    rng = np.random.default_rng(seed)
    means = TRUE_MEANS + rng.normal(0, 1.0, size=(K, d))
    w = np.array([0.4, 0.35, 0.25])
    if ct == "full":
        prec = np.stack([np.eye(d) * (0.5 + k) for k in range(K)])
    elif ct == "tied":
        prec = np.eye(d) * 0.7
    elif ct == "diag":
        prec = np.tile([0.5, 1.0, 1.5], (K, 1))
    else:
        prec = np.array([0.5, 1.0, 2.0])
    return dict(weights_init=w, means_init=means, precisions_init=prec)


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", EngineConvergenceWarning)
        return fn()


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_matches_sklearn_same_initial_parameters(data, ct):
    init = _init_params(ct)
    kw = dict(covariance_type=ct, max_iter=7, tol=0.0, **init)
    ours = _quiet(lambda: GaussianMixture(3, **kw).fit(data))
    ref = _quiet(lambda: SkGMM(3, **kw).fit(data))
    rtol = 1e-8
    np.testing.assert_allclose(ours.weights_, ref.weights_, rtol=rtol)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=rtol)
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=rtol)
    np.testing.assert_allclose(ours.precisions_, ref.precisions_, rtol=rtol)
    np.testing.assert_allclose(ours.precisions_cholesky_, ref.precisions_cholesky_, rtol=rtol)
    np.testing.assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=rtol)
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=rtol)
    np.testing.assert_allclose(ours.score_samples(data), ref.score_samples(data), rtol=rtol)
    np.testing.assert_allclose(ours.predict_proba(data), ref.predict_proba(data), atol=1e-10)
    assert ours.n_iter_ == ref.n_iter_ == 7


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_default_initialisations_match_sklearn_with_same_seed(data, init_params):
    kw = dict(covariance_type="full", init_params=init_params, random_state=3, max_iter=15, tol=0.0)
    ours = _quiet(lambda: GaussianMixture(3, **kw).fit(data))
    ref = _quiet(lambda: SkGMM(3, **kw).fit(data))
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=1e-9)
    assert np.array_equal(ours.predict(data), ref.predict(data))


def test_converged_fit_matches_sklearn_and_recovers_parameters(data):
    ours = GaussianMixture(3, random_state=0, tol=1e-8, max_iter=500, order_by="mean").fit(data)
    ref = SkGMM(3, random_state=0, tol=1e-8, max_iter=500).fit(data)
    assert ours.converged_ and ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=1e-9)
    # order_by='mean' sorts by the first feature: -4, 0, 5
    order = np.argsort(TRUE_MEANS[:, 0])
    np.testing.assert_allclose(ours.means_, TRUE_MEANS[order], atol=0.15)
    np.testing.assert_allclose(ours.weights_, TRUE_WEIGHTS[order], atol=0.03)
    np.testing.assert_allclose(ours.covariances_, TRUE_COVS[order], atol=0.2)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_score_samples_matches_scipy_mixture(data, ct):
    gm = GaussianMixture(3, covariance_type=ct, random_state=0).fit(data)
    K, d = gm.means_.shape
    dens = np.zeros(len(data))
    for k in range(K):
        if ct == "full":
            c = gm.covariances_[k]
        elif ct == "tied":
            c = gm.covariances_
        elif ct == "diag":
            c = np.diag(gm.covariances_[k])
        else:
            c = np.eye(d) * gm.covariances_[k]
        dens += gm.weights_[k] * multivariate_normal(gm.means_[k], c).pdf(data)
    np.testing.assert_allclose(gm.score_samples(data), np.log(dens), rtol=1e-10)
    resp = gm.predict_proba(data)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_bic_aic_use_the_parameter_count_formula(data, ct):
    gm = GaussianMixture(3, covariance_type=ct, random_state=0).fit(data)
    K, d, n = 3, 3, len(data)
    cov_params = {"full": K * d * (d + 1) / 2, "tied": d * (d + 1) / 2, "diag": K * d, "spherical": K}[ct]
    p = cov_params + K * d + K - 1
    assert gm.n_parameters() == p == n_parameters(K, d, ct)
    ll = gm.score_samples(data).sum()
    assert gm.bic(data) == pytest.approx(-2 * ll + p * np.log(n), rel=1e-12)
    assert gm.aic(data) == pytest.approx(-2 * ll + 2 * p, rel=1e-12)
    ref = SkGMM(3, covariance_type=ct, random_state=0).fit(data)
    assert gm.bic(data) == pytest.approx(ref.bic(data), rel=1e-9)
    assert gm.icl(data) >= gm.bic(data)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_log_likelihood_never_decreases(data, ct):
    gm = _quiet(
        lambda: GaussianMixture(4, covariance_type=ct, init_params="random", random_state=2, max_iter=60, tol=0).fit(
            data
        )
    )
    h = np.array(gm.monitor_.history)
    assert len(h) == 60
    assert np.all(np.diff(h) >= -1e-10 * np.abs(h[1:]))
    assert gm.monitor_.decreases == []


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_integer_sample_weight_equals_repeated_rows(ct):
    X, _ = draw(400, seed=5)
    w = np.random.default_rng(0).integers(0, 4, size=len(X))
    init = _init_params(ct)
    kw = dict(covariance_type=ct, max_iter=30, tol=0.0, **init)
    a = _quiet(lambda: GaussianMixture(3, **kw).fit(X, sample_weight=w))
    b = _quiet(lambda: GaussianMixture(3, **kw).fit(np.repeat(X, w, axis=0)))
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-10)
    # the default k-means start too, on separated data
    a = GaussianMixture(3, random_state=0).fit(X, sample_weight=w)
    b = GaussianMixture(3, random_state=0).fit(np.repeat(X, w, axis=0))
    order_a, order_b = np.argsort(a.means_[:, 0]), np.argsort(b.means_[:, 0])
    np.testing.assert_allclose(a.means_[order_a], b.means_[order_b], rtol=1e-5)


def test_float32_runs_in_single_precision_and_agrees(data):
    a = GaussianMixture(3, random_state=0, tol=1e-6, dtype=np.float64).fit(data)
    b = GaussianMixture(3, random_state=0, tol=1e-6, dtype=np.float32).fit(data)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(b, name).dtype == np.float32
    assert b.score_samples(data).dtype == np.float32
    assert b.predict_proba(data).dtype == np.float32
    assert abs(a.lower_bound_ - b.lower_bound_) <= 1e-4 * abs(a.lower_bound_)
    assert abs(a.score(data) - b.score(data)) <= 1e-4 * abs(a.score(data))


def test_float32_matches_sklearn_float32(data):
    init = _init_params("full")
    kw = dict(max_iter=10, tol=0.0, **init)
    X32 = data.astype(np.float32)
    ours = _quiet(lambda: GaussianMixture(3, dtype=np.float32, **kw).fit(X32))
    ref = _quiet(lambda: SkGMM(3, **kw).fit(X32))
    np.testing.assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=1e-5)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-4, atol=1e-4)


def test_chunking_does_not_change_the_answer(data):
    a = GaussianMixture(3, random_state=0, max_iter=5, tol=0, chunk_size=97)
    b = GaussianMixture(3, random_state=0, max_iter=5, tol=0, chunk_size=100_000)
    _quiet(lambda: a.fit(data))
    _quiet(lambda: b.fit(data))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-12)


def test_n_init_keeps_the_best_and_is_reproducible(data):
    single = [
        GaussianMixture(5, init_params="random", random_state=s, max_iter=200).fit(data).lower_bound_ for s in range(3)
    ]
    multi = GaussianMixture(5, init_params="random", n_init=3, random_state=11, max_iter=200).fit(data)
    again = GaussianMixture(5, init_params="random", n_init=3, random_state=11, max_iter=200).fit(data)
    assert multi.lower_bound_ == again.lower_bound_
    assert np.array_equal(multi.predict(data), again.predict(data))
    assert multi.lower_bound_ >= min(single) - 1e-9


def test_warm_start_continues_from_previous_fit(data):
    gm = _quiet(lambda: GaussianMixture(3, random_state=0, max_iter=2, tol=0, warm_start=True).fit(data))
    lb2 = gm.lower_bound_
    _quiet(lambda: gm.fit(data))
    assert gm.lower_bound_ > lb2
    ref = _quiet(lambda: GaussianMixture(3, random_state=0, max_iter=4, tol=0).fit(data))
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-10)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_sample_draws_from_the_model(ct):
    X, _ = draw(4000, seed=2)
    gm = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
    S, y = gm.sample(20000)
    assert S.shape == (20000, 3) and y.shape == (20000,)
    np.testing.assert_allclose(np.bincount(y, minlength=3) / 20000, gm.weights_, atol=0.02)
    for k in range(3):
        np.testing.assert_allclose(S[y == k].mean(axis=0), gm.means_[k], atol=0.1)
    assert covariance_shape(ct, 3, 3) == gm.covariances_.shape
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


def test_duplicated_rows_and_constant_feature_give_no_nan():
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(30, 2)), 20, axis=0)
    X = np.c_[X, np.full(len(X), 7.0)]  # constant feature
    gm = GaussianMixture(4, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.means_)) and np.all(np.isfinite(gm.covariances_))
    assert np.all(np.isfinite(gm.score_samples(X)))
    assert np.isfinite(gm.lower_bound_)


def test_more_components_than_distinct_rows_recovers_or_raises_clearly():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0], [10.0, 0.0]]), 50, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        with pytest.raises(DegenerateDataError, match="3 distinct rows"):
            GaussianMixture(5, random_state=0, reg_covar=1e-6, max_iter=200).fit(X)


def test_collapsed_component_is_reseeded_with_a_warning():
    X, _ = draw(600, seed=3)
    # one initial mean far from all data: it gets no responsibility and collapses
    means = np.r_[TRUE_MEANS, [[1e4, 1e4, 1e4]]]
    gm = GaussianMixture(
        4,
        means_init=means,
        weights_init=[0.3, 0.3, 0.3, 0.1],
        precisions_init=np.stack([np.eye(3)] * 4),
        random_state=0,
    )
    with pytest.warns(DegenerateComponentWarning, match="re-seeded"):
        gm.fit(X)
    assert gm.n_reseeds_ >= 1
    assert np.all(np.isfinite(gm.means_)) and gm.weights_.min() > 0.001
    assert np.all(gm.means_ < 100)


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(DegenerateDataError, match="n_components=5 is more than the 3 rows"):
        GaussianMixture(5).fit(np.arange(6.0).reshape(3, 2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(covariance_type="banana"), "covariance_type"),
        (dict(init_params="magic"), "init_params"),
        (dict(n_components=0), "n_components"),
        (dict(tol=-1), "tol"),
        (dict(dtype=np.int32), "dtype"),
        (dict(order_by="colour"), "order_by"),
        (dict(weights_init=[0.5, 0.6]), "sum to 1"),
        (dict(means_init=np.zeros((3, 2))), "means_init must have shape"),
        (dict(precisions_init=-np.ones((2, 2, 2))), "precisions_init"),
    ],
)
def test_bad_parameters_are_rejected_with_their_name(kwargs, match):
    X = np.random.default_rng(0).normal(size=(50, 2))
    kw = dict(n_components=2)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**kw).fit(X)


def test_convergence_monitor_driven_directly():
    m = ConvergenceMonitor(tol=0.01, max_iter=5)
    assert not m.converged and m.change == np.inf
    m.report(-10.0)
    assert not m.converged
    m.report(-9.0)
    assert not m.converged and m.change == pytest.approx(1.0)
    m.report(-8.995)
    assert m.converged and m.iter == 3 and not m.decreases
    m.report(-9.5)
    assert m.decreases == [(4, pytest.approx(0.505))]
    m.report(-9.5)
    assert m.done
    warm = ConvergenceMonitor(tol=0.01, max_iter=5, start=-3.0)
    warm.report(-2.999)
    assert warm.converged
