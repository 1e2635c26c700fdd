"""Many price files at once: ``gmm-apps run --each`` against a shell loop of one run a file.

    python benchmarks/bench_batch.py                 # the four daily series of ../shared/datasets/prices
    python benchmarks/bench_batch.py --copies 5      # each file five times (20 files)

A trader with a folder of price files runs the default regimes config on each. Timed in this process, on
the same files and settings (``data.missing: drop``, ``data.nonpositive: drop``, the rest as the default):

- loop: ``python -m gmm_apps run configs/regimes.yaml --set data.path=FILE`` once a file, each a fresh
  interpreter (what a shell loop does);
- each: ``python -m gmm_apps run configs/regimes.yaml --each 'FOLDER/*.csv'``, one interpreter;
- each, ``--jobs N`` (default 2): the same, N files at once.

Prints seconds for each and their ratios to the loop, and checks that every file's ``regimes.csv`` is the same
bytes all three ways.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRICES = REPO.parent / "shared" / "datasets" / "prices"
FILES = ["wti-daily.csv", "brent-daily.csv", "henry-hub-natgas-daily.csv", "vix-daily.csv"]
SETS = ["--set", "data.missing=drop", "--set", "data.nonpositive=drop", "--quiet"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=1, help="copies of each file (more files, the same work each)")
    ap.add_argument("--jobs", type=int, default=2, help="files at once in the third way")
    args = ap.parse_args()
    if not PRICES.is_dir():
        sys.exit(f"{PRICES}: not found (the shared data sets; see datasets/README.md)")
    config = str(REPO / "configs" / "regimes.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "prices"
        folder.mkdir()
        for name in FILES:
            for k in range(args.copies):
                shutil.copy(PRICES / name, folder / (name if k == 0 else f"{Path(name).stem}-{k}.csv"))
        files = sorted(folder.glob("*.csv"))
        t0 = time.perf_counter()
        for f in files:
            out = Path(tmp) / "loop" / f.stem
            cmd = [sys.executable, "-m", "gmm_apps", "run", config, "--set", f"data.path={f}", "--out", str(out)]
            subprocess.run([*cmd, *SETS], check=True, stdout=subprocess.DEVNULL)
        loop = time.perf_counter() - t0
        each, same = {}, True
        for way, jobs in (("each", []), ("jobs", ["--jobs", str(args.jobs)])):
            t0 = time.perf_counter()
            batch = Path(tmp) / way
            cmd = [
                sys.executable,
                "-m",
                "gmm_apps",
                "run",
                config,
                "--each",
                str(folder / "*.csv"),
                "--out",
                str(batch),
            ]
            subprocess.run([*cmd, *jobs, *SETS], check=True, stdout=subprocess.DEVNULL)
            each[way] = time.perf_counter() - t0
            same &= all(
                (Path(tmp) / "loop" / f.stem / "regimes.csv").read_bytes()
                == (batch / f.stem / "regimes.csv").read_bytes()
                for f in files
            )
    print(
        f"{len(files)} files: loop {loop:.1f} s, --each {each['each']:.1f} s (ratio {each['each'] / loop:.2f}), "
        f"--each --jobs {args.jobs} {each['jobs']:.1f} s (ratio {each['jobs'] / loop:.2f}); same labels: {same}"
    )


if __name__ == "__main__":
    main()
