"""Speakers recorded through mixed devices and codecs: identification accuracy by feature normalisation.

    python benchmarks/bench_speakers_codecs.py [path/to/fsdd/recordings] [--mixes 4]

The six FSDD speakers enrol takes 0-7 and are tested on takes 45-49 (300 recordings).  Each mix gives
every recording, at random (seeded), one of four ways it reaches us: a 44.1 kHz 24-bit stereo WAV
(resampled, the second channel at half level), FLAC at 8 kHz, MP3 at 16 kHz (upsampled) or Ogg Vorbis at
8 kHz.  Each mix, and the plain WAV files, run with ``features.normalise`` ``gain`` (the default) and
``mean_variance``; prints accuracy and EER of each run, then the mean over the mixes.  Then the enrolment
as plain WAV and every test recording through one of the four (the new recordings of an ``apply`` that
come another way than the enrolment's).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_apps.runs import execute_run  # noqa: E402

NORMALISATIONS = ("gain", "mean_variance")


def split(src):
    """The recordings enrolled (takes 0-7) and tested (takes 45-49), by file."""
    enrol, test = [], []
    for f in sorted(Path(src).glob("*.wav")):
        take = int(f.stem.split("_")[2])
        (enrol if take < 8 else test if take >= 45 else []).append(f)
    return enrol, test


KINDS = ("wav44", "flac", "mp3", "ogg")


def write_as_received(f, dest, rng=None, kind=None):
    """One recording as one of four devices and codecs would hand it over (``kind``, else one at random), in a
    folder of its speaker."""
    y, sr = sf.read(f)
    folder = dest / f.stem.split("_")[1]
    folder.mkdir(parents=True, exist_ok=True)
    kind = kind or rng.choice(KINDS)
    if kind == "wav44":
        z = resample_poly(y, 441, 80)
        sf.write(folder / f"{f.stem}.wav", np.c_[z, 0.5 * z], 44100, subtype="PCM_24")
    elif kind == "mp3":
        sf.write(folder / f"{f.stem}.mp3", resample_poly(y, 2, 1), 2 * sr)
    else:
        sf.write(folder / f"{f.stem}.{kind}", y, sr)


def plain(files, dest):
    for f in files:
        folder = dest / f.stem.split("_")[1]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f.name).symlink_to(f.resolve())


def run(enrol, test, normalise, tmp):
    sets = [f"data.enrol={enrol}", f"data.test={test}", "report.plots=false", f"features.normalise={normalise}"]
    _, s = execute_run(ROOT / "configs" / "speakers.yaml", out=Path(tmp) / f"run-{normalise}", quiet=True, sets=sets)
    return round(s["accuracy"], 4), round(s["eer"], 4)


def main():
    default = ROOT.parent / "shared" / "datasets" / "fsdd" / "recordings"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recordings", nargs="?", default=str(default))
    ap.add_argument("--mixes", type=int, default=4)
    args = ap.parse_args()
    if not Path(args.recordings).is_dir():
        sys.exit(f"no FSDD recordings at {args.recordings}; pass their folder")
    enrol, test = split(args.recordings)
    rows = {}
    for mix in ["plain WAV", *(f"mix {i}" for i in range(1, args.mixes + 1))]:
        with tempfile.TemporaryDirectory() as tmp:
            e, t = Path(tmp) / "enrol", Path(tmp) / "test"
            if mix == "plain WAV":
                plain(enrol, e)
                plain(test, t)
            else:
                rng = np.random.default_rng(int(mix.split()[1]))
                for f in enrol:
                    write_as_received(f, e, rng)
                for f in test:
                    write_as_received(f, t, rng)
            rows[mix] = {nm: run(e, t, nm, tmp) for nm in NORMALISATIONS}
        shown = ", ".join(f"{nm} {a:.1%} / EER {r:.2%}" for nm, (a, r) in rows[mix].items())
        print(f"{mix}: {shown}", flush=True)
    for nm in NORMALISATIONS:
        acc = [rows[m][nm][0] for m in rows if m != "plain WAV"]
        print(f"{nm}: mean accuracy over the mixes {np.mean(acc):.1%} (from {min(acc):.1%} to {max(acc):.1%})")
    print(json.dumps(rows))
    # enrolled as plain WAV, the new recordings all through one other device or codec (apply's case)
    for kind in KINDS:
        with tempfile.TemporaryDirectory() as tmp:
            e, t = Path(tmp) / "enrol", Path(tmp) / "test"
            plain(enrol, e)
            for f in test:
                write_as_received(f, t, kind=kind)
            got = {nm: run(e, t, nm, tmp) for nm in NORMALISATIONS}
        shown = ", ".join(f"{nm} {a:.1%} / EER {r:.2%}" for nm, (a, r) in got.items())
        print(f"enrolled as WAV, tested as {kind}: {shown}", flush=True)


if __name__ == "__main__":
    main()
