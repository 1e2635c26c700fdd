"""Where the engine's work runs: row chunks, thread counts and the worker pool.

The maths (:mod:`gmm_apps.core._stats`) computes one chunk's statistics; this
module decides how many rows a chunk holds, how many threads share the chunks,
and runs them with BLAS held to one thread so the two levels of parallelism do
not oversubscribe the cores.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

#: working-set target of one chunk, in bytes (per row: d + d(d+1)/2 + 2K values)
_CHUNK_BYTES = 6 * 2**20
#: the most threads ``n_jobs=None`` uses: beyond it chunks contend for memory bandwidth
MAX_DEFAULT_JOBS = 8


def chunk_rows(n_samples, n_components, n_features, itemsize, chunk_size=None):
    """Rows per chunk: ``chunk_size`` when given, else a working set of about 6 MiB (at least 512 rows)."""
    if chunk_size is not None:
        return max(1, int(chunk_size))
    d = n_features
    per_row = (2 * d + d * (d + 1) // 2 + 3 * n_components) * itemsize
    return int(min(max(n_samples, 1), max(512, _CHUNK_BYTES // per_row)))


def resolve_n_jobs(n_jobs):
    """Threads for ``n_jobs``: None is every core up to :data:`MAX_DEFAULT_JOBS`, -1 all cores, -2 all but one."""
    if n_jobs is None:
        return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS))
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


def parallel_map(fn, items, n_jobs, *, executor=None):
    """``[fn(i) for i in items]`` on ``n_jobs`` threads (in order).

    With ``executor`` (from :func:`worker_pool`) the pool and the BLAS limit are
    reused; otherwise a pool is made for this call, BLAS limited to one thread.
    """
    items = list(items)
    if n_jobs <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    if executor is not None:
        return list(executor.map(fn, items))
    with worker_pool(n_jobs) as ex:
        return list(ex.map(fn, items))


_CONTROLLER = [None, -1]


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once per set of loaded modules.

    Looking them up scans every shared library of the process (about 7 ms); a
    detector fits dozens of small mixtures, so the scan is redone only after
    new modules (which may bring a BLAS of their own) have been imported.
    """
    from threadpoolctl import ThreadpoolController  # start-up time: only when a worker pool starts

    if _CONTROLLER[0] is None or _CONTROLLER[1] != len(sys.modules):
        _CONTROLLER[:] = [ThreadpoolController(), len(sys.modules)]
    return _CONTROLLER[0]


class worker_pool:
    """A thread pool with BLAS limited to one thread, for a whole fit.

    The engine parallelises over chunks itself; BLAS threads on top of that
    only oversubscribe the cores, and on small problems their spin-waiting
    (NumPy and SciPy each bring their own OpenBLAS) made a 6,000-row fit
    three times slower.  So BLAS runs single-threaded inside the pool's
    lifetime even when ``n_jobs`` is 1.

    Parameters
    ----------
    n_jobs : int
        Threads; with 1 the pool is None and work runs in the calling thread.
    """

    def __init__(self, n_jobs):
        self.n_jobs = n_jobs

    def __enter__(self):
        self._limits = _blas_controller().limit(limits=1, user_api="blas")
        self._ex = ThreadPoolExecutor(self.n_jobs) if self.n_jobs > 1 else None
        return self._ex

    def __exit__(self, *exc):
        if self._ex is not None:
            # after an error or an interrupt, queued chunks are dropped, not computed
            self._ex.shutdown(wait=True, cancel_futures=exc[0] is not None)
        self._limits.restore_original_limits()
        return False
