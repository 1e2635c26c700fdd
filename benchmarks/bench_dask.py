"""The Dask engine on a Parquet dataset larger than comfortable, against the in-memory engine's per-row rate.

    python benchmarks/bench_dask.py                      # 100 million rows x 8 float32 (~3.2 GB of Parquet)
    python benchmarks/bench_dask.py --rows 10000000      # smaller

Writes the dataset once under --dir (reused when present), starts a
LocalCluster of 2 single-threaded worker processes, and runs --iters EM
iterations (K=8, full covariance, tol=0) from the same initial parameters as
an in-memory fit of the first --mem-rows rows.  Reports seconds per
iteration, rows per second for both engines and their ratio, and the peak
resident memory of the client plus all workers (sampled every 0.1 s).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np


def make_dataset(root, rows, d, k, rows_per_file=2_000_000, seed=0):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    stamp = root / f"_rows_{rows}_d{d}"
    if stamp.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    for f in root.glob("*.parquet"):
        f.unlink()
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(k, d)).astype(np.float32)
    scales = rng.uniform(0.5, 1.5, size=(k, d)).astype(np.float32)
    for i, start in enumerate(range(0, rows, rows_per_file)):
        n = min(rows_per_file, rows - start)
        z = rng.integers(0, k, n)
        X = centres[z] + rng.standard_normal((n, d), dtype=np.float32) * scales[z]
        table = pa.table({f"x{j}": X[:, j] for j in range(d)})
        pq.write_table(table, root / f"part-{i:04d}.parquet", row_group_size=500_000)
    stamp.touch()
    return root


class PeakRSS:
    """Peak resident memory of this process and its children."""

    def __init__(self, every=0.1):
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.peak = 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except Exception:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.every)

    def __enter__(self):
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--mem-rows", type=int, default=2_000_000)
    ap.add_argument("--dir", default="/tmp/gmm_apps_bench_parquet")
    ap.add_argument("--memory-limit", default="1.5GB", help="per Dask worker")
    ap.add_argument(
        "--spark",
        action="store_true",
        help="also Spark MLlib's GaussianMixture in local[2] mode (needs Java + pyspark)",
    )
    ap.add_argument("--spark-only", action="store_true", help="only the Spark run (on the same dataset)")
    args = ap.parse_args(argv)

    import pyarrow.parquet as pq

    from gmm_apps.core import GaussianMixture
    from gmm_apps.core.distributed import DaskGaussianMixture, connect, parquet_array

    t0 = time.perf_counter()
    root = make_dataset(args.dir, args.rows, args.features, args.k)
    print(
        f"dataset: {args.rows:,} rows x {args.features} float32 in {root} ({time.perf_counter() - t0:.0f} s to prepare)"
    )
    if args.spark_only:
        return spark_run(root, args)

    # in-memory reference on the first rows, and the shared starting point
    first = sorted(Path(root).glob("*.parquet"))
    Xm = np.concatenate(
        [pq.read_table(f).to_pandas().to_numpy(np.float32) for f in first[: max(1, args.mem_rows // 2_000_000)]]
    )
    Xm = Xm[: args.mem_rows]
    start = GaussianMixture(args.k, random_state=0, max_iter=1, tol=1e9, dtype=np.float32).fit(Xm[:200_000])
    init = dict(
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        dtype=np.float32,
        tol=0.0,
        max_iter=args.iters,
    )
    import warnings

    warnings.simplefilter("ignore")
    mem = GaussianMixture(args.k, **init)
    t = time.perf_counter()
    mem.fit(Xm)
    mem_iter = (time.perf_counter() - t) / args.iters
    mem_rate = len(Xm) / mem_iter
    print(f"in-memory engine: {len(Xm):,} rows, {mem_iter:.3f} s/iteration = {mem_rate / 1e6:.1f} M rows/s")
    del Xm

    with PeakRSS() as peak, connect(n_workers=2, threads_per_worker=1, memory_limit=args.memory_limit) as client:
        X = parquet_array(str(root / "*.parquet"), dtype=np.float32)
        t = time.perf_counter()
        gm = DaskGaussianMixture(args.k, client=client, **init).fit(X)
        total = time.perf_counter() - t
    per_iter = float(np.median(gm.iteration_seconds_))
    rate = args.rows / per_iter
    print(
        f"Dask engine: {X.numblocks[0]} blocks, {per_iter:.2f} s/iteration (median of {len(gm.iteration_seconds_)}), "
        f"{rate / 1e6:.1f} M rows/s = {100 * rate / mem_rate:.0f}% of the in-memory rate; whole fit {total:.1f} s "
        f"(incl. one pass for the global moments); final mean log-likelihood {gm.lower_bound_:.6f}"
    )
    print(f"peak resident memory, client + workers: {peak.peak / 2**30:.2f} GiB")
    if args.spark:
        spark_run(root, args)


def spark_run(root, args):
    """Spark MLlib (DataFrame API) on the same Parquet, local[2]; its own random start (no initial model in ml)."""
    try:
        from pyspark.ml.clustering import GaussianMixture as SparkGMM
        from pyspark.ml.feature import VectorAssembler
        from pyspark.sql import SparkSession
    except ImportError:
        print("Spark: pyspark not installed; skipped")
        return
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("gmm_apps-bench")
        .config("spark.driver.memory", "3g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        df = spark.read.parquet(str(root))
        data = VectorAssembler(inputCols=df.columns, outputCol="features").transform(df).select("features")
        SparkGMM(k=args.k, maxIter=1, tol=0.0, seed=0).fit(data)  # warm-up (JIT, file listing)
        times = {}
        for iters in (1, 1 + args.iters):
            t = time.perf_counter()
            model = SparkGMM(k=args.k, maxIter=iters, tol=0.0, seed=0).fit(data)
            times[iters] = time.perf_counter() - t
        per_iter = (times[1 + args.iters] - times[1]) / args.iters
        ll = model.summary.logLikelihood / args.rows
        print(
            f"Spark MLlib GaussianMixture (local[2]): {per_iter:.2f} s/iteration "
            f"({args.rows / per_iter / 1e6:.1f} M rows/s), final mean log-likelihood {ll:.6f} "
            f"after {1 + args.iters} iterations from its own random start"
        )
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
