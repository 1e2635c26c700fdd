"""Every example runs as a user would run it, and shows its headline and its plot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PLOTS = {
    "customers": "customers_segments.png",
    "anomaly": "anomaly_scores.png",
    "regimes": "regimes_prices.png",
    "images": "images_labels.png",
    "speakers": "speakers_margins.png",
}


def test_there_is_one_example_per_pipeline():
    from gmm_apps import registry

    assert {p.stem for p in EXAMPLES.glob("*.py")} == set(registry.available()) == set(PLOTS)


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_example_runs(name, tmp_path):
    # a fresh interpreter from an unrelated folder: the bundled data must come with the package,
    # and a script without a __main__ guard must work (the images workers must not re-run it)
    env = dict(
        os.environ, MPLBACKEND="Agg", PYTHONPATH=str(EXAMPLES.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plot = tmp_path / PLOTS[name]
    assert plot.is_file() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    later = {"customers": "apply", "anomaly": "new", "regimes": "new", "images": "new", "speakers": "test"}[name]
    # a batch: one run an asset file; one detector applied to each day's file
    assets = {"regimes": ["example-regimes-assets"], "anomaly": ["example-anomaly-daily"]}.get(name, [])
    assert runs == sorted([f"example-{name}", f"example-{name}-{later}", *assets])
    headlines = [
        line
        for line in proc.stdout.splitlines()
        if "identified" in line or "flagged" in line or "segment" in line or "regime" in line or "enrolled" in line
    ]
    assert headlines, proc.stdout
