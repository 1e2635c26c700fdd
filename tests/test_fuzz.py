"""Fuzzing every pipeline's config and input files: a run ends in success (0) or one error line (2), never a bug.

Hypothesis perturbs one config key at a time (any key of the pipeline's schema,
set to values of the wrong type, out of range, extreme, empty, NaN) and the
input file (truncated, extreme numbers, NaN, duplicated rows, other encodings,
random bytes).  Every run must exit 0 or 2, print no traceback, and on exit 2
print exactly one ``error:`` line.  The budget is bounded: a few examples per
pipeline and strategy, so CI stays fast; the seed is fixed, so a failure
reproduces.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from gmm_apps import cli, registry

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples"
PIPELINES = ["regimes", "customers", "speakers", "anomaly", "images"]
FAST = {
    "regimes": [
        "--set",
        "report.stability_seeds=1",
        "--set",
        "report.bic_candidates=[2]",
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
    "speakers": [
        "--set",
        "report.plots=false",
        "--set",
        "model.n_components=8",
        "--set",
        "data.enrol=" + str(SAMPLES / "fsdd_sample" / "enrol"),
        "--set",
        "data.test=" + str(SAMPLES / "fsdd_sample" / "test"),
    ],
    "anomaly": [
        "--set",
        "report.plots=false",
        "--set",
        "model.seeds=1",
        "--set",
        "model.components=[1, 3]",
        "--set",
        "data.score=null",
    ],
    "images": [
        "--set",
        "report.plots=false",
        "--set",
        "run.n_jobs=1",
        "--set",
        "model.n_fits=1",
        "--set",
        "model.sample_size=500",
        "--set",
        "data.path=skimage:coffee",
    ],
}
SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 6)),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def keys_of(model, prefix=""):
    """Every dotted key of a config schema (sections recursed, leaves listed)."""
    from pydantic import BaseModel

    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        key = f"{prefix}{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(keys_of(ann, key + "."))
        elif name != "pipeline":
            out.append(key)
    return out


VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "1",
            "2",
            "1e308",
            "-1e308",
            ".nan",
            ".inf",
            "-.inf",
            "true",
            "false",
            "null",
            "''",
            "[]",
            "{}",
            "[0]",
            "[1, 1]",
            "{min: 3, max: 2}",
            "abc",
            "'1'",
            "2.5",
            "1000000000",
            "[true]",
            "'\u00e9\u00e8\u2603'",
            "-0.0",
            "1e-320",
        ]
    ),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: yaml.safe_dump(f).split("\n")[0]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), max_size=12).map(
        lambda t: yaml.safe_dump(t, default_style="'").strip()
    ),
)


def run(args, capsys):
    code = cli.main([str(a) for a in args])
    _, err = capsys.readouterr()
    return code, err


def assert_clean(code, err, args):
    assert code in (0, 2), f"exit {code} for {args}:\n{err}"
    assert "Traceback" not in err, f"{args}:\n{err}"
    if code == 2:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{args}:\n{err}"


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_fuzzed_config_values_end_in_success_or_one_error_line(pipeline, tmp_path_factory, capsys):
    keys = keys_of(registry.get_pipeline(pipeline).config_model)

    @seed(17)
    @SETTINGS
    @given(key=st.sampled_from(keys), value=VALUES)
    def check(key, value):
        out = tmp_path_factory.mktemp("fuzz") / "run"
        args = [
            "run",
            REPO / "configs" / f"{pipeline}.yaml",
            "--quiet",
            "--out",
            out,
            *FAST[pipeline],
            "--set",
            f"{key}={value}",
        ]
        code, err = run(args, capsys)
        assert_clean(code, err, args)

    check()


# ------------------------------------------------------------------ input files
def regimes_file(rng):
    from arch.data import sp500

    df = sp500.load()["Adj Close"].iloc[:400].rename("Close").to_frame()
    df.index.name = "Date"
    return df.reset_index().assign(Date=lambda d: d["Date"].dt.strftime("%Y-%m-%d"))


def customers_file(rng):
    return pd.read_csv(
        SAMPLES / "cdnow_sample.txt",
        sep=r"\s+",
        header=0,  # the sample's own header, named as the config below reads it
        dtype=str,
        names=["customer_id", "date", "quantity", "amount"],
    ).iloc[:3000]


def anomaly_file(rng):
    return pd.read_csv(SAMPLES / "cardio_reference.csv").iloc[:400]


FILES = {
    "regimes": (regimes_file, "csv", []),
    "customers": (
        customers_file,
        "csv",
        [
            "--set",
            "data.format=table",
            "--set",
            "data.quantity_column=quantity",
            "--set",
            "data.date_format=%Y%m%d",
            "--set",
            "split.enabled=false",
        ],
    ),
    "anomaly": (anomaly_file, "csv", []),
}
CELLS = st.sampled_from(
    [
        "",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e308",
        "-1e308",
        "0",
        "-1",
        "abc",
        "1,5",
        " ",
        "NULL",
        "9" * 400,
        "\u2603",
        "1e-320",
        "2020-02-30",
    ]
)


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["cell", "cell", "truncate", "duplicate", "encoding", "bytes", "drop_column"]))
    return kind, draw(st.integers(0, 10**6)), draw(CELLS), draw(st.sampled_from(["utf-16", "latin-1", "utf-8-sig"]))


def mutate(df, path, mutation):
    kind, n, cell, encoding = mutation
    rng = np.random.default_rng(n)
    df = df.copy().astype(object)
    if kind == "cell":
        for _ in range(1 + n % 3):
            df.iat[int(rng.integers(len(df))), int(rng.integers(df.shape[1]))] = cell
    elif kind == "duplicate":
        df = pd.concat([df, df.iloc[: 1 + n % 50]])
    elif kind == "drop_column":
        df = df.drop(columns=df.columns[n % df.shape[1]])
    text = df.to_csv(index=False)
    if kind == "truncate":
        path.write_bytes(text.encode()[: n % (len(text) + 1)])
    elif kind == "encoding":
        path.write_bytes(text.encode(encoding, errors="replace"))
    elif kind == "bytes":
        raw = bytearray(text.encode())
        for _ in range(1 + n % 20):
            raw[int(rng.integers(len(raw)))] = int(rng.integers(256))
        path.write_bytes(bytes(raw))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("pipeline", sorted(FILES))
def test_fuzzed_input_files_end_in_success_or_one_error_line(pipeline, tmp_path_factory, capsys):
    build, suffix, extra = FILES[pipeline]
    base = build(np.random.default_rng(0))

    @seed(23)
    @SETTINGS
    @given(mutation=mutations())
    def check(mutation):
        d = tmp_path_factory.mktemp("fuzzfile")
        path = mutate(base, d / f"input.{suffix}", mutation)
        args = [
            "run",
            REPO / "configs" / f"{pipeline}.yaml",
            "--quiet",
            "--out",
            d / "run",
            *FAST[pipeline],
            *extra,
            "--set",
            f"data.path={path}",
        ]
        code, err = run(args, capsys)
        assert_clean(code, err, args)

    check()


def test_fuzzed_audio_and_images_end_in_success_or_one_error_line(tmp_path, capsys):
    """Truncated and corrupted WAV and PNG files among good ones."""
    import shutil

    from PIL import Image

    rng = np.random.default_rng(5)
    enrol = tmp_path / "enrol"
    shutil.copytree(SAMPLES / "fsdd_sample" / "enrol", enrol)
    wavs = sorted(enrol.glob("*.wav"))
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(photos / "a.png")
    good_png = (photos / "a.png").read_bytes()
    for i in range(6):
        victim = wavs[int(rng.integers(len(wavs)))]
        raw = bytearray(victim.read_bytes())
        if i % 2:
            raw = raw[: int(rng.integers(len(raw)))]
        else:
            for _ in range(30):
                raw[int(rng.integers(44, len(raw)))] = int(rng.integers(256))
        victim.write_bytes(bytes(raw))
        code, err = run(
            [
                "run",
                REPO / "configs" / "speakers.yaml",
                "--quiet",
                "--out",
                tmp_path / f"s{i}",
                *FAST["speakers"],
                "--set",
                f"data.enrol={enrol}",
            ],
            capsys,
        )
        assert_clean(code, err, victim)
        png = bytearray(good_png)
        png = png[: int(rng.integers(len(png)))] if i % 2 else png
        for _ in range(i * 5):
            png[int(rng.integers(len(png)))] = int(rng.integers(256))
        (photos / "b.png").write_bytes(bytes(png))
        code, err = run(
            [
                "run",
                REPO / "configs" / "images.yaml",
                "--quiet",
                "--out",
                tmp_path / f"i{i}",
                *FAST["images"],
                "--set",
                f"data.path={photos}",
            ],
            capsys,
        )
        assert_clean(code, err, "b.png")
