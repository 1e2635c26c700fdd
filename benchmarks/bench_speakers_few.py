"""Speakers enrolled from two or three recordings each: identification accuracy over five draws.

    python benchmarks/bench_speakers_few.py [path/to/fsdd/recordings] [--set KEY=VALUE ...]

Six FSDD speakers enrol digits 0-1 (two recordings) or 0-2 (three) of one take (10 to 14: five draws)
and are tested on takes 5-9 (300 recordings), with the default config; prints each draw's accuracy
and the background model size chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_apps.runs import execute_run  # noqa: E402


def main():
    default = ROOT.parent / "shared" / "datasets" / "fsdd" / "recordings"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recordings", nargs="?", default=str(default))
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    src = Path(args.recordings)
    if not src.is_dir():
        sys.exit(f"no FSDD recordings at {src}; pass their folder")
    rows = {}
    for n, digits in ((2, "[0-1]"), (3, "[0-2]")):
        for take in (10, 11, 12, 13, 14):
            with tempfile.TemporaryDirectory() as tmp:
                _, s = execute_run(
                    ROOT / "configs" / "speakers.yaml",
                    out=Path(tmp) / "run",
                    quiet=True,
                    sets=[f"data.enrol={src}/{digits}_*_{take}.wav", f"data.test={src}/*_[5-9].wav", *args.sets],
                )
            rows[f"{n} recordings, take {take}"] = {"accuracy": round(s["accuracy"], 3), "ubm": s["ubm_components"]}
            print(f"{n} recordings, take {take}: accuracy {s['accuracy']:.3f}, {s['ubm_components']} components")
    for n in (2, 3):
        acc = [r["accuracy"] for k, r in rows.items() if k.startswith(f"{n} ")]
        print(f"{n} recordings: mean accuracy {sum(acc) / len(acc):.3f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
