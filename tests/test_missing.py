"""Missing values (NaN) in the engine and streaming EM, against brute-force references written here."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gmm_apps.core import GaussianMixture, load_model, save_model

TYPES = ("full", "tied", "diag", "spherical")


def mixture_data(n=400, d=4, seed=0, missing=0.25):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) * 0.6
    X = np.r_[rng.normal(size=(n // 2, d)) @ A + 3.0, rng.normal(size=(n - n // 2, d)) @ A.T - 1.0]
    Xm = X.copy()
    Xm[rng.random(X.shape) < missing] = np.nan
    keep = ~np.isnan(Xm).all(axis=1)
    return X[keep], Xm[keep]


def full_of(covariances, ct, K, d):
    if ct == "full":
        return np.array(covariances)
    if ct == "tied":
        return np.repeat(np.asarray(covariances)[None], K, axis=0)
    if ct == "diag":
        return np.array([np.diag(c) for c in covariances])
    return np.array([np.eye(d) * c for c in covariances])


def brute_force_em(X, weights, means, covs, ct, n_iter, reg_covar):
    """EM for incomplete data, one row at a time: per-row conditional Gaussians, no grouping, no shortcuts."""
    n, d = X.shape
    K = len(weights)
    eps10 = 10 * np.finfo(np.float64).eps
    logliks = []
    for _ in range(n_iter):
        R = np.zeros((n, K))
        filled = np.zeros((K, n, d))
        cond = np.zeros((K, n, d, d))
        ll = 0.0
        for i in range(n):
            o = np.flatnonzero(~np.isnan(X[i]))
            m = np.flatnonzero(np.isnan(X[i]))
            lp = np.empty(K)
            for k in range(K):
                S = covs[k]
                lp[k] = np.log(weights[k]) + multivariate_normal(means[k][o], S[np.ix_(o, o)]).logpdf(X[i, o])
                x = X[i].copy()
                if len(m):
                    B = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
                    x[m] = means[k][m] + B @ (X[i, o] - means[k][o])
                    cond[k, i][np.ix_(m, m)] = S[np.ix_(m, m)] - B @ S[np.ix_(o, m)]
                filled[k, i] = x
            ll += logsumexp(lp)
            R[i] = np.exp(lp - logsumexp(lp))
        logliks.append(ll / n)
        nk = R.sum(axis=0) + eps10
        weights = nk / nk.sum()
        means = np.einsum("nk,knd->kd", R, filled) / nk[:, None]
        scat = np.zeros((K, d, d))
        for k in range(K):
            D = filled[k] - means[k]
            scat[k] = (D * R[:, k, None]).T @ D + np.einsum("n,nij->ij", R[:, k], cond[k])
        if ct == "full":
            covs = scat / nk[:, None, None] + reg_covar * np.eye(d)
        elif ct == "tied":
            covs = np.repeat((scat.sum(axis=0) / nk.sum() + reg_covar * np.eye(d))[None], K, axis=0)
        elif ct == "diag":
            covs = np.array([np.diag(np.diag(s) / c + reg_covar) for s, c in zip(scat, nk)])
        else:
            covs = np.array([np.eye(d) * (np.trace(s) / c / d + reg_covar) for s, c in zip(scat, nk)])
    return weights, means, covs, logliks


def start(X, K, ct, seed=1):
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    means = np.nan_to_num(X[rng.choice(len(X), K, replace=False)], nan=0.0)
    var = np.nanvar(X, axis=0)
    prec = {
        "full": np.array([np.diag(1 / var)] * K),
        "tied": np.diag(1 / var),
        "diag": np.array([1 / var] * K),
        "spherical": np.full(K, 1 / var.mean()),
    }[ct]
    covs = full_of(
        {
            "full": np.array([np.diag(var)] * K),
            "tied": np.diag(var),
            "diag": np.array([var] * K),
            "spherical": np.full(K, var.mean()),
        }[ct],
        ct,
        K,
        d,
    )
    return np.full(K, 1.0 / K), means, prec, covs


@pytest.mark.parametrize("ct", TYPES)
def test_marginalize_without_nan_is_todays_engine(ct):
    X, _ = mixture_data(n=3000, seed=2)
    a = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
    b = GaussianMixture(3, covariance_type=ct, random_state=0, missing="marginalize").fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10, atol=1e-12)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("ct", TYPES)
def test_em_for_incomplete_data_matches_a_brute_force_reference(ct):
    _, Xm = mixture_data(n=120, d=4, seed=3)
    K, reg = 2, 1e-6
    w0, m0, p0, c0 = start(Xm, K, ct)
    gm = GaussianMixture(
        K,
        covariance_type=ct,
        weights_init=w0,
        means_init=m0,
        precisions_init=p0,
        tol=0,
        max_iter=6,
        reg_covar=reg,
        missing="marginalize",
        chunk_size=16,
    )
    with pytest.warns(Warning):  # tol=0 never converges
        gm.fit(Xm)
    w, m, c, ll = brute_force_em(Xm, w0, m0, c0, ct, 6, reg)
    np.testing.assert_allclose(gm.weights_, w, rtol=1e-8)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(full_of(gm.covariances_, ct, K, 4), c, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gm.lower_bounds_, ll, rtol=1e-10)
    assert np.all(np.diff(ll) > 0)  # EM on the observed-data likelihood never goes down


@pytest.mark.parametrize("ct", TYPES)
def test_scores_and_posteriors_are_the_marginal_densities_of_the_observed_features(ct):
    _, Xm = mixture_data(n=600, seed=4)
    gm = GaussianMixture(2, covariance_type=ct, random_state=0, missing="marginalize").fit(Xm)
    covs = gm.covariance_matrices()
    lp = np.array(
        [
            [
                np.log(gm.weights_[k])
                + multivariate_normal(gm.means_[k][~np.isnan(x)], covs[k][np.ix_(~np.isnan(x), ~np.isnan(x))]).logpdf(
                    x[~np.isnan(x)]
                )
                for k in range(2)
            ]
            for x in Xm[:80]
        ]
    )
    np.testing.assert_allclose(gm.score_samples(Xm[:80]), logsumexp(lp, axis=1), rtol=1e-10)
    np.testing.assert_allclose(gm.predict_proba(Xm[:80]), np.exp(lp - logsumexp(lp, axis=1)[:, None]), atol=1e-10)
    np.testing.assert_array_equal(gm.predict(Xm[:80]), lp.argmax(axis=1))
    assert gm.score(Xm) == pytest.approx(gm.score_samples(Xm).mean())
    np.testing.assert_allclose(gm.component_log_density(Xm[:80]), lp - np.log(gm.weights_), rtol=1e-10)


def test_impute_is_the_posterior_weighted_conditional_mean_and_beats_column_means():
    X, Xm = mixture_data(n=4000, d=5, seed=5, missing=0.2)
    gm = GaussianMixture(2, covariance_type="full", random_state=0, missing="marginalize").fit(Xm)
    out = gm.impute(Xm)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[~np.isnan(Xm)], Xm[~np.isnan(Xm)])
    covs = gm.covariance_matrices()
    for x, got in zip(Xm[:40], out[:40]):
        o, m = ~np.isnan(x), np.isnan(x)
        if not m.any():
            continue
        lp = np.array(
            [
                np.log(gm.weights_[k]) + multivariate_normal(gm.means_[k][o], covs[k][np.ix_(o, o)]).logpdf(x[o])
                for k in range(2)
            ]
        )
        r = np.exp(lp - logsumexp(lp))
        want = sum(
            r[k]
            * (gm.means_[k][m] + covs[k][np.ix_(m, o)] @ np.linalg.solve(covs[k][np.ix_(o, o)], x[o] - gm.means_[k][o]))
            for k in range(2)
        )
        np.testing.assert_allclose(got[m], want, rtol=1e-9)
    miss = np.isnan(Xm)
    rmse = np.sqrt(np.mean((out[miss] - X[miss]) ** 2))
    col = np.where(miss, np.nanmean(Xm, axis=0), Xm)
    rmse_col = np.sqrt(np.mean((col[miss] - X[miss]) ** 2))
    assert rmse < 0.7 * rmse_col


def test_integer_weights_are_repeated_rows_threads_and_float32():
    _, Xm = mixture_data(n=500, seed=6)
    rng = np.random.default_rng(0)
    w = rng.integers(1, 4, size=len(Xm))
    kw = dict(covariance_type="full", missing="marginalize", tol=1e-8, max_iter=300)
    init = GaussianMixture(2, random_state=0, **kw).fit(Xm)
    fixed = dict(weights_init=init.weights_, means_init=init.means_, precisions_init=init.precisions_)
    a = GaussianMixture(2, **kw, **fixed).fit(Xm, sample_weight=w)
    b = GaussianMixture(2, **kw, **fixed).fit(np.repeat(Xm, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-6)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-6, atol=1e-9)
    one = GaussianMixture(2, **kw, **fixed, n_jobs=1, chunk_size=64).fit(Xm)
    two = GaussianMixture(2, **kw, **fixed, n_jobs=2, chunk_size=64).fit(Xm)
    np.testing.assert_array_equal(one.means_, two.means_)
    f32 = GaussianMixture(2, **kw, **fixed, dtype=np.float32).fit(Xm.astype(np.float32))
    assert f32.means_.dtype == np.float32
    np.testing.assert_allclose(f32.means_, one.means_, atol=2e-3)


def test_bad_missing_data_and_modes_are_clear_errors():
    X, Xm = mixture_data(n=100, seed=7)
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(Xm)  # the default refuses NaN
    bad = Xm.copy()
    bad[17] = np.nan
    with pytest.raises(ValueError, match="row 17 has no observed feature"):
        GaussianMixture(2, missing="marginalize").fit(bad)
    col = X.copy()
    col[:, 2] = np.nan
    with pytest.raises(ValueError, match="feature 2 has no observed value"):
        GaussianMixture(2, missing="marginalize").fit(col)
    with pytest.raises(ValueError, match="missing must be"):
        GaussianMixture(2, missing="drop").fit(Xm)
    gm = GaussianMixture(2, missing="marginalize", random_state=0).fit(Xm)
    with pytest.raises(ValueError, match="row 17 has no observed feature"):
        gm.score_samples(bad)
    with pytest.raises(ValueError, match="impute needs missing='marginalize'"):
        GaussianMixture(2, random_state=0).fit(np.nan_to_num(Xm)).impute(Xm)
    assert GaussianMixture(missing="marginalize").__sklearn_tags__().input_tags.allow_nan
    assert not GaussianMixture().__sklearn_tags__().input_tags.allow_nan


def test_saved_models_keep_the_missing_mode(tmp_path):
    _, Xm = mixture_data(n=300, seed=8)
    gm = GaussianMixture(2, missing="marginalize", random_state=0).fit(Xm)
    save_model(gm, tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert back.missing == "marginalize"
    np.testing.assert_allclose(back.score_samples(Xm), gm.score_samples(Xm), rtol=1e-12)


# ------------------------------------------------------------------ streaming
def stream(n, seed, shift=None):
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 2.0], [0.0, 5.0, -2.0]])
    z = rng.integers(0, 3, n)
    X = means[z] + rng.normal(size=(n, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 0.8, 0.2], [0.0, 0.0, 0.6]])
    return X


@pytest.mark.parametrize("ct", TYPES)
def test_partial_fit_over_a_stream_reaches_the_batch_fit(ct):
    X = stream(60_000, seed=9)
    batch = GaussianMixture(3, covariance_type=ct, random_state=0, order_by="mean").fit(X)
    online = GaussianMixture(3, covariance_type=ct, random_state=0, order_by="mean")
    for part in np.array_split(X, 30):
        online.partial_fit(part)
    assert online.n_steps_ == 30 and len(online.lower_bounds_) > 29
    gap = (batch.score(X) - online.score(X)) / abs(batch.score(X))
    assert gap < 0.005
    np.testing.assert_allclose(np.sort(online.means_[:, 0]), np.sort(batch.means_[:, 0]), atol=0.05)


def test_partial_fit_with_missing_values_and_after_fit():
    X = stream(20_000, seed=10)
    Xm = X.copy()
    Xm[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    Xm = Xm[~np.isnan(Xm).all(axis=1)]
    gm = GaussianMixture(3, random_state=0, missing="marginalize")
    for part in np.array_split(Xm, 10):
        gm.partial_fit(part)
    ref = GaussianMixture(3, random_state=0).fit(X)
    assert gm.score(X) > ref.score(X) - 0.01 * abs(ref.score(X))
    fitted = GaussianMixture(3, random_state=0).fit(X[:5000])
    before = fitted.means_.copy()
    fitted.partial_fit(X[5000:6000])
    assert fitted.n_steps_ == 1 and np.abs(fitted.means_ - before).max() < 0.2  # the fit's data keeps its weight
    with pytest.raises(ValueError, match="features"):
        fitted.partial_fit(X[:10, :2])


def test_a_forgetting_factor_follows_drifting_means():
    rng = np.random.default_rng(11)
    plain = GaussianMixture(1, random_state=0)
    forget = GaussianMixture(1, random_state=0, forgetting_factor=0.5)
    for t in range(60):
        centre = np.array([0.1 * t, 0.0])
        part = centre + rng.normal(size=(500, 2))
        plain.partial_fit(part)
        forget.partial_fit(part)
    truth = np.array([0.1 * 59, 0.0])
    # an exponential average lags a steady drift by drift * f / (1 - f) = 0.1 here
    assert np.linalg.norm(forget.means_[0] - truth) < 0.25
    assert np.linalg.norm(plain.means_[0] - truth) > 1.0


def test_the_dask_engine_says_what_it_does_not_support():
    from gmm_apps.core.distributed import DaskGaussianMixture

    _, Xm = mixture_data(n=100, seed=12)
    with pytest.raises(ValueError, match="does not support missing='marginalize' yet"):
        DaskGaussianMixture(2, missing="marginalize").fit(Xm)
    with pytest.raises(ValueError, match="does not support partial_fit"):
        DaskGaussianMixture(2).partial_fit(Xm)


@pytest.mark.parametrize("ct", TYPES)
def test_a_saved_model_continues_its_stream_where_it_stopped(ct, tmp_path):
    X = stream(6000, seed=13)
    a = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X[:2000])
    a.partial_fit(X[2000:3000])
    save_model(a, tmp_path / "m.npz")
    b = load_model(tmp_path / "m.npz")
    assert b.n_steps_ == a.n_steps_ == 1
    for part in (X[3000:4500], X[4500:]):
        a.partial_fit(part)
        b.partial_fit(part)
    np.testing.assert_array_equal(b.means_, a.means_)
    np.testing.assert_array_equal(b.covariances_, a.covariances_)


@pytest.mark.parametrize("ct", TYPES)
def test_missing_entropy_is_the_posterior_weighted_conditional_entropy(ct):
    _, Xm = mixture_data(n=600, seed=14)
    gm = GaussianMixture(2, covariance_type=ct, random_state=0, missing="marginalize").fit(Xm)
    covs = gm.covariance_matrices()
    got = gm.missing_entropy(Xm[:60])
    for x, h in zip(Xm[:60], got):
        o, m = ~np.isnan(x), np.isnan(x)
        if not m.any():
            assert h == 0.0
            continue
        lp = np.array(
            [
                np.log(gm.weights_[k]) + multivariate_normal(gm.means_[k][o], covs[k][np.ix_(o, o)]).logpdf(x[o])
                for k in range(2)
            ]
        )
        r = np.exp(lp - logsumexp(lp))
        C = [
            covs[k][np.ix_(m, m)]
            - covs[k][np.ix_(m, o)] @ np.linalg.solve(covs[k][np.ix_(o, o)], covs[k][np.ix_(o, m)])
            for k in range(2)
        ]
        want = sum(r[k] * multivariate_normal(np.zeros(m.sum()), C[k]).entropy() for k in range(2))
        assert h == pytest.approx(want, rel=1e-9)
