"""Speakers: what one speaker enrolled with little speech costs, which the run names when it happens.

    python benchmarks/bench_speakers_uneven.py [--shared ../shared/datasets]

FSDD's six speakers: each in turn is enrolled with 1, 2, 5 or 20 recordings (digits 0-9 of takes 10
and 11, in that order), the other five with 20; every speaker is tested on digits 0-9 of take 30
(60 recordings), default config. Printed: the few-recordings speaker's own accuracy, the other
speakers' recordings taken for them, the others' accuracy and the whole run's, each averaged over
the six speakers; and whether the run named the speaker as enrolled with little speech.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gmm_apps  # noqa: E402

SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
CONFIG = ROOT / "configs" / "speakers.yaml"


def one(src, few, k, tmp):
    """Accuracy of ``few`` enrolled with ``k`` recordings, the recordings taken for them, the others' accuracy,
    the run's, and whether the run named them."""
    t = Path(tmp)
    for s in SPEAKERS:
        (t / "enrol" / s).mkdir(parents=True)
        (t / "test" / s).mkdir(parents=True)
        for j in range(k if s == few else 20):
            shutil.copy(src / f"{j % 10}_{s}_{10 + j // 10}.wav", t / "enrol" / s)
        for d in range(10):
            shutil.copy(src / f"{d}_{s}_30.wav", t / "test" / s)
    sets = [f"data.enrol={t / 'enrol'}", f"data.test={t / 'test'}", "report.plots=false"]
    r = gmm_apps.run(str(CONFIG), out=t / "run", set=sets, quiet=True)
    c = r.summary["confusion"]
    m, i = np.asarray(c["matrix"]), c["labels"].index(few)
    others = [j for j in range(len(m)) if j != i]
    return (
        m[i, i] / m[i].sum(),
        int(m[others, i].sum()),
        m[others, others].sum() / m[others].sum(),
        r.summary["accuracy"],
        few in r.summary["under_enrolled"],
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    src = Path(ap.parse_args().shared) / "fsdd" / "recordings"
    if not src.is_dir():
        sys.exit(f"{src}: not found (FSDD recordings)")
    print("| recordings of the one speaker | their accuracy | others' recordings taken for them | others' accuracy | run's accuracy | named |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for k in (1, 2, 5, 20):
        rows = []
        for few in SPEAKERS:
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(one(src, few, k, tmp))
        a = np.array(rows, dtype=float)
        print(
            f"| {k} | {100 * a[:, 0].mean():.1f}% | {a[:, 1].mean():.2f} | {100 * a[:, 2].mean():.1f}% | "
            f"{100 * a[:, 3].mean():.1f}% | {int(a[:, 4].sum())} of 6 |",
            flush=True,
        )


if __name__ == "__main__":
    main()
