"""Nothing the user has is ever lost: output folders, inputs, concurrent runs, signals.

Each case was found by trying the tool as an adversarial user would; each must
end with exit status 2 (or the signal's status), one ``error:`` line, and every
file the user had still in place.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from model_files import rewrite_npz, without_model_checksums

from gmm_apps import cli
from gmm_apps.errors import UserError
from gmm_apps.paths import is_run_folder, resolve_inputs, run_manifest
from gmm_apps.run_context import MARKER, RunContext

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples"
ANOMALY = [
    str(REPO / "configs" / "anomaly.yaml"),
    "--quiet",
    "--set",
    "report.plots=false",
    "--set",
    "model.seeds=1",
    "--set",
    "model.components=[1, 4]",
    "--set",
    f"data.path={SAMPLES / 'cardio_reference.csv'}",
    "--set",
    f"data.score={SAMPLES / 'cardio_new.csv'}",
]


def run_cli(args, capsys):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err, *needles):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def user_folder(path):
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work")
    (path / "sub").mkdir()
    (path / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def snapshot(path):
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def photos(folder, n=2):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        a = np.zeros((40, 50, 3), np.uint8)
        a[:, 25:] = (200, 30, 30)
        a = np.clip(a + rng.integers(0, 20, a.shape), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(folder / f"photo{i}.png")
    return folder


# ------------------------------------------------------------------ destinations
def test_out_at_a_folder_of_user_files_is_refused_and_untouched(tmp_path, capsys):
    mine = tmp_path / "my files"
    before = user_folder(mine)
    code, _, err = run_cli(["run", *ANOMALY, "--out", mine], capsys)
    assert code == 2
    one_error_line(err, "not a gmm_apps run folder", "--overwrite")
    assert snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my files"]  # no temp or lock file left


def test_overwrite_never_replaces_a_folder_gmm_apps_did_not_write(tmp_path, capsys):
    mine = tmp_path / "scratch"
    before = user_folder(mine)
    code, _, err = run_cli(["run", *ANOMALY, "--out", mine, "--overwrite"], capsys)
    assert code == 2
    one_error_line(err, "not a gmm_apps run folder", "never replaces what it did not write, even with --overwrite")
    assert snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch"]


def test_out_at_a_regular_file_is_refused(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    code, _, err = run_cli(["run", *ANOMALY, "--out", f], capsys)
    assert code == 2
    one_error_line(err, "is a file")
    assert f.read_text() == "keep me"


def test_out_below_a_regular_file_names_the_file(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    code, _, err = run_cli(["run", *ANOMALY, "--out", f / "run"], capsys)
    assert code == 2
    one_error_line(err, "notes.txt is a file, not a folder")
    assert f.read_text() == "keep me"


def test_an_empty_folder_is_written_and_an_earlier_run_replaced_only_with_overwrite(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli(["run", *ANOMALY, "--out", empty], capsys)[0] == 0
    assert (empty / MARKER).is_file()
    first = snapshot(empty)
    code, _, err = run_cli(["run", *ANOMALY, "--out", empty], capsys)  # the same place again, not asked
    assert code == 2
    one_error_line(err, "holds an earlier run; pass --overwrite (from Python: overwrite=True) to replace it")
    assert snapshot(empty) == first
    assert run_cli(["run", *ANOMALY, "--out", empty, "--overwrite"], capsys)[0] == 0
    assert (empty / "scores.csv").read_bytes() == first[Path("scores.csv")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no backup left


@pytest.mark.parametrize("change", ["added", "edited", "added-folder"])
def test_a_run_folder_with_a_file_the_run_did_not_write_or_one_changed_since_is_never_replaced(
    tmp_path, capsys, change
):
    run = tmp_path / "run"
    assert run_cli(["run", *ANOMALY, "--out", run], capsys)[0] == 0
    if change == "added":
        (run / "my notes.txt").write_text("what the analyst thinks")
    elif change == "edited":
        with open(run / "report.html", "a") as fh:
            fh.write("<p>my comments</p>")
    else:
        (run / "old versions").mkdir()
    before = snapshot(run)
    code, _, err = run_cli(["run", *ANOMALY, "--out", run, "--overwrite"], capsys)
    assert code == 2
    shown = {"added": "my notes.txt", "edited": "report.html", "added-folder": "old versions"}[change]
    one_error_line(err, f"files the run did not write or that changed since ({shown})", "even with --overwrite")
    assert snapshot(run) == before


def test_folders_that_only_look_like_runs_are_never_replaced(tmp_path, capsys):
    old = tmp_path / "old-run"  # as runs of 0.1 were written: no marker, a summary.json
    old.mkdir()
    (old / "config.yaml").write_text("pipeline: anomaly\n")
    (old / "summary.json").write_text(json.dumps({"pipeline": "anomaly", "gmm_apps_version": "0.1.0"}))
    assert is_run_folder(old)  # still read by apply and show, never replaced
    marked = tmp_path / "marked"  # a marker, but not the list of files a run seals it with
    marked.mkdir()
    (marked / MARKER).write_text("{}")
    (marked / "thesis.tex").write_text("chapter 1")
    for folder, said in ((old, "a run folder of an older gmm_apps"), (marked, "a run folder of an older gmm_apps")):
        before = snapshot(folder)
        code, _, err = run_cli(["run", *ANOMALY, "--out", folder, "--overwrite"], capsys)
        assert code == 2
        one_error_line(err, said, "even with --overwrite")
        assert snapshot(folder) == before


@pytest.mark.parametrize("where", [".", ".."])
def test_out_at_the_current_folder_is_refused_before_any_work(tmp_path, monkeypatch, capsys, where):
    work = tmp_path / "work"
    before = user_folder(work)
    monkeypatch.chdir(work)
    code, _, err = run_cli(["run", *ANOMALY, "--out", where], capsys)
    assert code == 2
    one_error_line(err, "current folder")
    assert snapshot(work) == before


def test_out_equal_to_or_inside_the_input_folder_is_always_refused(tmp_path, capsys):
    folder = photos(tmp_path / "photos")
    before = snapshot(folder)
    cfg = REPO / "configs" / "images.yaml"
    fast = ["--quiet", "--set", "report.plots=false", "--set", "run.n_jobs=1", "--set", "model.n_fits=1"]
    for out, extra in ((folder, []), (folder, ["--overwrite"]), (folder / "runs" / "r1", [])):
        code, _, err = run_cli(["run", cfg, *fast, "--set", f"data.path={folder}", "--out", out, *extra], capsys)
        assert code == 2, err
        one_error_line(err, "the input data.path")
        assert snapshot(folder) == before


def test_out_holding_an_input_file_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "r"
    assert run_cli(["run", *ANOMALY, "--out", run_dir], capsys)[0] == 0
    data = run_dir / "scores.csv"  # an input that lives inside an earlier run folder
    before = data.read_bytes()
    code, _, err = run_cli(["run", *ANOMALY, "--set", f"data.score={data}", "--out", run_dir], capsys)
    assert code == 2
    one_error_line(err, "holds the input data.score")
    assert data.read_bytes() == before


def test_apply_cannot_write_over_the_run_it_reads(tmp_path, capsys):
    run_dir = tmp_path / "r"
    assert run_cli(["run", *ANOMALY, "--out", run_dir], capsys)[0] == 0
    before = snapshot(run_dir)
    new = SAMPLES / "cardio_new.csv"
    for extra in ([], ["--overwrite"]):
        code, _, err = run_cli(["apply", run_dir, new, "--out", run_dir, "--quiet", *extra], capsys)
        assert code == 2
        one_error_line(err, "is the input run folder")
        assert snapshot(run_dir) == before
    # and it refuses a folder that is not a run
    code, _, err = run_cli(["apply", tmp_path, new, "--out", tmp_path / "a"], capsys)
    assert code == 2
    one_error_line(err, "not a gmm_apps run folder")


@pytest.mark.parametrize("out", ["/proc/gmm-apps-test/run", "/dev/null/run"])
def test_unwritable_destinations_are_one_line(tmp_path, capsys, out):
    code, _, err = run_cli(["run", *ANOMALY, "--out", out], capsys)
    assert code == 2
    one_error_line(err, out)


def test_permission_denied_on_the_parent_is_one_line(tmp_path, capsys, monkeypatch):
    # as root no folder is read-only, so the refusal the OS gives a user is simulated
    real_mkdir = Path.mkdir
    locked = tmp_path / "locked"

    def mkdir(self, *a, **k):
        if self == locked or locked in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    code, _, err = run_cli(["run", *ANOMALY, "--out", locked / "run"], capsys)
    assert code == 2
    one_error_line(err, "permission denied")


def test_input_scans_skip_run_folders(tmp_path, capsys):
    folder = photos(tmp_path / "photos", n=2)
    found = resolve_inputs(str(folder), key="data.path", source="c", suffixes={".png"})
    assert [f.name for f in found] == ["photo0.png", "photo1.png"]
    # a run written inside the photo folder (its labels and overlays are PNGs too) is not read back
    ctx = RunContext(folder / "segmented")
    ctx.path("labels").mkdir()
    photos(ctx.path("overlays"), n=1)
    ctx.commit()
    assert (folder / "segmented" / "overlays" / "photo0.png").is_file()
    again = resolve_inputs(str(folder), key="data.path", source="c", suffixes={".png"})
    assert again == found
    globbed = resolve_inputs(str(folder / "**" / "*.png"), key="data.path", source="c", suffixes={".png"})
    assert [f.name for f in globbed] == ["photo0.png", "photo1.png"]


# ------------------------------------------------------------------ concurrent and interrupted runs
def test_a_second_run_at_the_same_place_is_refused_while_the_first_writes(tmp_path, capsys):
    out = tmp_path / "shared"
    first = RunContext(out)
    try:
        code, _, err = run_cli(["run", *ANOMALY, "--out", out], capsys)
        assert code == 2
        one_error_line(err, "another gmm_apps run", str(os.getpid()))
    finally:
        first.abort()
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # once the first is gone the place is free again
    assert run_cli(["run", *ANOMALY, "--out", out], capsys)[0] == 0


def test_temp_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "run"
    dead = _dead_pid()
    stale = tmp_path / f".run.tmp-{dead}"
    stale.mkdir()
    (stale / MARKER).write_text("{}")
    (stale / "run.log").write_text("half a run")
    alive = tmp_path / f".run.tmp-{os.getppid()}"  # a live process's folder is not ours to remove
    alive.mkdir()
    (alive / MARKER).write_text("{}")
    foreign = tmp_path / f".run.tmp-{dead}x"  # not a name we write
    foreign.mkdir()
    assert run_cli(["run", *ANOMALY, "--out", out], capsys)[0] == 0
    assert not stale.exists() and alive.exists() and foreign.exists()


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def interruptible():
    """In the child before it starts: Ctrl-C as in a terminal. A shell starts ``pytest &`` with SIGINT ignored,
    which its children would inherit (and then a SIGINT test would test nothing)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(args, cwd, tag, **kw):
    env = dict(os.environ, GMM_APPS_TEST_TAG=tag, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "gmm_apps", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
        **kw,
    )


def _tagged(tag):
    """Processes (other than zombies) whose environment carries ``tag``."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if f"GMM_APPS_TEST_TAG={tag}".encode() in (d / "environ").read_bytes().split(b"\0"):
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    pids.append(int(d.name))
        except OSError:
            continue
    return pids


def _wait_for(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def _wait_for_tmp(parent, timeout=60):
    return _wait_for(lambda: any(p.name.startswith(".run.tmp-") for p in parent.iterdir()), timeout)


IMAGES_SLOW = [
    REPO / "configs" / "images.yaml",
    "--set",
    "run.n_jobs=2",
    "--set",
    "model.n_fits=5",
    "--set",
    "data.path=[skimage:astronaut, skimage:coffee, skimage:chelsea, skimage:rocket, "
    "skimage:immunohistochemistry, skimage:retina]",
]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["sigterm", "sigint-group"])
def test_stopping_an_images_run_stops_its_workers_quietly(tmp_path, how):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("earlier")
    (out / MARKER).write_text(json.dumps({"files": run_manifest(out)}))  # an earlier run, as a run seals it
    tag = uuid.uuid4().hex
    p = _spawn(["run", *IMAGES_SLOW, "--out", out, "--quiet", "--overwrite"], tmp_path, tag, start_new_session=True)
    try:
        assert _wait_for_tmp(tmp_path)
        assert _wait_for(lambda: len(_tagged(tag)) >= 3, 60), "the worker processes did not start"
        time.sleep(1.0)
        if how == "sigterm":
            p.send_signal(signal.SIGTERM)
        else:  # Ctrl-C in a terminal reaches the whole process group, workers included
            os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == (143 if how == "sigterm" else 130), err
    one_error_line(err, "nothing was written")
    assert _wait_for(lambda: not _tagged(tag), 15), f"workers left running: {_tagged(tag)}"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["run"]
    assert (out / "summary.json").read_text() == "earlier"


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_killed_run_leaves_workers_that_die_and_a_temp_folder_the_next_run_removes(tmp_path, capsys):
    out = tmp_path / "run"
    tag = uuid.uuid4().hex
    p = _spawn(["run", *IMAGES_SLOW, "--out", out, "--quiet"], tmp_path, tag)
    try:
        assert _wait_for_tmp(tmp_path)
        assert _wait_for(lambda: len(_tagged(tag)) >= 3, 60)
    finally:
        p.kill()
        p.communicate()
    assert _wait_for(lambda: not _tagged(tag), 15), f"workers outlived a killed run: {_tagged(tag)}"
    left = [x for x in tmp_path.iterdir() if x.name.startswith(".run.tmp-")]
    assert left  # SIGKILL cannot be caught ...
    assert run_cli(["run", *ANOMALY, "--out", out], capsys)[0] == 0
    assert sorted(x.name for x in tmp_path.iterdir()) == ["run"]  # ... but the next run cleans up


def test_sigint_early_in_a_speakers_run_ends_promptly(tmp_path):
    tag = uuid.uuid4().hex
    p = _spawn(["run", REPO / "configs" / "speakers.yaml", "--out", tmp_path / "run"], REPO, tag)
    try:
        assert _wait_for_tmp(tmp_path)
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted; nothing was written"
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_python_m_exits_130_when_the_interrupt_landed_in_code_built_by_exec(tmp_path):
    # dataclasses build methods with exec(); a Ctrl-C inside one (an import at the wrong moment) made
    # CPython end `python -m gmm_apps` by SIGINT after our message, instead of with status 130
    (tmp_path / "interrupted_cli.py").write_text(
        "import sys\n"
        "from gmm_apps import cli\n"
        "cli._dispatch = lambda args: exec('raise KeyboardInterrupt')\n"
        "sys.exit(cli.main(['list']))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    p = subprocess.run([sys.executable, "-m", "interrupted_cli"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert p.returncode == 130, p.stderr
    assert p.stderr.strip() == "error: interrupted; nothing was written"


def test_sigterm_in_process_is_reported_like_an_interrupt(tmp_path, capsys, monkeypatch):
    from gmm_apps import runs as run_mod

    def stop(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here

    monkeypatch.setattr(run_mod, "_finish", stop)
    code, _, err = run_cli(["run", *ANOMALY, "--out", tmp_path / "run"], capsys)
    assert code == 143
    one_error_line(err, "terminated")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None) or callable(signal.getsignal(signal.SIGTERM))


def test_a_user_error_is_a_user_error_for_the_python_caller(tmp_path):
    from gmm_apps.runs import execute_run

    mine = tmp_path / "mine"
    user_folder(mine)
    with pytest.raises(UserError, match="not a gmm_apps run folder"):
        execute_run(REPO / "configs" / "anomaly.yaml", out=mine, quiet=True)


# ------------------------------------------------------------------ model files
REGIMES = [
    str(REPO / "configs" / "regimes.yaml"),
    "--quiet",
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
]


@pytest.fixture(scope="module")
def regimes_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("regimes") / "run"
    assert cli.main(["run", *REGIMES, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def anomaly_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("anomaly") / "run"
    assert cli.main(["run", *ANOMALY, "--out", str(out)]) == 0
    return out


def prices(tmp_path, n=300):
    from arch.data import sp500

    df = sp500.load()["Adj Close"].iloc[:n].rename("Close").to_frame()
    df.index.name = "Date"
    p = tmp_path / "prices.csv"
    df.to_csv(p)
    return p


def copy_run(run, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(run, dst)
    return dst


def apply_fails(run, new, tmp_path, capsys, *needles):
    code, _, err = run_cli(["apply", run, new, "--out", tmp_path / "applied", "--quiet"], capsys)
    assert code == 2, err
    one_error_line(err, *needles)
    assert not (tmp_path / "applied").exists()


def test_reversed_regime_names_in_the_header_are_refused(regimes_run, tmp_path, capsys):
    run = copy_run(regimes_run, tmp_path)
    rewrite_npz(run / "model.npz", lambda a, h: h["extra"].update(names=h["extra"]["names"][::-1]))
    apply_fails(run, prices(tmp_path), tmp_path, capsys, "model.npz: is not the file this run wrote")
    apply_fails(without_model_checksums(run), prices(tmp_path), tmp_path, capsys, "header does not match its checksum")


def test_an_edited_feature_window_in_the_run_config_is_refused(regimes_run, tmp_path, capsys):
    run = copy_run(regimes_run, tmp_path)
    cfg = (run / "config.yaml").read_text()
    assert "window: 21" in cfg
    (run / "config.yaml").write_text(cfg.replace("window: 21", "window: 5", 1))
    apply_fails(
        run,
        prices(tmp_path),
        tmp_path,
        capsys,
        "config.yaml: features.use[1].window was changed after the run",
        "fitted with 21",
    )


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda a, h: h["params"].update(covariance_type="spherical"), "covariances_ has shape"),
        (lambda a, h: a.update(means_=np.vstack([a["means_"], a["means_"][:1]])), "inconsistent model file"),
        (lambda a, h: a.update(**{"extra:transmat": a["extra:transmat"][:2, :2].copy()}), "transition matrix"),
        (lambda a, h: h["extra"].update(names=["calm"]), "regime names"),
        (lambda a, h: a.update(**{"extra:return_var": -a["extra:return_var"]}), "return means and variances"),
    ],
)
def test_a_self_inconsistent_regimes_file_is_a_one_line_model_file_error(regimes_run, tmp_path, capsys, edit, needle):
    run = copy_run(regimes_run, tmp_path)
    rewrite_npz(run / "model.npz", edit, rechecksum=True, redigest=True)
    apply_fails(run, prices(tmp_path), tmp_path, capsys, "model.npz", "not the file this run wrote")
    apply_fails(without_model_checksums(run), prices(tmp_path), tmp_path, capsys, "model.npz", needle)


def test_detector_edits_swaps_and_foreign_members_are_refused(anomaly_run, regimes_run, tmp_path, capsys):
    new = SAMPLES / "cardio_new.csv"
    run = without_model_checksums(copy_run(anomaly_run, tmp_path))  # the detector's own checks
    rewrite_npz(run / "model" / "detector.npz", lambda a, h: h["extra"].update(threshold=99.0))
    apply_fails(run, new, tmp_path, capsys, "detector.npz", "checksum")
    shutil.rmtree(run)
    run = copy_run(anomaly_run, tmp_path)
    m = run / "model"
    a, b = (m / "member_000.npz").read_bytes(), (m / "member_001.npz").read_bytes()
    (m / "member_000.npz").write_bytes(b)
    (m / "member_001.npz").write_bytes(a)
    apply_fails(run, new, tmp_path, capsys, "member_000.npz", "not the file this run wrote")
    apply_fails(without_model_checksums(run), new, tmp_path, capsys, "member_000.npz", "does not match the checksum")
    shutil.rmtree(run)
    run = without_model_checksums(copy_run(anomaly_run, tmp_path))
    shutil.copy(regimes_run / "model.npz", run / "model" / "member_000.npz")
    apply_fails(run, new, tmp_path, capsys, "member_000.npz")
    shutil.rmtree(run)
    run = without_model_checksums(copy_run(anomaly_run, tmp_path))
    rewrite_npz(
        run / "model" / "detector.npz",
        lambda a, h: h["extra"].update(n_members=h["extra"]["n_members"] + 1),
        rechecksum=True,
    )
    apply_fails(run, new, tmp_path, capsys, "inconsistent detector")


def test_signed_runs_refuse_tampering_that_recomputes_the_checksums(tmp_path, capsys, monkeypatch):
    new = SAMPLES / "cardio_new.csv"
    unsigned = tmp_path / "unsigned"
    assert run_cli(["run", *ANOMALY, "--out", unsigned], capsys)[0] == 0
    monkeypatch.setenv("GMM_APPS_SIGNING_KEY", "correct horse battery staple")
    signed = tmp_path / "signed"
    assert run_cli(["run", *ANOMALY, "--out", signed], capsys)[0] == 0
    code, _, err = run_cli(["apply", signed, new, "--out", tmp_path / "ok", "--quiet"], capsys)
    assert code == 0, err
    apply_fails(unsigned, new, tmp_path, capsys, "not signed")
    rewrite_npz(signed / "model" / "detector.npz", lambda a, h: h["extra"].update(threshold=99.0), rechecksum=True)
    apply_fails(signed, new, tmp_path, capsys, "detector.npz: is not the file this run wrote")
    from gmm_apps.errors import ModelFileError
    from gmm_apps.pipelines.anomaly.model import GMMDetector

    with pytest.raises(ModelFileError, match="signature does not match"):  # the file's own signature
        GMMDetector.load(signed / "model")
    # and the marker's: removing the checksums from a signed marker breaks its signature
    apply_fails(without_model_checksums(signed), new, tmp_path, capsys, "signature does not match")


# ------------------------------------------------------------------ no internal errors, no stray output
def test_anomaly_with_a_single_feature_column_runs_and_plots(tmp_path, capsys):
    rng = np.random.default_rng(0)
    import pandas as pd

    pd.DataFrame({"id": [f"r{i}" for i in range(300)], "a": rng.normal(size=300)}).to_csv(
        tmp_path / "one.csv", index=False
    )
    code, _, err = run_cli(
        [
            "run",
            *ANOMALY,
            "--set",
            f"data.path={tmp_path / 'one.csv'}",
            "--set",
            "data.score=null",
            "--set",
            "report.plots=true",
            "--set",
            "data.label_column=null",
            "--out",
            tmp_path / "r",
        ],
        capsys,
    )
    assert code == 0, err
    assert (tmp_path / "r" / "plots" / "projection.png").is_file()


def test_quiet_prints_only_the_result_and_warnings_go_to_the_run_log(tmp_path, capsys):
    import pandas as pd

    rng = np.random.default_rng(1)
    # three distinct records repeated: the ensemble's larger mixtures have more components than records and warn
    X = np.repeat(rng.normal(size=(3, 2)), 100, axis=0)
    pd.DataFrame({"id": range(300), "a": X[:, 0], "b": X[:, 1]}).to_csv(tmp_path / "few.csv", index=False)
    args = [
        "run",
        *ANOMALY,
        "--set",
        f"data.path={tmp_path / 'few.csv'}",
        "--set",
        "data.score=null",
        "--set",
        "data.label_column=null",
        "--out",
        tmp_path / "r",
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 0 and err == "", err
    assert out.strip().splitlines()[-1].startswith("wrote ")
    assert "but only 3 distinct rows" in (tmp_path / "r" / "run.log").read_text()


def test_error_line_is_last_and_alone_even_from_a_subprocess(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="default")
    mine = tmp_path / "mine"
    user_folder(mine)
    p = subprocess.run(
        [sys.executable, "-m", "gmm_apps", "run", *ANOMALY, "--out", str(mine)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.splitlines() == [p.stderr.strip()] and p.stderr.startswith("error: --out"), p.stderr


def test_run_folders_of_the_previous_config_grammar_still_apply(anomaly_run, tmp_path, capsys):
    import yaml

    run = copy_run(anomaly_run, tmp_path)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    # what gmm_apps 0.1 wrote: the ensemble's list under n_components, and every shared key
    cfg["model"]["n_components"] = cfg["model"].pop("components")
    cfg["model"].update(tol=0.0001, criterion="bic")
    cfg["data"]["path"] = cfg["data"]["path"]
    cfg["features"] = {}
    cfg["report"].update(uncertain_below=0.6, silhouette_sample=5000)
    cfg["engine"] = {"kind": "local", "address": None, "n_workers": 2, "chunk_rows": 1000000, "memory_limit": "auto"}
    cfg["threshold"] = {"method": "contamination", "contamination": 0.1, "fpr": 0.01, "value": None}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (run / MARKER).unlink()  # runs of 0.1 had no marker: recognised by summary.json
    summary = json.loads((run / "summary.json").read_text())
    summary["gmm_apps_version"] = "0.1.0"
    (run / "summary.json").write_text(json.dumps(summary))
    code, _, err = run_cli(["apply", run, SAMPLES / "cardio_new.csv", "--out", tmp_path / "a", "--quiet"], capsys)
    assert code == 0, err
    new = np.loadtxt(tmp_path / "a" / "scores.csv", delimiter=",", skiprows=1, usecols=1)
    old = np.loadtxt(anomaly_run / "scores.csv", delimiter=",", skiprows=1, usecols=1)
    np.testing.assert_allclose(new, old, rtol=1e-9)


def test_a_regimes_model_of_the_previous_format_says_to_rerun(regimes_run, tmp_path, capsys):
    run = copy_run(regimes_run, tmp_path)
    rewrite_npz(
        run / "model.npz",
        lambda a, h: h["extra"].update(regime_covariance_type=h["extra"].pop("covariance_of_states")),
        rechecksum=True,
    )
    apply_fails(without_model_checksums(run), prices(tmp_path), tmp_path, capsys, "older gmm_apps", "rerun")


# ------------------------------------------------------------------ what --out may replace (docs/promises.md, one test a row)
def _device(path):
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # the kind of node /dev/null is
    return path


def _socket(path):
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return path


def _fifo(path):
    os.mkfifo(path)
    return path


def _kind_of(path):
    m = os.lstat(path).st_mode
    return next(
        k
        for k, f in (
            ("fifo", stat.S_ISFIFO),
            ("char", stat.S_ISCHR),
            ("socket", stat.S_ISSOCK),
            ("link", stat.S_ISLNK),
            ("dir", stat.S_ISDIR),
            ("file", stat.S_ISREG),
        )
        if f(m)
    )


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize(
    "make, kind, needle",
    [
        (_device, "char", "is a device"),
        (_fifo, "fifo", "is a named pipe (FIFO)"),
        (_socket, "socket", "is a socket"),
    ],
    ids=["device", "fifo", "socket"],
)
def test_row_devices_pipes_and_sockets_are_never_replaced(tmp_path, capsys, make, kind, needle, overwrite):
    target = make(tmp_path / "out")
    code, _, err = run_cli(["run", *ANOMALY, "--out", target, *(["--overwrite"] if overwrite else [])], capsys)
    assert code == 2
    one_error_line(err, needle, "never replaces")
    assert _kind_of(target) == kind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_row_a_symbolic_link_is_never_replaced_nor_its_target(tmp_path, capsys, overwrite):
    mine = tmp_path / "mine"
    before = user_folder(mine)
    link = tmp_path / "out"
    link.symlink_to(mine)
    code, _, err = run_cli(["run", *ANOMALY, "--out", link, *(["--overwrite"] if overwrite else [])], capsys)
    assert snapshot(mine) == before  # what the link points to is never touched
    assert code == 2
    one_error_line(err, "is a symbolic link", "even with --overwrite")
    assert link.is_symlink() and link.resolve() == mine.resolve()


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_row_a_regular_file_is_never_replaced(tmp_path, capsys, overwrite):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    code, _, err = run_cli(["run", *ANOMALY, "--out", f, *(["--overwrite"] if overwrite else [])], capsys)
    assert code == 2
    one_error_line(err, "is a file, not a run folder", "even with --overwrite")
    assert f.read_text() == "keep me"


def test_row_the_config_being_run_is_never_replaced(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    shutil.copy(REPO / "configs" / "anomaly.yaml", cfg)
    before = cfg.read_bytes()
    for target in (cfg, tmp_path):  # the config itself, and a folder holding it
        code, _, err = run_cli(["run", cfg, *ANOMALY[1:], "--out", target, "--overwrite"], capsys)
        assert code == 2
        one_error_line(err, "the input config")
    assert cfg.read_bytes() == before


def test_row_system_folders_home_and_mount_points_are_never_replaced(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    before = user_folder(home)
    monkeypatch.setenv("HOME", str(home))
    code, _, err = run_cli(["run", *ANOMALY, "--out", home, "--overwrite"], capsys)
    assert code == 2
    one_error_line(err, "system folder or a mount point", "even with --overwrite")
    assert snapshot(home) == before
    mounted = tmp_path / "disk"
    before = user_folder(mounted)
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == mounted or real_ismount(p))
    code, _, err = run_cli(["run", *ANOMALY, "--out", mounted, "--overwrite"], capsys)
    assert code == 2
    one_error_line(err, "system folder or a mount point")
    assert snapshot(mounted) == before
    # the rule itself: the root and the folders right under it, and the system trees
    from gmm_apps.destination import _system_folder

    assert all(_system_folder(Path(p)) for p in ("/", "/etc", "/usr", "/tmp", "/dev/shm", "/proc/self"))
    assert not _system_folder(tmp_path / "scratch")


def test_row_a_name_too_long_for_the_file_system_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(["run", *ANOMALY, "--out", tmp_path / ("r" * 300)], capsys)
    assert code == 2
    one_error_line(err, "the folder name is 300 bytes long; at most")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ beside --out: clean-up and the lock
def test_a_users_old_and_tmp_named_folders_and_lock_file_are_never_touched(tmp_path, capsys):
    out = tmp_path / "run"
    dead = _dead_pid()
    old_mine = tmp_path / f".run.old-{dead}"
    tmp_mine = tmp_path / f".run.tmp-{dead}"
    before = {p: user_folder(p) for p in (old_mine, tmp_mine)}
    lock = tmp_path / ".run.lock"
    lock.write_text("my lock file")
    stale = tmp_path / f".run.old-{dead}.1"  # a backup a killed run left: it carries the marker
    stale.mkdir()
    (stale / MARKER).write_text("{}")
    code, _, err = run_cli(["run", *ANOMALY, "--out", out], capsys)
    assert code == 0, err
    assert is_run_folder(out) and not stale.exists()
    assert all(snapshot(p) == b for p, b in before.items())
    assert lock.read_text() == "my lock file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run", ".run.lock", old_mine.name, tmp_mine.name])


def test_a_temp_folder_name_held_by_a_user_is_passed_over(tmp_path, capsys):
    out = tmp_path / "run"
    mine = tmp_path / f".run.tmp-{os.getpid()}"  # the very name this process would use first
    before = user_folder(mine)
    code, _, err = run_cli(["run", *ANOMALY, "--out", out], capsys)
    assert code == 0, err
    assert snapshot(mine) == before and is_run_folder(out)


# ------------------------------------------------------------------ model files bound to their run
@pytest.fixture(scope="module")
def customers_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("customers") / "run"
    assert (
        cli.main(
            [
                "run",
                str(REPO / "configs" / "customers.yaml"),
                "--quiet",
                "--set",
                "report.stability_seeds=1",
                "--set",
                "report.bootstrap=0",
                "--set",
                "report.plots=false",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


@pytest.mark.parametrize(
    "edit, needle",
    [
        (
            lambda a, h: a.update(precisions_cholesky_=np.zeros_like(a["precisions_cholesky_"])),
            "precisions do not match",
        ),
        (lambda a, h: a.update(covariances_=-a["covariances_"]), "not positive"),
    ],
)
def test_customers_and_regimes_files_with_impossible_covariances_are_refused(
    customers_run, regimes_run, tmp_path, capsys, edit, needle
):
    from gmm_apps.core import load_model
    from gmm_apps.errors import ModelFileError

    for run, new in ((customers_run, SAMPLES / "cdnow_sample.txt"), (regimes_run, prices(tmp_path))):
        copy = copy_run(run, tmp_path)
        rewrite_npz(copy / "model.npz", edit, rechecksum=True, redigest=True)
        with pytest.raises(ModelFileError, match=needle):  # the file's own parameters, checked against each other
            load_model(copy / "model.npz")
        apply_fails(copy, new, tmp_path, capsys, "model.npz", "not the file this run wrote")
        apply_fails(without_model_checksums(copy), new, tmp_path, capsys, "model.npz", needle)
        shutil.rmtree(copy)


def test_a_model_from_another_run_is_refused_signed_or_not(customers_run, anomaly_run, tmp_path, capsys, monkeypatch):
    other = tmp_path / "other"
    code, _, err = run_cli(
        [
            "run",
            REPO / "configs" / "customers.yaml",
            "--quiet",
            "--set",
            "report.stability_seeds=1",
            "--set",
            "report.bootstrap=0",
            "--set",
            "report.plots=false",
            "--set",
            "features.model=[recency, frequency, monetary]",
            "--out",
            other,
        ],
        capsys,
    )
    assert code == 0, err
    run = copy_run(customers_run, tmp_path)
    shutil.copy(other / "model.npz", run / "model.npz")
    apply_fails(run, SAMPLES / "cdnow_sample.txt", tmp_path, capsys, "model.npz: is not the file this run wrote")
    import gmm_apps
    from gmm_apps.errors import ModelFileError

    with pytest.raises(ModelFileError, match="is not the file this run wrote"):  # the Python API checks it too
        _ = gmm_apps.load_run(run).model
    # a whole anomaly model folder from another run
    shutil.rmtree(run)
    a2 = tmp_path / "a2"
    assert run_cli(["run", *ANOMALY, "--set", "model.components=[1, 2]", "--out", a2], capsys)[0] == 0
    run = copy_run(anomaly_run, tmp_path)
    shutil.rmtree(run / "model")
    shutil.copytree(a2 / "model", run / "model")
    apply_fails(run, SAMPLES / "cardio_new.csv", tmp_path, capsys, "model/", "not the file this run wrote")
    shutil.rmtree(run)
    # signed: a validly signed model of another run is still not this run's
    monkeypatch.setenv("GMM_APPS_SIGNING_KEY", "s3cret")
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    assert run_cli(["run", *ANOMALY, "--out", s1], capsys)[0] == 0
    assert run_cli(["run", *ANOMALY, "--set", "model.components=[1, 2]", "--out", s2], capsys)[0] == 0
    shutil.rmtree(s1 / "model")
    shutil.copytree(s2 / "model", s1 / "model")
    apply_fails(s1, SAMPLES / "cardio_new.csv", tmp_path, capsys, "not the file this run wrote")


def test_a_run_without_model_checksums_still_applies_with_a_warning(anomaly_run, tmp_path, capsys):
    run = without_model_checksums(copy_run(anomaly_run, tmp_path))
    out = tmp_path / "applied"
    code, _, err = run_cli(["apply", run, SAMPLES / "cardio_new.csv", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert "did not record its model files' checksums" in summary["warning"]
    assert "applied unverified" in (out / "run.log").read_text()


def test_apply_update_binds_the_updated_model_to_the_new_folder(anomaly_run, tmp_path, capsys):
    out = tmp_path / "updated"
    code, _, err = run_cli(
        ["apply", anomaly_run, SAMPLES / "cardio_new.csv", "--out", out, "--update", "--quiet"], capsys
    )
    assert code == 0, err
    marker = json.loads((out / MARKER).read_text())
    assert set(marker["model_sha256"]) == {p.relative_to(out).as_posix() for p in (out / "model").iterdir()}
    (out / "model" / "member_000.npz").write_bytes((anomaly_run / "model" / "member_001.npz").read_bytes())
    apply_fails(out, SAMPLES / "cardio_new.csv", tmp_path, capsys, "member_000.npz")


# ------------------------------------------------------------------ hostile files: bounded, one line
def test_deeply_nested_json_in_model_files_summaries_and_legacy_detectors_is_one_line(anomaly_run, tmp_path, capsys):
    import hashlib

    import gmm_apps
    from gmm_apps.errors import UserError

    run = copy_run(anomaly_run, tmp_path)
    f = run / "model" / "detector.npz"
    with np.load(f) as z:  # a header 100,000 levels deep, its checksum recomputed (too deep to build as objects)
        arrays = {k: z[k] for k in z.files}
    text = arrays["__header__"].tobytes().decode()
    raw = (text[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()
    arrays["__header__"] = np.frombuffer(raw, np.uint8)
    arrays["__checksum__"] = np.frombuffer(hashlib.sha256(raw).hexdigest().encode(), np.uint8)
    with open(f, "wb") as fh:
        np.savez(fh, **arrays)
    apply_fails(
        without_model_checksums(run),
        SAMPLES / "cardio_new.csv",
        tmp_path,
        capsys,
        "detector.npz",
        "nested deeper than 64",
    )
    # summary.json: 50,000 levels, and a list where a mapping belongs
    for text, needle in (("[" * 50_000 + "]" * 50_000, "nested deeper than 64"), ("[1, 2]", "got a list")):
        (run / "summary.json").write_text(text)
        code, _, err = run_cli(["show", run], capsys)
        assert code == 2
        one_error_line(err, "summary.json", needle)
        with pytest.raises(UserError, match=needle):
            gmm_apps.load_run(run)


@pytest.mark.parametrize(
    "head, needle",
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 64"),
        (json.dumps({"format": "gmm_apps.GMMDetector", "format_version": "1"}), "version '1'"),
    ],
)
def test_a_hostile_legacy_detector_json_is_one_line(anomaly_run, tmp_path, capsys, head, needle):
    run = without_model_checksums(copy_run(anomaly_run, tmp_path))
    (run / "model" / "detector.npz").unlink()
    (run / "model" / "detector.json").write_text(head)
    apply_fails(run, SAMPLES / "cardio_new.csv", tmp_path, capsys, "detector.json", needle)


def test_a_header_with_an_object_dtype_is_one_line(regimes_run, tmp_path, capsys):
    run = without_model_checksums(copy_run(regimes_run, tmp_path))
    rewrite_npz(run / "model.npz", lambda a, h: h["params"].update(dtype="object"), rechecksum=True)
    apply_fails(run, prices(tmp_path), tmp_path, capsys, "model.npz", "dtype 'object'")


def test_a_billion_laughs_config_is_refused_at_once(tmp_path):
    from test_bad_inputs import LAUGHS

    cfg = tmp_path / "lol.yaml"
    cfg.write_text(LAUGHS)
    r = subprocess.run(
        [sys.executable, "-m", "gmm_apps", "validate", str(cfg)], capture_output=True, text=True, timeout=120
    )  # a guard against a hang, not a speed test
    assert r.returncode == 2
    one_error_line(r.stderr, "lol.yaml: expands to more than 100,000 values")


def test_command_line_mistakes_are_one_error_line(capsys):
    for argv, needle in (
        (["run"], "the following arguments are required: config"),
        (["run", "x.yaml", "--seed", "abc"], "invalid int value: 'abc'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ):
        code, out, err = run_cli(argv, capsys)
        assert code == 2 and out == ""
        one_error_line(err, needle)
