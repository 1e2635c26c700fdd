"""Cut the CDNOW 1/10 sample shipped in gmm_apps/samples/ from the master file.

    python datasets/make_cdnow_sample.py [../shared/datasets/cdnow/CDNOW_master.txt]

Keeps every customer whose id is 1 modulo 10 (a systematic 1-in-10 sample of the
23,570 customers: 2,357 customers, the size of the standard CDNOW sample used by
Fader, Hardie and Lee), with all their transactions, in the master file's own
format (a header line, then whitespace-separated id, YYYYMMDD date, CDs, dollars).
"""

import sys
from pathlib import Path

here = Path(__file__).resolve().parent
src = (
    Path(sys.argv[1])
    if len(sys.argv) > 1
    else here.parent.parent / "shared" / "datasets" / "cdnow" / "CDNOW_master.txt"
)
out = here.parent / "gmm_apps" / "samples" / "cdnow_sample.txt"
lines = src.read_text().splitlines()
keep = [lines[0].strip()] + [ln.strip() for ln in lines[1:] if ln.strip() and int(ln.split()[0]) % 10 == 1]
out.write_text("\n".join(keep) + "\n")
print(f"{out}: {len(keep) - 1} transactions of {len({ln.split()[0] for ln in keep[1:]})} customers")
