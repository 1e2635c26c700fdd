"""Speakers: how often a voice never enrolled passes the unknown-speaker threshold, and whether the run's
estimate of it (``threshold_calibration.unseen_voices_accepted``) says so.

    python benchmarks/bench_speakers_unseen.py                    # digits alone and five at a time
    python benchmarks/bench_speakers_unseen.py --rates 0.01 0.1 --lengths 1

Each of the six FSDD speakers (``../shared/datasets/fsdd/recordings``) in turn is never enrolled: the other
five are enrolled on takes 0-24 and all six tested on takes 25-49, with the default config (``threshold.rate``
from ``--rates``, ``threshold.impostors`` enrolled and unseen). ``--lengths``: digits per recording, a
speaker's takes joined in order (1: the recordings as they are, about 0.5 s of speech; 5: about 2.5 s).
Per run, measured on the test recordings:

- stranger accepted: the share of the never-enrolled speaker's recordings not answered unknown;
- estimate: what the run said of it before seeing them (``unseen_voices_accepted``, from enrolment alone);
- enrolled unknown: the share of enrolled speakers' recordings answered unknown;
- accuracy: closed-set identification of enrolled speakers' recordings.

Means over the six speakers left out; ``--json`` writes every run's figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

import gmm_apps

FSDD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fsdd" / "recordings"
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
RATE = 8000


def make_sets(folder, length):
    """``folder/<part>/<speaker>/`` of every speaker: takes 0-24 (enrol) and 25-49 (test), ``length`` digits a
    recording (a speaker's takes joined in take, then digit, order)."""
    for s in SPEAKERS:
        files = sorted(FSDD.glob(f"*_{s}_*.wav"), key=lambda p: (int(p.stem.split("_")[2]), int(p.stem.split("_")[0])))
        for part, takes in (("enrol", range(0, 25)), ("test", range(25, 50))):
            chosen = [p for p in files if int(p.stem.split("_")[2]) in takes]
            (folder / part / s).mkdir(parents=True)
            for k in range(0, len(chosen) - length + 1, length):
                y = np.concatenate([sf.read(p)[0] for p in chosen[k : k + length]])
                sf.write(folder / part / s / f"{s}_{k // length}.wav", y, RATE)


def one_run(root, stranger, rate, impostors, out):
    enrol = root / f"enrol_without_{stranger}"
    if not enrol.exists():
        for s in SPEAKERS:
            if s != stranger:
                (enrol / s).mkdir(parents=True)
                for f in (root / "enrol" / s).iterdir():
                    (enrol / s / f.name).symlink_to(f)
    r = gmm_apps.run(
        "configs/speakers.yaml",
        out=out,
        overwrite=True,
        set=[
            f"data.enrol={enrol}",
            f"data.test={root / 'test'}",
            "data.label_from=folder",
            "report.plots=false",
            f"threshold.rate={rate}",
            f"threshold.impostors={impostors}",
        ],
    )
    s = r.summary
    return {
        "stranger accepted": 1 - s["unknown_speakers_rejected"],
        "estimate": s["threshold_calibration"]["unseen_voices_accepted"],
        "enrolled unknown": s["unknown_rate_enrolled"],
        "accuracy": s["accuracy"],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[1, 5], help="digits per recording")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.01], help="threshold.rate values")
    ap.add_argument("--json", type=Path, help="write every run's figures here")
    args = ap.parse_args(argv)
    if not FSDD.is_dir():
        raise SystemExit(f"FSDD not found at {FSDD}")
    every = []
    with tempfile.TemporaryDirectory() as tmp:
        for length in args.lengths:
            root = Path(tmp) / f"len{length}"
            make_sets(root, length)
            for rate in args.rates:
                for impostors in ("enrolled", "unseen"):
                    rows = [{"stranger": s, **one_run(root, s, rate, impostors, Path(tmp) / "run")} for s in SPEAKERS]
                    every.append({"digits": length, "rate": rate, "impostors": impostors, "runs": rows})
                    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "stranger"}
                    print(
                        f"digits {length}  rate {rate:g}  impostors {impostors:8s}  "
                        + "  ".join(f"{k} {100 * v:5.1f}%" for k, v in mean.items()),
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps(every, indent=1))


if __name__ == "__main__":
    main()
