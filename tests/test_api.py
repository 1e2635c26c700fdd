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

    return sp500.load()["Adj Close"].iloc[start:start + n].rename("Close").to_frame()


def test_run_by_pipeline_name_and_apply(elsewhere, tmp_path):
    r = gmm_apps.run("anomaly", set=["model.seeds=1", "report.plots=false"])
    assert r.dir.parent == elsewhere / "runs" and r.dir.name.startswith("anomaly-")  # like the command line
    assert r.pipeline == "anomaly" and "records flagged" in r.summary["headline"]
    assert set(r.tables) == {"scores"} and len(r.tables["scores"]) == 733
    new = pd.read_csv(gmm_apps.sample_path("cardio_new.csv"))
    np.testing.assert_allclose(r.model.decision_function(new.drop(columns=["id", "outlier"]).to_numpy()),
                               r.tables["scores"]["score"], rtol=1e-8)  # the model is the detector that scored
    r2 = r.apply(pd.read_csv(SAMPLES / "cardio_new.csv"), out=tmp_path / "b")
    np.testing.assert_allclose(r2.tables["scores"]["score"], r.tables["scores"]["score"], rtol=1e-9)


def test_regimes_from_a_dataframe_equals_the_same_prices_from_a_file(tmp_path):
    px = prices()
    fast = ["split.holdout_start=null", "report.stability_seeds=1", "report.plots=false"]
    r = gmm_apps.run("regimes", data=px, out=tmp_path / "mem", set=fast)
    px.rename_axis("Date").to_csv(tmp_path / "px.csv")
    code = cli.main(["run", str(REPO / "configs" / "regimes.yaml"), "--quiet", "--out", str(tmp_path / "file"),
                     "--set", f"data.path={tmp_path / 'px.csv'}", *[a for s in fast for a in ("--set", s)]])
    assert code == 0
    assert (tmp_path / "mem" / "regimes.csv").read_bytes() == (tmp_path / "file" / "regimes.csv").read_bytes()
    new = r.apply(prices(300, start=700), out=tmp_path / "new")
    assert len(new.tables["regimes"]) > 0 and new.summary["applied_run"] == str(tmp_path / "mem")


def test_customers_from_a_dataframe(tmp_path):
    tx = pd.read_csv(SAMPLES / "cdnow_sample.txt", sep=r"\s+", header=0,
                     names=["customer_id", "date", "quantity", "amount"], dtype={"date": str, "customer_id": str})
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    r = gmm_apps.run("customers", data=tx, out=tmp_path / "c",
                     set=["data.format=table", "report.stability_seeds=1", "report.bootstrap=0", "report.plots=false"])
    assert r.summary["customers"] == 2357 and "customers" in r.tables


def test_a_bad_dataframe_raises_the_command_lines_one_line_error(tmp_path):
    with pytest.raises(UserError, match="column 'Close' has a missing or infinite value at data row 1") as e:
        gmm_apps.run("regimes", data=prices().assign(Close=np.nan), out=tmp_path / "r")
    assert "\n" not in str(e.value)
    recs = pd.DataFrame({"id": range(50), "a": np.arange(50.0)})
    with pytest.raises(UserError, match="column 'b' .* not found"):
        gmm_apps.run("anomaly", data=recs, out=tmp_path / "x", set=["data.columns=[a, b]", "data.score=null"])
    assert not (tmp_path / "r").exists() and not (tmp_path / "x").exists()
    with pytest.raises(UserError, match="cannot use a int"):
        gmm_apps.run("anomaly", data=3, out=tmp_path / "y")


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
    r = gmm_apps.run("images", data=imgs, out=tmp_path / "i",
                     set=["model.n_components=4", "report.plots=false", "model.shared=true"])
    assert list(r.tables["images"]["image"]) == ["image_0000", "image_0001"]
    assert r.model.n_components == 4
    again = r.apply(imgs[1], out=tmp_path / "j")
    assert again.summary["images"] == 1 and again.model is None  # an apply run fits no model


def test_speakers_from_a_mapping_of_recordings(tmp_path):
    import soundfile as sf

    enrol = {}
    for f in sorted((SAMPLES / "fsdd_sample" / "enrol").glob("*.wav")):
        digit, speaker, take = f.stem.split("_")
        if speaker in ("george", "theo", "lucas"):
            enrol.setdefault(speaker, []).append(sf.read(f) if speaker == "theo" else f)  # arrays or paths
    r = gmm_apps.run("speakers", data=enrol, out=tmp_path / "s",
                     set=["model.n_components=16", "report.plots=false"])
    assert sorted(r.model.speakers) == ["george", "lucas", "theo"]
    tests = sorted((SAMPLES / "fsdd_sample" / "test").glob("*_lucas_*.wav"))[:4]
    ids = r.apply({"unknown": tests}, out=tmp_path / "t").tables["identifications"]
    assert list(ids["predicted"]) == ["lucas"] * 4
