"""Split the ODDS 'cardio' benchmark into the anomaly pipeline's reference and new records.

    python datasets/make_cardio_sample.py [../shared/datasets/odds/cardio.mat]

ODDS cardio: 1,831 foetal cardiotocograms x 21 features (UCI Cardiotocography; the
pathologic class is the outlier class, 176 records). Columns are named after the UCI
attributes in the order ODDS uses. A fixed random 60% (seed 0) becomes
cardio_reference.csv (the records a run learns from) and the other 40% cardio_new.csv
(the records it scores); 'outlier' (1 = pathologic) is kept for evaluation only.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import loadmat

NAMES = [
    "LB",
    "AC",
    "FM",
    "UC",
    "DL",
    "DS",
    "DP",
    "ASTV",
    "MSTV",
    "ALTV",
    "MLTV",
    "Width",
    "Min",
    "Max",
    "Nmax",
    "Nzeros",
    "Mode",
    "Mean",
    "Median",
    "Variance",
    "Tendency",
]
here = Path(__file__).resolve().parent
src = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent.parent / "shared" / "datasets" / "odds" / "cardio.mat"
m = loadmat(src)
df = pd.DataFrame(m["X"], columns=NAMES).round(6)
df.insert(0, "id", [f"ctg{i:04d}" for i in range(len(df))])
df["outlier"] = m["y"].ravel().astype(int)
perm = np.random.default_rng(0).permutation(len(df))
cut = int(0.6 * len(df))
df.iloc[np.sort(perm[:cut])].to_csv(here.parent / "gmm_apps" / "samples" / "cardio_reference.csv", index=False)
df.iloc[np.sort(perm[cut:])].to_csv(here.parent / "gmm_apps" / "samples" / "cardio_new.csv", index=False)
print(f"reference {cut} rows, new {len(df) - cut} rows, outliers {df['outlier'].sum()}")
