"""Ordering, alignment, model selection, persistence and scikit-learn compatibility."""

import json
import warnings
import zipfile

import numpy as np
import pytest
from model_files import rewrite_npz
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from gmm_apps.core import (
    GaussianMixture,
    align_components,
    load_model,
    order_components,
    permute_components,
    read_header,
    save_model,
    select_model,
    variational_mixture,
)
from gmm_apps.errors import ModelFileError


def blobs(n=1500, seed=0, centres=((0, 0), (6, 0), (0, 7), (8, 8))):
    rng = np.random.default_rng(seed)
    c = np.asarray(centres, dtype=float)
    z = rng.integers(0, len(c), size=n)
    return c[z] + rng.normal(0, 0.8, size=(n, 2)), z


def _expected_failures(estimator):
    if estimator.n_components == 1:
        return {}  # the default estimator passes every check
    # With K > 1 the k-means start draws different random numbers for 15 weighted
    # rows than for their repetitions; EM itself is exactly weight-equivalent
    # given the same start (test_integer_sample_weight_equals_repeated_rows).
    return {"check_sample_weight_equivalence_on_dense_data": "k-means initialisation is random, not EM"}


# The engine implements the estimator protocol without inheriting from
# BaseEstimator, so that using it never imports scikit-learn (1-2 s of start-up);
# scikit-learn warns about that once, and every check below still runs.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Estimator GaussianMixture does not inherit")
    _with_checks = parametrize_with_checks(
        [
            GaussianMixture(),
            GaussianMixture(2, covariance_type="diag", random_state=0),
            GaussianMixture(2, covariance_type="full", random_state=0, missing="marginalize"),
        ],
        expected_failed_checks=_expected_failures,
    )


@_with_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_drops_into_sklearn_pipeline_gridsearch_and_clone():
    X, _ = blobs()
    pipe = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    gs = GridSearchCV(pipe, {"gaussianmixture__n_components": [1, 2, 4]}, cv=3).fit(X)
    assert gs.best_params_["gaussianmixture__n_components"] == 4
    c = clone(GaussianMixture(3, covariance_type="tied", order_by="weight"))
    assert c.get_params()["order_by"] == "weight" and not hasattr(c, "means_")


@pytest.mark.parametrize("order_by", ["weight", "mean", 1, lambda m: -m.means_[:, 1]])
def test_order_by_gives_the_same_labels_whatever_the_seed(order_by):
    X, _ = blobs()
    labels = [GaussianMixture(4, random_state=s, order_by=order_by).fit_predict(X) for s in range(4)]
    for lab in labels[1:]:
        assert np.array_equal(lab, labels[0])
    gm = GaussianMixture(4, random_state=0, order_by=order_by).fit(X)
    if order_by == "weight":
        assert np.all(np.diff(gm.weights_) <= 0)
    elif order_by == "mean":
        assert np.all(np.diff(gm.means_[:, 0]) >= 0)
    elif order_by == 1:
        assert np.all(np.diff(gm.means_[:, 1]) >= 0)
    else:
        assert np.all(np.diff(gm.means_[:, 1]) <= 0)


def test_callback_sees_every_em_iteration_and_changes_nothing():
    X = np.r_[np.random.default_rng(0).normal(0, 1, (300, 2)), np.random.default_rng(1).normal(5, 1, (300, 2))]
    seen = []
    gm = GaussianMixture(2, random_state=0, n_init=2, callback=lambda i, lb: seen.append((i, lb))).fit(X)
    plain = GaussianMixture(2, random_state=0, n_init=2).fit(X)
    np.testing.assert_array_equal(gm.means_, plain.means_)
    iters = [i for i, _ in seen]
    assert iters[0] == 1 and iters.count(1) == 2  # counted from 1 in each of the two initialisations
    last = seen[iters.index(1, 1) :]  # the second start's iterations
    firsts = seen[: iters.index(1, 1)]
    best = last if last[-1][1] >= firsts[-1][1] else firsts
    assert [lb for _, lb in best] == pytest.approx(gm.lower_bounds_)
    assert clone(gm).callback is gm.callback


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_permute_components_relabels_consistently(ct):
    X, _ = blobs()
    gm = GaussianMixture(4, covariance_type=ct, random_state=0).fit(X)
    before_p, before_s = gm.predict_proba(X), gm.score_samples(X)
    perm = np.array([2, 0, 3, 1])
    permute_components(gm, perm)
    np.testing.assert_allclose(gm.predict_proba(X), before_p[:, perm], atol=1e-12)
    np.testing.assert_allclose(gm.score_samples(X), before_s, rtol=1e-12)
    with pytest.raises(ValueError, match="permutation"):
        permute_components(gm, [0, 0, 1, 2])


def test_align_components_recovers_a_refit_permutation():
    X, _ = blobs()
    ref = GaussianMixture(4, random_state=0).fit(X)
    X2, _ = blobs(seed=9)
    new = GaussianMixture(4, random_state=5).fit(X2)
    shuffle = np.array([3, 1, 0, 2])
    permute_components(new, shuffle)
    align_components(new, ref)
    np.testing.assert_allclose(new.means_, ref.means_, atol=0.2)
    # labels mean the same thing: agreement on the reference data
    assert (new.predict(X) == ref.predict(X)).mean() > 0.99


def test_order_components_function_matches_parameter():
    X, _ = blobs()
    a = GaussianMixture(4, random_state=1).fit(X)
    order_components(a, "mean")
    b = GaussianMixture(4, random_state=1, order_by="mean").fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)


@pytest.mark.parametrize("criterion", ["bic", "aic", "icl", "cv"])
def test_select_model_finds_the_true_k(criterion):
    X, _ = blobs()
    res = select_model(
        X, n_components=range(1, 7), covariance_types=("full", "spherical"), criterion=criterion, random_state=0
    )
    t = res.table
    assert len(t) == 12
    assert set(t.columns) >= {
        "n_components",
        "covariance_type",
        "log_likelihood",
        "n_parameters",
        "bic",
        "aic",
        "icl",
        "cv_log_likelihood",
    }
    assert res.best_model.n_components == 4
    assert res.best["n_components"] == 4
    row = t.iloc[res.best_index]
    assert row["bic"] == pytest.approx(res.best_model.bic(X))
    if criterion == "cv":
        assert t["cv_log_likelihood"].notna().all()
    else:
        assert t["cv_log_likelihood"].isna().all()
    full4 = t[(t.n_components == 4) & (t.covariance_type == "full")].iloc[0]
    assert full4["n_parameters"] == 4 * 3 + 4 * 2 + 3
    # the ranking starts at the chosen row and orders the criterion's score
    order = res.ranking()
    assert order[0] == res.best_index and sorted(order) == list(range(len(t)))
    score = t["cv_log_likelihood"].to_numpy() * -1 if criterion == "cv" else t[criterion].to_numpy()
    assert np.all(np.diff(score[order]) >= 0)


def test_select_model_is_reproducible_and_reports_progress():
    X, _ = blobs()
    calls = []
    a = select_model(
        X, n_components=[2, 4], covariance_types=["diag"], random_state=3, progress=lambda i, n: calls.append((i, n))
    )
    b = select_model(X, n_components=[2, 4], covariance_types=["diag"], random_state=3)
    assert a.table.equals(b.table)
    assert calls == [(1, 2), (2, 2)]
    with pytest.raises(ValueError, match="criterion"):
        select_model(X, criterion="likelihood")


def test_dirichlet_process_chooses_k():
    X, _ = blobs()
    m = variational_mixture(X, max_components=10, random_state=0)
    assert m.n_components == 4
    res = select_model(X, n_components=[10], covariance_types=["full", "diag"], criterion="dp", random_state=0)
    assert res.best_model.n_components == 4


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_save_load_round_trip_predicts_identically(tmp_path, ct):
    X, _ = blobs()
    gm = GaussianMixture(4, covariance_type=ct, random_state=0, dtype=np.float32).fit(X)
    path = save_model(gm, tmp_path / "m.npz", extra={"features": ["a", "b"]}, arrays={"scale": np.array([1.0, 2.0])})
    back, extra = load_model(path, with_extra=True)
    assert back.covariance_type == ct and back.dtype == np.float32
    np.testing.assert_array_equal(back.predict_proba(X), gm.predict_proba(X))
    np.testing.assert_array_equal(back.score_samples(X), gm.score_samples(X))
    assert extra["meta"] == {"features": ["a", "b"]}
    np.testing.assert_array_equal(extra["arrays"]["scale"], [1.0, 2.0])
    h = read_header(path)
    assert h["format_version"] == 2 and h["params"]["n_components"] == 4


def test_model_file_is_plain_npz_without_pickle(tmp_path):
    gm = GaussianMixture(2, random_state=0).fit(blobs()[0])
    path = save_model(gm, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(z["__header__"].tobytes())
    assert header["format"] == "gmm_apps.GaussianMixture"


def test_truncated_model_file_is_rejected(tmp_path):
    path = save_model(GaussianMixture(2, random_state=0).fit(blobs()[0]), tmp_path / "m.npz")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(path)


def test_an_edited_header_is_rejected(tmp_path):
    # the header carries names, windows, thresholds: editing any of them must be noticed
    path = save_model(
        GaussianMixture(2, random_state=0).fit(blobs()[0]),
        tmp_path / "m.npz",
        extra={"names": ["calm", "stress"], "window": 21},
    )
    rewrite_npz(path, lambda a, h: h["extra"].update(names=["stress", "calm"]))
    with pytest.raises(ModelFileError, match="header does not match its checksum"):
        load_model(path)
    path = save_model(GaussianMixture(2, random_state=0).fit(blobs()[0]), tmp_path / "m.npz")
    rewrite_npz(path, lambda a, h: a.pop("__checksum__"))
    with pytest.raises(ModelFileError, match="checksum is missing"):
        load_model(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda a, h: h["params"].update(covariance_type="diag"), "covariances_ has shape"),
        (lambda a, h: h["params"].update(covariance_type="banana"), "is not one of"),
        (lambda a, h: h["params"].update(n_components=3), "n_components 3 but 2"),
        (lambda a, h: a.update(means_=a["means_"][:, :1].copy()), "n_features_in_"),
        (lambda a, h: a.update(weights_=np.array([0.9, 0.9])), "probability vector"),
        (lambda a, h: a.update(covariances_=a["covariances_"][:1].copy()), "covariances_ has shape"),
    ],
)
def test_a_self_inconsistent_file_with_matching_checksums_is_a_model_file_error(tmp_path, edit, message):
    path = save_model(GaussianMixture(2, random_state=0).fit(blobs()[0]), tmp_path / "m.npz")
    rewrite_npz(path, edit, rechecksum=True, redigest=True)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_signed_files_with_a_key_in_the_environment(tmp_path, monkeypatch):
    gm = GaussianMixture(2, random_state=0).fit(blobs()[0])
    unsigned = save_model(gm, tmp_path / "unsigned.npz")
    monkeypatch.setenv("GMM_APPS_SIGNING_KEY", "s3cret")
    signed = save_model(gm, tmp_path / "signed.npz")
    np.testing.assert_array_equal(load_model(signed).means_, gm.means_)
    with pytest.raises(ModelFileError, match="not signed"):
        load_model(unsigned)
    # a tamperer who recomputes every checksum is still caught by the signature
    rewrite_npz(signed, lambda a, h: h["extra"].update(names=["x"]), rechecksum=True)
    with pytest.raises(ModelFileError, match="signature does not match"):
        load_model(signed)
    signed = save_model(gm, tmp_path / "signed.npz")
    monkeypatch.setenv("GMM_APPS_SIGNING_KEY", "another key")
    with pytest.raises(ModelFileError, match="signature does not match"):
        load_model(signed)
    monkeypatch.delenv("GMM_APPS_SIGNING_KEY")
    load_model(signed)  # without a key the checksums still hold


def test_version_1_files_still_load_without_a_signing_key(tmp_path, monkeypatch):
    gm = GaussianMixture(2, random_state=0).fit(blobs()[0])
    path = save_model(gm, tmp_path / "m.npz")
    rewrite_npz(path, lambda a, h: (a.pop("__checksum__"), h.update(format_version=1)))
    np.testing.assert_array_equal(load_model(path).means_, gm.means_)
    monkeypatch.setenv("GMM_APPS_SIGNING_KEY", "k")
    with pytest.raises(ModelFileError, match="not signed"):
        load_model(path)


def test_checked_array_container_round_trip_and_kind(tmp_path):
    from gmm_apps.core import load_arrays, save_arrays

    p = save_arrays(tmp_path / "d.npz", {"w": np.array([0.25, 0.75])}, format="test.Thing", meta={"t": 1.5})
    meta, arrays = load_arrays(p, format="test.Thing")
    assert meta == {"t": 1.5} and arrays["w"].tolist() == [0.25, 0.75]
    with pytest.raises(ModelFileError, match="not a test.Other file"):
        load_arrays(p, format="test.Other")
    rewrite_npz(p, lambda a, h: h["extra"].update(t=9.0))
    with pytest.raises(ModelFileError, match="checksum"):
        load_arrays(p, format="test.Thing")


def test_tampered_model_file_is_rejected(tmp_path):
    path = save_model(GaussianMixture(2, random_state=0).fit(blobs()[0]), tmp_path / "m.npz")

    def mutate(arrays, header):
        arrays["means_"] = arrays["means_"] + 1.0

    rewrite_npz(path, mutate)
    with pytest.raises(ModelFileError, match="altered"):
        load_model(path)


def test_newer_format_version_is_rejected(tmp_path):
    path = save_model(GaussianMixture(2, random_state=0).fit(blobs()[0]), tmp_path / "m.npz")
    rewrite_npz(path, lambda a, h: h.update(format_version=99))
    with pytest.raises(ModelFileError, match="newer"):
        load_model(path)


def test_pickled_object_arrays_are_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    header = np.frombuffer(
        json.dumps({"format": "gmm_apps.GaussianMixture", "format_version": 1, "arrays": {}}).encode(), dtype=np.uint8
    )
    np.savez(path, __header__=header, means_=np.array([object()], dtype=object))
    with pytest.raises(ModelFileError):
        load_model(path)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "absent.npz")
    assert zipfile.is_zipfile(path)


def test_hierarchical_init_is_ward_and_seed_free():
    from scipy.cluster.hierarchy import fcluster, linkage

    from gmm_apps.core.init import initial_responsibilities

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (150, 2)), rng.normal(7, 1, (120, 2)), rng.normal((0, 9), 1, (90, 2))]
    resp = initial_responsibilities(
        X, 3, method="hierarchical", sample_weight=None, random_state=np.random.RandomState(0)
    )
    ward = fcluster(linkage(X, "ward"), 3, criterion="maxclust") - 1
    assert np.array_equal(resp.argmax(axis=1), ward)
    fits = [GaussianMixture(3, init_params="hierarchical", random_state=s).fit(X) for s in (0, 1, 2)]
    for f in fits[1:]:
        assert np.array_equal(f.means_, fits[0].means_)
    # beyond HIERARCHICAL_ROWS an evenly spaced subset is clustered, the rest go to the nearest group mean
    big = np.repeat(X, 20, axis=0)
    r = initial_responsibilities(big, 3, method="hierarchical", sample_weight=None, random_state=None)
    assert r.sum(axis=0).min() > 1000 and np.allclose(r.sum(axis=1), 1)


def test_threshold_at_rate_bounds_the_share_passing_it_exactly():
    from gmm_apps.core import threshold_at_rate

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100, 1001):
        s = rng.normal(size=n)
        for rate in (0.01, 0.05, 0.1, 0.37, 0.5, 0.99):
            t = threshold_at_rate(s, rate)
            passing = (s >= t).mean()
            assert passing <= rate + 1e-12
            # the lowest such threshold: one step lower lets one more through
            lower = (
                np.sort(s)[s.size - int(np.floor(rate * s.size)) - 1] if s.size > np.floor(rate * s.size) else -np.inf
            )
            assert (s >= lower).mean() > rate or lower == -np.inf
    assert threshold_at_rate(np.arange(100.0), 0.1) == np.nextafter(89.0, np.inf)
    with pytest.raises(ValueError, match="no finite"):
        threshold_at_rate([np.nan], 0.1)
