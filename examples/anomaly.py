# %% [markdown]
# # Anomaly scores from Python
#
# Learns what normal foetal cardiotocograms look like from a reference table, scores new
# records, and shows which features drive each flagged record's score.

# %%
import matplotlib

matplotlib.use("Agg")  # drop this line in a notebook to see the plot inline
import matplotlib.pyplot as plt
import pandas as pd

import gmm_apps

reference = pd.read_csv(gmm_apps.sample_path("cardio_reference.csv"))
new = pd.read_csv(gmm_apps.sample_path("cardio_new.csv"))
print(reference.shape, new.shape)

# %% Fit on the reference records (the label column is used only for evaluation)
run = gmm_apps.run("anomaly", data=reference, out="runs/example-anomaly", set=["data.score=null"])
print(run.summary["headline"])

# %% Score new records with the saved detector: no refit
scored = run.apply(new, out="runs/example-anomaly-new")
print(scored.summary["headline"])
top = scored.tables["scores"].sort_values("score", ascending=False)
print(top[["id", "score", "flag", "top_features"]].head())

# %% Many new files at once: an analyst's daily exports, each scored by the same detector, side by side
from pathlib import Path  # noqa: E402  (for this cell)

days = Path("example-daily")
days.mkdir(exist_ok=True)
for k in range(3):
    new.iloc[k * len(new) // 3 : (k + 1) * len(new) // 3].to_csv(days / f"day{k + 1}.csv", index=False)
daily = run.apply(str(days), out="runs/example-anomaly-daily", overwrite=True)
print(daily.tables["runs"][["run", "scored_records", "flagged", "compared_with_reference"]])
# the sample lists its anomalous records last, so the third day holds them: the batch's headline names the days
# flagged far more (or far fewer) than records like the reference would be
print(daily.summary["headline"])

fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(top["score"], bins=60)
ax.axvline(run.model.threshold_, color="red", label="threshold")
ax.set_xlabel("anomaly score (higher is more anomalous)")
ax.legend()
fig.tight_layout()
fig.savefig("anomaly_scores.png", dpi=100)
