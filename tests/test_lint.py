"""The house style: ruff's lint rules and formatter (configured in pyproject.toml) pass on the whole tree."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _ruff():
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.skip("ruff is not installed (pip install '.[test]')")
    return [sys.executable, "-m", "ruff"]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_passes(args):
    p = subprocess.run([*_ruff(), *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


def _modules():
    pkg = REPO / "gmm_apps"
    for path in sorted(pkg.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, path.name == "__init__.py"


def test_every_import_inside_a_function_says_why():
    import ast

    bare = []
    for _, path, _ in _modules():
        lines = path.read_text().split("\n")
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and "#" not in lines[node.lineno - 1]:
                        bare.append(f"{path.relative_to(REPO)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not bare, "function-level imports need a '# reason' (optional, heavy or start-up):\n" + "\n".join(bare)


def _module_graph():
    import ast

    mods = {name: (path, is_pkg) for name, path, is_pkg in _modules()}
    graph = {}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        edges = set()
        for node in ast.parse(path.read_text()).body:  # module level: what importing the module runs
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def test_no_import_cycles_between_modules():
    graph = _module_graph()
    assert "gmm_apps.runs" in graph["gmm_apps.api"]  # the graph sees relative imports
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60


def _long_functions():
    import ast

    for _, path, _ in _modules():
        lines = path.read_text().split("\n")
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
            size = fn.end_lineno - body[0].lineno + 1 if body else 0  # code lines, the docstring not counted
            first = fn.decorator_list[0].lineno if fn.decorator_list else fn.lineno
            said = lines[first - 2].strip().startswith("# long:")
            yield path, fn, size, said


def test_no_file_is_over_600_lines():
    big = [
        f"{p.relative_to(REPO)}: {n}"
        for _, p, _ in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    ]
    assert not big, "split these by job:\n" + "\n".join(big)


def test_no_function_is_over_60_lines_unless_a_comment_says_why():
    long = [
        f"{path.relative_to(REPO)}:{fn.lineno} {fn.name}: {size} lines"
        for path, fn, size, said in _long_functions()
        if size > MAX_FUNCTION_LINES and not said
    ]
    assert not long, "split these, or say why on a '# long: ...' line above the def:\n" + "\n".join(long)
