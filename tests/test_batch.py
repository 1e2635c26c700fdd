"""``gmm-apps run CONFIG --each FILES``: one run per file in one batch folder, built whole or not at all."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmm_apps import cli, runs
from gmm_apps.batch import run_names
from gmm_apps.errors import UserError
from gmm_apps.paths import is_run_folder

REPO = Path(__file__).resolve().parents[1]
REGIMES = str(REPO / "configs" / "regimes.yaml")
ANOMALY = str(REPO / "configs" / "anomaly.yaml")
QUICK = ["--set", "report.plots=false", "--set", "report.stability_seeds=1", "--set", "report.bic_candidates=[3]"]


def prices(path, seed, n=900):
    """Daily closes of a random walk whose volatility switches between a calm and a wild state."""
    rng = np.random.default_rng(seed)
    vol = np.where((np.arange(n) // 150) % 2 == 0, 0.006, 0.025)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, vol)))
    days = pd.bdate_range("2015-01-01", periods=n)
    pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": close.round(4)}).to_csv(path, index=False)
    return path


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "prices"
    d.mkdir()
    for i, name in enumerate(["oil", "gas", "gold"]):
        prices(d / f"{name}.csv", i)
    return d


def test_each_file_is_a_run_of_its_own_with_their_figures_side_by_side(tmp_path, folder, capsys):
    out = tmp_path / "batch"
    assert cli.main(["run", REGIMES, "--each", str(folder / "*.csv"), "--out", str(out), "--quiet", *QUICK]) == 0
    said = capsys.readouterr().out.splitlines()
    table = pd.read_csv(out / "runs.csv")
    today = table["regime"].value_counts()  # the runs' regimes today, counted in the headline
    assert said == [
        f"3 regimes runs, one per file; today {', '.join(f'{n} {r}' for r, n in today.items())}",
        f"wrote {out}",
    ]
    assert table["run"].tolist() == ["gas", "gold", "oil"]  # the glob's files in order
    for name in ("gas", "gold", "oil"):
        run = out / name
        assert is_run_folder(run) and (run / "report.html").is_file()
        summary = json.loads((run / "summary.json").read_text())
        alone = tmp_path / f"alone-{name}"  # the same file run on its own gives the same figures
        assert cli.main(["run", REGIMES, "--set", f"data.path={folder / f'{name}.csv'}", "--out", str(alone), "--quiet", *QUICK]) == 0  # fmt: skip
        assert (alone / "regimes.csv").read_bytes() == (run / "regimes.csv").read_bytes()
        row = table.set_index("run").loc[name]
        assert row["regime"] == summary["today"]["name"] and row["date"] == summary["last_date"]
        assert len(summary["backtest"]["strategies"]) == 5
        for strategy, figures in summary["backtest"]["strategies"].items():  # every one, not the best of them
            key = strategy.replace(" ", "_")
            assert row[f"sharpe_{key}"] == pytest.approx(figures["sharpe"])
            assert row[f"max_drawdown_{key}"] == pytest.approx(figures["max_drawdown"])
    # each run is taken by apply and show as any run; the batch folder itself is pointed at its runs
    capsys.readouterr()
    assert cli.main(["apply", str(out / "oil"), str(folder / "oil.csv"), "--out", str(tmp_path / "applied"), "--quiet"]) == 0  # fmt: skip
    assert cli.main(["apply", str(out), str(folder / "oil.csv"), "--out", str(tmp_path / "a2"), "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "a2" / "runs.csv")["run"].tolist() == ["oil"]  # the run of the file's name
    with pytest.raises(UserError, match="a batch of runs, one per file .run --each.; apply takes it with new files"):
        runs.open_run(out)  # a batch is no run with a model of its own
    capsys.readouterr()
    assert cli.main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("3 regimes runs, one per file") and "gold" in shown and "sharpe_buy_and_hold" in shown
    assert 'href="oil/report.html"' in (out / "report.html").read_text()


def test_a_batch_names_the_runs_whose_regimes_are_no_clearer_than_chance(tmp_path, capsys):
    d = tmp_path / "prices"
    d.mkdir()
    prices(d / "oil.csv", 0)  # volatility switching every 150 days
    days = pd.bdate_range("2015-01-01", periods=900)
    flat = 100 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.01, 900)))  # one volatility throughout
    pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": flat.round(4)}).to_csv(d / "quiet.csv", index=False)
    assert cli.main(["run", REGIMES, "--each", str(d), "--out", str(tmp_path / "b"), "--quiet", *QUICK]) == 0
    table = pd.read_csv(tmp_path / "b" / "runs.csv").set_index("run")
    assert table["regimes_beyond_chance"].to_dict() == {"oil": True, "quiet": False}
    assert capsys.readouterr().out.splitlines()[0].endswith("; regimes no clearer than chance in 1 (quiet)")


def test_same_config_and_seed_give_the_same_batch(tmp_path, folder):
    for out in ("a", "b"):
        assert cli.main(["run", REGIMES, "--each", str(folder), "--out", str(tmp_path / out), "--quiet", *QUICK]) == 0
    for name in ("runs.csv", "report.html", "oil/regimes.csv", "gas/model.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_file_that_cannot_be_run_stops_the_batch_and_leaves_nothing(tmp_path, folder, capsys):
    (folder / "notes.csv").write_text("just,a\nnote,here\n")
    out = tmp_path / "batch"
    code = cli.main(["run", REGIMES, "--each", str(folder), "--out", str(out), "--quiet", *QUICK])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert "notes.csv" in err and "(file 3 of 4 of --each; nothing was written" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["prices"]


def test_an_earlier_batch_is_replaced_only_as_it_was_left(tmp_path, folder, capsys):
    out = tmp_path / "batch"
    args = ["run", REGIMES, "--each", str(folder / "oil.csv"), "--out", str(out), "--quiet", *QUICK]
    assert cli.main(args) == 0
    assert cli.main(args) == 2  # without --overwrite
    assert "holds an earlier run; pass --overwrite" in capsys.readouterr().err
    assert cli.main([*args, "--overwrite"]) == 0
    (out / "oil" / "my notes.txt").write_text("mine")  # a file of the user's inside one of its runs
    assert cli.main([*args, "--overwrite"]) == 2
    capsys.readouterr()
    assert (out / "oil" / "my notes.txt").read_text() == "mine"


def test_each_refuses_a_data_path_set_beside_it(tmp_path, folder, capsys):
    args = ["run", REGIMES, "--each", str(folder), "--set", f"data.path={folder / 'oil.csv'}", "--out", str(tmp_path / "b")]  # fmt: skip
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "--set data.path: --each puts each file there" in err and not (tmp_path / "b").exists()


def test_run_names_tell_files_apart():
    files = [
        Path("2025/sales.csv"),
        Path("2026/sales.csv"),
        Path("x/runs.csv.gz"),
        Path("y/report.html"),
        Path("a/b.csv"),
    ]
    assert run_names(files) == ["2025_sales", "2026_sales", "runs", "report", "b"]
    assert run_names([Path("a/x.csv"), Path("a/x.xlsx")]) == ["a_x", "a_x-2"]
    assert run_names([Path("a/runs.csv")]) == ["runs"] and run_names([Path("a/run.log")]) == ["run"]
    assert run_names([Path("d/summary.json.csv")]) == ["summary.json-2"]  # the batch's own summary.json


def test_each_is_refused_where_a_run_reads_a_set_of_files(tmp_path, capsys):
    speakers = str(REPO / "configs" / "speakers.yaml")
    assert cli.main(["run", speakers, "--each", str(tmp_path), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "--each: a speakers run reads a set of files, not one; name them in the config (data.enrol" in err


def test_a_batch_stopped_halfway_leaves_nothing(tmp_path, folder, capsys, monkeypatch):
    import os
    import signal
    import time

    from gmm_apps import runs

    finish, calls = runs._finish, []

    def second_stops(*a, **k):  # the first run finishes; SIGTERM (a job scheduler's stop) lands in the second
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here
        return finish(*a, **k)

    monkeypatch.setattr(runs, "_finish", second_stops)
    out = tmp_path / "batch"
    assert cli.main(["run", REGIMES, "--each", str(folder), "--out", str(out), "--quiet", *QUICK]) == 143
    assert capsys.readouterr().err.strip() == "error: terminated (SIGTERM); nothing was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices"] and len(calls) == 2


def test_each_from_python_gives_the_batch_and_its_runs(tmp_path, folder):
    import gmm_apps
    from gmm_apps.errors import ArgumentError, UserError

    sets = [QUICK[i + 1] for i in range(0, len(QUICK), 2)]
    files = [folder / "oil.csv", folder / "gas.csv"]
    batch = gmm_apps.run(REGIMES, each=files, out=tmp_path / "b", set=sets)
    assert list(batch.runs) == ["oil", "gas"] and batch.model is None  # in the order given
    table = batch.tables["runs"].set_index("run")
    oil = batch.runs["oil"]
    assert table.loc["oil", "regime"] == oil.summary["today"]["name"] and oil.model is not None
    assert oil.tables["regimes"].equals(gmm_apps.run(REGIMES, data=files[0], out=tmp_path / "one", set=sets).tables["regimes"])  # fmt: skip
    with pytest.raises(ArgumentError, match="each: expected a path or glob, or a list of them, without data"):
        gmm_apps.run(REGIMES, each=files, data=files[0], out=tmp_path / "c")
    with pytest.raises(ArgumentError):
        gmm_apps.run(REGIMES, each=42, out=tmp_path / "c")
    with pytest.raises(UserError, match="--each: no files named; give a file, a folder or a glob"):
        gmm_apps.run(REGIMES, each=[], out=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_init_on_a_folder_of_files_reads_one_and_suggests_each(tmp_path, folder, capsys, monkeypatch):
    import yaml

    (folder / "README.md").write_text("where these prices come from\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "regimes", "assets.yaml", "--data", "prices"]) == 0
    said = capsys.readouterr().out
    assert "from prices/gas.csv (a file of prices; the others alike)" in said
    assert said.rstrip().endswith('then: gmm-apps run assets.yaml --each "prices/*.csv"'), said
    assert yaml.safe_load(Path("assets.yaml").read_text())["data"]["path"] == "prices/gas.csv"
    assert cli.main(["run", "assets.yaml", "--each", "prices/*.csv", "--out", "b", "--quiet", *QUICK]) == 0
    assert pd.read_csv("b/runs.csv")["run"].tolist() == ["gas", "gold", "oil"]
    # a folder of photos is one input of the images pipeline: init keeps it
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    Image.fromarray(np.full((30, 40, 3), 120, np.uint8)).save(photos / "a.png")
    assert cli.main(["init", "images", "img.yaml", "--data", "photos"]) == 0
    assert "--each" not in capsys.readouterr().out
    assert yaml.safe_load(Path("img.yaml").read_text())["data"]["path"] == "photos"


def test_anomaly_runs_side_by_side_say_what_each_flagged(tmp_path):
    import gmm_apps

    samples = REPO / "gmm_apps" / "samples"
    files = [samples / "cardio_reference.csv", samples / "cardio_new.csv"]
    sets = ["data.score=null", "report.plots=false", "model.seeds=2"]
    batch = gmm_apps.run(ANOMALY, each=files, out=tmp_path / "b", set=sets)
    table = batch.tables["runs"].set_index("run")
    assert batch.summary["headline"].endswith(
        f"; flagged {table['flagged'].sum():,} of {table['scored_records'].sum():,} records in all"
    )
    for name, run in batch.runs.items():
        s = run.summary
        assert table.loc[name, "flagged"] == s["flagged"] == run.tables["scores"]["flag"].sum()
        assert table.loc[name, "roc_auc"] == pytest.approx(s["evaluation"]["roc_auc"])
    # a workbook of a site a sheet: a run each, reading its sheet, for any pipeline with data.sheet
    ref = pd.read_csv(files[0])
    with pd.ExcelWriter(tmp_path / "sites.xlsx") as xw:
        for k, site in enumerate(("north", "south")):
            ref.iloc[k::2].to_excel(xw, sheet_name=site, index=False)
    sites = gmm_apps.run(ANOMALY, each=tmp_path / "sites.xlsx", out=tmp_path / "s", set=sets)
    assert list(sites.runs) == ["north", "south"]
    for k, site in enumerate(("north", "south")):
        assert sites.runs[site].summary["reference_records"] == len(ref.iloc[k::2])
    # apply --update: each run learns from its new file too, and the batch it makes applies again
    updated = batch.apply(str(samples / "cardio_*.csv"), out=tmp_path / "u", update=True)
    assert updated.summary["updated_models"] and list(updated.runs) == ["cardio_new", "cardio_reference"]
    assert list(updated.apply(str(samples / "cardio_new.csv"), out=tmp_path / "u2").runs) == ["cardio_new"]


def test_the_batch_report_shows_each_runs_chart(tmp_path, folder):
    out = tmp_path / "b"
    plots = QUICK[2:]  # the quick settings, plots drawn
    assert cli.main(["run", REGIMES, "--each", str(folder), "--out", str(out), "--quiet", *plots]) == 0
    html = (out / "report.html").read_text()
    assert html.count("<img") == 3 and all(f"<figcaption>{n}</figcaption>" in html for n in ("gas", "gold", "oil"))


def test_a_batch_applies_each_run_to_the_new_file_of_its_name(tmp_path, folder, capsys, gmm_log):
    import gmm_apps
    from gmm_apps.errors import UserError

    batch = tmp_path / "batch"
    assert cli.main(["run", REGIMES, "--each", str(folder), "--out", str(batch), "--quiet", *QUICK]) == 0
    today = tmp_path / "today"  # the latest prices of two of the three, as a trader downloads them each day
    today.mkdir()
    for name in ("oil", "gold"):
        prices(today / f"{name}.csv", {"oil": 10, "gold": 11}[name], n=300)
    out = tmp_path / "applied"
    assert cli.main(["apply", str(batch), str(today), "--out", str(out), "--quiet"]) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[-2]
        .startswith(f"2 regimes runs of {batch} applied to their new files; today ")
    )
    table = pd.read_csv(out / "runs.csv").set_index("run")
    assert list(table.index) == ["gold", "oil"] and "1 run(s) of " in gmm_log.text and "left out: gas" in gmm_log.text
    for name in ("gold", "oil"):  # each as applying its run alone gives
        alone = tmp_path / f"alone-{name}"
        assert cli.main(["apply", str(batch / name), str(today / f"{name}.csv"), "--out", str(alone), "--quiet"]) == 0
        assert (alone / "regimes.csv").read_bytes() == (out / name / "regimes.csv").read_bytes()
        assert table.loc[name, "regime"] == json.loads((alone / "summary.json").read_text())["today"]["name"]
    # a new file named as no run, and a batch of applied runs, are refused in one line
    prices(today / "copper.csv", 12, n=300)
    assert cli.main(["apply", str(batch), str(today), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        "1 file(s) whose name is no run of" in err
        and "copper.csv (copper)" in err
        and "its runs are gas, gold, oil" in err
    )
    assert cli.main(["apply", str(out), str(today / "oil.csv"), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert (
        f"runs applied to new files hold no models; apply the run or batch they came from, {batch}"
        in capsys.readouterr().err
    )
    assert cli.main(["apply", str(batch), str(today), "--out", str(tmp_path / "x"), "--update"]) == 2
    assert (
        "--update: the regimes pipeline cannot update its models in apply; rerun the batch" in capsys.readouterr().err
    )
    assert not (tmp_path / "x").exists()
    # from Python, the batch's apply does the same
    again = gmm_apps.load_run(batch).apply(str(today / "[go]*.csv"), out=tmp_path / "py")
    assert list(again.runs) == ["gold", "oil"]
    assert again.runs["oil"].tables["regimes"].equals(pd.read_csv(out / "oil" / "regimes.csv"))
    with pytest.raises(UserError, match="a batch applies to a folder or glob of files named as its runs"):
        gmm_apps.load_run(batch).apply(pd.DataFrame({"a": [1]}), out=tmp_path / "py2")


def test_keep_going_leaves_out_the_files_that_cannot_be_run_and_says_why(tmp_path, folder, capsys):
    import gmm_apps
    from gmm_apps.errors import ArgumentError

    (folder / "notes.csv").write_text("just,a\nnote,here\n")
    out = tmp_path / "b"
    args = ["run", REGIMES, "--each", str(folder), "--out", str(out), "--quiet", "--keep-going", *QUICK]
    assert cli.main(args) == 0
    said = capsys.readouterr()
    assert said.out.startswith("3 regimes runs, one per file; today ")
    assert said.out.splitlines()[0].endswith("; 1 file(s) could not be run, left out (runs.csv says why)")
    assert "left out (--keep-going): " in (out / "run.log").read_text()  # --quiet: the log says it
    table = pd.read_csv(out / "runs.csv")
    assert table["run"].tolist() == ["gas", "gold", "oil", "notes"]
    assert table["error"].isna().tolist() == [True, True, True, False] and "notes.csv" in table["error"].iloc[3]
    assert not (out / "notes").exists() and sorted(gmm_apps.load_run(out).runs) == ["gas", "gold", "oil"]
    assert json.loads((out / "summary.json").read_text())["failed"][0]["run"] == "notes"
    # the same for a batch applied to new files, one of them broken
    today = tmp_path / "today"
    today.mkdir()
    prices(today / "oil.csv", 5, n=300)
    (today / "gas.csv").write_text("Date,Close\n2020-01-01,abc\n")
    assert cli.main(["apply", str(out), str(today), "--out", str(tmp_path / "a"), "--quiet", "--keep-going"]) == 0
    applied = pd.read_csv(tmp_path / "a" / "runs.csv")
    assert applied["run"].tolist() == ["oil", "gas"] and applied["error"].notna().tolist() == [False, True]
    # every file failing, or --keep-going without a batch, is an error
    assert cli.main(["run", REGIMES, "--each", str(folder / "notes.csv"), "--out", str(tmp_path / "c"), "--keep-going", "--quiet"]) == 2  # fmt: skip
    assert "every file of --each failed; the first: " in capsys.readouterr().err and not (tmp_path / "c").exists()
    assert cli.main(["run", REGIMES, "--keep-going", "--out", str(tmp_path / "c")]) == 2
    assert "--keep-going: only with --each" in capsys.readouterr().err
    with pytest.raises(ArgumentError, match="keep_going: only with each"):
        gmm_apps.run(REGIMES, keep_going=True, out=tmp_path / "c")


def test_jobs_run_files_at_once_giving_the_same_runs_and_the_same_log(tmp_path, folder, capsys):
    import gmm_apps
    from gmm_apps.errors import ArgumentError

    prices(folder / "flat.csv", 3).write_text((folder / "flat.csv").read_text() + "2018-06-15,0\n")  # a warning
    said = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        args = ["run", REGIMES, "--each", str(folder), "--out", str(out), "--jobs", jobs, *QUICK]
        assert cli.main([*args, "--set", "data.nonpositive=drop"]) == 0
        said[jobs] = capsys.readouterr().err.replace(str(out), "OUT")
    assert said["2"] == said["1"]  # every run's messages, in the order of the files, as one after another says them
    assert "[4/4]" in said["2"] and "flat.csv: 1 row(s) of 'Close' with a price at or below zero left out" in said["2"]
    assert "with a price at or below zero left out" in (tmp_path / "j2" / "run.log").read_text()
    for name in ("runs.csv", "report.html", "oil/regimes.csv", "gas/model.npz", "flat/regime_stats.csv"):
        assert (tmp_path / "j1" / name).read_bytes() == (tmp_path / "j2" / name).read_bytes(), name
    # applied at once to new files, as one after another
    today = tmp_path / "today"
    today.mkdir()
    for i, name in enumerate(("oil", "gas")):
        prices(today / f"{name}.csv", 20 + i, n=300)
    for jobs in ("1", "2"):
        assert cli.main(["apply", str(tmp_path / "j1"), str(today), "--out", str(tmp_path / f"a{jobs}"), "-j", jobs, "--quiet"]) == 0  # fmt: skip
    assert (tmp_path / "a1" / "oil" / "regimes.csv").read_bytes() == (tmp_path / "a2" / "oil" / "regimes.csv").read_bytes()  # fmt: skip
    # a file that cannot be run stops the batch at once, named; or is left out with --keep-going
    (folder / "notes.csv").write_text("just,a\nnote,here\n")
    args = ["run", REGIMES, "--each", str(folder), "--out", str(tmp_path / "x"), "-j", "2", "--quiet", *QUICK]
    args += ["--set", "data.nonpositive=drop"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "notes.csv" in err and "(file 4 of 5 of --each; nothing was written" in err, err
    assert not (tmp_path / "x").exists()
    assert cli.main([*args, "--keep-going"]) == 0
    table = pd.read_csv(tmp_path / "x" / "runs.csv")
    assert table["run"].tolist() == ["flat", "gas", "gold", "oil", "notes"] and "notes.csv" in table["error"].iloc[4]
    # --jobs where it means nothing, or not a count of processes, is refused
    for bad, message in (
        (["run", REGIMES, "--jobs", "2"], "--jobs: only with --each"),
        (["run", REGIMES, "--each", str(folder), "--jobs", "0"], "--jobs/-j: expected a whole number of processes"),
        (["run", ANOMALY, "--each", str(folder), "-j", "2", "--set", "engine.kind=dask"], "engine.kind is dask, whose"),
        (
            ["apply", str(tmp_path / "j1" / "oil"), str(today / "oil.csv"), "-j", "2"],
            "--jobs: only when applying a batch",
        ),
    ):
        assert cli.main(bad) == 2
        assert message in capsys.readouterr().err
    batch = gmm_apps.run(REGIMES, each=[folder / "oil.csv", folder / "gas.csv"], out=tmp_path / "py", set=[QUICK[1], QUICK[3], QUICK[5]], n_jobs=2)  # fmt: skip
    assert batch.runs["oil"].tables["regimes"].equals(pd.read_csv(tmp_path / "j1" / "oil" / "regimes.csv"))
    import logging

    lg = logging.getLogger("gmm_apps")
    lg.propagate, handlers = True, list(lg.handlers)  # a notebook's logging, which one file's batch leaves as it was
    gmm_apps.run(REGIMES, each=folder / "oil.csv", out=tmp_path / "py1", set=[QUICK[1], QUICK[3], QUICK[5]], n_jobs=2)
    assert lg.propagate and lg.handlers == handlers
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ArgumentError, match="n_jobs: expected a whole number of processes"):
            gmm_apps.run(REGIMES, each=folder, n_jobs=bad, out=tmp_path / "c")
    with pytest.raises(ArgumentError, match="n_jobs: only with each"):
        gmm_apps.run(REGIMES, n_jobs=2, out=tmp_path / "c")
    with pytest.raises(ArgumentError, match="n_jobs: only when applying a batch"):
        batch.runs["oil"].apply(str(today / "oil.csv"), n_jobs=2, out=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_batch_of_files_at_once_stopped_halfway_stops_its_workers_and_leaves_nothing(tmp_path, folder):
    import os
    import signal
    import subprocess
    import sys
    import time

    for name in ("oil", "gas", "gold", "zinc"):
        prices(folder / f"{name}.csv", len(name), n=4000)
    out = tmp_path / "batch"
    cmd = [sys.executable, "-m", "gmm_apps", "run", REGIMES, "--each", str(folder), "--out", str(out), "-j", "2"]
    proc = subprocess.Popen([*cmd, *QUICK], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert "[1/4]" in proc.stderr.readline() + proc.stderr.readline()  # the workers are running
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143 and err.strip().endswith("error: terminated (SIGTERM); nothing was written"), err
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.isdir(f"/proc/{p}") and _cwd_is(p, tmp_path) for p in os.listdir("/proc") if p.isdigit()):  # fmt: skip
        time.sleep(0.2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices"]
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cwd_is(p, tmp_path)]  # no worker left running


def _cwd_is(pid, folder):
    """Whether process ``pid`` works in ``folder`` (a batch's workers work where the run was started)."""
    import os

    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(folder)
    except OSError:
        return False


def workbook(path, sheets, seed=0, n=900, start="2015-01-01"):
    """An Excel workbook of price sheets (name -> seed), each as :func:`prices` writes a file."""
    with pd.ExcelWriter(path) as xw:
        for name, s in sheets.items():
            csv = prices(path.parent / f".{name}.csv", s + seed, n=n)
            pd.read_csv(csv).to_excel(xw, sheet_name=name, index=False)
            csv.unlink()
    return path


def test_one_workbook_of_an_asset_a_sheet_is_run_once_per_sheet(tmp_path, folder, capsys):
    book = workbook(tmp_path / "book.xlsx", {"oil": 0, "gas": 1, "gold": 2})
    out = tmp_path / "b"
    assert cli.main(["run", REGIMES, "--each", str(book), "--out", str(out), "--quiet", *QUICK]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("3 regimes runs, one per sheet; today ")
    table = pd.read_csv(out / "runs.csv")
    assert table["run"].tolist() == ["oil", "gas", "gold"]  # the workbook's order
    assert table["input"].tolist() == [str(book)] * 3 and table["sheet"].tolist() == ["oil", "gas", "gold"]
    assert f"on 3 sheets of {book} (--each)" in (out / "run.log").read_text()
    for name in ("oil", "gas"):  # each as the sheet's own run, and as the same prices in a file
        alone = tmp_path / f"alone-{name}"
        assert cli.main(["run", REGIMES, "--set", f"data.path={folder / f'{name}.csv'}", "--out", str(alone), "--quiet", *QUICK]) == 0  # fmt: skip
        assert (alone / "regimes.csv").read_bytes() == (out / name / "regimes.csv").read_bytes()
    (tmp_path / "c.yaml").write_text(f"pipeline: regimes\ndata:\n  path: {book}\n")
    args = [
        "run",
        str(tmp_path / "c.yaml"),
        "--each",
        str(book),
        "--set",
        "data.sheet=gas",
        "--out",
        str(tmp_path / "x"),
    ]
    assert cli.main(args) == 2 and not (tmp_path / "x").exists()
    assert "--set data.sheet: --each runs each sheet of " in capsys.readouterr().err
    # a batch applied to a workbook: each run to the sheet of its name, whatever its run was made from
    today = workbook(tmp_path / "today.xlsx", {"gold": 11, "oil": 10}, n=300)
    files = tmp_path / "b-files"
    assert cli.main(["run", REGIMES, "--each", str(folder), "--out", str(files), "--quiet", *QUICK]) == 0
    for batch, dest in ((out, "a"), (files, "af")):
        assert cli.main(["apply", str(batch), str(today), "--out", str(tmp_path / dest), "--quiet"]) == 0
    csvs = tmp_path / "today"
    csvs.mkdir()
    for name, s in (("gold", 11), ("oil", 10)):
        prices(csvs / f"{name}.csv", s, n=300)
    assert cli.main(["apply", str(out), str(csvs), "--out", str(tmp_path / "ac"), "--quiet"]) == 0
    for name in ("gold", "oil"):  # the same labels from the sheet and from the file of the same prices
        got = {d: (tmp_path / d / name / "regimes.csv").read_bytes() for d in ("a", "af", "ac")}
        assert got["a"] == got["af"] == got["ac"], name
    # a sheet named as no run is refused; a sheet that cannot be run is named
    strays = workbook(tmp_path / "new.xlsx", {"oil": 3, "zinc": 4}, n=300)
    assert cli.main(["apply", str(out), str(strays), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"1 sheet(s) whose name is no run of {out}: {strays}, sheet zinc (zinc)" in err
    with pd.ExcelWriter(tmp_path / "bad.xlsx") as xw:
        for name in ("oil", "gas"):
            sheet = pd.read_csv(folder / f"{name}.csv")
            sheet["Close"] *= name == "oil"  # gas's prices all zero
            sheet.to_excel(xw, sheet_name=name, index=False)
    assert cli.main(["run", REGIMES, "--each", str(tmp_path / "bad.xlsx"), "--out", str(tmp_path / "x"), "--quiet", *QUICK]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert (
        "bad.xlsx" in err
        and "(sheet 'gas', 2 of 2, of --each; nothing was written: fix that sheet, or leave it out with --keep-going)"
        in err
    ), err
    assert not (tmp_path / "x").exists()


def test_init_on_a_workbook_tells_an_asset_a_sheet_from_a_series_split_by_year(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    workbook(tmp_path / "assets.xlsx", {"SPY": 0, "QQQ": 1})
    with pd.ExcelWriter(tmp_path / "years.xlsx") as xw:  # one series, a year a sheet
        whole = pd.read_csv(prices(tmp_path / "whole.csv", 5, n=520))
        for year, part in whole.groupby(whole["Date"].str[:4]):
            part.to_excel(xw, sheet_name=year, index=False)
    assert cli.main(["init", "regimes", "a.yaml", "--data", "assets.xlsx"]) == 0
    said = capsys.readouterr().out
    assert "(its sheet SPY; the other 1 alike)" in said and said.strip().endswith(
        "gmm-apps run a.yaml --each assets.xlsx"
    )
    assert cli.main(["init", "regimes", "y.yaml", "--data", "years.xlsx"]) == 0
    said = capsys.readouterr().out
    assert "with data.path, data.sheet from years.xlsx" in said and said.strip().endswith("gmm-apps run y.yaml")
    from gmm_apps.registry import get_pipeline

    with pd.ExcelWriter(tmp_path / "seam.xlsx") as xw:  # years whose sheets share their seam's day: still years
        whole.iloc[:261].to_excel(xw, sheet_name="2015", index=False)
        whole.iloc[260:].to_excel(xw, sheet_name="2016", index=False)
    regimes = get_pipeline("regimes")
    assert not regimes.sheets_are_runs("seam.xlsx", ["2015", "2016"])
    assert regimes.sheets_are_runs("assets.xlsx", ["SPY", "QQQ"])
    assert cli.main(["run", "y.yaml", "--out", "ry", "--quiet", *QUICK]) == 0  # its sheets stacked: the whole series
    assert cli.main(["run", REGIMES, "--set", "data.path=whole.csv", "--out", "rw", "--quiet", *QUICK]) == 0
    assert (tmp_path / "ry" / "regimes.csv").read_bytes() == (tmp_path / "rw" / "regimes.csv").read_bytes()


def _inner_pids(_):
    """The processes a worker's own jobs run in (a run in a batch's worker that would start workers)."""
    import os

    from gmm_apps.workers import map_jobs

    with map_jobs(_pid, [0, 1], 2) as results:
        return os.getpid(), list(results)


def _pid(_):
    import os

    return os.getpid()


def test_a_worker_starts_no_workers_of_its_own():
    import os

    from gmm_apps.workers import map_jobs

    with map_jobs(_inner_pids, [0, 1], 2, preload=[__name__]) as results:
        got = list(results)
    for worker, inner in got:  # each worker runs its own jobs itself: the cores are the batch's
        assert worker != os.getpid() and inner == [worker, worker]


def test_one_wide_file_of_a_series_a_column_is_run_once_per_series(tmp_path, folder, capsys, monkeypatch):
    import gmm_apps
    from gmm_apps.registry import get_pipeline

    monkeypatch.chdir(tmp_path)
    series = {n: pd.read_csv(folder / f"{n}.csv").set_index("Date")["Close"] for n in ("oil", "gas", "gold")}
    wide = pd.DataFrame(series)
    wide.iloc[5, 1] = np.nan  # gas has a day without a price, as FRED's files do
    wide.rename_axis("DATE").to_csv("wide.csv")
    assert cli.main(["init", "regimes", "w.yaml", "--data", "wide.csv"]) == 0
    said = capsys.readouterr().out
    assert "with data.path, data.missing from wide.csv (its series oil; the other 2 alike)" in said  # gas's gap
    assert said.strip().endswith("gmm-apps run w.yaml --each wide.csv")
    assert cli.main(["run", "w.yaml", "--each", "wide.csv", "--out", "b", "--quiet", "-j", "2", *QUICK]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("3 regimes runs, one per series; today ")
    table = pd.read_csv(tmp_path / "b" / "runs.csv")
    assert table["run"].tolist() == ["oil", "gas", "gold"] and table.loc[1, ["input", "series"]].tolist() == [
        "wide.csv",
        "gas",
    ]
    for name in ("oil", "gas"):  # each as its column's own run
        sets = ["--set", "data.path=wide.csv", "--set", f"data.price_column={name}"]
        assert cli.main(["run", "w.yaml", *sets, "--out", f"alone-{name}", "--quiet", *QUICK]) == 0
        assert (tmp_path / f"alone-{name}" / "regimes.csv").read_bytes() == (tmp_path / "b" / name / "regimes.csv").read_bytes()  # fmt: skip
    # applied to a newer wide file, each run reads its column; to a folder of files, each its own file
    wide.iloc[-300:].rename_axis("DATE").to_csv("new.csv")
    (tmp_path / "files").mkdir()
    for name in ("oil", "gold"):
        wide[[name]].iloc[-300:].rename(columns={name: "Close"}).rename_axis("Date").to_csv(f"files/{name}.csv")
    assert cli.main(["apply", "b", "new.csv", "--out", "a", "--quiet"]) == 0
    assert cli.main(["apply", "b", "files", "--out", "af", "--quiet"]) == 0
    for name in ("oil", "gold"):
        assert (tmp_path / "a" / name / "regimes.csv").read_bytes() == (tmp_path / "af" / name / "regimes.csv").read_bytes()  # fmt: skip
    assert sorted(gmm_apps.load_run(tmp_path / "a").runs) == ["gas", "gold", "oil"]
    assert cli.main(["apply", "b/gas", "files/oil.csv", "--out", "x", "--quiet"]) == 2  # another file's own column
    assert (
        "column 'gas' (prices) not found; columns are Close; set data.price_column to one of them (applying a run, which reads the column it was made from"
        in capsys.readouterr().err
    )
    # a saved yfinance download of several tickers is its tickers
    fields = {"Close": wide.dropna(), "Volume": wide.dropna() * 0 + 5}
    pd.concat(fields, axis=1, names=["Price", "Ticker"]).to_csv("yf.csv")
    parts = get_pipeline("regimes").parts("yf.csv")
    assert [(p.kind, p.name, p.overrides) for p in parts] == [("series", n, {"data.price_column": n}) for n in ("oil", "gas", "gold")]  # fmt: skip
    assert get_pipeline("regimes").parts(folder / "oil.csv") is None  # one series: one input
    # a wide file saved by pandas with its row numbers first: they are no series
    wide.rename_axis("Date").reset_index().to_csv("numbered.csv")
    assert [p.name for p in get_pipeline("regimes").parts("numbered.csv")] == ["oil", "gas", "gold"]
    # a long file (a row per date and series, as databases export it, sorted by date) is its series
    wide.dropna().rename_axis("Date").reset_index().melt("Date", var_name="ticker").sort_values("Date", kind="stable").to_csv("long.csv", index=False)  # fmt: skip
    assert cli.main(["init", "regimes", "l.yaml", "--data", "long.csv"]) == 0
    assert (
        "(its series oil; the other 2 alike); check it, then: gmm-apps run l.yaml --each long.csv"
        in capsys.readouterr().out
    )
    assert cli.main(["run", REGIMES, "--each", "long.csv", "--out", "bl", "--quiet", *QUICK]) == 0
    assert pd.read_csv(tmp_path / "bl" / "runs.csv")["run"].tolist() == ["oil", "gas", "gold"]
    sets = ["--set", "data.path=long.csv", "--set", "data.series_column=ticker", "--set", "data.series=gold"]
    assert cli.main(["run", REGIMES, *sets, "--out", "alone-long", "--quiet", *QUICK]) == 0
    assert (tmp_path / "alone-long" / "regimes.csv").read_bytes() == (
        tmp_path / "bl" / "gold" / "regimes.csv"
    ).read_bytes()
    # a run of a wide file's column is named as its column (its charts' axis); of a file's close, as its file
    from gmm_apps.pipelines.regimes import data as data_mod

    assert list(data_mod.load_file("wide.csv", price_column="gold").prices.columns) == ["gold"]
    assert list(data_mod.load_file(folder / "oil.csv", price_column="Close").prices.columns) == ["oil"]
    assert "<h1>regimes: one run per series</h1>" in (tmp_path / "b" / "report.html").read_text()


def test_one_run_applied_to_a_folder_of_new_files_applies_to_each(tmp_path, capsys):
    import gmm_apps
    from gmm_apps.errors import ArgumentError

    samples = REPO / "gmm_apps" / "samples"
    run = tmp_path / "run"
    sets = ["--set", "report.plots=false", "--set", "model.seeds=2"]
    assert cli.main(["run", ANOMALY, "--out", str(run), "--quiet", *sets]) == 0
    capsys.readouterr()
    daily = tmp_path / "daily"  # an analyst's daily exports of new records
    daily.mkdir()
    new = pd.read_csv(samples / "cardio_new.csv")
    for i in range(3):
        new.iloc[i * 60 : (i + 1) * 60].to_csv(daily / f"day{i}.csv", index=False)
    out = tmp_path / "a"
    assert cli.main(["apply", str(run), str(daily), "--out", str(out), "--quiet", "-j", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(f"3 anomaly runs of {run} applied to each file; flagged ")
    table = pd.read_csv(out / "runs.csv").set_index("run")
    for i in range(3):  # each as the run applied to that file alone
        alone = tmp_path / f"alone{i}"
        assert cli.main(["apply", str(run), str(daily / f"day{i}.csv"), "--out", str(alone), "--quiet"]) == 0
        assert (alone / "scores.csv").read_bytes() == (out / f"day{i}" / "scores.csv").read_bytes()
        assert table.loc[f"day{i}", "flagged"] == pd.read_csv(alone / "scores.csv")["flag"].sum()
    # a file that cannot be scored is named, or left out with --keep-going; --update learns from one file
    (daily / "notes.csv").write_text("a,b\nx,y\n")
    assert cli.main(["apply", str(run), str(daily), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "notes.csv" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert cli.main(["apply", str(run), str(daily), "--out", str(tmp_path / "k"), "--quiet", "--keep-going"]) == 0
    assert pd.read_csv(tmp_path / "k" / "runs.csv")["error"].notna().tolist() == [False] * 3 + [True]
    assert cli.main(["apply", str(run), str(daily), "--out", str(tmp_path / "x"), "--update"]) == 2
    assert "--update: learns from one file" in capsys.readouterr().err
    # from Python the same; a file is its one application, a glob of one file a batch of one
    applied = gmm_apps.load_run(run).apply(str(daily / "day*.csv"), out=tmp_path / "py", n_jobs=2)
    assert sorted(applied.runs) == ["day0", "day1", "day2"]
    one = gmm_apps.load_run(run).apply(str(daily / "day1.csv"), out=tmp_path / "one")
    assert one.summary.get("kind") != "batch" and one.tables["scores"].equals(applied.runs["day1"].tables["scores"])
    assert list(gmm_apps.load_run(run).apply(str(daily / "day1*"), out=tmp_path / "g").runs) == ["day1"]
    with pytest.raises(ArgumentError, match="update: learns from one file"):
        gmm_apps.load_run(run).apply(str(daily), out=tmp_path / "x", update=True)


def test_images_runs_side_by_side_say_how_each_was_segmented(tmp_path):
    from PIL import Image

    import gmm_apps

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray((rng.random((40, 60, 3)) * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
    sets = ["run.n_jobs=1", "model.n_fits=1", "model.sample_size=1000"]
    batch = gmm_apps.run("images", each=tmp_path / "*.png", out=tmp_path / "b", set=sets)
    table = batch.tables["runs"].set_index("run")
    for name, run in batch.runs.items():
        assert table.loc[name, "images"] == 1
        assert (
            table.loc[name, "mean_segments"]
            == run.summary["mean_segments"]
            == run.tables["images"]["n_segments"].mean()
        )


def test_a_batch_applies_to_daily_downloads_named_with_their_date(tmp_path, folder, capsys):
    batch = tmp_path / "b"
    assert cli.main(["run", REGIMES, "--each", str(folder), "--out", str(batch), "--quiet", *QUICK]) == 0
    today = tmp_path / "today"
    today.mkdir()
    for name, seed in (("oil", 10), ("gold", 11)):
        prices(today / f"{name}_2026-12-06.csv", seed, n=300)
    assert cli.main(["apply", str(batch), str(today), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "a" / "runs.csv")["run"].tolist() == ["gold", "oil"]
    assert cli.main(["apply", str(batch / "oil"), str(today / "oil_2026-12-06.csv"), "--out", str(tmp_path / "o"), "--quiet"]) == 0  # fmt: skip
    assert (tmp_path / "o" / "regimes.csv").read_bytes() == (tmp_path / "a" / "oil" / "regimes.csv").read_bytes()
    # two days of one run are refused, naming them; a batch made of dated files takes another day's too
    prices(today / "oil-20261207.csv", 12, n=300)
    assert cli.main(["apply", str(batch), str(today), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "2 files go to run oil of " in capsys.readouterr().err and not (tmp_path / "x").exists()
    dated = tmp_path / "b2"
    assert cli.main(["run", REGIMES, "--each", str(today / "*_2026-12-06.csv"), "--out", str(dated), "--quiet", *QUICK]) == 0  # fmt: skip
    assert cli.main(["apply", str(dated), str(today / "oil-20261207.csv"), "--out", str(tmp_path / "a2"), "--quiet"]) == 0  # fmt: skip
    assert pd.read_csv(tmp_path / "a2" / "runs.csv")["run"].tolist() == ["oil_2026-12-06"]


def test_a_batch_of_daily_files_names_those_that_moved_from_the_reference(tmp_path, capsys):
    samples = REPO / "gmm_apps" / "samples"
    run = tmp_path / "run"
    assert cli.main(["run", ANOMALY, "--out", str(run), "--quiet", "--set", "report.plots=false"]) == 0
    daily = tmp_path / "daily"
    daily.mkdir()
    new = pd.read_csv(samples / "cardio_new.csv")
    rows = new.sample(frac=1, random_state=0)  # the file is sorted: its anomalies last
    rows.iloc[:300].to_csv(daily / "mon.csv", index=False)
    moved = rows.iloc[300:600].copy()
    moved["LB"] += 4  # a recalibrated device: a reading (standardised) 4 higher, every record
    moved.to_csv(daily / "tue.csv", index=False)
    capsys.readouterr()
    assert cli.main(["apply", str(run), str(daily), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    said = capsys.readouterr().out.splitlines()[0]
    assert said.endswith("; far more flagged than records like the reference in 1 (tue)")
    table = pd.read_csv(tmp_path / "a" / "runs.csv").set_index("run")
    assert table["compared_with_reference"].to_dict() == {"mon": "like the reference", "tue": "more unusual"}
    tue = json.loads((tmp_path / "a" / "tue" / "summary.json").read_text())
    assert tue["compared_with_reference"]["features"][0]["feature"] == "LB"
