"""Write docs/configuration.md: every key of every pipeline, from the config schemas.

    python docs/make_configuration.py          # rewrite the file
    python docs/make_configuration.py --check  # exit 1 if the committed file is stale

The schemas in ``gmm_apps/pipelines/*/config.py`` are the one source; the
test suite fails when this file and the schemas disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gmm_apps import registry  # noqa: E402
from gmm_apps.config_docs import schema_rows  # noqa: E402
from gmm_apps.yaml_io import yaml_text  # noqa: E402

OUT = HERE / "configuration.md"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def render():
    """The Markdown text of docs/configuration.md."""
    parts = [
        "# Configuration reference",
        "",
        "Every key of every pipeline: type, default, limits and what it does. A config holds exactly these",
        "keys; any other key is an error. `gmm-apps init PIPELINE FILE` writes a pipeline's defaults with",
        "these descriptions as comments. This file is generated from the schemas by",
        "`python docs/make_configuration.py`; do not edit it by hand. Relative paths are read from the folder",
        "the command runs in, not the config's own.",
        "",
    ]
    for name in registry.available():
        pipeline = registry.get_pipeline(name)
        parts += [f"## {name}", "", pipeline.description[:1].upper() + pipeline.description[1:] + ".", ""]
        section = None
        for row in schema_rows(pipeline.config_model):
            if row["key"] == "pipeline":
                continue
            if row["section"]:
                section = row["key"]
                if parts[-1] != "":
                    parts.append("")
                parts += [f"### `{section}`", ""]
                if row["description"]:
                    parts += [" ".join(row["description"].split()).replace("``", "`"), ""]
                parts += ["| key | type | default | limits | description |", "|---|---|---|---|---|"]
                continue
            parts.append(
                f"| `{row['key']}` | {_cell(row['type'])} | `{_cell(yaml_text(row['default']))}` | "
                f"{_cell(row['limits'])} | {_cell(row['description'])} |"
            )
        parts.append("")
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv):
    text = render()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale; run: python docs/make_configuration.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
