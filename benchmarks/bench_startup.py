"""What a small command-line run costs before and around its work.

    python benchmarks/bench_startup.py [--repeat 5] [--rows 1000]

Each case is a fresh ``python -m gmm_apps`` process, timed from outside (median
of ``--repeat``): ``--help``; a run of the anomaly pipeline on ``--rows`` x 6
records with plots off and with them on; and, for scale, a bare ``python -c
"import numpy"``.  The run's own seconds (``elapsed_seconds`` in its
``summary.json``: reading, fitting, scoring, the report and writing) are
subtracted from the process's time to give the start-up overhead.  It also
lists which heavy libraries each case loaded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

HEAVY = ("sklearn", "scipy.stats", "matplotlib", "pandas")


def timed(make_args, cwd, repeat):
    """Median seconds of ``repeat`` fresh processes; ``make_args(i)`` gives the i-th command line."""
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        subprocess.run(make_args(i), cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def loaded(cli_args, cwd):
    code = textwrap.dedent(
        f"""
        import sys
        from gmm_apps.cli import main
        try:
            main({cli_args!r})
        except SystemExit:
            pass
        print("LOADED:" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    return next(line[7:] for line in out.stdout.splitlines() if line.startswith("LOADED:"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rows", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        X = np.random.default_rng(0).normal(size=(args.rows, 6))
        np.savetxt(d / "d.csv", X, delimiter=",", header="a,b,c,d,e,f", comments="")
        (d / "c.yaml").write_text("pipeline: anomaly\ndata:\n  path: d.csv\n")
        py = [sys.executable]
        rows = [
            ("python -c 'import numpy'", timed(lambda i: [*py, "-c", "import numpy"], d, args.repeat), "", "numpy"),
            (
                "gmm-apps --help",
                timed(lambda i: [*py, "-m", "gmm_apps", "--help"], d, args.repeat),
                "",
                loaded(["--help"], d),
            ),
        ]
        for name, extra in (("plots off", ["--set", "report.plots=false"]), ("plots on", [])):
            out = name.replace(" ", "_")
            seconds = timed(
                lambda i, out=out, extra=extra: [*py, "-m", "gmm_apps", "run", "c.yaml", "--out", f"{out}{i}", *extra],
                d,
                args.repeat,
            )
            work = float(json.loads((d / f"{out}0" / "summary.json").read_text())["elapsed_seconds"])
            cli = ["run", "c.yaml", "--out", f"probe_{out}", "--quiet", *extra]
            rows.append((f"{args.rows:,}-record anomaly run, {name}", seconds, work, loaded(cli, d)))
    print("| case | seconds (median) | inside the run | start-up overhead | heavy modules loaded |")
    print("|---|---:|---:|---:|---|")
    for name, seconds, work, mods in rows:
        if work == "":
            print(f"| {name} | {seconds:.2f} | | | {mods or '-'} |")
        else:
            print(f"| {name} | {seconds:.2f} | {work:.2f} | {seconds - work:.2f} | {mods or '-'} |")


if __name__ == "__main__":
    main()
