"""Every config key and command-line flag the user's guide names exists."""

import argparse
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from gmm_apps.cli import _parser
from gmm_apps.registry import available, get_pipeline

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    REPO / "README.md",
    REPO / "examples" / "README.md",
    REPO / "gmm_apps" / "pipelines" / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]
#: dotted names in the docs that are files or Python calls, not config keys
NOT_KEYS = re.compile(r"\.(csv|npz|html|log|json|yaml|png|parquet|py|md|txt)$|^run\.apply$")


def _key_paths(model, prefix=""):
    out = set()
    for name, f in model.model_fields.items():
        out.add(prefix + name)
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            out |= _key_paths(f.annotation, f"{prefix}{name}.")
    return out


def _flags(parser):
    out = set()
    for action in parser._actions:
        out.update(s for s in action.option_strings if s.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= _flags(sub)
    return out


KEYS = set().union(*(_key_paths(get_pipeline(n).config_model) for n in available()))
SECTIONS = sorted({k.split(".")[0] for k in KEYS if "." in k})
FLAGS = _flags(_parser())
BENCH_SOURCES = "\n".join(p.read_text() for p in (REPO / "benchmarks").glob("*.py"))


def _named(doc):
    """Dotted config keys and --flags inside the doc's code spans."""
    sections = "|".join(SECTIONS)
    key_rx = re.compile(rf"(?<![\w./-])((?:{sections})(?:\.[a-z_][a-z0-9_]*)+)")
    for span in re.findall(r"`([^`\n]+)`", doc.read_text()):
        for m in key_rx.finditer(span):
            if not NOT_KEYS.search(m.group(1)):
                yield "key", m.group(1)
        for m in re.finditer(r"(?<![\w-])(--[a-z][a-z-]*)", span):
            yield "flag", m.group(1)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_key_and_flag_the_docs_name_exists(doc):
    missing = []
    for kind, name in _named(doc):
        if kind == "key" and name not in KEYS:
            missing.append(name)
        # benchmark scripts have flags of their own: those must be in some benchmark's source
        if kind == "flag" and name not in FLAGS and f'"{name}"' not in BENCH_SOURCES:
            missing.append(name)
    assert not missing, f"{doc.name} names what does not exist: {sorted(set(missing))}"


def test_the_check_can_fail():
    """A stale key and a stale flag are caught (the checker is not vacuous)."""
    assert "model.n_components" in KEYS and "--overwrite" in FLAGS
    assert "model.no_such_key" not in KEYS and "--no-such-flag" not in FLAGS
    assert len(KEYS) > 100 and {"data", "model", "report"} <= set(SECTIONS)
