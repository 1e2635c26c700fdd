"""Speakers: gmm_apps against one scikit-learn GMM per speaker, on the Free Spoken Digit Dataset.

    python benchmarks/bench_speakers.py [path/to/fsdd/recordings] [--repeat N]

Protocols (six speakers; the official test takes 0-4 are not in ../shared and not used):
- takes: enrol on takes 10-49, test on takes 5-9 (300 recordings);
- cross-digit: enrol on digits 0-4, test on digits 5-9 (1,350 recordings);
- short enrolment: five recordings per speaker (digits 0-4 of take 10), test on takes 5-9 (1,211 speech
  frames);
- one word: every speaker enrols the same word (digit 0, takes 10-29), tested on takes 30-39, as a
  passphrase system would;
- the shape of a many-speaker corpus: each (digit, speaker) pair a class (60), takes 20-49 enrolled
  (1,800 recordings) and takes 5-9 tested (300), everything resampled to 16 kHz (by hand too).
gmm_apps runs with its default config (MAP-adapted speakers, S-norm), with ``model.score_norm=none``, and
with the i-vector back end (``model.kind=ivector``) with and without S-norm.
Baseline, as a user would write it: librosa MFCC (20, librosa defaults at 8 kHz) + deltas, mean
normalisation per recording, one scikit-learn GaussianMixture (16 diagonal components) per speaker,
highest average log-likelihood wins.
Seconds are the median of ``--repeat`` runs (default 3), the methods taking turns, so that a busy
moment of the machine does not land on one method alone.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_apps.runs import execute_run  # noqa: E402

#: the speaker in an FSDD file name; the many-class protocol's classes are (digit, speaker) pairs
SPEAKER = r"^\d+_([^_]+)_\d+$"
DIGIT_AND_SPEAKER = r"^(\d+_[^_]+)_\d+$"
PROTOCOLS = {
    "takes 10-49 -> 5-9": ("*_[1-4][0-9].wav", "*_[5-9].wav", []),
    "digits 0-4 -> 5-9": ("[0-4]_*.wav", "[5-9]_*.wav", []),
    "5 recordings -> 5-9": ("[0-4]_*_10.wav", "*_[5-9].wav", []),
    # a word every speaker enrols (a passphrase): digit 0, takes 10-29 enrolled, takes 30-39 tested
    "one word, 20 -> 10": ("0_*_[12][0-9].wav", "0_*_3[0-9].wav", []),
    # the shape of a many-speaker corpus: 60 classes, 1,800 enrolment and 300 test recordings, at 16 kHz
    "60 classes, 16 kHz": (
        "*_[2-4][0-9].wav",
        "*_[0-9].wav",
        [r"data.pattern=^(?P<speaker>\d+_[^_]+)_(?P<take>\d+)$", "data.sample_rate=16000"],
    ),
}
VARIANTS = {
    "gmm_apps default (S-norm)": [],
    "gmm_apps, score_norm none": ["model.score_norm=none"],
    "gmm_apps, kind ivector (S-norm)": ["model.kind=ivector"],
    "gmm_apps, kind ivector, score_norm none": ["model.kind=ivector", "model.score_norm=none"],
}


def baseline(src, enrol_glob, test_glob, *, label=SPEAKER, sr=None):
    """The by-hand script: accuracy and seconds for features, enrolment and identification."""
    import librosa
    from sklearn.mixture import GaussianMixture

    def feats(p):
        y, rate = librosa.load(p, sr=sr)
        m = librosa.feature.mfcc(y=y, sr=rate, n_mfcc=20)
        f = np.vstack([m, librosa.feature.delta(m, width=3)]).T
        return f - f.mean(axis=0)

    t = time.perf_counter()
    enrol = sorted(src.glob(enrol_glob))
    test = sorted(src.glob(test_glob))
    E = [(re.match(label, p.stem).group(1), feats(p)) for p in enrol]
    T = [(re.match(label, p.stem).group(1), feats(p)) for p in test]
    t_feat = time.perf_counter() - t
    t = time.perf_counter()
    spk = sorted({s for s, _ in E})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            s: GaussianMixture(16, covariance_type="diag", random_state=0).fit(np.vstack([f for q, f in E if q == s]))
            for s in spk
        }
    t_enrol = time.perf_counter() - t
    t = time.perf_counter()
    correct = sum(max(spk, key=lambda s: models[s].score(f)) == q for q, f in T)
    t_id = time.perf_counter() - t
    return correct / len(T), t_feat, t_enrol, t_id, len(T)


def run_gmm_apps(src, eg, tg, sets):
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        _, s = execute_run(
            ROOT / "configs" / "speakers.yaml",
            out=Path(tmp) / "run",
            quiet=True,
            sets=[f"data.enrol={src / eg}", f"data.test={src / tg}", *sets],
        )
        return s, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ROOT.parent / "shared" / "datasets" / "fsdd" / "recordings"
    ap.add_argument("recordings", nargs="?", default=str(default))
    ap.add_argument("--repeat", type=int, default=3, help="runs of each method; seconds are their median")
    ap.add_argument("--only", help="one protocol (as named in the table)")
    args = ap.parse_args()
    src = Path(args.recordings)
    if not src.is_dir():
        sys.exit(f"{src}: not found; pass the FSDD recordings folder")
    print(f"{'protocol':22s} {'method':34s} {'accuracy':>9s} {'errors':>7s} {'EER':>7s} {'seconds':>8s}")
    for name, (eg, tg, sets) in PROTOCOLS.items():
        if args.only and name != args.only:
            continue
        times = {"baseline": [], **{v: [] for v in VARIANTS}}
        for _ in range(args.repeat):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # librosa's n_fft warnings on short recordings
                many = name.startswith("60 classes")
                acc, tf, te, ti, n = baseline(
                    src, eg, tg, label=DIGIT_AND_SPEAKER if many else SPEAKER, sr=16000 if many else None
                )
            times["baseline"].append((tf + te + ti, tf, te, ti))
            results = {}
            for variant, extra in VARIANTS.items():
                results[variant], el = run_gmm_apps(src, eg, tg, [*sets, *extra])
                times[variant].append(el)
        tf, te, ti = (statistics.median(t[i] for t in times["baseline"]) for i in (1, 2, 3))
        print(
            f"{name:22s} {'scikit-learn GMM per speaker':34s} {100 * acc:8.2f}% {round((1 - acc) * n):7d} {'-':>7s} "
            f"{statistics.median(t[0] for t in times['baseline']):8.1f}  (features {tf:.1f}, enrol {te:.1f}, "
            f"identify {ti:.1f})"
        )
        for variant, s in results.items():
            print(
                f"{name:22s} {variant:34s} {100 * s['accuracy']:8.2f}% {s['errors']:7d} "
                f"{100 * s['eer']:6.2f}% {statistics.median(times[variant]):8.1f}  (whole run incl. threshold "
                f"calibration and report)",
                flush=True,
            )


if __name__ == "__main__":
    main()
