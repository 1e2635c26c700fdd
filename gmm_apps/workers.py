"""Work spread over processes for any pipeline: a Dask client, a local process pool, or this process.

:func:`map_jobs` runs a function over jobs and yields the results in order.
The local pool is the part that needs care, and it is here so that every
pipeline gets it: workers start from a quiet fork server (not ``fork``, which
can deadlock in OpenMP / BLAS), run one BLAS thread each, ignore the
terminal's Ctrl-C (the run stops them), die with the run even after a
SIGKILL, never re-run the caller's ``__main__``, and are terminated when the
run fails or is interrupted.  A worker's output goes nowhere: a job whose
messages matter logs them under :func:`collected` and returns them, and the
run says them again with :func:`say_again`, so that its log reads as if the
jobs had run one after another in it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import select
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


@contextlib.contextmanager
def map_jobs(fn, jobs, n_jobs, *, client=None, preload=()):
    """Context manager giving an iterator over ``fn(job)`` for every job, in order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers).
    jobs : list
    n_jobs : int
        Worker processes at most (also capped by the jobs and the cores); 1 runs here.
    client : dask.distributed.Client, optional
        Run on this client instead (one task per job).
    preload : list of str
        Modules the fork server imports once, so each worker starts with them loaded.

    Yields
    ------
    results : iterator
        Leaving the block early (an error, Ctrl-C) cancels what has not run and stops the workers.
    """
    with contextlib.ExitStack() as stack:
        workers = pool_size(n_jobs, len(jobs))
        if client is not None:
            futures = client.map(fn, jobs, pure=False)
            stack.callback(client.cancel, futures)
            yield (f.result() for f in futures)
        elif workers > 1:
            # not "fork": a forked child inherits OpenMP / BLAS thread pools mid-state and can deadlock in k-means
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            ctx = mp.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload(list(preload))
                _start_quiet_forkserver()
            pool = ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_single_threaded_worker, initargs=(os.getpid(),)
            )
            stack.enter_context(pool)
            stack.push(lambda typ, exc, tb: _stop_pool(pool) if typ is not None else None)
            with _main_not_rerun():  # every worker starts while the jobs are submitted
                futures = [pool.submit(fn, job) for job in jobs]
            yield _in_order_failing_fast(futures)
        else:
            yield (fn(j) for j in jobs)


class Said(logging.Handler):
    """What a job logs in a worker process (logger, level, message), to be said again by the run
    (:func:`say_again`): a worker's own output goes nowhere, so its messages would be lost.  Only the records of
    the thread that made it: a Dask worker runs several jobs at once, in threads."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []
        self._thread = threading.get_ident()

    def emit(self, record):
        if record.thread == self._thread:
            self.messages.append((record.name, record.levelno, record.getMessage()))


#: the jobs collecting their messages at once in this process, and the loggers' settings before the first
_collecting = {"jobs": 0, "saved": None}
_collecting_lock = threading.Lock()


@contextlib.contextmanager
def collected(said, names=("gmm_apps", "py.warnings")):
    """Within the block, what the loggers ``names`` log goes to ``said`` (a :class:`Said`), every level, and
    not on to the process's own handlers; Python's warnings among it."""
    loggers = [logging.getLogger(name) for name in names]
    with _collecting_lock:
        if not _collecting["jobs"]:
            _collecting["saved"] = [(lg.level, lg.propagate) for lg in loggers]
            logging.captureWarnings(True)
            for lg in loggers:
                lg.propagate = False  # not printed again by the worker (whose stderr goes nowhere)
                lg.setLevel(logging.DEBUG)
        _collecting["jobs"] += 1
        for lg in loggers:
            lg.addHandler(said)
    try:
        yield said
    finally:
        with _collecting_lock:
            for lg in loggers:
                lg.removeHandler(said)
            _collecting["jobs"] -= 1
            if not _collecting["jobs"]:
                for lg, (level, propagate) in zip(loggers, _collecting["saved"]):
                    lg.setLevel(level)
                    lg.propagate = propagate


def say_again(messages):
    """Log here what a worker's job logged (:class:`Said`), each by its own logger and level."""
    for name, level, message in messages:
        logging.getLogger(name).log(level, "%s", message)


def pool_size(n_jobs, n):
    """How many worker processes :func:`map_jobs` starts for ``n`` jobs (1: none, the jobs run here): at most
    ``n_jobs``, the jobs and the cores, and none inside a worker (whose cores are taken)."""
    return 1 if _in_worker else min(n_jobs, n, os.cpu_count() or 1)


def _in_order_failing_fast(futures):
    """The futures' results in order, but a job's error as soon as it happens, not when its turn comes
    (a broken file among the last jobs would otherwise wait for every slow job before it)."""
    for f in futures:
        while not f.done():
            wait([f, *(g for g in futures if not g.done())], return_when=FIRST_COMPLETED)
            failed = next((g for g in futures if g.done() and g.exception() is not None), None)
            if failed is not None:
                failed.result()
        yield f.result()


#: whether this process is a worker of :func:`map_jobs` (a batch's run there starts no workers of its own)
_in_worker = False


def _single_threaded_worker(run_pid=None):
    """Initialiser of the worker processes (images, a batch of runs): one BLAS / OpenMP thread each, and quiet stops.

    The workers already use every core between them; a BLAS pool per worker
    on top of that oversubscribes the cores and made two workers slower than one.
    A Ctrl-C to the terminal's process group is the parent's to handle (it stops
    the workers), so workers ignore SIGINT; a worker also ends when the run's
    process dies, even by SIGKILL.
    """
    global _in_worker
    _in_worker = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if run_pid is not None:
        _exit_with(run_pid)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # libraries loaded later
    from threadpoolctl import threadpool_limits  # start-up time: only when a worker pool starts

    threadpool_limits(1)  # libraries already loaded


def _exit_with(pid):
    """End this worker process as soon as process ``pid`` (the run) is gone, even after a SIGKILL.

    The workers are children of multiprocessing's fork server, not of the run,
    and a worker blocked on its task queue never notices that the run died;
    a daemon thread waits on the run's process instead.
    """

    def watch():
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            os._exit(1)
        except (AttributeError, OSError):  # no pidfd (old kernel, not Linux): poll
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    os._exit(1)
                except PermissionError:
                    pass
                threading.Event().wait(0.5)
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="gmm-apps-parent-watch", daemon=True).start()


def _start_quiet_forkserver():
    """Start multiprocessing's fork server (and resource tracker) with stderr sent to /dev/null.

    Workers fork from the server and inherit its stderr.  Their results and
    errors come back to this process through the pool, so nothing is lost;
    but a worker that was starting when the run was stopped would otherwise
    print a traceback of its own under the run's one-line message.
    """
    from multiprocessing import forkserver  # POSIX only: the forkserver start method

    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        forkserver.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _stop_pool(pool):
    """Stop a process pool now: pending jobs cancelled, running workers terminated."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()


@contextlib.contextmanager
def _main_not_rerun():
    """Start workers without re-running the caller's ``__main__``.

    Spawned and forkserver children normally import the main script again, so
    a script calling :func:`gmm_apps.run` without an ``if __name__ ==
    "__main__":`` guard would start the run again inside every worker (and the
    pool would break).  The workers run gmm_apps functions only, so they are
    started with the main module's file and spec hidden.
    """
    main = sys.modules.get("__main__")
    saved = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
    try:
        if main is not None:
            main.__spec__ = None
            if "__file__" in saved:
                del main.__file__
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)
