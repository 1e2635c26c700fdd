"""EM on Dask: the engine's map-reduce of sufficient statistics over row blocks on a cluster.

Each EM iteration sends the current parameters (a few kilobytes) to the
workers; every row block returns its :class:`~gmm_apps.core.SufficientStats`
(responsibilities summed, weighted sums of x and x x^T about a shared
centre, log-likelihood); the partial statistics are added in a tree and the
M-step runs on the client.  Initialisation draws a random sample of rows
(k-means on the sample, as k-means|| does), so no process ever holds all
the data.  The arithmetic is the in-memory engine's own, so with the same
initial parameters both give the same model (to rounding in the order of
the sums).

>>> from dask.distributed import Client, LocalCluster           # doctest: +SKIP
>>> client = Client(LocalCluster(n_workers=2))                   # doctest: +SKIP
>>> X = parquet_array("data/*.parquet", dtype="float32")         # doctest: +SKIP
>>> gm = DaskGaussianMixture(8, client=client).fit(X)            # doctest: +SKIP
>>> labels = gm.predict(X)            # a lazy Dask array        # doctest: +SKIP
"""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path

import numpy as np

from ..errors import DegenerateDataError
from ._estimator import check_is_fitted
from .backend import FitState, chunk_rows, map_reduce, mean_cov_from_moments, moments_about, prepare, worker_pool
from .mixture import GaussianMixture

logger = logging.getLogger("gmm_apps.core.distributed")

__all__ = ["DaskGaussianMixture", "parquet_array", "connect"]


def _dask():
    try:
        import dask  # scale-out only: dask loads when Dask is used
        import dask.array as da  # scale-out only: dask loads when Dask is used
    except ImportError:  # pragma: no cover - dask is a dependency
        raise ImportError(
            "the Dask engine needs dask[distributed]: pip install 'dask[distributed,dataframe]'"
        ) from None
    return dask, da


#: Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which also freezes glibc's mmap threshold at 128 KiB: every
#: E-step temporary is then a fresh mmap with page faults, and the statistics ran 4-5x slower in a worker
#: than in the client.  Workers we start get this threshold; start your own workers with
#: ``MALLOC_MMAP_THRESHOLD_=67108864`` in their environment for the same speed.
WORKER_MMAP_THRESHOLD = 64 * 2**20


def connect(address=None, *, n_workers=2, threads_per_worker=1, memory_limit="auto", timeout="10s"):
    """A ``dask.distributed`` client: to the scheduler at ``address``, or to a new LocalCluster.

    Parameters
    ----------
    address : str, optional
        E.g. ``tcp://10.0.0.5:8786``.  Without it a LocalCluster of
        ``n_workers`` processes is started on this machine.
    n_workers, threads_per_worker : int
    memory_limit : str or int
        Per worker, for a LocalCluster.
    timeout : str
        How long to try reaching ``address``.

    Returns
    -------
    client : dask.distributed.Client
        Close it (or use it as a context manager) when done.
    """
    import dask  # scale-out only: dask loads when Dask is used
    from dask.distributed import Client, LocalCluster  # scale-out only: dask loads when Dask is used

    if address:
        return Client(address, timeout=timeout)
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.setdefault("MALLOC_MMAP_THRESHOLD_", WORKER_MMAP_THRESHOLD)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        # a task's error reaches the client as the original exception; the workers need not log it too
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )
    return Client(cluster)


def _read_row_group(path, index, columns, dtype):
    import pyarrow.parquet as pq  # only for Parquet input

    table = pq.ParquetFile(path).read_row_group(index, columns=columns)
    out = np.empty((table.num_rows, table.num_columns), dtype=dtype)
    for j, col in enumerate(table.columns):
        out[:, j] = col.to_numpy()
    return out


def parquet_array(path, *, columns=None, dtype=np.float64):
    """A Parquet dataset (file, folder or glob) as a Dask array of rows, one block per row group.

    Nothing is read but the files' footers; each block reads its row group
    straight into NumPy when a task needs it.

    Parameters
    ----------
    path : str
    columns : list of str, optional
        Feature columns (default: all), all numeric.
    dtype : numpy dtype, default=float64

    Returns
    -------
    X : dask.array.Array of shape (n_rows, n_columns)
    """
    import pyarrow.parquet as pq  # only for Parquet input

    dask, da = _dask()
    p = Path(path)
    files = sorted(p.rglob("*.parquet")) if p.is_dir() else sorted(Path(f) for f in glob.glob(str(path)))
    if not files:
        raise FileNotFoundError(f"{path}: no Parquet files")
    blocks = []
    names = None
    for f in files:
        meta = pq.ParquetFile(f)
        schema_names = meta.schema_arrow.names
        cols = list(columns) if columns is not None else schema_names
        missing = [c for c in cols if c not in schema_names]
        if missing:
            raise KeyError(f"{f}: column(s) {missing} not found; the file has {schema_names}")
        if names is None:
            names = cols
        for g in range(meta.metadata.num_row_groups):
            n = meta.metadata.row_group(g).num_rows
            if n:
                task = dask.delayed(_read_row_group, pure=True)(str(f), g, cols, np.dtype(dtype))
                blocks.append(da.from_delayed(task, shape=(n, len(cols)), dtype=dtype))
    return da.concatenate(blocks, axis=0)


def _tree_sum(dask, parts, fan_in=8):
    add = dask.delayed(lambda *xs: sum(xs[1:], xs[0]), pure=True)
    while len(parts) > 1:
        parts = [
            add(*parts[i : i + fan_in]) if len(parts[i : i + fan_in]) > 1 else parts[i]
            for i in range(0, len(parts), fan_in)
        ]
    return parts[0]


def _block_statistics(block, prep, offset):
    """One block's sufficient statistics, in the in-memory engine's cache-sized chunks, BLAS on one thread."""
    block = np.asarray(block)
    rows = chunk_rows(block.shape[0], prep.n_components, block.shape[1], block.dtype.itemsize)
    with worker_pool(1):
        stats = map_reduce(block, None, prep, chunk_rows=rows)
    stats.worst_index += offset
    return stats


class DaskGaussianMixture(GaussianMixture):
    """:class:`GaussianMixture` whose EM runs over a Dask array's row blocks.

    Takes every parameter of :class:`GaussianMixture` (``chunk_size`` and
    ``n_jobs`` are left to Dask: one task per row block), plus:

    Parameters
    ----------
    client : dask.distributed.Client, optional
        Where to compute; default: Dask's current scheduler.
    persist : bool, default=False
        Keep the data in the workers' memory between iterations (fast, needs
        the memory); otherwise every iteration reads the blocks again (e.g.
        from Parquet).

    Attributes
    ----------
    iteration_seconds_ : list of float
        Wall time of every E-step map-reduce (the whole iteration but the
        client-side M-step), in order.

    Also every fitted attribute of :class:`GaussianMixture`.

    Notes
    -----
    ``fit``, ``predict``, ``predict_proba`` and ``score_samples`` accept a
    Dask array (NumPy arrays are wrapped in one); predictions are lazy Dask
    arrays computed block by block.  ``sample_weight``, ``missing='marginalize'``
    and ``partial_fit`` are not supported (each is a one-line ``ValueError``).
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        dtype=np.float64,
        verbose=0,
        callback=None,
        order_by=None,
        chunk_size=None,
        init_sample_size=20_000,
        n_jobs=None,
        missing="error",
        client=None,
        persist=False,
    ):
        super().__init__(
            n_components,
            covariance_type=covariance_type,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            weights_init=weights_init,
            means_init=means_init,
            precisions_init=precisions_init,
            random_state=random_state,
            warm_start=warm_start,
            dtype=dtype,
            verbose=verbose,
            callback=callback,
            order_by=order_by,
            chunk_size=chunk_size,
            init_sample_size=init_sample_size,
            n_jobs=n_jobs,
            missing=missing,
        )
        self.client = client
        self.persist = persist

    # ------------------------------------------------------------------ helpers
    def _as_dask(self, X, dtype=None):
        _, da = _dask()
        if not isinstance(X, da.Array):
            X = np.asarray(X)
            X = da.from_array(X, chunks=(max(1, min(len(X), 1_000_000)), X.shape[1] if X.ndim == 2 else 1))
        if X.ndim != 2:
            raise ValueError(f"expected a 2-D array of shape (n_samples, n_features), got {X.ndim}-D")
        if dtype is not None and X.dtype != dtype:
            X = X.astype(dtype)
        if X.chunks[1] != (X.shape[1],):
            X = X.rechunk({1: X.shape[1]})
        return X

    def _compute(self, obj):
        dask, _ = _dask()
        if self.client is not None:
            return self.client.compute(obj).result()
        return dask.compute(obj)[0]

    def _offsets(self, X):
        return np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int).tolist()

    # ------------------------------------------------------------------ fit
    def partial_fit(self, X, y=None, sample_weight=None):
        """Not supported: stream in-memory batches through :class:`GaussianMixture` (``to_local()``) instead."""
        raise ValueError(
            "DaskGaussianMixture does not support partial_fit; call partial_fit on to_local() "
            "(a GaussianMixture) with in-memory batches"
        )

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM over the row blocks of ``X``.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : must be None

        Returns
        -------
        self : DaskGaussianMixture
        """
        if sample_weight is not None:
            raise ValueError("DaskGaussianMixture does not support sample_weight")
        if self.missing != "error":
            raise ValueError(
                "DaskGaussianMixture does not support missing='marginalize' yet; fit a GaussianMixture "
                "in memory (or on a sample), or impute the missing values first"
            )
        X = self._as_dask(X)
        n_samples, n_features = X.shape
        init, dtype = self._check_params(n_features)
        X = self._as_dask(X, dtype)
        if n_samples < self.n_components:
            raise DegenerateDataError(f"n_components={self.n_components} is more than the {n_samples} rows")
        self.n_features_in_ = n_features
        if self.persist:
            X = self.client.persist(X) if self.client is not None else X.persist()
        state = FitState.start(self, n_samples, n_features, dtype)  # Dask's blocks are the chunks
        self.iteration_seconds_ = []
        logger.info(
            "Dask EM: %d rows x %d features in %d blocks, K=%d",
            n_samples,
            n_features,
            X.numblocks[0],
            self.n_components,
        )
        best = self._fit_loop(X, None, init, state)
        self._finish_fit(best, state.dtype)
        return self

    def _global_moments(self, X, sample_weight, state):
        dask, _ = _dask()
        ref = np.asarray(self._compute(X[0]), dtype=np.float64)
        parts = [dask.delayed(moments_about, pure=True)(b, ref) for b in X.to_delayed().ravel()]
        return mean_cov_from_moments(self._compute(_tree_sum(dask, parts)), ref)

    def _take_rows(self, X, sample_weight, idx):
        # only the sampled rows come to the client (all rows when the data is small)
        return np.asarray(self._compute(X if idx is None else X[idx])), None

    def _map_reduce(self, X, sample_weight, params, state):
        dask, _ = _dask()
        started = time.perf_counter()
        prep = prepare(
            params.weights, params.means, params.precisions_cholesky, self.covariance_type, state.centre, X.dtype
        )
        stat = dask.delayed(_block_statistics, pure=True)
        parts = [stat(b, prep, o) for b, o in zip(X.to_delayed().ravel(), self._offsets(X))]
        stats = self._compute(_tree_sum(dask, parts))
        self.iteration_seconds_.append(time.perf_counter() - started)
        logger.info(
            "Dask EM iteration %d: mean log-likelihood %.8g (%.2f s)",
            len(self.iteration_seconds_),
            stats.loglik / stats.weight,
            self.iteration_seconds_[-1],
        )
        return stats

    # ------------------------------------------------------------------ predict (lazy)
    def to_local(self):
        """The fitted model as an in-memory :class:`GaussianMixture` (same parameters).

        Returns
        -------
        model : GaussianMixture
        """
        check_is_fitted(self)
        local = GaussianMixture.from_parameters(
            self.weights_, self.means_, self.covariances_, covariance_type=self.covariance_type, dtype=self.dtype
        )
        for name in ("converged_", "n_iter_", "lower_bound_"):
            setattr(local, name, getattr(self, name))
        return local

    def _lazy(self, X, method, *, ncols=None, dtype=np.float64):
        X = self._as_dask(X, self.means_.dtype)
        local = self.to_local()

        def one(block):
            return getattr(local, method)(block)

        if ncols is None:
            return X.map_blocks(one, drop_axis=1, dtype=dtype)
        return X.map_blocks(one, chunks=(X.chunks[0], (ncols,)), dtype=dtype)

    def score_samples(self, X):
        """Log density of each row, as a lazy Dask array of shape (n_samples,)."""
        return self._lazy(X, "score_samples")

    def predict_proba(self, X):
        """Responsibilities, as a lazy Dask array of shape (n_samples, n_components)."""
        return self._lazy(X, "predict_proba", ncols=self.n_components)

    def predict(self, X):
        """Most probable component of each row, as a lazy Dask array of shape (n_samples,)."""
        return self._lazy(X, "predict", dtype=np.int64)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (computed)."""
        return float(self._compute(self.score_samples(X).mean()))
