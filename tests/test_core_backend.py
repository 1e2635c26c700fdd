"""The engine's seam: the backend shown in docs/engine.md runs, and matches the in-memory engine."""

import re
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pytest

from gmm_apps.core import GaussianMixture
from gmm_apps.core.backend import FitState, Params

DOC = Path(__file__).resolve().parents[1] / "docs" / "engine.md"


def _doc_backend():
    text = DOC.read_text()
    section = text[text.index("## Writing a backend") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) < 60
    namespace = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def doc():
    return _doc_backend()


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("init_sample_size", [20_000, 120])
def test_the_documented_backend_fits_what_the_engine_fits_on_the_stacked_blocks(doc, covariance_type, init_sample_size):
    rng = np.random.default_rng(3)
    blocks = [rng.normal(m, s, (n, 3)) for m, s, n in ((0.0, 1.0, 250), (5.0, 0.5, 90), (-4.0, 2.0, 400))]
    kw = dict(covariance_type=covariance_type, random_state=7, n_init=2, init_sample_size=init_sample_size)
    ours = doc["BlockListMixture"](3, **kw).fit(blocks)
    ref = GaussianMixture(3, **kw).fit(np.concatenate(blocks))
    assert ours.n_iter_ == ref.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-9, atol=1e-12)
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-12)


def test_the_documented_example_recovers_its_generating_means(doc):
    gm = doc["gm"]
    np.testing.assert_allclose(gm.means_.mean(axis=1), [0.0, 4.0, 8.0], atol=0.2)
    assert gm.converged_


@pytest.mark.parametrize("missing", [False, True])
def test_no_fit_time_state_stays_on_the_estimator(missing):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2))
    if missing:
        X[::7, 1] = np.nan
    gm = GaussianMixture(2, random_state=0, chunk_size=500, n_jobs=2, missing="marginalize")
    gm.fit(X)
    gm.partial_fit(X[:1000])
    left = {k: type(v).__name__ for k, v in vars(gm).items() if isinstance(v, (FitState, Executor))}
    assert not left
    assert not {"_chunk", "_jobs", "_pool", "_incomplete", "_best_stats", "_fit_centre"} & set(vars(gm))


def test_params_is_a_named_tuple_of_the_four_arrays():
    gm = GaussianMixture(2, random_state=0).fit(np.random.default_rng(1).normal(size=(200, 2)))
    p = gm._current_params()
    assert isinstance(p, Params) and p._fields == ("weights", "means", "covariances", "precisions_cholesky")
    np.testing.assert_array_equal(p.means, gm.means_)
