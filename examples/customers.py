# %% [markdown]
# # Customer segments from Python
#
# Segments the bundled CDNOW sample (2,357 customers of a music retailer, 1997-1998) from a
# pandas DataFrame of transactions, as you would with your own order table, then assigns
# customers again with the saved model.

# %%
import matplotlib

matplotlib.use("Agg")  # drop this line in a notebook to see the plot inline
import matplotlib.pyplot as plt
import pandas as pd

import gmm_apps

tx = pd.read_csv(
    gmm_apps.sample_path("cdnow_sample.txt"),
    sep=r"\s+",
    skiprows=1,
    names=["customer_id", "date", "quantity", "amount"],
    dtype={"customer_id": str, "date": str},
)
tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
tx.head()

# %% Fit: features per customer, a mixture with K chosen by BIC, a check on the log's last 39 weeks
run = gmm_apps.run("customers", data=tx, out="runs/example-customers", set=["data.format=table"])
print(run.summary["headline"])

# %% One row per segment, with a suggested action, and its value on the holdout weeks
segments = run.tables["segments"]
print(segments[["name", "customers", "revenue_share", "holdout_spend_per_customer"]])

fig, ax = plt.subplots(figsize=(7, 3))
ax.barh(segments["name"], segments["holdout_spend_per_customer"])
ax.set_xlabel("spend per customer in the 39 holdout weeks ($)")
ax.invert_yaxis()
fig.tight_layout()
fig.savefig("customers_segments.png", dpi=100)

# %% The saved model on new transactions (here the whole log, to its last day): segments for every customer
again = run.apply(tx, out="runs/example-customers-apply")
print(again.summary["headline"])
print(again.tables["customers"][["customer_id", "segment_name"]].head())
# who moved between segments since the run's calibration ended: rows then, columns now
print(again.tables["segment_moves"])
