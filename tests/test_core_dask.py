"""The Dask engine on a real LocalCluster (2 worker processes) against the in-memory engine."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")

from gmm_apps.core import GaussianMixture  # noqa: E402
from gmm_apps.core.distributed import DaskGaussianMixture, connect, parquet_array  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with connect(n_workers=2, threads_per_worker=1, memory_limit="1GB") as c:
        yield c


def data(n=24_000, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [5, 1, -2], [-3, 4, 2]], float)
    z = rng.integers(0, 3, n)
    return centres[z] + rng.normal(size=(n, 3)) * np.array([1.0, 0.5, 1.5])[None, :] * (1 + z[:, None] * 0.3)


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_same_start_same_model(client, ct):
    X = data()
    start = GaussianMixture(3, covariance_type=ct, random_state=4, max_iter=1, tol=1e9).fit(X)
    params = dict(
        covariance_type=ct,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        tol=1e-12,
        max_iter=40,
    )
    mem = GaussianMixture(3, **params).fit(X)
    dsk = DaskGaussianMixture(3, client=client, **params).fit(da.from_array(X, chunks=(5_000, 3)))
    assert dsk.n_iter_ == mem.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        a, b = getattr(mem, name), getattr(dsk, name)
        assert np.max(np.abs(a - b)) <= 1e-8 * max(1.0, np.max(np.abs(a))), name
    assert dsk.lower_bound_ == pytest.approx(mem.lower_bound_, rel=1e-10)


def test_default_fit_finds_the_generating_clusters_and_predicts_lazily(client):
    X = data(30_000, seed=1)
    Xd = da.from_array(X, chunks=(4_000, 3))
    dsk = DaskGaussianMixture(3, client=client, random_state=0, init_sample_size=3_000, order_by="mean").fit(Xd)
    assert np.allclose(np.sort(dsk.means_[:, 0]), [-3, 0, 5], atol=0.1)
    labels = dsk.predict(Xd)
    assert isinstance(labels, da.Array) and labels.chunks[0] == Xd.chunks[0]
    local = dsk.to_local()
    assert np.array_equal(labels.compute(), local.predict(X))
    proba = dsk.predict_proba(Xd)
    assert proba.shape == (30_000, 3) and np.allclose(proba.sum(axis=1).compute(), 1.0)
    assert np.allclose(dsk.score_samples(Xd).compute(), local.score_samples(X))
    assert dsk.score(Xd) == pytest.approx(local.score(X))


def test_parquet_dataset(client, tmp_path):
    import pandas as pd

    X = data(12_000, seed=2).astype(np.float32)
    for i in range(3):
        pd.DataFrame(X[i * 4000 : (i + 1) * 4000], columns=list("abc")).to_parquet(tmp_path / f"part{i}.parquet")
    Xd = parquet_array(str(tmp_path / "*.parquet"), dtype=np.float32)
    assert Xd.shape == (12_000, 3) and Xd.dtype == np.float32
    start = GaussianMixture(3, random_state=0, max_iter=1, tol=1e9, dtype=np.float32).fit(X)
    params = dict(
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        tol=1e-6,
        max_iter=30,
        dtype=np.float32,
    )
    mem = GaussianMixture(3, **params).fit(X)
    dsk = DaskGaussianMixture(3, client=client, **params).fit(Xd)
    assert np.allclose(mem.means_, dsk.means_, rtol=1e-4, atol=1e-4)


def test_refuses_sample_weight(client):
    with pytest.raises(ValueError, match="sample_weight"):
        DaskGaussianMixture(2, client=client).fit(data(100), sample_weight=np.ones(100))
