"""Speakers: who spoke when (``data.window_seconds``) on meetings made of FSDD recordings nobody enrolled.

    python benchmarks/bench_speakers_windows.py                 # 30 meetings, windows of 1, 2, 3 and 5 s
    python benchmarks/bench_speakers_windows.py --meetings 10 --windows 2

The six FSDD speakers are enrolled on takes 5-29 of ``../shared/datasets/fsdd/recordings``. Each meeting is
8 turns, each of one speaker (drawn at random) saying 3 to 8 digits of takes 30-49, 0.15 s of silence
between digits: 20-30 s, a turn every 2-5 s. Each window size is one run of the default config with
``data.test`` the meetings. Measured on the time of each meeting (silence included, as a listener's clock):

- attributed: the share of time whose window's best speaker (the closed-set answer) is who spoke;
- attributed, unknown wrong: the same with windows below the unknown-speaker threshold counted wrong;
- unknown: the share of time in such windows;
- whole recording: the share of time of the one speaker the meeting as one recording is identified as (what
  the pipeline says without windows).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

import gmm_apps

FSDD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fsdd" / "recordings"
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
GAP_S, RATE = 0.15, 8000


def take(path):
    return int(path.stem.rsplit("_", 1)[1])


def make_meetings(folder, n, seed):
    """Enrolment folders and ``n`` meetings; returns each meeting's turns (start, end, speaker)."""
    rng = random.Random(seed)
    later = {s: sorted(p for p in FSDD.glob(f"*_{s}_*.wav") if take(p) >= 30) for s in SPEAKERS}
    for s in SPEAKERS:
        (folder / "enrol" / s).mkdir(parents=True)
        for p in FSDD.glob(f"*_{s}_*.wav"):
            if take(p) < 30:
                (folder / "enrol" / s / p.name).symlink_to(p)
    (folder / "meetings").mkdir()
    truth = {}
    for m in range(n):
        parts, turns, t = [], [], 0.0
        for _ in range(8):
            s, start = rng.choice(SPEAKERS), t
            for _ in range(rng.randint(3, 8)):
                y, _ = sf.read(rng.choice(later[s]))
                parts += [y, np.zeros(int(GAP_S * RATE))]
                t += len(y) / RATE + GAP_S
            turns.append((start, t, s))
        name = f"meeting{m:02d}.wav"
        sf.write(folder / "meetings" / name, np.concatenate(parts), RATE)
        truth[name] = turns
    return truth


def overlap(turns, a, b):
    """Seconds each speaker spoke (as the turns say) between ``a`` and ``b``."""
    out = {}
    for s0, s1, who in turns:
        out[who] = out.get(who, 0.0) + max(0.0, min(b, s1) - max(a, s0))
    return out


def scores(run, truth):
    windows = pd.read_csv(run / "windows.csv")
    whole = pd.read_csv(run / "identifications.csv")
    total = sum(t[-1][1] for t in truth.values())
    right = right_known = unknown = base = 0.0
    for w in windows.itertuples():
        said = overlap(truth[Path(w.file).name], w.start_s, w.end_s)
        hit = said.get(w.predicted, 0.0) if isinstance(w.predicted, str) else 0.0
        right += hit
        right_known += 0.0 if w.unknown else hit
        unknown += (w.end_s - w.start_s) if w.unknown else 0.0
    for r in whole.itertuples():
        turns = truth[Path(r.file).name]
        base += overlap(turns, 0.0, turns[-1][1]).get(r.predicted, 0.0)
    return right / total, right_known / total, unknown / total, base / total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meetings", type=int, default=30)
    ap.add_argument("--windows", type=float, nargs="+", default=[1, 2, 3, 5])
    args = ap.parse_args()
    if not FSDD.is_dir():
        raise SystemExit(f"FSDD not found at {FSDD}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truth = make_meetings(folder, args.meetings, seed=0)
        merged = np.mean([1 + sum(a[2] != b[2] for a, b in zip(t, t[1:])) for t in truth.values()])
        print(
            f"{args.meetings} meetings, {sum(t[-1][1] for t in truth.values()) / 60:.1f} minutes, 8 turns each "
            f"({merged:.1f} a meeting where two in a row are one speaker's)"
        )
        print("| window (s) | attributed | attributed, unknown wrong | unknown | whole recording | turns found |")
        print("|---:|---:|---:|---:|---:|---:|")
        for seconds in args.windows:
            run = folder / f"run{seconds:g}"
            r = gmm_apps.run(
                "speakers",
                out=run,
                set=[
                    f"data.enrol={folder / 'enrol'}",
                    f"data.test={folder / 'meetings'}",
                    f"data.window_seconds={seconds}",
                    "report.plots=false",
                ],
            )
            a, k, u, b = scores(run, truth)
            turns = r.summary["turns"] / args.meetings
            print(f"| {seconds:g} | {100 * a:.1f}% | {100 * k:.1f}% | {100 * u:.1f}% | {100 * b:.1f}% | {turns:.1f} |")
        (folder / "truth.json").write_text(json.dumps(truth))


if __name__ == "__main__":
    main()
