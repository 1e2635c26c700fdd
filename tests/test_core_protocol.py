"""The engine's own estimator protocol against scikit-learn's, and what it spares a run."""

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.utils._pprint import _EstimatorPrettyPrinter
from sklearn.utils.validation import check_random_state as sk_check_random_state
from sklearn.utils.validation import validate_data as sk_validate_data

from gmm_apps.core import GaussianMixture
from gmm_apps.core._estimator import check_random_state, check_sample_weight, validate_data


def _sklearn_repr(est):
    """BaseEstimator.__repr__'s printer, applied to any estimator."""
    return _EstimatorPrettyPrinter(compact=True, indent=1, indent_at_name=True, n_max_elements_to_show=30).pformat(est)


@pytest.mark.parametrize(
    "est",
    [
        GaussianMixture(),
        GaussianMixture(3, covariance_type="diag", random_state=0),
        GaussianMixture(2, order_by="weight", missing="marginalize", tol=1e-4, dtype=np.float32),
        GaussianMixture(n_components=1, covariance_type="full"),  # defaults spelt out are not shown
    ],
)
def test_repr_is_scikit_learns(est):
    assert repr(est) == _sklearn_repr(est)


def test_a_notebook_shows_scikit_learns_diagram():
    from sklearn.utils import estimator_html_repr

    def without_ids(html):
        return re.sub(r"sk-container-id-\d+|sk-estimator-id-\d+", "ID", html)

    est = GaussianMixture(3, random_state=0)
    assert without_ids(est._repr_html_()) == without_ids(estimator_html_repr(est))
    assert "GaussianMixture(n_components=3, random_state=0)" in est._repr_html_()


def test_params_round_trip_like_a_base_estimator():
    class Reference(BaseEstimator):
        def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3):
            self.n_components, self.covariance_type, self.tol = n_components, covariance_type, tol

    ours = GaussianMixture(2, covariance_type="tied", tol=1e-4)
    ref = Reference(2, covariance_type="tied", tol=1e-4)
    assert {k: ours.get_params()[k] for k in ref.get_params()} == ref.get_params()
    ours.set_params(n_components=5, tol=0.5)
    assert (ours.n_components, ours.tol) == (5, 0.5)
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'.*Valid parameters are"):
        ours.set_params(bogus=1)


@pytest.mark.parametrize(
    "X",
    [
        np.arange(12.0).reshape(6, 2),
        np.arange(12, dtype=np.float32).reshape(4, 3),
        np.array([[1.0, np.nan], [2.0, 3.0]]),
        [[1, 2], [3, 4], [5, 6]],  # a list: scikit-learn converts it
        np.arange(6).reshape(3, 2),  # integers: scikit-learn converts them
    ],
)
def test_validation_matches_scikit_learns(X):
    ours, ref = GaussianMixture(), GaussianMixture()
    got = validate_data(ours, X, reset=True, min_samples=2)
    want = sk_validate_data(
        ref, X, reset=True, dtype=[np.float64, np.float32], ensure_min_samples=2, ensure_all_finite="allow-nan"
    )
    assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)
    assert ours.n_features_in_ == ref.n_features_in_


@pytest.mark.parametrize(
    "X, reset",
    [
        (np.array([[1.0, np.inf], [2.0, 3.0]]), True),
        (np.ones((1, 2)), True),
        (np.ones((3, 0)), True),
        (np.ones(3), True),
        (np.ones((3, 5)), False),
    ],
)
def test_bad_input_gets_scikit_learns_message(X, reset):
    fitted_ours, fitted_ref = GaussianMixture(), GaussianMixture()
    fitted_ours.n_features_in_ = fitted_ref.n_features_in_ = 2
    with pytest.raises(ValueError) as ref:
        sk_validate_data(
            fitted_ref,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2,
            ensure_all_finite="allow-nan",
        )
    with pytest.raises(ValueError) as ours:
        validate_data(fitted_ours, X, reset=reset, min_samples=2)
    assert str(ours.value) == str(ref.value)


def test_sample_weights_and_random_state_as_scikit_learn():
    X = np.ones((4, 2))
    w = np.array([1.0, 0.0, 2.0, 3.0])
    assert check_sample_weight(w, X) is w
    assert np.array_equal(check_sample_weight([1, 0, 2, 3], X), w)
    for bad in (np.array([1.0, -1.0, 1.0, 1.0]), np.zeros(4), np.ones(3)):
        with pytest.raises(ValueError):
            check_sample_weight(bad, X)
    for seed in (0, 7, np.random.RandomState(3)):
        a, b = check_random_state(seed), sk_check_random_state(seed)
        assert a.randint(1000, size=5).tolist() == b.randint(1000, size=5).tolist() or a is b


def test_not_fitted_is_scikit_learns_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GaussianMixture().score_samples(np.ones((3, 2)))


def test_a_small_command_line_run_never_imports_scikit_learn(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 4))
    np.savetxt(tmp_path / "d.csv", X, delimiter=",", header="a,b,c,d", comments="")
    (tmp_path / "c.yaml").write_text("pipeline: anomaly\ndata:\n  path: d.csv\nreport:\n  plots: false\n")
    code = textwrap.dedent(
        """
        import sys
        from gmm_apps.cli import main
        rc = main(["run", "c.yaml", "--out", "run", "--quiet"])
        print(rc, sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "matplotlib"}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "0 []", out.stdout + out.stderr
    assert len((tmp_path / "run" / "scores.csv").read_text().splitlines()) == 1001


def test_adjusted_rand_score_is_scikit_learns():
    from sklearn.metrics import adjusted_rand_score as reference

    from gmm_apps.core import adjusted_rand_score

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 80))
        a = rng.integers(0, int(rng.integers(1, 6)), n)
        b = a.copy() if trial % 4 == 0 else rng.integers(0, int(rng.integers(1, 6)), n)
        assert adjusted_rand_score(a, b) == pytest.approx(reference(a, b), abs=1e-12)
    assert adjusted_rand_score(["x", "x", "y"], [2, 2, 7]) == 1.0
    with pytest.raises(ValueError, match="same rows"):
        adjusted_rand_score([0, 1], [0, 1, 1])
