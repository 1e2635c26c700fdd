"""The compute engine a run uses: local, or a Dask cluster (``engine:`` in every config)."""

from __future__ import annotations

import contextlib
import logging
import mmap
from pathlib import Path

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
        from .core.distributed import connect  # scale-out only: dask loads when Dask is used
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise ConfigError(f"engine.kind: 'dask' needs dask[distributed] ({exc})") from None
    try:
        client = connect(engine.address, n_workers=engine.n_workers, memory_limit=engine.memory_limit)
    except (OSError, ValueError, TimeoutError) as exc:
        if engine.address is None:
            raise ConfigError(
                f"engine: cannot start a local Dask cluster ({exc}); check engine.n_workers and engine.memory_limit"
            ) from None
        raise ConfigError(f"engine.address: cannot reach the Dask scheduler at {engine.address} ({exc})") from None
    logger.info("Dask engine: %s", client.dashboard_link if engine.address is None else engine.address)
    try:
        yield client
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if engine.address is None and cluster is not None:
            cluster.close()


def _unnamed_index_of_values(path):
    """Whether a Parquet file holds an unnamed index pandas saved that is not whole numbers (dates, text): a
    local read makes it a column, which Dask's reader would leave out."""
    import pyarrow.parquet as pq  # scale-out only: loads with Dask

    meta = pq.read_schema(path).pandas_metadata or {}
    kinds = {c.get("field_name"): c.get("pandas_type") for c in meta.get("columns", [])}
    return any(
        isinstance(i, str)
        and i.startswith("__index_level_")
        and kinds.get(i) not in ("int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8")
        for i in meta.get("index_columns", [])
    )


#: bytes counted at a time for a line number (no copy of a whole file)
_SCAN = 1 << 26


def _repeated_header_lines(path):
    """How many lines of a text file repeat its first line (its header) byte for byte, and the data row of the
    first (files joined end to end, ``cat jan.csv feb.csv``): a scan of the bytes, about a second a gigabyte."""
    with open(path, "rb") as fh:
        header = fh.readline().removeprefix(b"\xef\xbb\xbf")
        if not header.endswith(b"\n"):
            return 0, None
        try:
            view = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            return 0, None
    with view:
        needle, count, first, at = b"\n" + header, 0, None, 0
        while (at := view.find(needle, at)) != -1:
            if first is None:  # its line's number counted from the header's, 0: the data row it stands in
                first = sum(view[i : min(i + _SCAN, at + 1)].count(b"\n") for i in range(0, at + 1, _SCAN))
            count, at = count + 1, at + 1
    return count, first


#: a Dask partition's ``attrs`` key holding the rows it had in the file when :func:`dask_frame` left some out (a
#: repeated header): a pipeline naming records by their row in the file counts the next partition's from it
ROWS_READ = "gmm_apps_rows_read"


def _without_header_rows(part):
    """A Dask partition without the rows that repeat the header (:func:`~gmm_apps.table_edges.repeated_header_rows`),
    and the rows it had (``attrs[ROWS_READ]``)."""
    from .table_edges import repeated_header_rows  # pandas: loaded by pipelines reading tables

    same = repeated_header_rows(part)
    if same is None:
        return part
    out = part[~same]
    out.attrs[ROWS_READ] = len(part)
    return out


def dask_frame(path, *, chunk_rows, header_has=None, keep=(), local_if=None):
    """A delimited text or Parquet file as a Dask DataFrame, in partitions of about ``chunk_rows`` rows.

    CSV columns are read as text (``object``): typing is the pipeline's job,
    with its own error messages, and blocks cannot disagree on inferred types.
    The separator and the character encoding are decided as for a local read
    (:func:`gmm_apps.sniff.sniff_table`, :func:`gmm_apps.sniff.text_encoding`).

    Parameters
    ----------
    path : str or Path
    chunk_rows : int
    header_has : callable, optional
        Says whether a row's cells hold the columns the config names
        (:func:`gmm_apps.tabular.header_with`).
    keep : collection of str, optional
        Columns the config names; the others' row index saved with the table is left out, as a local read
        leaves it out (:func:`gmm_apps.table_edges.without_saved_index`).
    local_if : callable, optional
        Given the file's last rows (as text), whether the file is read in one process instead (a transaction
        log's total rows, which its local reader leaves out); a note under the table always is.

    Returns
    -------
    frame : dask.dataframe.DataFrame or None
        None for a file that cannot be split into blocks by byte offsets (an Excel workbook, gzip,
        UTF-16 text), whose header is not its first row (a report's title above it, or no header), that ends
        in a note under the table, or a Parquet file whose unnamed saved index holds dates or text: the caller
        reads it in one process.
    """
    import dask.dataframe as dd  # scale-out only: dask loads when Dask is used
    import pandas as pd  # loaded by pipelines reading tables

    from .sections import shows_sections  # pandas: loaded by pipelines reading tables
    from .sniff import sniff_table, text_encoding  # loaded by pipelines reading tables
    from .table_edges import BLANK_FIRST, say_repeated_headers, trailing_notes, without_saved_index  # pandas
    from .tabular import data_names, first_text_rows, header_position  # pandas: loaded by pipelines reading tables

    p = Path(path)
    kind, sep, compression = sniff_table(p)
    if kind == "parquet":  # a saved index as a local read has it (gmm_apps.table_edges.index_as_columns)
        return None if _unnamed_index_of_values(p) else dd.read_parquet(str(p), index=False)
    if kind != "text" or compression:
        return None
    encoding = text_encoding(p)
    if encoding.startswith("utf-16"):
        return None
    rows = first_text_rows(p, sep, None, encoding)
    if header_position(rows, header_has) or data_names(rows[0]):
        return None  # a title above the header, or no header: read locally, as it needs
    # block size from the mean line length of the first MiB
    with open(p, "rb") as fh:
        head = fh.read(1 << 20)
    line = max(1, len(head) // max(1, head.count(b"\n")))
    frame = dd.read_csv(
        str(p),
        sep=sep,
        encoding=encoding,
        engine="python" if len(sep) > 1 else "c",
        dtype=object,
        blocksize=max(1 << 20, line * chunk_rows),
    )
    tail = frame.partitions[max(0, frame.npartitions - 2) :].compute().tail(5)  # the last block may be short
    if trailing_notes(tail):  # a note under the table ("Downloaded from ... as of ..."): a local read leaves it out
        logger.info("%s: read in one process: it ends in a note under the table, which that read leaves out", p)
        return None
    if local_if is not None and local_if(tail):
        return None
    count, first = _repeated_header_lines(p)
    if count:  # files joined end to end: their headers left out on the workers, as a local read leaves them out
        say_repeated_headers(p, count, first)
        frame = frame.map_partitions(_without_header_rows, meta=frame._meta)
    head = pd.read_csv(
        p, sep=sep, encoding=encoding, nrows=1000, dtype=object, engine="python" if len(sep) > 1 else "c"
    )
    if shows_sections(head):  # names over their rows: read in order, the open sections carried on
        logger.info("%s: read in one process: a report in sections, read in the order of its rows", p)
        return None
    if BLANK_FIRST in frame.columns[:1] and BLANK_FIRST not in keep:  # decided on the first rows, read here
        if BLANK_FIRST not in without_saved_index(head, p).columns:  # logged once, as a local read logs it
            frame = frame.drop(columns=[BLANK_FIRST])
    return frame
