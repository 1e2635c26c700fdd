"""Regimes: the model's one-day volatility forecast, out of sample, on series it was not tuned on.

    python benchmarks/bench_regime_volatility.py [--shared ../shared/datasets] [--only NAME]

Each series runs the pipeline in walk-forward mode from 2000 (the default config, refit every
63 days on an expanding window; the whole file before 2000 trains the first model), twice: with
each regime's variance following the regime's recent days (``model.vol_half_life``, the
default 21) and with the training days' variance of each regime (``model.vol_half_life=null``,
the forecast before). Beside them, the trailing 21-day realised variance (the volatility
targeting peer's). Each forecast is made at a day's close for the next day's log return and
scored by QLIKE, ``log(h) + r**2 / h`` averaged over the days (lower is better; the loss that
ranks variance forecasts correctly when the squared return stands in for the true variance,
Patton 2011).

Development series: eight USD exchange rates of the FRED file other than the yen. Confirm
series: the six of ``bench_regimes.py --part 4`` (S&P 500, NASDAQ, WTI, Brent, Henry Hub gas,
USD/JPY), whole files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_regimes import SERIES  # noqa: E402

import gmm_apps  # noqa: E402
from gmm_apps.pipelines.regimes import features as feat  # noqa: E402
from gmm_apps.pipelines.regimes import pipeline as rp  # noqa: E402
from gmm_apps.runs import prepare  # noqa: E402

FX = "{shared}/prices/fx-usd-daily-fred-2017.csv"
DEVELOPMENT = ["Canada", "United Kingdom", "Switzerland", "Australia", "Sweden", "Norway", "New Zealand", "Euro"]
CONFIG = ROOT / "configs" / "regimes.yaml"


def qlike(r, h):
    """Mean QLIKE of variance forecasts ``h[t]`` (made at day t's close) for ``r[t + 1] ** 2``."""
    y, h = r[1:] ** 2, h[:-1]
    ok = np.isfinite(h) & (h > 0)
    return float(np.mean(np.log(h[ok]) + y[ok] / h[ok]))


def forecasts(sets, name):
    """Daily log returns and the three variance forecasts over the walk-forward days."""
    sets = [*sets, "split.holdout_start=2000-01-01", "walk_forward.enabled=true", "report.plots=false"]
    _, cfg = prepare(CONFIG, sets=sets)
    F, rets = feat.build_features(rp.load_prices(cfg, name), cfg.features.specs())
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("running", []), ("training", ["model.vol_half_life=null"])):
            gmm_apps.run(str(CONFIG), out=Path(tmp) / label, set=sets + extra, quiet=True)
            table = pd.read_csv(Path(tmp) / label / "regimes.csv", index_col="date", parse_dates=True)
            out[label] = (table["vol_forecast"] ** 2 / feat.TRADING_DAYS).to_numpy()
    r = rets.reindex(table.index).to_numpy()
    out["trailing"] = rets.rolling(21, min_periods=10).var(ddof=0).reindex(table.index).to_numpy()
    return r, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--only", help="one series (as named in the table)")
    args = ap.parse_args()
    fx = FX.format(shared=args.shared)
    runs = [("development", c, [f"data.path={fx}", f"data.price_column={c}", "data.missing=drop"]) for c in DEVELOPMENT]
    runs += [("confirm", n, [s.format(shared=args.shared) for s in sets]) for n, sets in SERIES]
    print("| part | series | days | running variances (default) | training-day variances | trailing 21 days |")
    print("|---|---|---:|---:|---:|---:|")
    for part, name, sets in runs:
        if args.only and name != args.only:
            continue
        r, h = forecasts(sets, name)
        q = {k: qlike(r, v) for k, v in h.items()}
        best = min(q, key=q.get)
        cells = [f"**{q[k]:.4f}**" if k == best else f"{q[k]:.4f}" for k in ("running", "training", "trailing")]
        print(f"| {part} | {name} | {len(r):,} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
