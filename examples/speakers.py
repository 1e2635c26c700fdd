# %% [markdown]
# # Speaker identification from Python
#
# Enrols speakers from recordings given in memory (a mapping of speaker name to
# `(samples, sample_rate)` pairs or file paths), then identifies who spoke in new recordings.

# %%
import matplotlib

matplotlib.use("Agg")  # drop this line in a notebook to see the plot inline
import matplotlib.pyplot as plt
import soundfile as sf

import gmm_apps

enrol, test = {}, {}
for f in sorted(gmm_apps.sample_path("fsdd_sample/enrol").glob("*.wav")):
    speaker = f.stem.split("_")[1]  # file names are {digit}_{speaker}_{take}
    enrol.setdefault(speaker, []).append(sf.read(f))
for f in sorted(gmm_apps.sample_path("fsdd_sample/test").glob("*.wav")):
    test.setdefault(f.stem.split("_")[1], []).append(f)
print({s: len(r) for s, r in enrol.items()})

# %% Enrol: a background model and one adapted model per speaker
run = gmm_apps.run("speakers", data=enrol, out="runs/example-speakers")
print(run.summary["headline"], run.model.speakers)

# %% Identify the test recordings (their folder names are the true speakers, for the accuracy)
ident = run.apply(test, out="runs/example-speakers-test")
print(ident.summary["headline"])
table = ident.tables["identifications"]
print(table[["file", "predicted", "margin", "unknown"]].head())

fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(table["margin"], bins=30)
ax.set_xlabel("margin between the best and the second-best speaker (log-likelihood ratio)")
fig.tight_layout()
fig.savefig("speakers_margins.png", dpi=100)
