"""Cut the Free Spoken Digit sample shipped in gmm_apps/samples/fsdd_sample/.

    python datasets/make_fsdd_sample.py [../shared/datasets/fsdd/recordings]

Copies, for all six speakers and ten digits, takes 8-11 into fsdd_sample/enrol/ and
takes 5-7 into fsdd_sample/test/ (420 WAV files, 8 kHz mono), keeping the dataset's
file names ``{digit}_{speaker}_{take}.wav``.
"""

import shutil
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
src = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent.parent / "shared" / "datasets" / "fsdd" / "recordings"
out = here.parent / "gmm_apps" / "samples" / "fsdd_sample"
for sub, takes in (("enrol", range(8, 12)), ("test", range(5, 8))):
    d = out / sub
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted(src.glob("*.wav")):
        digit, speaker, take = f.stem.split("_")
        if int(take) in takes:
            shutil.copyfile(f, d / f.name)
            n += 1
    print(f"{d}: {n} files")
