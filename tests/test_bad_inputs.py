"""A corpus of bad inputs, run through the CLI against every pipeline.

Each case must end with exit status 2, exactly one line on stderr that starts with
``error:`` and names the file, key or column, no traceback, no run folder left behind,
and an earlier run at the same place intact.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from model_files import without_model_checksums

from gmm_apps import cli
from gmm_apps.paths import run_manifest
from gmm_apps.run_context import MARKER

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples"
CFG = {name: REPO / "configs" / f"{name}.yaml" for name in ("regimes", "customers", "speakers", "anomaly", "images")}
FAST = {
    "regimes": [
        "--set",
        "report.stability_seeds=1",
        "--set",
        "report.bic_candidates=[3]",
        "--set",
        "report.plots=false",
        "--set",
        "model.n_init=2",
        "--set",
        "split.holdout_start=null",
    ],
    "customers": [
        "--set",
        "report.stability_seeds=1",
        "--set",
        "report.bootstrap=0",
        "--set",
        "report.plots=false",
        "--set",
        "model.n_components=3",
    ],
    "speakers": ["--set", "report.plots=false", "--set", "model.n_components=16"],
    "anomaly": ["--set", "report.plots=false", "--set", "model.bags=0"],
    "images": ["--set", "report.plots=false", "--set", "run.n_jobs=1"],
}


def make(tmp, name, content):
    p = tmp / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return p


def zip_of(tmp, name, members):
    import zipfile

    with zipfile.ZipFile(tmp / name, "w") as z:
        for m in members:
            z.writestr(m, "a,b\n1,2\n3,4\n")
    return tmp / name


def prices_csv(tmp, name="prices.csv", n=120, mutate=None):
    from arch.data import sp500

    df = sp500.load()["Adj Close"].iloc[:n].rename("Close").to_frame()
    df.index.name = "Date"
    df = df.reset_index()
    if mutate:
        df = mutate(df)
    p = tmp / name
    df.to_csv(p, index=False)
    return p


def wav(path, seconds=0.5, sr=8000, freq=220.0):
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)
    return path


def png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


def anomaly_csv(tmp, name="ref.csv", mutate=None):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    df.insert(0, "id", [f"r{i}" for i in range(200)])
    if mutate:
        df = mutate(df)
    p = tmp / name
    df.to_csv(p, index=False)
    return p


def with_extra_cell(path, line):
    """The file with one more cell on ``line`` (1-based): a comma in an address that is not in quotes."""
    lines = path.read_text().splitlines()
    lines[line - 1] += ",Springfield"
    path.write_text("\n".join(lines) + "\n")
    return path


def odds_mat(tmp):
    from scipy.io import savemat

    savemat(tmp / "records.mat", {"X": np.random.default_rng(0).normal(size=(200, 3)), "y": np.zeros((200, 1))})
    return tmp / "records.mat"


TINY_LOG = "customer_id,date,amount\n" + "".join(
    f"{c},2020-01-{d:02d},{5 + d}\n"
    for c, days in (("x", (1, 5)), ("y", (2, 9, 20)), ("z", (3, 4, 12, 25)))
    for d in days
)


SAME_TX = "customer_id,date,amount\n" + "".join(f"c{c},2020-01-05,10\nc{c},2020-03-05,10\n" for c in range(40))


def png_header(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no pixel data (a decompression bomb's
    shape: Pillow learns the size from the header before decoding anything)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    )
    return path


def complex_mat(path):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    savemat(path, {"X": rng.normal(size=(60, 3)) + 1j * rng.normal(size=(60, 3)), "y": np.zeros((60, 1))})
    return path


#: nine anchors, each a list of nine aliases of the one before: about 387 million values once expanded
LAUGHS = "pipeline: anomaly\nreport:\n  title: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  x{i}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def _set(df, col, i, v):
    df = df.copy()
    df[col] = df[col].astype(object)
    df.loc[i, col] = v
    return df


# each case: (id, pipeline, builder(tmp) -> list of CLI overrides, or a config text via "config:")
CASES = [
    # the config itself
    ("malformed-yaml", "regimes", lambda t: {"config": "pipeline: regimes\nmodel: {n_init: 3\n"}, "malformed YAML"),
    (
        "unknown-key",
        "customers",
        lambda t: {"config": "pipeline: customers\nmodel:\n  n_compnents: 3\n"},
        "unknown key 'model.n_compnents': the pipeline has no such key (a typo, or a key of another pipeline); did "
        "you mean model.n_components?",
    ),
    ("wrong-type", "anomaly", lambda t: {"config": "pipeline: anomaly\nmodel:\n  bags: many\n"}, "model.bags"),
    ("missing-file", "regimes", lambda t: ["--set", "data.path=/nonexistent/prices.csv"], "data.path: file not found"),
    ("missing-file", "customers", lambda t: ["--set", "data.path=/nonexistent/tx.csv"], "data.path: file not found"),
    (
        "missing-file",
        "speakers",
        lambda t: ["--set", "data.enrol=/nonexistent/enrol", "--set", "data.test=null"],
        "data.enrol: file not found",
    ),
    (
        "missing-file",
        "anomaly",
        lambda t: ["--set", "data.path=/nonexistent/ref.csv", "--set", "data.score=null"],
        "data.path: file not found",
    ),
    (
        "demo-scored",
        "anomaly",
        lambda t: ["--set", "data.path=" + str(make(t, "r.csv", "a,b\n1,2\n"))],
        "set data.score: null",
    ),
    # empty, header-only, unreadable
    ("empty-file", "regimes", lambda t: ["--set", f"data.path={make(t, 'e.csv', '')}"], "e.csv: file is empty"),
    ("empty-file", "customers", lambda t: ["--set", f"data.path={make(t, 'e.csv', '')}"], "e.csv: file is empty"),
    (
        "empty-file",
        "anomaly",
        lambda t: ["--set", f"data.path={make(t, 'e.csv', '')}", "--set", "data.score=null"],
        "e.csv: file is empty",
    ),
    (
        "header-only",
        "regimes",
        lambda t: ["--set", f"data.path={make(t, 'h.csv', 'Date,Close' + chr(10))}"],
        "h.csv: no data rows",
    ),
    (
        "header-only",
        "customers",
        lambda t: ["--set", f"data.path={make(t, 'h.csv', 'customer_id,date,amount' + chr(10))}"],
        "h.csv: no transactions",
    ),
    (
        "header-only",
        "anomaly",
        lambda t: ["--set", f"data.path={make(t, 'h.csv', 'id,a,b' + chr(10))}", "--set", "data.score=null"],
        "h.csv: no records",
    ),
    (
        "binary-file",
        "customers",
        lambda t: ["--set", f"data.path={make(t, 'b.csv', bytes(range(256)) * 4)}"],
        "b.csv: not a text table (control byte 0x00 at offset 0); expected CSV",
    ),
    # columns
    (
        "misspelled-column",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t)}", "--set", "data.price_column=Clsoe"],
        "column 'Clsoe' (prices) not found",
    ),
    (
        "misspelled-column",
        "customers",
        lambda t: ["--set", f"data.path={make(t, 't.csv', 'cust,date,amount' + chr(10) + 'x,2020-01-01,5' + chr(10))}"],
        "column 'customer_id' (data.id_column) not found",
    ),
    (
        "misspelled-column",
        "anomaly",
        lambda t: ["--set", f"data.path={anomaly_csv(t)}", "--set", "data.score=null", "--set", "data.columns=[a, bb]"],
        "column 'bb' (data.columns) not found",
    ),
    # values
    (
        "non-numeric",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t, mutate=lambda d: _set(d, 'Close', 50, 'abc'))}"],
        "column 'Close' has a non-numeric value 'abc'",
    ),
    (
        "non-numeric",
        "anomaly",
        lambda t: [
            "--set",
            f"data.path={anomaly_csv(t, mutate=lambda d: _set(d, 'b', 5, 'oops'))}",
            "--set",
            "data.score=null",
            "--set",
            "data.categorical=reject",
        ],
        "column 'b' has a non-numeric value 'oops'",
    ),
    (
        "nan",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t, mutate=lambda d: _set(d, 'Close', 50, float('nan')))}"],
        "missing or infinite value",
    ),
    (
        "nan",
        "anomaly",
        lambda t: [
            "--set",
            f"data.path={anomaly_csv(t, mutate=lambda d: _set(d, 'a', 7, float('nan')))}",
            "--set",
            "data.score=null",
        ],
        "column 'a' has a missing, infinite or non-numeric value",
    ),
    (
        "infinity",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t, mutate=lambda d: _set(d, 'Close', 50, float('inf')))}"],
        "missing or infinite value",
    ),
    (
        "infinity",
        "customers",
        lambda t: [
            "--set",
            f"data.path={make(t, 't.csv', 'customer_id,date,amount' + chr(10) + 'x,2020-01-01,inf' + chr(10))}",
        ],
        "non-numeric or missing value",
    ),
    (
        "duplicated-dates",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t, mutate=lambda d: pd.concat([d.iloc[:60], d.iloc[59:]]))}"],
        "duplicated dates",
    ),
    (
        "unsorted-dates",
        "regimes",
        # newest first is read oldest first; two halves swapped are in no order
        lambda t: ["--set", f"data.path={prices_csv(t, mutate=lambda d: pd.concat([d.iloc[60:], d.iloc[:60]]))}"],
        "not in increasing order",
    ),
    ("single-row", "regimes", lambda t: ["--set", f"data.path={prices_csv(t, n=1)}"], "only 1 price row"),
    (
        "single-row",
        "anomaly",
        lambda t: ["--set", f"data.path={anomaly_csv(t, mutate=lambda d: d.iloc[:1])}", "--set", "data.score=null"],
        "only 1 reference records",
    ),
    (
        "constant-feature",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t, mutate=lambda d: d.assign(Close=100.0))}"],
        "feature 'log_return' is constant",
    ),
    (
        "more-components-than-rows",
        "customers",
        lambda t: [
            "--set",
            f"data.path={make(t, 't.csv', TINY_LOG)}",
            "--set",
            "model.n_components=5",
            "--set",
            "split.enabled=false",
            "--set",
            "features.recent_weeks=1",
        ],
        "fewer than every model.n_components",
    ),
    # audio
    (
        "corrupt-wav",
        "speakers",
        lambda t: (
            shutil.copytree(SAMPLES / "fsdd_sample" / "enrol", t / "enrol"),
            make(t / "enrol", "3_theo_99.wav", b"RIFF....WAVEjunk"),
            ["--set", f"data.enrol={t / 'enrol'}", "--set", "data.test=null"],
        )[-1],
        "3_theo_99.wav: cannot read audio",
    ),
    (
        "zero-length-recording",
        "speakers",
        lambda t: (
            shutil.copytree(SAMPLES / "fsdd_sample" / "enrol", t / "enrol"),
            wav(t / "enrol" / "3_theo_98.wav", seconds=0),
            ["--set", f"data.enrol={t / 'enrol'}", "--set", "data.test=null"],
        )[-1],
        "3_theo_98.wav: the recording is empty",
    ),
    (
        "one-speaker",
        "speakers",
        lambda t: (
            (t / "e").mkdir(),
            wav(t / "e" / "0_ann_1.wav"),
            ["--set", f"data.enrol={t / 'e'}", "--set", "data.test=null"],
        )[-1],
        "identification needs at least two speakers",
    ),
    # images
    ("missing-file", "images", lambda t: ["--set", "data.path=/nonexistent/photo.jpg"], "data.path: file not found"),
    (
        "unknown-sample",
        "images",
        lambda t: ["--set", "data.path=skimage:lena"],
        "'skimage:lena' is not a bundled sample",
    ),
    (
        "empty-folder",
        "images",
        lambda t: ((t / "photos").mkdir(), ["--set", f"data.path={t / 'photos'}"])[-1],
        "holds no",
    ),
    ("empty-file", "images", lambda t: ["--set", f"data.path={make(t, 'e.png', b'')}"], "e.png: file is empty"),
    (
        "not-an-image",
        "images",
        lambda t: ["--set", f"data.path={make(t, 'notes.jpg', 'these are not pixels' * 50)}"],
        "notes.jpg: not a readable image",
    ),
    (
        "one-pixel-image",
        "images",
        lambda t: ["--set", f"data.path={png(t / 'dot.png', np.zeros((1, 1, 3), np.uint8))}"],
        "dot.png: image is 1x1 pixels",
    ),
    ("wrong-type", "images", lambda t: ["--set", "spatial.sigma=wide"], "spatial.sigma"),
    (
        "gradient-level-as-ratio",
        "images",
        lambda t: ["--set", "spatial.edge_threshold=24"],
        "edge_threshold 24 is a gradient level",
    ),
    # silently accepted before: refused now, in one line
    *[
        (
            "boolean-components",
            name,
            lambda t, k=key: ["--set", f"model.{k}=true"],
            f"model.{key}: expected a number, not a yes/no",
        )
        for name, key in (
            ("regimes", "n_components"),
            ("customers", "n_components"),
            ("speakers", "n_components"),
            ("anomaly", "components"),
            ("images", "n_components"),
        )
    ],
    (
        "boolean-number",
        "regimes",
        lambda t: ["--set", "model.n_init=yes"],
        "model.n_init: expected a number, not a yes/no",
    ),
    ("boolean-in-a-list", "customers", lambda t: ["--set", "model.n_components=[2, true]"], "expected a number"),
    # keys a pipeline does not read, and renamed keys
    ("unused-key", "anomaly", lambda t: ["--set", "model.tol=0.1"], "unknown key 'model.tol'"),
    (
        "unused-key",
        "anomaly",
        lambda t: ["--set", f"data.path={odds_mat(t)}", "--set", "data.score=null", "--set", "data.decimal_mark=."],
        "data.decimal_mark is set, but .mat files hold numbers, not text to read; leave it auto",
    ),
    ("unused-key", "regimes", lambda t: ["--set", "engine.kind=dask"], "unknown key 'engine'"),
    (
        "unused-key",
        "speakers",
        lambda t: ["--set", "data.path=x"],
        "unknown key 'data.path': the pipeline has no such key (a typo, or a key of another pipeline); data has "
        "enrol, test, label_from,",
    ),
    ("unused-key", "speakers", lambda t: ["--set", "report.top=3"], "unknown key 'report.top'"),
    ("unused-key", "images", lambda t: ["--set", "report.uncertain_below=0.5"], "unknown key 'report.uncertain_below'"),
    (
        "renamed-key",
        "anomaly",
        lambda t: ["--set", "model.n_components=[1, 2]"],
        "model.n_components was renamed to model.components",
    ),
    (
        "renamed-key",
        "customers",
        lambda t: ["--set", "report.boundary_below=0.5"],
        "report.boundary_below was renamed to report.uncertain_below",
    ),
    (
        "renamed-key",
        "speakers",
        lambda t: ["--set", "features.cmvn=false"],
        "features.cmvn was renamed to features.normalise; write features.normalise: none instead",
    ),
    (
        "duplicated-key",
        "customers",
        lambda t: {"config": "pipeline: regimes\nmodel: {n_init: 2}\npipeline: customers\n"},
        "key 'pipeline' appears twice (lines 1 and 3)",
    ),
    (
        "engine-address-not-a-url",
        "customers",
        lambda t: ["--set", "engine.kind=dask", "--set", "engine.address=notaurl"],
        "engine.address: expected a scheduler address",
    ),
    (
        "components-beyond-frames",
        "speakers",
        lambda t: ["--set", "model.n_components=1000000000"],
        "model.n_components=1,000,000,000 needs at least",
    ),
    (
        "identical-records",
        "customers",
        lambda t: [
            "--set",
            f"data.path={make(t, 's.csv', SAME_TX)}",
            "--set",
            "split.enabled=false",
            "--set",
            "features.recent_weeks=1",
        ],
        "all 40 customers have the same",
    ),
    (
        "identical-records",
        "anomaly",
        lambda t: [
            "--set",
            f"data.path={anomaly_csv(t, mutate=lambda d: d.assign(a=1.0, b=2.0, c=3.0))}",
            "--set",
            "data.score=null",
        ],
        "every feature is constant over the 200",
    ),
    (
        "calibration-longer-than-data",
        "customers",
        lambda t: ["--set", "split.calibration_weeks=500"],
        "split.calibration_weeks=500 is longer than the data",
    ),
    (
        "extreme-value",
        "anomaly",
        lambda t: [
            "--set",
            f"data.path={anomaly_csv(t, mutate=lambda d: _set(d, 'b', 17, 1e308))}",
            "--set",
            "data.score=null",
        ],
        "column 'b' has an extreme value 1e+308 at data row 18",
    ),
    (
        "extreme-value",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t, mutate=lambda d: _set(d, 'Close', 70, 1e308))}"],
        "column 'Close' has an extreme value 1e+308 at data row 71",
    ),
    (
        "price-jump",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t, mutate=lambda d: _set(d, 'Close', 70, 1e9))}"],
        "jumps from",
    ),
    (
        "folder-instead-of-file",
        "anomaly",
        lambda t: ["--set", f"data.path={t}", "--set", "data.score=null"],
        "data.path: is a folder, expected a file: ",
    ),
    (
        "folder-of-logs",
        "customers",
        lambda t: ["--set", f"data.path={t}"],
        "; to run each of its files on its own, pass --each",
    ),
    (
        "glob-of-logs",
        "anomaly",
        lambda t: (
            anomaly_csv(t, "a.csv"),
            anomaly_csv(t, "b.csv"),
            ["--set", f"data.path={t}/*.csv", "--set", "data.score=null"],
        )[-1],
        "data.path: a glob of 2 files, expected the name of one file: ",
    ),
    (
        "folder-of-tickers",
        "regimes",
        lambda t: (prices_csv(t, "SPY.csv"), prices_csv(t, "QQQ.csv"), ["--set", f"data.path={t}"])[-1],
        "a run models one price file: run each file as a run of its own with --each",
    ),
    (
        "glob-of-tickers",
        "regimes",
        lambda t: (prices_csv(t, "SPY.csv"), prices_csv(t, "QQQ.csv"), ["--set", f"data.path={t}/*.csv"])[-1],
        "data.path: a glob of 2 files, expected the name of one price file",
    ),
    ("device-instead-of-file", "customers", lambda t: ["--set", "data.path=/dev/null"], "data.path: is a device"),
    (
        "fifo-instead-of-file",
        "regimes",
        lambda t: (os.mkfifo(t / "p.csv"), ["--set", f"data.path={t / 'p.csv'}"])[-1],
        "data.path: is a named pipe (FIFO)",
    ),
    (
        "value-error-wording",
        "customers",
        lambda t: ["--set", "model.n_components=0"],
        "model.n_components: must be >= 1, got 0",
    ),
    # internal errors before: one line now
    (
        "components-beyond-days",
        "regimes",
        lambda t: ["--set", "model.n_components=100000"],
        "for model.n_components [100000]: each regime needs at least 5 rows",
    ),
    ("negative-seed", "regimes", lambda t: ["--set", "model.random_state=-1"], "model.random_state"),
    ("huge-seed", "regimes", lambda t: ["--set", f"model.random_state={2**70}"], "model.random_state"),
    ("negative-seed-option", "regimes", lambda t: ["--seed", "-5"], "model.random_state"),
    (
        "empty-list-of-bundled-series",
        "regimes",
        lambda t: ["--set", "data.arch_dataset=[]"],
        "data.arch_dataset: Input should be 'sp500' or 'nasdaq', got []",
    ),
    (
        "form-feed-in-a-file-name",
        "images",
        lambda t: ["--set", 'data.path="a\\fb.png"'],
        "data.path: file not found: a\\x0cb.png",
    ),
    (
        "date-read-as-the-year-minus-one",
        "regimes",
        lambda t: [
            "--set",
            f"data.path={prices_csv(t, mutate=lambda d: d.astype(object).assign(Date=['-1', *d.Date.astype(str)[1:]]))}",
        ],
        "column 'Date' has '-1' at data row 1, read as a date in the year -1",
    ),
    (
        "purchase-date-read-as-the-year-minus-one",
        "customers",
        lambda t: ["--set", f"data.path={make(t, 't.csv', TINY_LOG.replace('2020-01-12', '-1'))}"],
        "column 'date' has '-1' at data row 8, read as a date in the year -1",
    ),
    (
        "whole-number-beyond-64-bits",
        "anomaly",
        lambda t: [
            "--set",
            "data.score=null",
            "--set",
            "data.id_column=null",
            "--set",
            f"data.path={make(t, 'a.csv', 'x,y' + chr(10) + ''.join(f'{i},{i % 7}' + chr(10) for i in range(30)) + '9' * 400 + ',1' + chr(10))}",
        ],
        "column 'x' has a missing, infinite or non-numeric value",
    ),
    (
        "huge-variance-floor",
        "speakers",
        lambda t: ["--set", "model.reg_covar=3.4e+38"],
        "model.reg_covar: Input should be less than or equal to 1000000, got 3.4e+38",
    ),
    (
        "zero-variance-floor",
        "anomaly",
        lambda t: ["--set", "model.reg_covar=0"],
        "model.reg_covar: Input should be greater than 0, got 0",
    ),
    (
        "infinite-variance-floor",
        "anomaly",
        lambda t: ["--set", "model.reg_covar=.inf"],
        "model.reg_covar: expected a finite number, got .inf",
    ),
    (
        "overflowing-amounts",
        "customers",
        lambda t: [
            "--set",
            f"data.path={make(t, 't.csv', TINY_LOG + 'x,2020-01-07,1e308' + chr(10) + 'x,2020-01-07,1e308' + chr(10))}",
        ],
        "column 'amount' has an extreme value",
    ),
    (
        "newline-only-file",
        "regimes",
        lambda t: ["--set", f"data.path={make(t, 'n.csv', chr(10))}"],
        "n.csv: the file holds no text",
    ),
    (
        "date-column-only",
        "regimes",
        lambda t: [
            "--set",
            f"data.path={make(t, 'd.csv', 'Date' + chr(10) + '2020-01-01' + chr(10) + '2020-01-02' + chr(10))}",
        ],
        "d.csv: only a date column ('Date')",
    ),
    (
        "negative-volume",
        "regimes",
        lambda t: [
            "--set",
            f"data.path={prices_csv(t, mutate=lambda d: d.assign(Volume=np.where(np.arange(len(d)) == 9, -5.0, 1e6)))}",
            "--set",
            "data.volume_column=Volume",  # found by its header instead, such a column is not read (logged)
        ],
        "column 'Volume' (data.volume_column) holds a negative volume -5 on ",
    ),
    (
        "decompression-bomb",
        "images",
        lambda t: ["--set", f"data.path={png_header(t / 'bomb.png', 14000, 13000)}"],
        "bomb.png: image is 14000x13000 = 182,000,000 pixels, more than data.max_pixels (100,000,000)",
    ),
    ("billion-laughs", "anomaly", lambda t: {"config": LAUGHS}, "expands to more than 100,000 values"),
    # an alias inside its own anchor's value never ends (it had hung the run forever)
    (
        "recursive-alias",
        "anomaly",
        lambda t: {"config": "pipeline: anomaly\nreport:\n  title: &a [x, {y: *a}]\n"},
        "an alias (*name) stands inside its own anchor's value",
    ),
    (
        "recursive-alias",
        "regimes",
        lambda t: ["--set", "report.title=&a [*a]"],
        "an alias (*name) stands inside its own anchor's value",
    ),
    (
        "deep-nesting",
        "anomaly",
        lambda t: {"config": "pipeline: anomaly\nreport: " + "[" * 5000 + "]" * 5000 + "\n"},
        "nested more than 64 levels deep",
    ),
    # nonsense accepted before
    (
        "nan-threshold",
        "anomaly",
        lambda t: ["--set", "threshold.method=fixed", "--set", "threshold.value=.nan"],
        "threshold.value: expected a finite number, got .nan",
    ),
    ("no-columns", "anomaly", lambda t: ["--set", "data.columns=[]"], "data.columns"),
    (
        "id-column-in-other-case",
        "anomaly",
        lambda t: [
            "--set",
            f"data.path={anomaly_csv(t, mutate=lambda d: d.rename(columns={'id': 'ID'}))}",
            "--set",
            "data.score=null",
            "--set",
            "data.id_column=Id",
        ],
        "column 'Id' (data.id_column) not found, but 'ID' is",
    ),
    (
        "missing-id-column",
        "anomaly",
        lambda t: [
            "--set",
            f"data.path={anomaly_csv(t)}",
            "--set",
            "data.score=null",
            "--set",
            "data.id_column=record",
        ],
        "column 'record' (data.id_column) not found",
    ),
    (
        "complex-values",
        "anomaly",
        lambda t: ["--set", f"data.path={complex_mat(t / 'c.mat')}", "--set", "data.score=null"],
        "c.mat: array 'X' holds complex128 values",
    ),
    # keys that the data's source does not read, and sheets of files that have none
    ("unread-source-key", "regimes", lambda t: ["--set", "data.tickers=[SPY]"], "data.tickers is read only with"),
    ("series-without-their-column", "regimes", lambda t: ["--set", "data.series=[SPX]"], "set data.series_column"),
    (
        "sheet-of-a-csv",
        "regimes",
        lambda t: ["--set", f"data.path={prices_csv(t)}", "--set", "data.sheet=Prices"],
        "prices.csv: data.sheet is set, but the file is not an Excel workbook",
    ),
    (
        "sheet-of-a-csv",
        "anomaly",
        lambda t: ["--set", f"data.path={anomaly_csv(t)}", "--set", "data.score=null", "--set", "data.sheet=0"],
        "ref.csv: data.sheet is set, but the file is not an Excel workbook",
    ),
    # a bank's "Excel" export that is a web page, and a zip archive of several tables
    (
        "web-page-saved-as-xls",
        "customers",
        lambda t: ["--set", f"data.path={make(t, 'orders.xls', '<html><table><tr><td>id</td></tr></table></html>')}"],
        "orders.xls: a web page (HTML), not a table file",
    ),
    (
        "web-page-saved-as-xls",
        "regimes",
        lambda t: ["--set", f"data.path={make(t, 'quotes.xls', '<!DOCTYPE html><html><table></table></html>')}"],
        "quotes.xls: a web page (HTML), not a table file",
    ),
    (
        "zip-of-several-tables",
        "anomaly",
        lambda t: ["--set", f"data.path={zip_of(t, 'export.zip', ['jan.csv', 'feb.csv'])}", "--set", "data.score=null"],
        "export.zip: a zip archive of 2 files (jan.csv, feb.csv); unzip it and name the file to read",
    ),
    # a holdout of thousands of years ran dates past pandas' end (internal error); restarts by the ten thousand
    # would run for days: both refused with their bound
    (
        "holdout-of-millennia",
        "customers",
        lambda t: ["--set", "split.holdout_weeks=417538"],
        "split.holdout_weeks: must be from 1 to 5200 weeks, or max, got 417538",
    ),
    (
        "restarts-by-the-ten-thousand",
        "speakers",
        lambda t: ["--set", "model.n_init=52291"],
        "less than or equal to 100",
    ),
    (
        "i-vectors-of-a-billion-dimensions",  # capped at the supervector's size, whose EM ran for hours
        "speakers",
        lambda t: ["--set", "model.kind=ivector", "--set", "model.ivector_dim=1000000000"],
        "model.ivector_dim: Input should be less than or equal to 1000",
    ),
    # a line with one cell more than the header
    (
        "extra-cell-on-a-line",
        "anomaly",
        lambda t: ["--set", f"data.path={with_extra_cell(anomaly_csv(t), 150)}", "--set", "data.score=null"],
        "ref.csv: line 150 has 5 cells where the header has 4 (a separator inside a cell that is not in quotes",
    ),
    (
        "extra-cell-on-a-line",
        "regimes",
        lambda t: ["--set", f"data.path={with_extra_cell(prices_csv(t), 90)}"],
        "prices.csv: line 90 has 3 cells where the header has 2",
    ),
    # live data with no network
    (
        "unreachable-market-data",
        "regimes",
        lambda t: [
            "--set",
            "data.source=yfinance",
            "--set",
            "data.tickers=[SPY]",
            "--set",
            f"data.cache_dir={t / 'cache'}",
        ],
        "SPY",
    ),
]


@pytest.mark.parametrize("case, pipeline, build, message", CASES, ids=[f"{c[1]}-{c[0]}" for c in CASES])
def test_bad_input_ends_cleanly(tmp_path, capsys, case, pipeline, build, message):
    data = tmp_path / "data"
    data.mkdir()
    spec = build(data)
    out = tmp_path / "runs" / "run"
    # an earlier run at the same place must survive
    out.mkdir(parents=True)
    (out / "summary.json").write_text('{"earlier": true}')
    (out / MARKER).write_text(json.dumps({"files": run_manifest(out)}))  # sealed as a run seals it
    if isinstance(spec, dict):
        cfg = make(data, "config.yaml", spec["config"])
        args = ["run", str(cfg), "--out", str(out), "--overwrite"]
    else:
        args = ["run", str(CFG[pipeline]), "--out", str(out), "--overwrite", "--quiet", *FAST[pipeline], *spec]
    code = cli.main(args)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0], lines[0]
    assert "Traceback" not in err
    # no pydantic prefixes, repeated 'got' or NumPy reprs in what a user reads
    assert "Value error," not in err and "np.float" not in err and err.count(", got ") <= 1, err
    assert (out / "summary.json").read_text() == '{"earlier": true}'
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["run"]


def test_corpus_covers_every_pipeline():
    assert {c[1] for c in CASES} == set(CFG)


@pytest.mark.parametrize("pipeline", ["regimes", "customers", "speakers", "anomaly", "images"])
def test_relative_path_beside_the_config_is_found_for_the_user(tmp_path, monkeypatch, capsys, pipeline):
    # a config in its project folder names its data relative to that folder, but the run starts elsewhere
    project = tmp_path / "project"
    project.mkdir()
    key, name = {"speakers": ("data.enrol", "recordings"), "anomaly": ("data.score", "new.csv")}.get(
        pipeline, ("data.path", "input.dat")
    )
    (project / name).mkdir() if name == "recordings" else (project / name).write_text("x\n")
    cfg = project / "config.yaml"
    cfg.write_text(f"pipeline: {pipeline}\n{key.split('.')[0]}:\n  {key.split('.')[1]}: {name}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {cfg}: {key}: "), err
    assert f"current folder, {elsewhere}" in err and f"write {project / name}, or run from {project}" in err, err
    assert not (tmp_path / "run").exists()
    # run from the config's folder, the same config finds the file (and goes on to read it)
    monkeypatch.chdir(project)
    cli.main(["run", str(cfg), "--out", str(tmp_path / "run")])
    assert "file not found" not in capsys.readouterr().err


def test_missing_relative_path_says_where_it_was_looked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = make(tmp_path, "c.yaml", "pipeline: customers\ndata:\n  path: orders/2026.csv\n")
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"file not found: orders/2026.csv (relative paths are read from the current folder, {tmp_path})" in err
    assert "config's folder" not in err
    assert cli.main(["run", str(cfg), "--set", f"data.path={tmp_path}/none.csv", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.endswith(f"file not found: {tmp_path}/none.csv\n")  # absolute: nothing to add


@pytest.mark.parametrize("pipeline", ["regimes", "customers", "speakers", "anomaly", "images"])
def test_tampered_model_file_is_refused_by_apply(tmp_path, capsys, pipeline):
    run_dir = tmp_path / "run"
    assert cli.main(["run", str(CFG[pipeline]), "--out", str(run_dir), "--quiet", *FAST[pipeline]]) == 0
    model = next(
        p
        for p in (run_dir / "model.npz", run_dir / "model" / "member_000.npz", run_dir / "model" / "palette.npz")
        if p.exists()
    )
    raw = model.read_bytes()
    model.write_bytes(raw[: len(raw) // 2])  # truncated
    new = {
        "regimes": prices_csv(tmp_path),
        "customers": SAMPLES / "cdnow_sample.txt",
        "speakers": SAMPLES / "fsdd_sample" / "test",
        "anomaly": SAMPLES / "cardio_new.csv",
        "images": png(tmp_path / "new.png", np.full((40, 60, 3), 90, np.uint8)),
    }[pipeline]
    for needle in ("is not the file this run wrote", "truncated"):  # the run's checksums; the file's own checks
        code = cli.main(["apply", str(run_dir), str(new), "--out", str(tmp_path / "applied"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and needle in err and "Traceback" not in err, err
        assert not (tmp_path / "applied").exists()
        without_model_checksums(run_dir)


def test_a_bad_line_far_into_a_file_applied_in_chunks_ends_cleanly(tmp_path, capsys):
    """apply reads new records chunk by chunk: a line with an extra cell met while streaming is named as it is
    when the whole file is read, and nothing is written."""
    run = tmp_path / "run"
    args = ["run", str(CFG["anomaly"]), "--out", str(run), "--quiet", *FAST["anomaly"], "--set", "data.score=null"]
    args += ["--set", f"data.path={anomaly_csv(tmp_path)}"]
    assert cli.main(args) == 0
    big = anomaly_csv(tmp_path, "new.csv", mutate=lambda d: pd.concat([d] * 20, ignore_index=True))
    with_extra_cell(big, 3500)
    assert cli.main(["apply", str(run), str(big), "--out", str(tmp_path / "new"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: {big}: line 3500 has 5 cells where the header has 4 (a separator inside a cell that is not in "
        "quotes, such as a comma in an address?); put that cell in quotes, or fix the line"
    )
    assert not (tmp_path / "new").exists()
