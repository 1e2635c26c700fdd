"""Purchase models for the customers' forward value, on the splits of bench_customers.py.

    pip install ".[bench]"          # lifetimes
    python benchmarks/bench_purchase_models.py [--only cdnow|retail2] [--shared ../shared/datasets]

For each log and split the pipeline runs as a user would (its calibration summaries
and holdout outcomes are the customers table), then each purchase model is fitted on
the calibration summaries and asked for every customer's purchases over the holdout:

- BG/NBD: gmm_apps' own fit (the pipeline's forward value);
- Pareto/NBD and MBG/NBD: ``lifetimes``;
- BG/NBD with a loyal class: a share ``pi`` of customers never drop out (their
  purchases a gamma-Poisson process with their own ``r``, ``alpha``), the rest BG/NBD;
  fitted here by maximum likelihood.

Printed per model: predicted / actual holdout purchases, the error of the predicted
holdout spend (purchases x the pipeline's Gamma-Gamma spend per purchase) and its
per-customer mean absolute error.  Then, for BG/NBD, where the purchases it misses are:
predicted and actual holdout purchases by the customers' repeat purchases in the calibration.

Last, the published check: gmm_apps' BG/NBD on the 2,357-customer CDNOW sample that
``lifetimes`` ships (the sample of Fader, Hardie and Lee 2005), 39 weeks of calibration:
its parameters beside the paper's, and its holdout purchases (weeks 40-78) beside the actual.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, gammaln

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_customers import each_split, run_split  # noqa: E402

from gmm_apps.pipelines.customers.model import PurchaseModel, bgnbd_expected, bgnbd_loglik  # noqa: E402


def _nbd_loglik(r, alpha, x, T):
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)


def loyal_class(x, t_x, T, t):
    """BG/NBD with a never-dropping class: fitted by maximum likelihood, expected purchases over ``t`` weeks."""

    def parts(theta):
        pi, p, (r2, a2) = expit(theta[0]), np.exp(theta[1:5]), np.exp(theta[5:7])
        return np.log1p(-pi) + bgnbd_loglik(p, x, t_x, T), np.log(pi) + _nbd_loglik(r2, a2, x, T), p, r2, a2

    def nll(theta):
        a, b, *_ = parts(theta)
        return -np.logaddexp(a, b).mean()

    starts = ([-2, 0, 0, 0, 0, 0, 2], [-1, np.log(0.3), np.log(5), np.log(0.8), np.log(2.5), np.log(0.3), np.log(20)])
    best = min(
        (minimize(nll, np.array(s, float), method="L-BFGS-B", bounds=[(-10, 10)] * 7) for s in starts),
        key=lambda res: res.fun,
    )
    a, b, p, r2, a2 = parts(best.x)
    loyal = np.exp(b - np.logaddexp(a, b))
    return (1 - loyal) * bgnbd_expected(p, x, t_x, T, t) + loyal * (r2 + x) / (a2 + T) * t


def one(shared, log, cal, ho, out):
    r = run_split(shared, log, cal, ho, out)
    c = r.tables["customers"]
    weeks = r.summary["validation"]["holdout_weeks"]
    pm = PurchaseModel().fit(c)
    x, t_x, T, _ = pm.inputs(c)
    T = np.maximum(T, 1 / 7)
    value = pm.expected_value(c)
    actual_n = c["holdout_purchases"].to_numpy(float)
    actual = c["holdout_spend"].to_numpy(float)
    predictions = {"BG/NBD (gmm_apps)": pm.expected_purchases(c, weeks)}
    try:
        from lifetimes import ModifiedBetaGeoFitter, ParetoNBDFitter

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, fitter in (
                ("Pareto/NBD (lifetimes)", ParetoNBDFitter),
                ("MBG/NBD (lifetimes)", ModifiedBetaGeoFitter),
            ):
                f = fitter(penalizer_coef=0.0).fit(x, t_x, T)
                predictions[name] = np.asarray(
                    f.conditional_expected_number_of_purchases_up_to_time(weeks, x, t_x, T), float
                )
    except ImportError:
        print("lifetimes is not installed: pip install '.[bench]'", file=sys.stderr)
    predictions["BG/NBD + loyal class"] = loyal_class(x, t_x, T, weeks)
    groups = pd.cut(x, [-1, 0, 1, 2, 4, np.inf], labels=["0", "1", "2", "3-4", "5+"])
    where = pd.DataFrame(
        {"predicted": predictions["BG/NBD (gmm_apps)"], "actual": actual_n, "repeat purchases": groups}
    )
    where = where.groupby("repeat purchases", observed=True).agg(
        customers=("actual", "size"), predicted=("predicted", "sum"), actual=("actual", "sum")
    )
    print(f"{log} {cal}+{ho}: BG/NBD's holdout purchases by repeat purchases in the calibration")
    print(where.round(0).to_string(), flush=True)
    rows = []
    for name, n in predictions.items():
        rows.append(
            {
                "log": log,
                "split": f"{cal}+{ho}",
                "model": name,
                "purchases pred/actual": n.sum() / actual_n.sum(),
                "spend total error": (n * value).sum() / actual.sum() - 1,
                "spend MAE": np.mean(np.abs(n * value - actual)),
            }
        )
    return rows


#: Fader, Hardie and Lee (2005), "Counting your customers the easy way", on the CDNOW sample
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def published_check():
    """gmm_apps' BG/NBD on the paper's CDNOW sample: parameters and holdout purchases (None without lifetimes)."""
    try:
        import lifetimes
    except ImportError:
        return None
    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
    tx = pd.read_csv(path, sep=r"\s+", header=None).iloc[:, -4:]
    tx.columns = ["id", "date", "cds", "value"]
    tx["date"] = pd.to_datetime(tx["date"].astype(str), format="%Y%m%d")
    days = tx.groupby(["id", "date"], as_index=False)["value"].sum()  # one purchase a day, as the pipeline counts
    end, last = pd.Timestamp("1997-09-30"), pd.Timestamp("1998-06-30")
    cal = days[days["date"] <= end].sort_values(["id", "date"])
    g = cal.groupby("id")
    first, latest, n = g["date"].min(), g["date"].max(), g.size()
    repeat_value = (g["value"].sum() - g["value"].first()) / (n - 1).where(n > 1)
    feats = pd.DataFrame(
        {
            "n_purchases": n,
            "tenure": (end - first).dt.days,
            "recency": (end - latest).dt.days,
            "repeat_monetary": repeat_value.fillna(0.0),
        }
    )
    pm = PurchaseModel().fit(feats)
    weeks = (last - end).days / 7
    predicted = pm.expected_purchases(feats, weeks).sum()
    actual = ((days["date"] > end) & (days["date"] <= last)).sum()
    return dict(zip(PUBLISHED, pm.bgnbd_)), predicted, actual


def main():
    rows = []
    for split in each_split(__doc__.splitlines()[0]):
        rows.extend(one(*split))
    df = pd.DataFrame(rows)
    df["purchases pred/actual"] = df["purchases pred/actual"].map("{:.3f}".format)
    df["spend total error"] = (100 * df["spend total error"]).map("{:+.1f}%".format)
    df["spend MAE"] = df["spend MAE"].map("{:.2f}".format)
    print(df.to_string(index=False))
    check = published_check()
    if check is not None:
        params, predicted, actual = check
        print("BG/NBD on the published CDNOW sample (2,357 customers, 39 + 39 weeks):")
        print("  parameters  " + ", ".join(f"{k} {v:.3f} (paper {PUBLISHED[k]})" for k, v in params.items()))
        print(f"  holdout purchases predicted {predicted:,.0f}, actual {actual:,}: {predicted / actual:.3f}")


if __name__ == "__main__":
    main()
