"""The compute engine a run uses: local, or a Dask cluster (``engine:`` in every config)."""

from __future__ import annotations

import contextlib
import logging

from .errors import ConfigError

logger = logging.getLogger("gmm_apps.engine")


@contextlib.contextmanager
def dask_client(engine):
    """A ``dask.distributed`` client for an ``engine`` config section, or None when ``kind`` is local.

    Parameters
    ----------
    engine : gmm_apps.config.EngineSection

    Yields
    ------
    client : dask.distributed.Client or None
        Closed (and a LocalCluster we started shut down) on exit.
    """
    if engine.kind != "dask":
        yield None
        return
    try:
        from .core.distributed import connect
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise ConfigError(f"engine.kind: 'dask' needs dask[distributed] ({exc})") from None
    try:
        client = connect(engine.address, n_workers=engine.n_workers, memory_limit=engine.memory_limit)
    except OSError as exc:
        raise ConfigError(f"engine.address: cannot reach the Dask scheduler at {engine.address} ({exc})") from None
    logger.info("Dask engine: %s", client.dashboard_link if engine.address is None else engine.address)
    try:
        yield client
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if engine.address is None and cluster is not None:
            cluster.close()
