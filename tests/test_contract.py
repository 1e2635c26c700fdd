"""Every registered pipeline keeps the same contract (a pipeline added to the registry is covered as it is).

For each name in ``registry.available()``: the default config validates; a quick
run on the default data writes ``summary.json``, ``report.html``, ``config.yaml``,
``run.log``, the run marker and the pipeline's model file; the pipeline's model
class (in its ``model.py``: ``fit``, ``save(path, *, meta)``, the classmethod
``load(path) -> (model, meta)``) reads that file and writes it again byte for byte;
``apply`` on that run works; a key that only another pipeline has is refused in one line; the same
seed twice gives byte-identical outputs; and no pipeline module reaches into
another pipeline or into private core names.
"""

import ast
import json
import re
from pathlib import Path

import pytest

from gmm_apps import cli, registry
from gmm_apps.run_context import MARKER

REPO = Path(__file__).resolve().parents[1]
NAMES = registry.available()


def sets(pipeline):
    return [a for s in pipeline.quick_sets for a in ("--set", s)]


def keys_of(model, prefix=""):
    from pydantic import BaseModel

    out = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= keys_of(ann, f"{prefix}{name}.")
        elif name != "pipeline":
            out.add(f"{prefix}{name}")
    return out


def config_file(name, tmp):
    """The pipeline's example config from configs/, or its defaults for a pipeline without one."""
    p = REPO / "configs" / f"{name}.yaml"
    if p.is_file():
        return p
    q = tmp / f"{name}.yaml"
    q.write_text(f"pipeline: {name}\n")
    return q


@pytest.fixture(scope="module", params=NAMES)
def first_run(request, tmp_path_factory):
    name = request.param
    tmp = tmp_path_factory.mktemp(name)
    out = tmp / "run"
    code = cli.main(
        ["run", str(config_file(name, tmp)), "--quiet", "--out", str(out), *sets(registry.get_pipeline(name))]
    )
    assert code == 0
    return name, tmp, out


@pytest.mark.parametrize("name", [n for n in NAMES if registry.get_pipeline(n).batch_plot])
def test_the_batch_plot_is_a_plot_a_run_draws(name, tmp_path):
    # the plot a batch's report shows for each of its runs (run --each) is one the pipeline's runs write
    pipeline = registry.get_pipeline(name)
    quick = [a for s in pipeline.quick_sets if s != "report.plots=false" for a in ("--set", s)]
    assert cli.main(["run", str(config_file(name, tmp_path)), "--quiet", "--out", str(tmp_path / "r"), *quick]) == 0
    assert (tmp_path / "r" / "plots" / pipeline.batch_plot).is_file(), sorted((tmp_path / "r" / "plots").iterdir())


def test_default_config_validates(first_run):
    name, _, _ = first_run
    pipeline = registry.get_pipeline(name)
    cfg = pipeline.config_model.model_validate({"pipeline": name})
    assert cfg.pipeline == name and cfg.model.random_state == 0


def test_a_run_writes_the_standard_files(first_run):
    name, _, out = first_run
    for f in ("summary.json", "report.html", "config.yaml", "run.log", MARKER, registry.get_pipeline(name).model_file):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pipeline"] == name and summary.get("headline")


def test_apply_on_the_run_works(first_run, capsys):
    name, tmp, out = first_run
    pipeline = registry.get_pipeline(name)
    new = pipeline.apply_example(out, tmp)
    if new is None:
        pytest.skip(f"{name} has no apply")
    code = cli.main(["apply", str(out), str(new), "--out", str(tmp / "applied"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp / "applied" / "summary.json").read_text())["applied_run"] == str(out)


def test_the_model_class_loads_the_run_and_a_resave_is_the_same_file(first_run, tmp_path):
    import inspect

    name, _, out = first_run
    pipeline = registry.get_pipeline(name)
    cls = pipeline.model_class
    assert cls is not None and cls.__module__.endswith(".model"), "the model class lives in the pipeline's model.py"
    assert callable(getattr(cls, "fit", None)) and callable(getattr(cls, "save", None))
    assert inspect.ismethod(cls.load), "load is a classmethod"
    assert "meta" in inspect.signature(cls.save).parameters
    original = out / pipeline.model_file
    model, meta = cls.load(original)
    assert isinstance(model, cls) and isinstance(meta, dict)
    again = tmp_path / pipeline.model_file
    again.parent.mkdir(parents=True, exist_ok=True)
    model.save(again, meta=meta)
    assert again.read_bytes() == original.read_bytes()
    reloaded, meta2 = cls.load(again)
    assert isinstance(reloaded, cls) and meta2 == meta
    assert type(pipeline.load_model(out)) is cls


def test_a_key_of_another_pipeline_is_refused_in_one_line(first_run, capsys):
    name, tmp, _ = first_run
    own = keys_of(registry.get_pipeline(name).config_model)
    foreign = sorted(set().union(*(keys_of(registry.get_pipeline(o).config_model) for o in NAMES if o != name)) - own)
    assert foreign, "no key of another pipeline to try"
    for key in foreign[:: max(1, len(foreign) // 6)]:
        code = cli.main(["validate", str(config_file(name, tmp)), "--set", f"{key}=1"])
        err = capsys.readouterr().err
        # a key this pipeline once had is refused naming the key that replaced it
        refused = ("unknown key", "no longer a key", "was renamed to")
        assert code == 2 and err.count("\n") == 1 and any(r in err for r in refused), (key, err)


def test_the_same_seed_gives_the_same_bytes(first_run):
    name, tmp, out = first_run
    again = tmp / "again"
    assert (
        cli.main(
            ["run", str(config_file(name, tmp)), "--quiet", "--out", str(again), *sets(registry.get_pipeline(name))]
        )
        == 0
    )
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        if f.name == "run.log":
            continue
        a, b = (out / f).read_bytes(), (again / f).read_bytes()
        if f.name == "summary.json":
            a, b = (json.loads(x) for x in (a, b))
            for d in (a, b):  # when and how long: the only fields that may differ
                for k in [k for k in d if k == "started" or k.endswith("seconds")]:
                    d.pop(k)
        if f.name == MARKER:  # the list of files the run wrote: the same files, written at other times
            a, b = (json.loads(x) for x in (a, b))
            for d in (a, b):  # sizes too, but of the files that hold timings
                d["files"] = {k: v[0] if k not in ("run.log", "summary.json") else 0 for k, v in d["files"].items()}
        assert a == b, f


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.level, node.module or "", [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield 0, a.name, []


@pytest.mark.parametrize("name", [n for n in NAMES if n in registry.BUILTIN])
def test_a_pipeline_uses_only_public_core_names_and_no_other_pipeline(name):
    import gmm_apps.core as core

    folder = REPO / "gmm_apps" / "pipelines" / name
    for f in sorted(folder.glob("*.py")):
        for level, module, names in _imports(f):
            absolute = module if level == 0 else ".".join(["gmm_apps", "pipelines", name][: 4 - level] + [module])
            if level == 1:
                continue  # inside this pipeline
            if "pipelines." in absolute and not absolute.startswith(f"gmm_apps.pipelines.{name}"):
                pytest.fail(f"{f.name} imports another pipeline: {absolute}")
            if absolute.startswith("gmm_apps.core"):
                assert absolute == "gmm_apps.core", f"{f.name} imports {absolute}: use gmm_apps.core's public names"
                for n in names:
                    assert not n.startswith("_") and n in core.__all__, f"{f.name} imports {n} from the core"
        text = f.read_text()
        assert not re.search(r"\._weighted_log_prob|\b_covariance\b", text), f.name


def _module_graph():
    """Module-level imports between gmm_apps modules (lazy imports inside functions are for start-up time)."""
    pkg = REPO / "gmm_apps"
    graph = {}
    for f in pkg.rglob("*.py"):
        mod = ".".join(f.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        package = mod.split(".") if f.name == "__init__.py" else mod.split(".")[:-1]
        deps = set()
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    is_module = (REPO / (sub.replace(".", "/") + ".py")).exists() or (
                        REPO / sub.replace(".", "/")
                    ).is_dir()
                    deps.add(sub if is_module else target)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        # a module's own packages are imported before it anyway: not an edge of a cycle
        graph[mod] = {d for d in deps if d.startswith("gmm_apps") and d != mod and not mod.startswith(d + ".")}
    return graph


def test_no_import_cycles_in_the_package():
    graph = _module_graph()
    assert "gmm_apps.pipelines.images.report" in graph
    done, path = set(), []

    def visit(m):
        if m in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(m) :] + [m]))
        if m in done or m not in graph:
            return
        path.append(m)
        for d in sorted(graph[m]):
            visit(d)
        path.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)


def test_the_smallest_pipeline_of_the_pipelines_readme_runs_and_applies(tmp_path, monkeypatch, capsys):
    """The example in gmm_apps/pipelines/README.md is real code: register it and run it."""
    import sys

    import numpy as np

    text = (REPO / "gmm_apps" / "pipelines" / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "clusters.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.BUILTIN, "clusters", "clusters:ClustersPipeline")
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    pts = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2))]
    np.savetxt(tmp_path / "points.csv", pts, delimiter=",", header="x,y", comments="")
    (tmp_path / "c.yaml").write_text("pipeline: clusters\n")
    assert cli.main(["run", "c.yaml", "--quiet", "--out", "r"]) == 0, capsys.readouterr().err
    assert "2 clusters in 200 rows" in json.loads((tmp_path / "r" / "summary.json").read_text())["headline"]
    assert cli.main(["apply", "r", "points.csv", "--out", "a", "--quiet"]) == 0
    assert cli.main(["validate", "c.yaml", "--set", "model.seeds=3"]) == 2
    assert "unknown key 'model.seeds'" in capsys.readouterr().err
    sys.modules.pop("clusters", None)


def test_every_module_beyond_the_six_files_is_named_in_the_pipelines_readme():
    """A newcomer finds what each extra module of a built-in pipeline holds in gmm_apps/pipelines/README.md."""
    six = {"__init__", "config", "data", "features", "model", "report", "pipeline"}
    text = (REPO / "gmm_apps" / "pipelines" / "README.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "`" in ln]
    missing = []
    for folder in sorted((REPO / "gmm_apps" / "pipelines").iterdir()):
        for f in sorted(folder.glob("*.py")) if folder.is_dir() else ():
            named = any(folder.name in r.split("|")[1] and f"`{f.name}`" in r for r in rows)
            if f.stem not in six and not named:
                missing.append(f"{folder.name}/{f.name}")
    assert not missing, f"add these to the table of own modules in gmm_apps/pipelines/README.md: {missing}"


def test_the_configuration_reference_is_generated_from_the_schemas():
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, str(REPO / "docs" / "make_configuration.py"), "--check"], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    text = (REPO / "docs" / "configuration.md").read_text()
    for name in NAMES:
        if name in registry.BUILTIN:
            for key in keys_of(registry.get_pipeline(name).config_model):
                assert f"| `{key}` |" in text, (name, key)


@pytest.mark.parametrize("name", NAMES)
def test_init_writes_a_config_that_runs_and_comments_every_key(name, tmp_path, capsys, monkeypatch):
    import yaml

    path = tmp_path / "my.yaml"
    assert cli.main(["init", name, str(path)]) == 0
    text = path.read_text()
    keyed = [
        ln
        for ln in text.splitlines()
        if ln.strip()
        and not ln.lstrip().startswith("#")
        and not ln.rstrip().endswith(":")
        and not ln.startswith("pipeline:")
    ]
    assert keyed and all("  # " in ln for ln in keyed), [ln for ln in keyed if "  # " not in ln]
    # every type is named in words a user reads (a bounded number is an integer or a number, not 'Annotated')
    types = [ln.split("  # ", 1)[1].split(":", 1)[0] for ln in keyed]
    assert not [t for t in types if "Annotated" in t or "[" in t], types
    raw = yaml.safe_load(text)
    assert registry.get_pipeline(name).config_model.model_validate(raw).pipeline == name
    assert cli.main(["validate", str(path)]) == 0, capsys.readouterr().err  # every key written, defaults and all
    assert cli.main(["init", name, str(path)]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err
    if name == "anomaly":  # the written defaults run as they are (from the repository root, where the data is)
        monkeypatch.chdir(REPO)
        assert (
            cli.main(
                [
                    "run",
                    str(path),
                    "--quiet",
                    "--out",
                    str(tmp_path / "r"),
                    "--set",
                    "model.seeds=1",
                    "--set",
                    "report.plots=false",
                ]
            )
            == 0
        )
        assert cli.main(["show", str(tmp_path / "r")]) == 0
        assert "records flagged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "key", "lacking"),
    [
        ("regimes", "covariance_of_states", "the covariance type of its states"),
        ("images", "settings", "the settings it segments with"),
    ],
)
def test_a_model_file_lacking_a_part_is_refused_by_the_one_older_file_rule(name, key, lacking, tmp_path):
    from model_files import rewrite_npz

    from gmm_apps.errors import ModelFileError

    pipeline = registry.get_pipeline(name)
    out = tmp_path / "run"
    assert cli.main(["run", str(config_file(name, tmp_path)), "--quiet", "--out", str(out), *sets(pipeline)]) == 0
    path = out / pipeline.model_file
    rewrite_npz(path, lambda arrays, header: header["extra"].pop(key), rechecksum=True)
    with pytest.raises(ModelFileError, match=f"written by an older gmm_apps, without {lacking}; rerun 'gmm-apps run'"):
        pipeline.model_class.load(path)
