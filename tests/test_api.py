"""The Python front door: the same runs as the command line, with in-memory data."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gmm_apps
from gmm_apps import cli
from gmm_apps.errors import UserError

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples"


@pytest.fixture()
def elsewhere(monkeypatch, tmp_path):
    """Work from a folder unrelated to the repository: the default data comes with the package."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    return home


def prices(n=700, start=0):
    from arch.data import sp500

    return sp500.load()["Adj Close"].iloc[start : start + n].rename("Close").to_frame()


def test_run_by_pipeline_name_and_apply(elsewhere, tmp_path):
    r = gmm_apps.run("anomaly", set=["model.seeds=1", "report.plots=false"])
    assert r.dir.parent == elsewhere / "runs" and r.dir.name.startswith("anomaly-")  # like the command line
    assert r.pipeline == "anomaly" and "records flagged" in r.summary["headline"]
    assert set(r.tables) == {"scores"} and len(r.tables["scores"]) == 733
    new = pd.read_csv(gmm_apps.sample_path("cardio_new.csv"))
    np.testing.assert_allclose(
        r.model.decision_function(new.drop(columns=["id", "outlier"]).to_numpy()),
        r.tables["scores"]["score"],
        rtol=1e-8,
    )  # the model is the detector that scored
    r2 = r.apply(pd.read_csv(SAMPLES / "cardio_new.csv"), out=tmp_path / "b")
    np.testing.assert_allclose(r2.tables["scores"]["score"], r.tables["scores"]["score"], rtol=1e-9)


def test_regimes_from_a_dataframe_equals_the_same_prices_from_a_file(tmp_path):
    px = prices()
    fast = ["split.holdout_start=null", "report.stability_seeds=1", "report.plots=false"]
    r = gmm_apps.run("regimes", data=px, out=tmp_path / "mem", set=fast)
    px.rename_axis("Date").to_csv(tmp_path / "px.csv")
    code = cli.main(
        [
            "run",
            str(REPO / "configs" / "regimes.yaml"),
            "--quiet",
            "--out",
            str(tmp_path / "file"),
            "--set",
            f"data.path={tmp_path / 'px.csv'}",
            *[a for s in fast for a in ("--set", s)],
        ]
    )
    assert code == 0
    assert (tmp_path / "mem" / "regimes.csv").read_bytes() == (tmp_path / "file" / "regimes.csv").read_bytes()
    # the data's private copy is named as what was given, so the same data gives the same files, and no file
    # names a folder removed after the run
    gmm_apps.run("regimes", data=px, out=tmp_path / "again", set=fast)
    for name in ("config.yaml", "report.html", "regimes.csv"):
        assert (tmp_path / "mem" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert "path: (the DataFrame given)" in (tmp_path / "mem" / "config.yaml").read_text()
    assert r.summary["data_source"] == "(the DataFrame given)"
    written = [f.read_text(errors="replace") for f in (tmp_path / "mem").rglob("*") if f.is_file()]
    assert not any("gmm_apps_data-" in text for text in written if text)
    new = r.apply(prices(300, start=700), out=tmp_path / "new")
    assert "gmm_apps_data-" not in (tmp_path / "new" / "run.log").read_text()
    assert len(new.tables["regimes"]) > 0 and new.summary["applied_run"] == str(tmp_path / "mem")
    # a table of another library (pyarrow's; polars' reads the same way): the pandas table it holds, by its
    # to_pandas or, without one, the Arrow stream interface
    import pyarrow as pa  # reason: only these tables need it

    class Stream:  # a table offering the Arrow stream interface alone
        def __init__(self, table):
            self.table = table

        def __arrow_c_stream__(self, requested_schema=None):
            return self.table.__arrow_c_stream__(requested_schema)

    table = pa.Table.from_pandas(px.rename_axis("Date").reset_index())
    for name, given in (("arrow", table), ("stream", Stream(table))):
        gmm_apps.run("regimes", data=given, out=tmp_path / name, set=fast)
        assert (tmp_path / name / "regimes.csv").read_bytes() == (tmp_path / "mem" / "regimes.csv").read_bytes()
    again = r.apply(pa.Table.from_pandas(prices(300, start=700).rename_axis("Date").reset_index()), out=tmp_path / "a")
    assert again.tables["regimes"].equals(new.tables["regimes"])

    class Broken:
        def to_pandas(self):
            raise RuntimeError("lazy frame: collect it first")

    with pytest.raises(UserError, match=r"^data: the test_api.Broken given cannot be read as a pandas DataFrame "):
        gmm_apps.run("regimes", data=Broken(), out=tmp_path / "broken")
    assert not (tmp_path / "broken").exists()


def test_a_yfinance_download_in_memory_is_read_as_its_csv_is(tmp_path):
    # yfinance's download: columns by price and ticker (two header levels), dates in the index
    from arch.data import sp500

    ohlc = sp500.load()[["Open", "High", "Low", "Close", "Adj Close", "Volume"]].iloc[:700]
    one = ohlc.set_axis(pd.MultiIndex.from_product([ohlc.columns, ["^GSPC"]], names=["Price", "Ticker"]), axis=1)
    one = one.rename_axis("Date")
    fast = ["split.holdout_start=null", "report.stability_seeds=1", "report.plots=false"]
    r = gmm_apps.run("regimes", data=one, out=tmp_path / "mem", set=fast)
    one.to_csv(tmp_path / "yf.csv")  # as yfinance users save it
    gmm_apps.run("regimes", data=tmp_path / "yf.csv", out=tmp_path / "file", set=fast)
    assert (tmp_path / "mem" / "regimes.csv").read_bytes() == (tmp_path / "file" / "regimes.csv").read_bytes()
    assert r.summary["headline"] == gmm_apps.load_run(tmp_path / "file").summary["headline"]
    # two tickers: one is chosen as from the file, by data.price_column
    other = one.iloc[::-1].set_axis(one.index).rename(columns={"^GSPC": "^IXIC"}, level=1)  # another path
    two = pd.concat([one, other], axis=1)
    with pytest.raises(UserError, match="a yfinance download of 2 tickers \\(\\^GSPC, \\^IXIC\\)"):
        gmm_apps.run("regimes", data=two, out=tmp_path / "two", set=fast)
    gmm_apps.run("regimes", data=two, out=tmp_path / "both", set=[*fast, "data.price_column=[^GSPC, ^IXIC]"])
    assert "700 dates common to ^GSPC, ^IXIC" in (tmp_path / "both" / "run.log").read_text()
    # a groupby's two-level columns elsewhere: one header each, amount_mean
    rng = np.random.default_rng(0)
    log = pd.DataFrame({"card": rng.integers(0, 300, 5000), "amount": rng.lognormal(3, 1, 5000)})
    per_card = log.groupby("card").agg({"amount": ["mean", "max", "count"]})
    a = gmm_apps.run("anomaly", data=per_card, out=tmp_path / "agg", set=["report.plots=false", "data.score=null"])
    assert a.summary["features"] == ["amount_mean", "amount_max", "amount_count"]


def test_customers_from_a_dataframe(tmp_path):
    tx = pd.read_csv(
        SAMPLES / "cdnow_sample.txt",
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "quantity", "amount"],
        dtype={"date": str, "customer_id": str},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    r = gmm_apps.run(
        "customers",
        data=tx,
        out=tmp_path / "c",
        set=["data.format=table", "report.stability_seeds=1", "report.bootstrap=0", "report.plots=false"],
    )
    assert r.summary["customers"] == 2357 and "customers" in r.tables


def test_ids_set_as_the_index_are_the_ids(tmp_path):
    # records indexed by their id (df.set_index("transaction_id")) are scored under it, as the same ids in a
    # column are; an index of positions (a filtered frame's) is no id
    rng = np.random.default_rng(0)
    recs = pd.DataFrame({"amount": rng.lognormal(3, 1, 300), "items": rng.integers(1, 5, 300)})
    recs.insert(0, "id", [f"TX{i:04d}" for i in range(300)])
    sets = ["data.score=null", "report.plots=false", "model.seeds=1"]
    column = gmm_apps.run("anomaly", data=recs, out=tmp_path / "column", set=sets).tables["scores"]
    indexed = recs.rename(columns={"id": "transaction_id"}).set_index("transaction_id")
    got = gmm_apps.run("anomaly", data=indexed, out=tmp_path / "index", set=sets).tables["scores"]
    pd.testing.assert_frame_equal(got, column)
    both = gmm_apps.run("anomaly", data=recs.set_index("id", drop=False), out=tmp_path / "both", set=sets)
    pd.testing.assert_frame_equal(both.tables["scores"], column)  # kept as a column too: read once
    kept = recs.drop(columns="id")[lambda d: d["amount"] > 5]
    plain = gmm_apps.run("anomaly", data=kept, out=tmp_path / "kept", set=sets)
    assert plain.tables["scores"]["id"].tolist() == list(range(len(kept)))
    assert plain.summary["features"] == ["amount", "items"]
    # customers indexed by their id read as with the id in a column
    tx = pd.read_csv(
        SAMPLES / "cdnow_sample.txt",
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "quantity", "amount"],
        dtype=str,
    )
    quick = ["data.format=table", "report.stability_seeds=1", "report.bootstrap=0", "report.plots=false"]
    a = gmm_apps.run("customers", data=tx, out=tmp_path / "ca", set=quick)
    b = gmm_apps.run("customers", data=tx.set_index("customer_id"), out=tmp_path / "cb", set=quick)
    assert (a.dir / "customers.csv").read_bytes() == (b.dir / "customers.csv").read_bytes()


def test_a_bad_dataframe_raises_the_command_lines_one_line_error(tmp_path):
    with pytest.raises(UserError, match="column 'Close' has a missing or infinite value at data row 1") as e:
        gmm_apps.run("regimes", data=prices().assign(Close=np.nan), out=tmp_path / "r")
    assert "\n" not in str(e.value)
    # named as what the caller passed, not as the private copy written for the run
    assert str(e.value).startswith("data (the DataFrame given): column 'Close'") and "gmm_apps_data-" not in str(
        e.value
    )
    recs = pd.DataFrame({"id": range(50), "a": np.arange(50.0)})
    with pytest.raises(UserError, match="column 'b' .* not found"):
        gmm_apps.run("anomaly", data=recs, out=tmp_path / "x", set=["data.columns=[a, b]", "data.score=null"])
    assert not (tmp_path / "r").exists() and not (tmp_path / "x").exists()
    with pytest.raises(UserError, match="the anomaly pipeline takes a pandas DataFrame or a path, got int") as e:
        gmm_apps.run("anomaly", data=3, out=tmp_path / "y")
    assert isinstance(e.value, TypeError)


def test_load_run_of_a_command_line_run_and_its_html(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "cli"
    assert cli.main(["run", "configs/anomaly.yaml", "--quiet", "--out", str(out), "--set", "model.seeds=1"]) == 0
    r = gmm_apps.load_run(out)
    assert r.summary == json.loads((out / "summary.json").read_text())
    page = r._repr_html_()
    assert page.startswith("<div><h3>") and "records flagged" in page and "data:image/png;base64," in page
    with pytest.raises(UserError, match="not a gmm_apps run folder"):
        gmm_apps.load_run(tmp_path)
    with pytest.raises(KeyError, match="no table 'nope'"):
        r.tables["nope"]


def test_images_from_arrays_and_the_shared_palette_as_model(tmp_path):
    from skimage import data

    imgs = [data.coffee()[::4, ::4], data.chelsea()[::4, ::4]]
    r = gmm_apps.run(
        "images", data=imgs, out=tmp_path / "i", set=["model.n_components=4", "report.plots=false", "model.shared=true"]
    )
    assert list(r.tables["images"]["image"]) == ["image_0000", "image_0001"]
    assert r.model.n_components == 4 and r.model.palette_rgb.shape == (4, 3)  # a PaletteModel: mixture and colours
    again = r.apply(imgs[1], out=tmp_path / "j")
    assert again.summary["images"] == 1 and again.model is None  # an apply run fits no model


def test_pillow_images_are_read_as_their_files(tmp_path):
    from PIL import Image
    from skimage import data

    # a phone photo held sideways (EXIF orientation 6) and a palette PNG, given opened or by path
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = 6
    (tmp_path / "photos").mkdir()
    side, pal = tmp_path / "photos" / "side.jpg", tmp_path / "photos" / "p.png"
    Image.fromarray(data.coffee()[::4, ::4]).save(side, exif=exif, quality=95)
    Image.fromarray(data.chelsea()[::4, ::4]).convert("P", palette=Image.ADAPTIVE, colors=32).save(pal)
    sets = ["model.n_components=4", "model.n_fits=1", "report.plots=false"]
    by_path = gmm_apps.run("images", data=str(tmp_path / "photos"), out=tmp_path / "paths", set=sets)
    opened = [Image.open(side), Image.open(pal)]
    given = gmm_apps.run("images", data=opened, out=tmp_path / "pil", set=sets)
    for file, mem in (("side", "image_0000"), ("p", "image_0001")):
        a, b = (
            np.asarray(Image.open(next((r.dir / "labels").glob(f"{n}*")))) for r, n in ((by_path, file), (given, mem))
        )
        np.testing.assert_array_equal(a, b)
    assert given.tables["images"]["width"].tolist() == [100, 113]  # the sideways photo (150 x 100) stood upright
    with pytest.raises(UserError, match=r"data\[1\]: expected an image array or a Pillow image, got int"):
        gmm_apps.run("images", data=[opened[0], 3], out=tmp_path / "bad")
    with pytest.raises(UserError, match=r"data\[0\]: a path in a list of images; pass their folder or a glob"):
        gmm_apps.run("images", data=[str(side), str(pal)], out=tmp_path / "bad")


def test_speakers_from_a_mapping_of_recordings(tmp_path):
    import soundfile as sf

    enrol = {}
    for f in sorted((SAMPLES / "fsdd_sample" / "enrol").glob("*.wav")):
        digit, speaker, take = f.stem.split("_")
        if speaker in ("george", "theo", "lucas"):
            enrol.setdefault(speaker, []).append(sf.read(f) if speaker == "theo" else f)  # arrays or paths
    r = gmm_apps.run("speakers", data=enrol, out=tmp_path / "s", set=["model.n_components=16", "report.plots=false"])
    assert sorted(r.model.speakers) == ["george", "lucas", "theo"]
    tests = sorted((SAMPLES / "fsdd_sample" / "test").glob("*_lucas_*.wav"))[:4]
    ids = r.apply({"unknown": tests}, out=tmp_path / "t").tables["identifications"]
    assert list(ids["predicted"]) == ["lucas"] * 4


# ------------------------------------------------------------------ arguments of the wrong kind: one-line UserErrors
@pytest.mark.parametrize(
    "call, kind, needle",
    [
        (
            lambda t: gmm_apps.run(42),
            TypeError,
            "config: expected a YAML file's path, a pipeline name or a dict, got int",
        ),
        (lambda t: gmm_apps.run(["anomaly"]), TypeError, "got list"),
        (lambda t: gmm_apps.run("anomaly", seed="abc", out=t / "r"), TypeError, "seed: expected a whole number"),
        (lambda t: gmm_apps.run("anomaly", seed=-5, out=t / "r"), ValueError, "model.random_state"),
        (lambda t: gmm_apps.run("anomaly", set="data.score=null", out=t / "r"), TypeError, "set: expected a list"),
        (lambda t: gmm_apps.run("anomaly", out=3), TypeError, "out: expected a folder path"),
        (
            lambda t: gmm_apps.run("images", data=np.zeros((2, 3, 4, 5)), out=t / "r"),
            ValueError,
            "expected a grey, RGB or RGBA image, got an array of shape (2, 3, 4, 5)",
        ),
        (
            lambda t: gmm_apps.run("images", data=np.full((64, 64, 3), 200.0), out=t / "r"),
            ValueError,
            "float image values must lie in [0, 1], got [200, 200]; 8-bit values as floats: pass image / 255",
        ),
        (lambda t: gmm_apps.run("images", data=np.full((64, 64, 3), np.nan), out=t / "r"), ValueError, "NaN"),
        (
            lambda t: gmm_apps.run("speakers", data={"ann": [t / "missing.wav"]}, out=t / "r"),
            ValueError,
            "missing.wav: file not found (data['ann'][0])",
        ),
        (
            lambda t: gmm_apps.run("speakers", data={"ann": [(np.zeros(800), 8000, "x")]}, out=t / "r"),
            ValueError,
            "expected a path or a (samples, sample_rate) pair, got tuple of 3 items",
        ),
        (
            lambda t: gmm_apps.run("speakers", data={"a/b": [(np.zeros(800), 8000)]}, out=t / "r"),
            ValueError,
            "speaker name 'a/b' cannot name a folder",
        ),
        (
            lambda t: gmm_apps.run("speakers", data={"ann": [(np.zeros(800), 0)]}, out=t / "r"),
            ValueError,
            "sample rate must be a whole number of Hz",
        ),
        (lambda t: gmm_apps.run("regimes", data=pd.DataFrame(), out=t / "r"), ValueError, "the DataFrame is empty"),
    ],
    ids=[
        "int-config",
        "list-config",
        "text-seed",
        "negative-seed",
        "set-as-text",
        "int-out",
        "4d-image",
        "float-image-0-255",
        "nan-image",
        "missing-recording",
        "3-tuple",
        "slash-in-name",
        "rate-0",
        "empty-dataframe",
    ],
)
def test_wrong_arguments_raise_one_line_user_errors(tmp_path, call, kind, needle):
    with pytest.raises(UserError) as e:
        call(tmp_path)
    assert isinstance(e.value, kind), type(e.value)
    assert needle in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "r").exists()


def test_in_memory_16_bit_and_float_images_are_read_as_the_same_files_would_be(tmp_path):
    import tifffile
    from PIL import Image

    from gmm_apps.pipelines.images.data import read_image

    rng = np.random.default_rng(0)
    deep = (rng.random((48, 64, 3)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "deep.tif", deep)
    flat = rng.random((48, 64, 3))
    sets = ["model.n_components=3", "report.plots=false", "model.n_fits=1", "run.n_jobs=1"]
    r = gmm_apps.run("images", data=[deep, flat], out=tmp_path / "mem", set=sets)
    gmm_apps.run("images", data=str(tmp_path / "deep.tif"), out=tmp_path / "file", set=sets)
    # the 16-bit array is scaled by 65535, as the 16-bit file is: the same segmentation
    mem = np.asarray(Image.open(tmp_path / "mem" / "labels" / "image_0000.png"))
    fil = np.asarray(Image.open(tmp_path / "file" / "labels" / "deep.png"))
    assert np.array_equal(mem, fil)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.tif"), deep / 65535.0)
    assert r.summary["images"] == 2


def test_a_temporary_folder_with_a_yaml_comment_in_its_name_is_taken_whole(tmp_path, monkeypatch):
    odd = tmp_path / "my #tmp: [x]"
    odd.mkdir()
    monkeypatch.setenv("TMPDIR", str(odd))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    recs = pd.read_csv(SAMPLES / "cardio_reference.csv")
    r = gmm_apps.run(
        "anomaly",
        data=recs,
        out=tmp_path / "r",
        set=["data.score=null", "report.plots=false", "model.seeds=1", "model.components=[1, 4]"],
    )
    assert str(odd) in r.summary["config"] or r.summary["scored_records"] == len(recs)
    assert list(odd.iterdir()) == []  # the temporary input was removed


# ------------------------------------------------------------------ fuzz: any argument, a UserError or success
def _fuzz_values():
    from hypothesis import strategies as st

    arrays = st.sampled_from(
        [
            np.zeros((0,)),
            np.zeros((5, 5)),
            np.full((40, 40, 3), 300.0),
            np.zeros((2, 2, 2, 2)),
            np.array(["a", "b"]),
            np.zeros((40, 40, 3), np.uint16),
            np.zeros((40, 40), bool),
        ]
    )
    frames = st.sampled_from(
        [
            pd.DataFrame(),
            pd.DataFrame({"a": [1.0, 2.0]}),
            pd.Series([1.0, 2.0]),
            pd.DataFrame({"Date": ["x"], "Close": ["y"]}),
        ]
    )
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True),
        st.text(max_size=12),
        st.binary(max_size=4),
    )
    mappings = st.dictionaries(st.text(max_size=5), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=3)
    return st, arrays, frames, scalars, mappings


def test_fuzzed_python_api_arguments_end_in_success_or_a_user_error(tmp_path_factory, monkeypatch):
    from hypothesis import HealthCheck, given, settings

    from gmm_apps import batch, registry, runs

    st, arrays, frames, scalars, mappings = _fuzz_values()
    # the runs themselves are fuzzed in test_fuzz.py; here every argument up to the validated config and inputs
    monkeypatch.setattr(
        runs,
        "execute_run",
        lambda config, **kw: (_ for _ in ()).throw(_Validated(runs.prepare(config, sets=kw["sets"], seed=kw["seed"]))),
    )
    monkeypatch.setattr(  # the files a batch names are not listed: a fuzzed '/' would walk the whole disk
        batch,
        "execute_batch",
        lambda config, each, **kw: (_ for _ in ()).throw(_Validated(runs.prepare(config, sets=kw["sets"]))),
    )
    names = registry.available()
    configs = st.one_of(
        st.sampled_from(names),
        scalars,
        st.lists(scalars, max_size=2),
        mappings.map(lambda m: dict(m, pipeline=names[len(m) % len(names)])),
        mappings,
    )
    data = st.one_of(
        st.none(),
        scalars,
        arrays,
        frames,
        st.lists(arrays, max_size=2),
        mappings,
        st.dictionaries(
            st.sampled_from(["ann", "a/b", "..", ""]),
            st.lists(st.one_of(scalars, st.tuples(arrays, scalars), st.tuples(scalars)), max_size=2),
            max_size=2,
        ),
    )
    sets = st.one_of(
        st.none(),
        scalars,
        st.lists(st.one_of(st.text(max_size=20), scalars), max_size=3),
        st.lists(
            st.sampled_from(
                ["model.n_init=2", "data.path=[", "x=1", "model.random_state=-1", "report.title=&a [*a]", "model=3"]
            ),
            max_size=2,
        ),
    )

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        config=configs,
        data=data,
        each=st.one_of(st.none(), st.none(), scalars, st.lists(scalars, max_size=2), arrays),
        seed=st.one_of(st.none(), scalars),
        set_=sets,
        out=st.one_of(st.none(), scalars),
        quiet=st.one_of(st.booleans(), scalars),
        overwrite=st.one_of(st.booleans(), scalars),
    )
    def check(config, data, each, seed, set_, out, quiet, overwrite):
        where = tmp_path_factory.mktemp("fuzz")
        out = where / "r" if out is None or isinstance(out, str) and out else out
        try:
            gmm_apps.run(config, data=data, each=each, out=out, seed=seed, set=set_, quiet=quiet, overwrite=overwrite)
        except (UserError, _Validated):
            pass

    check()


class _Validated(Exception):
    """Raised by the stand-in for execute_run once the config and inputs passed every check."""


def test_a_path_with_a_nul_character_is_a_one_line_error():
    # os.stat raises ValueError on NUL, which no file system allows; found by the fuzz test
    with pytest.raises(UserError, match="data.path: not a valid file name"):
        gmm_apps.run("anomaly", data="a\x00b")
