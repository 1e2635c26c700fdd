"""The shared framework: config validation, overrides, registry, run folders, CLI errors, reports."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmm_apps import cli, registry
from gmm_apps.config import SelectedModel
from gmm_apps.errors import ConfigError
from gmm_apps.paths import resolve_inputs
from gmm_apps.report import (
    Report,
    mixture_evaluation,
    model_evaluation,
    plain_log_axis,
    plot_confidence_histogram,
    plot_score_histogram,
    png_bytes,
)
from gmm_apps.run_context import RunContext
from gmm_apps.yaml_io import apply_overrides, parse_override

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def run_cli(args, capsys):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def small_prices(tmp_path, n=400, name="prices.csv"):
    from arch.data import sp500

    df = sp500.load()["Adj Close"].iloc[:n].rename("Close").to_frame()
    df.index.name = "Date"
    p = tmp_path / name
    df.to_csv(p)
    return p


FAST = [
    "--set",
    "report.stability_seeds=2",
    "--set",
    "report.bic_candidates=[2]",
    "--set",
    "model.n_init=2",
    "--set",
    "split.holdout_start=null",
    "--set",
    "report.plots=false",
]


# ------------------------------------------------------------------ config
def test_parse_override_reads_yaml_values():
    assert parse_override("model.n_components=4") == (["model", "n_components"], 4)
    assert parse_override("data.path=prices.csv") == (["data", "path"], "prices.csv")
    assert parse_override("model.n_components=[2, 3]") == (["model", "n_components"], [2, 3])
    assert parse_override("split.holdout_start=null") == (["split", "holdout_start"], None)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("model.n_components")


def test_apply_overrides_creates_sections_and_refuses_scalars():
    raw = {"pipeline": "regimes", "model": {"n_init": 2}}
    out = apply_overrides(raw, ["model.n_init=5", "data.path=x.csv"])
    assert out == {"pipeline": "regimes", "model": {"n_init": 5}, "data": {"path": "x.csv"}}
    assert raw["model"]["n_init"] == 2  # the input is not modified
    with pytest.raises(ConfigError, match="pipeline is not a section"):
        apply_overrides(raw, ["pipeline.x=1"])


def test_model_section_candidates():
    assert SelectedModel(n_components=3).candidates() == [3]
    assert SelectedModel(n_components=[4, 2, 2]).candidates() == [2, 4]
    assert SelectedModel(n_components={"min": 2, "max": 4}).candidates() == [2, 3, 4]
    with pytest.raises(ValueError, match="1 <= K1 <= K2"):
        SelectedModel(n_components={"min": 3, "max": 1})


def test_resolve_inputs_file_folder_glob(tmp_path):
    for n in ("a.png", "b.png", "c.txt"):
        (tmp_path / n).write_text("x")
    assert [p.name for p in resolve_inputs(str(tmp_path), key="data.path", source="c.yaml", suffixes={".png"})] == [
        "a.png",
        "b.png",
    ]
    assert [p.name for p in resolve_inputs(str(tmp_path / "*.txt"), key="data.path", source="c.yaml")] == ["c.txt"]
    with pytest.raises(ConfigError, match="c.yaml: data.path: file not found"):
        resolve_inputs(str(tmp_path / "nope.csv"), key="data.path", source="c.yaml")
    with pytest.raises(ConfigError, match="matches no files"):
        resolve_inputs(str(tmp_path / "*.wav"), key="data.path", source="c.yaml")


# -------------------------------------------------------------- registry
def test_what_the_system_keeps_in_a_folder_is_not_read(tmp_path, gmm_log):
    # a Mac's resource copies and a zip's __MACOSX, a Synology's thumbnails, Windows' caches: never an input
    for rel in ("a.png", "sub/b.png", "._a.png", "__MACOSX/._a.png", ".thumbnails/a.png", "@eaDir/a/THUMB.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "Thumbs.db").write_bytes(b"x")
    got = resolve_inputs(str(tmp_path), key="data.path", source="c.yaml", suffixes={".png"})
    globbed = resolve_inputs(str(tmp_path / "**" / "*.png"), key="data.path", source="c.yaml")
    assert [p.relative_to(tmp_path).as_posix() for p in got] == ["a.png", "sub/b.png"]
    assert [p.relative_to(tmp_path).as_posix() for p in globbed] == ["a.png", "sub/b.png"]
    assert "5 hidden or system file(s) and folder(s) left out (" in gmm_log.text  # and no "not of a kind" warning
    assert "not of a kind read here" not in gmm_log.text
    # named, they are read: a hidden folder given as the folder, a system folder named in the glob
    assert [p.name for p in resolve_inputs(str(tmp_path / ".thumbnails"), key="k", source="c")] == ["a.png"]
    assert [p.name for p in resolve_inputs(str(tmp_path / "@eaDir" / "*" / "*.png"), key="k", source="c")] == [
        "THUMB.png"
    ]
    assert resolve_inputs(str(tmp_path / "._a.png"), key="k", source="c") == [tmp_path / "._a.png"]


def test_registry_lists_builtins_and_rejects_unknown():
    assert "regimes" in registry.available()
    assert registry.get_pipeline("regimes").name == "regimes"
    with pytest.raises(ConfigError, match="unknown pipeline 'nope'; available: .*regimes"):
        registry.get_pipeline("nope")


def test_registry_reads_entry_points(monkeypatch):
    class FakeEP:
        name = "thirdparty"

        def load(self):
            class P(registry.Pipeline):
                name = "thirdparty"
                description = "from a plugin"

            return P

    monkeypatch.setattr(registry, "_entry_points", lambda: {"thirdparty": FakeEP()})
    assert "thirdparty" in registry.available()
    assert registry.get_pipeline("thirdparty").description == "from a plugin"
    assert ("thirdparty", "from a plugin") in registry.describe()


# ----------------------------------------------------------- CLI errors
@pytest.mark.parametrize(
    "text, message",
    [
        ("pipeline: regimes\nmodel: [1, 2\n", "malformed YAML at line"),
        ("pipeline: regimes\nmodel:\n  n_componentz: 3\n", "unknown key 'model.n_componentz'"),
        ("pipeline: regimes\nmodel:\n  n_components: many\n", "model.n_components"),
        ("pipeline: regimes\nmodel:\n  n_init: -1\n", "model.n_init: Input should be greater than or equal to 1"),
        ("pipeline: nope\n", "unknown pipeline 'nope'; available:"),
        ("data: {}\n", "missing required key 'pipeline'"),
        ("", "config file is empty"),
        ("pipeline: regimes\ndata:\n  path: /no/such/prices.csv\n", "data.path: file not found: /no/such/prices.csv"),
        ("pipeline: regimes\nfeatures:\n  use: [log_return, wobble]\n", "features.use"),
        (  # a header with a colon and a space, unquoted, is a mapping to YAML
            "pipeline: regimes\ndata:\n  price_column: Close: USD\n",
            "malformed YAML at line",
        ),
        (
            "pipeline: anomaly\ndata:\n  id_column: {Unnamed: 0}\n",
            "data.id_column: expected text, got 'Unnamed: 0', read by YAML as a mapping (a colon and a space in it); "
            'quote it: id_column: "Unnamed: 0" (on the command line: --set \'data.id_column="Unnamed: 0"\')',
        ),
        (
            "pipeline: anomaly\ndata:\n  columns: [amount, Rate: 2]\n",
            "data.columns.1: expected text, got 'Rate: 2', read by YAML as a mapping (a colon and a space in it); "
            'quote it: "Rate: 2"',
        ),
    ],
)
def test_bad_configs_give_one_line_and_status_2(tmp_path, capsys, text, message):
    cfg = write(tmp_path, text)
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["run", cfg, "--out", out_dir], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert str(cfg) in lines[0] or "unknown pipeline" in lines[0]
    assert "Traceback" not in err
    assert not out_dir.exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())
    code, _, err = run_cli(["validate", cfg], capsys)
    assert code == 2 and message in err


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run_cli(["run", tmp_path / "absent.yaml"], capsys)
    assert code == 2 and "absent.yaml: config file not found" in err


def test_a_pipelines_name_runs_its_defaults_as_the_python_api_takes_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["validate", "anomaly"], capsys)
    assert code == 0 and "anomaly: valid anomaly config" in out
    code, out, _ = run_cli(["run", "anomaly", "--out", "r", "--set", "report.plots=false", "--quiet"], capsys)
    assert code == 0 and json.loads((tmp_path / "r" / "summary.json").read_text())["pipeline"] == "anomaly"
    code, _, err = run_cli(["run", "anomali"], capsys)  # a misspelt name: the one meant
    assert (
        code == 2
        and err.strip() == "error: anomali: config file not found; a pipeline's name runs its defaults: anomaly"
    )
    # a file of that name is a config file, whatever a pipeline is called
    (tmp_path / "anomaly").write_text("pipeline: regimes\nmodel:\n  n_components: 2\n")
    code, out, _ = run_cli(["validate", "anomaly"], capsys)
    assert code == 0 and "anomaly: valid regimes config" in out


def test_validate_and_list(capsys):
    code, out, _ = run_cli(["validate", REPO / "configs" / "regimes.yaml"], capsys)
    assert code == 0 and "valid regimes config" in out
    code, out, _ = run_cli(["list"], capsys)
    assert code == 0 and [ln.split()[0] for ln in out.splitlines()] == registry.available()


def test_failed_run_leaves_earlier_run_intact(tmp_path, capsys):
    prices = small_prices(tmp_path)
    out_dir = tmp_path / "run"
    code, out, err = run_cli(
        ["run", REPO / "configs" / "regimes.yaml", "--out", out_dir, "--quiet", "--set", f"data.path={prices}", *FAST],
        capsys,
    )
    assert code == 0, err
    before = (out_dir / "regimes.csv").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Close\n2020-01-02,100\n2020-01-03,abc\n")
    code, out, err = run_cli(
        [
            "run",
            REPO / "configs" / "regimes.yaml",
            "--out",
            out_dir,
            "--overwrite",
            "--quiet",
            "--set",
            f"data.path={bad}",
            *FAST,
        ],
        capsys,
    )
    assert code == 2 and "column 'Close' has a non-numeric value 'abc'" in err
    assert (out_dir / "regimes.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "prices.csv", "run"]


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch, capsys):
    from gmm_apps.pipelines.regimes import pipeline as rp

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(rp, "regime_statistics", boom)
    prices = small_prices(tmp_path)
    code, _, err = run_cli(
        [
            "run",
            REPO / "configs" / "regimes.yaml",
            "--out",
            tmp_path / "run",
            "--quiet",
            "--set",
            f"data.path={prices}",
            *FAST,
        ],
        capsys,
    )
    assert code == 130 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.csv"]


def test_run_context_commit_and_abort(tmp_path):
    ctx = RunContext(tmp_path / "r", seed=1)
    ctx.write_json("summary.json", {"x": np.float64(1.5), "nan": float("nan"), "arr": np.arange(2)})
    assert not (tmp_path / "r").exists()
    ctx.commit()
    assert json.loads((tmp_path / "r" / "summary.json").read_text()) == {"x": 1.5, "nan": None, "arr": [0, 1]}
    ctx2 = RunContext(tmp_path / "r2")
    ctx2.write_text("a.txt", "x")
    ctx2.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_module_entry_point_runs_as_a_process(tmp_path):
    cfg = write(tmp_path, "pipeline: regimes\nmodel:\n  n_componentz: 3\n")
    p = subprocess.run(
        [sys.executable, "-m", "gmm_apps", "validate", str(cfg)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error: ") and "n_componentz" in p.stderr and "Traceback" not in p.stderr


# ---------------------------------------------------------------- report
def test_report_is_self_contained_html(tmp_path):
    r = Report("T <&>", subtitle="sub")
    r.section("S").text("a < b").kv({"k": 1.23456}).table(pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}))
    r.image(plot_confidence_histogram(np.array([0.5, 0.9, 1.0])), caption="c")
    html = r.render()
    assert "T &lt;&amp;&gt;" in html and "a &lt; b" in html
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_several_images_sit_side_by_side_as_the_page_allows(tmp_path):
    import base64

    png = plot_confidence_histogram(np.array([0.5, 0.9, 1.0]))
    (tmp_path / "a.png").write_bytes(png_bytes(png))
    html = Report("T").image([(tmp_path / "a.png", "oil"), (bytearray(png_bytes(png)), "gas <b>")]).render()
    grid = html[html.index('<div class="grid">') :]
    assert grid.count("<figure>") == 2 and "<figcaption>oil</figcaption>" in grid and "gas &lt;b&gt;" in grid
    assert base64.b64encode((tmp_path / "a.png").read_bytes()).decode() in grid  # the file's own bytes
    assert ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr))" in html


def test_a_tables_headers_sit_as_their_cells_do():
    df = pd.DataFrame({"name": ["a", "b"], "what": ["left out", None], "n": [1, 2], "x": [0.5, np.nan]})
    html = Report("T").table(df).render()
    assert '<th style="text-align:left">name</th><th style="text-align:left">what</th><th>n</th><th>x</th>' in html
    assert '<td style="text-align:left">left out</td>' in html


def test_a_wide_table_scrolls_in_its_box_and_a_score_tail_is_counted_in_the_last_bar():
    html = Report("T").table(pd.DataFrame({"a": [1]})).render()
    assert '<div class="wide"><table>' in html and ".wide{overflow-x:auto}" in html
    scores = np.r_[np.linspace(0, 1, 995), [40.0, 50, 60, 70, 80]]  # five far above the 99.5% quantile
    fig = plot_score_histogram([(None, scores, 0)], 0.9, xlabel="score", ylabel="n", upper_quantile=0.995)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == len(scores)  # every score drawn, none left out
    top = np.quantile(scores, 0.995)
    assert ax.get_xlabel() == f"score; the last bar holds the {(scores > top).sum()} above {top:.3g}"
    assert plot_score_histogram([(None, scores, 0)], 0.9, xlabel="score", ylabel="n").axes[0].get_xlabel() == "score"


@pytest.mark.parametrize(
    "low, high, shown",
    [
        (650, 3000, {"700", "1,000", "1,500", "2,000", "3,000"}),
        (1.0, 2.05, {"1", "1.2", "1.4", "2"}),
        (1, 5e4, {"1,000"}),
    ],
)
def test_a_log_price_axis_reads_in_plain_numbers(low, high, shown):
    from gmm_apps.report import figure

    fig = figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [low, high])
    plain_log_axis(ax)
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    labels = {t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi}
    assert shown <= labels and not any("$" in t or "e+" in t for t in labels), labels


def test_model_evaluation_block_values():
    from gmm_apps.core import GaussianMixture

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(8, 1, (300, 2))]
    gm = GaussianMixture(2, random_state=0).fit(X)
    ev = mixture_evaluation(gm, X)
    direct = model_evaluation(
        X,
        gm.predict_proba(X),
        gm.means_,
        log_likelihood=gm.score_samples(X).sum(),
        n_rows=len(X),
        bic=gm.bic(X),
        aic=gm.aic(X),
        n_components=2,
        covariance_type="full",
        converged=True,
        n_iter=3,
    )
    assert direct["bic"] == ev["bic"] and direct["log_likelihood_per_row"] == pytest.approx(gm.score(X))
    assert ev["bic"] == pytest.approx(gm.bic(X))
    assert ev["log_likelihood"] == pytest.approx(gm.score_samples(X).sum())
    assert ev["silhouette"] > 0.7
    assert ev["n_uncertain"] == int((gm.predict_proba(X).max(1) < 0.6).sum())
    assert ev["min_mean_distance"] == pytest.approx(np.linalg.norm(gm.means_[0] - gm.means_[1]))


def test_an_interrupt_wrapped_in_another_error_is_still_an_interrupt(monkeypatch, capsys):
    from gmm_apps.errors import Terminated

    def wrapped(stop):
        def dispatch(args):  # Ctrl-C while a class is made (an import), as Python 3.11 wraps it
            raise RuntimeError("Error calling __set_name__ on '_axis_method_wrapper' instance 'set_xscale'") from stop

        return dispatch

    for stop, code, said in ((KeyboardInterrupt(), 130, "interrupted"), (Terminated(), 143, "terminated (SIGTERM)")):
        monkeypatch.setattr(cli, "_dispatch", wrapped(stop))
        assert cli.main(["list"]) == code
        assert capsys.readouterr().err == f"error: {said}; nothing was written\n"
    monkeypatch.setattr(cli, "_dispatch", wrapped(ValueError("a bug")))  # any other error is still a bug
    assert cli.main(["list"]) == 1 and "internal error (RuntimeError" in capsys.readouterr().err


def test_sigint_during_a_run_leaves_nothing(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    # fresh walk-forward refits every 5 days keep the process busy for more than a minute (the SIGINT
    # lands long before the run could finish, however fast the machine)
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gmm_apps",
            "run",
            str(REPO / "configs" / "regimes.yaml"),
            "--out",
            str(out),
            "--set",
            "walk_forward.enabled=true",
            "--set",
            "walk_forward.refit_every=5",
            "--set",
            "walk_forward.warm_start=false",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal, even under `pytest &`
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(x.name.startswith(".run.tmp") for x in tmp_path.iterdir()):
        time.sleep(0.1)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert "interrupted; nothing was written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_help_and_version_load_neither_the_engine_nor_scikit_learn():
    """The command line starts light: ``--help`` and ``--version`` import no numpy stack, and the package's
    public names still arrive on first use."""
    code = (
        "import sys, contextlib, io\n"
        "from gmm_apps import cli\n"
        "for args in (['--help'], ['--version']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            cli.main(args)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "heavy = sorted(m for m in ('numpy', 'sklearn', 'scipy', 'pandas', 'gmm_apps.core') if m in sys.modules)\n"
        "print(heavy)\n"
        "import gmm_apps\n"
        "print(gmm_apps.run.__module__, gmm_apps.errors.UserError.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "gmm_apps.api UserError"


def test_a_run_without_plots_never_loads_matplotlib(tmp_path):
    """Only what a command needs is imported: with ``report.plots: false`` the report is written without
    matplotlib ever being loaded (and with plots it is, by the first figure)."""
    code = (
        "import sys, contextlib, io\n"
        "from gmm_apps import cli\n"
        f"args = ['run', {str(REPO / 'configs' / 'anomaly.yaml')!r}, '--quiet', '--out', {str(tmp_path / 'r')!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert cli.main(args + ['--set', 'report.plots=false']) == 0\n"
        "print('matplotlib' in sys.modules)\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert cli.main(args[:-1] + [{str(tmp_path / 'p')!r}]) == 0\n"
        "print('matplotlib' in sys.modules)\n"
    )
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["False", "True"]
    assert (tmp_path / "r" / "report.html").is_file() and "<img" in (tmp_path / "p" / "report.html").read_text()


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_map_jobs_gives_results_in_order_and_passes_a_jobs_error_on(n_jobs):
    import math

    from gmm_apps.workers import map_jobs

    jobs = [9.0, 1.0, 16.0, 4.0, 25.0]
    with map_jobs(math.sqrt, jobs, n_jobs) as results:
        assert list(results) == [3.0, 1.0, 4.0, 2.0, 5.0]
    with pytest.raises(ValueError, match="math domain error"), map_jobs(math.sqrt, [4.0, -1.0, 9.0], n_jobs) as results:
        list(results)


def test_what_jobs_log_at_once_in_threads_is_collected_job_by_job_and_the_loggers_restored():
    """A Dask worker runs several jobs at once, in threads: each job's messages are its own, none lost,
    and the loggers are as before once the last job is done (their level, and their records passed on)."""
    import logging
    import threading

    from gmm_apps.workers import Said, collected, say_again

    log = logging.getLogger("gmm_apps.test_jobs")
    root = logging.getLogger("gmm_apps")
    before = (root.level, root.propagate)
    got, both_in = {}, threading.Barrier(2)

    def job(k):
        with collected(Said()) as said:
            for i in range(3):
                log.info("job %d line %d", k, i)
                if i == 0:
                    both_in.wait(timeout=10)  # each job logs while the other is collecting too
        got[k] = said.messages

    threads = [threading.Thread(target=job, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in (1, 2):
        assert got[k] == [("gmm_apps.test_jobs", logging.INFO, f"job {k} line {i}") for i in range(3)]
    assert (root.level, root.propagate) == before and not any(isinstance(h, Said) for h in root.handlers)
    seen = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda r: seen.append(r.getMessage())
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        say_again(got[2])
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert seen == ["job 2 line 0", "job 2 line 1", "job 2 line 2"]


def test_a_jobs_error_stops_the_run_without_waiting_for_the_jobs_before_it():
    import time

    from gmm_apps.workers import map_jobs

    started = time.monotonic()
    with pytest.raises(ValueError, match="non-negative"), map_jobs(time.sleep, [60.0, -1.0], 2) as results:
        next(results)  # the first job sleeps a minute; the second fails at once
    assert time.monotonic() - started < 30  # the error came first, and the sleeping worker was stopped


@pytest.mark.parametrize(
    "config, sets, needle",
    [
        ("regimes", ["model.n_mix=3"], "model.n_mix is read only with model.kind: gmm_hmm"),
        ("regimes", ["walk_forward.refit_every=21"], "walk_forward.refit_every is read only in walk-forward"),
        ("regimes", ["backtest.enabled=false", "backtest.cost_bps=10"], "backtest.cost_bps is read only with backtest"),
        ("regimes", ["model.kind=gmm", "model.stickiness=5"], "model.stickiness is read only with model.kind hmm or"),
        (
            "regimes",
            ["model.kind=gmm_hmm", "walk_forward.enabled=true", "walk_forward.warm_start=false"],
            "walk_forward.warm_start is read only with model.kind: hmm",
        ),
        ("customers", ["split.enabled=false", "split.holdout_weeks=13"], "split.holdout_weeks is read only with split"),
        ("customers", ["engine.chunk_rows=1000"], "engine.chunk_rows is read only with engine.kind: dask"),
        ("anomaly", ["threshold.value=3"], "threshold.value is read only with threshold.method: fixed"),
        ("anomaly", ["engine.n_workers=4"], "engine.n_workers is read only with engine.kind: dask"),
        (
            "anomaly",
            ["engine.kind=dask", "engine.address=tcp://10.0.0.5:8786", "engine.memory_limit=2GB"],
            "engine.memory_limit is read only for a LocalCluster",
        ),
        ("anomaly", ["model.bag_components=[3]"], "model.bag_components is read only with model.bags above 0"),
        ("anomaly", ["data.categorical=reject", "data.max_categories=5"], "data.max_categories is read only with"),
        ("anomaly", ["data.categorical=reject", "data.many_categories=frequency"], "data.many_categories is read"),
        ("images", ["model.fit_on=pixels", "model.quantise=4"], "model.quantise is read only with model.fit_on"),
        ("images", ["spatial.boundary=absolute", "spatial.gradient_floor=2"], "spatial.gradient_floor is read only"),
        ("speakers", ["model.ivector_dim=50"], "model.ivector_dim is read only with model.kind: ivector"),
        ("speakers", ["model.score_norm=none", "model.snorm_cohort=5"], "model.snorm_cohort is read only with"),
    ],
)
def test_a_key_the_run_would_not_read_is_refused(tmp_path, capsys, config, sets, needle):
    args = ["validate", str(REPO / "configs" / f"{config}.yaml")]
    assert cli.main([*args, *[a for s in sets for a in ("--set", s)]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and "so as set it would change nothing" in err, err
    # the same key where it is read, or at its default, is valid
    read = {
        "model.n_mix=3": ["model.kind=gmm_hmm"],
        "walk_forward.refit_every=21": ["walk_forward.enabled=true"],
        "threshold.value=3": ["threshold.method=fixed"],
        "model.ivector_dim=50": ["model.kind=ivector"],
        "model.bag_components=[3]": ["model.bags=2"],
    }
    for extra in read.get(sets[0], []):
        assert cli.main([*args, *[a for s in (*sets, extra) for a in ("--set", s)]]) == 0
    if len(sets) > 1:  # what makes the key unread is valid alone
        assert cli.main([*args, "--set", sets[0]]) == 0
