# %% [markdown]
# # Market regimes from Python
#
# Labels daily S&P 500 prices (bundled with the `arch` package) as calm, normal or stress
# regimes, then labels newer prices with the saved model. Any DataFrame of prices with a date
# index works the same way (e.g. from yfinance).

# %%
import matplotlib

matplotlib.use("Agg")  # drop this line in a notebook to see the plot inline
import matplotlib.pyplot as plt
from arch.data import sp500

import gmm_apps

prices = sp500.load()["Adj Close"].rename("Close").to_frame()
history, recent = prices.loc[:"2016-12-31"], prices.loc["2017-01-01":]

# %% Fit on the history (the last four years are held out and scored)
run = gmm_apps.run("regimes", data=history, out="runs/example-regimes", set=["split.holdout_start=2013-01-01"])
print(run.summary["headline"])
print(run.tables["regime_stats"][["name", "share_of_time", "annual_volatility", "mean_duration_days"]])

# %% Did acting on the labels help? Out of the market in the stress regime, on 2013-2016, after costs
print(run.tables["backtest"][["strategy", "annual_return", "sharpe", "max_drawdown"]])

# %% Newer prices through the saved model: filtered probabilities use only data up to each day,
# and the outlook: each regime's probability 1, 5 and 21 trading days ahead
today = run.apply(recent, out="runs/example-regimes-new")
print(today.summary["headline"])
print(today.summary["forecast"]["probabilities"]["21d"])

# %% Many assets: a folder of price files, one run each (each=, as `gmm-apps run --each`), one row each;
# n_jobs=2 runs two files at once
from pathlib import Path  # noqa: E402  (for this cell)

from arch.data import nasdaq  # noqa: E402  (the second asset, for this cell)

folder = Path("example-prices")
folder.mkdir(parents=True, exist_ok=True)
history.to_csv(folder / "sp500.csv")
nasdaq.load()["Adj Close"].rename("Close").loc[:"2016-12-31"].to_frame().to_csv(folder / "nasdaq.csv")
assets = gmm_apps.run("regimes", each=folder / "*.csv", out="runs/example-regimes-assets", overwrite=True, n_jobs=2)
print(
    assets.tables["runs"][
        ["run", "date", "regime", "probability", "switches_per_year_out_of_sample", "regimes_beyond_chance"]
    ]
)
print(assets.runs["nasdaq"].summary["headline"])  # each asset's run, as any run

labels = today.tables["regimes"]
fig, ax = plt.subplots(figsize=(8, 3))
close = recent["Close"].reindex(labels["date"].astype("datetime64[ns]")).to_numpy()
for name, colour in (("calm", "tab:green"), ("normal", "tab:blue"), ("stress", "tab:red")):
    mask = (labels["name"] == name).to_numpy()
    ax.scatter(labels["date"].astype("datetime64[ns]")[mask], close[mask], s=4, color=colour, label=name)
ax.set_ylabel("S&P 500")
ax.legend()
fig.tight_layout()
fig.savefig("regimes_prices.png", dpi=100)
