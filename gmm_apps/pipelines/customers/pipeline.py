"""The customers pipeline: transactions -> per-customer features -> GMM segments -> report."""

from __future__ import annotations

import logging
from typing import NamedTuple
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from ...engine import dask_client
from ...config import local_path, path_problem
from ...errors import ConfigError, DataError
from ...registry import Pipeline
from .config import CustomersConfig
from .data import dask_purchases, read_transactions
from .features import (
    captured_at,
    customer_features,
    holdout_outcomes,
    merge_same_day,
    rfm_scores,
)
from .model import Segmentation, fit_segmentation, kmeans_baseline
from .segments import action_for

logger = logging.getLogger("gmm_apps.customers")


def segment_table(feats, P, seg, holdout=None):
    """Per-segment table for the report and ``segments.csv``."""
    labels = P.argmax(axis=1)
    total_rev = feats["total_spend"].sum()
    rows = []
    for s, name in enumerate(seg.names):
        mask = labels == s
        f = feats[mask]
        row = {
            "segment": s, "name": name, "customers": int(mask.sum()), "share": mask.mean(),
            "revenue_share": f["total_spend"].sum() / total_rev if total_rev > 0 else np.nan,
            "mean_recency_days": f["recency"].mean(), "mean_frequency": f["frequency"].mean(),
            "mean_monetary": f["monetary"].mean(), "mean_aov": f["aov"].mean(),
            "repeat_rate": (f["n_purchases"] > 1).mean() if len(f) else np.nan,
            "value": seg.values[s],
        }
        if holdout is not None:
            h = holdout[mask]
            row["holdout_purchases_per_customer"] = h["holdout_purchases"].mean() if len(h) else np.nan
            row["holdout_spend_per_customer"] = h["holdout_spend"].mean() if len(h) else np.nan
            tot = holdout["holdout_spend"].sum()
            row["holdout_revenue_share"] = h["holdout_spend"].sum() / tot if tot > 0 else np.nan
        row["action"] = action_for(name)
        rows.append(row)
    return pd.DataFrame(rows)


class Window(NamedTuple):
    """The calibration period (``start`` to ``cal_end``, exclusive) and the holdout after it."""

    start: pd.Timestamp
    cal_end: pd.Timestamp
    ho_end: pd.Timestamp | None
    has_holdout: bool
    last: pd.Timestamp


def load_purchases(cfg):
    """Purchases (one row per customer and day) and the number of transactions, on Dask or here."""
    got = None
    with dask_client(cfg.engine) as client:
        if client is not None:
            got = dask_purchases(cfg.data, client, chunk_rows=cfg.engine.chunk_rows)
    if got is None:
        tx = read_transactions(cfg.data)
        got = merge_same_day(tx), len(tx)
    return got


def calibration_window(purchases, sp, source):
    """The calibration and holdout periods of ``split``, checked against the data's dates."""
    first, last = purchases["date"].min(), purchases["date"].max()
    if not sp.enabled:
        return Window(first, last + pd.Timedelta(days=1), None, False, last)
    start = pd.Timestamp(sp.start) if sp.start else first
    cal_end = start + pd.Timedelta(weeks=sp.calibration_weeks)
    ho_end = cal_end + pd.Timedelta(weeks=sp.holdout_weeks)
    if cal_end <= first:
        raise DataError(f"{source}: no transactions in the calibration period ({start.date()} to {cal_end.date()})")
    if cal_end > last + pd.Timedelta(weeks=1):
        weeks = (last - start).days / 7
        raise DataError(f"{source}: split.calibration_weeks={sp.calibration_weeks} is longer than the data "
                        f"after the split start ({weeks:.0f} weeks, {start.date()} to {last.date()}); shorten it, "
                        "or set split.enabled: false to segment the whole file")
    return Window(start, cal_end, ho_end, last >= cal_end, last)


def validate(feats, seg, P, rfm, holdout, cfg, win):
    """Holdout revenue captured by the top share of customers ranked by segment value, RFM, k-means and spend."""
    if holdout is None or holdout["holdout_spend"].sum() <= 0:
        return None
    top = cfg.report.top_share
    hs = holdout["holdout_spend"].to_numpy()
    value = P @ seg.values
    modeled = (feats["n_purchases"] > 1).to_numpy() if seg.separate else np.ones(len(feats), bool)
    Z = seg.standardise(feats[modeled])
    km_val = np.full(len(feats), np.nan)
    km_val[modeled], _ = kmeans_baseline(Z, seg.model.n_components, feats["total_spend"].to_numpy()[modeled],
                                         cfg.model.random_state)
    if seg.separate:
        km_val[~modeled] = seg.values[seg.one_timer_segment]
    return {
        "top_share": top,
        "capture_segments": captured_at(value, hs, top),
        "capture_rfm": captured_at(rfm["rfm_score"].to_numpy(), hs, top, tie_break=rfm["rfm_cell"].to_numpy()),
        "capture_kmeans": captured_at(km_val, hs, top),
        "capture_calibration_spend": captured_at(feats["total_spend"].to_numpy(), hs, top),
        "holdout_revenue": float(hs.sum()),
        "holdout_weeks": cfg.split.holdout_weeks,
        "holdout_end": str((min(win.ho_end, win.last + pd.Timedelta(days=1)) - pd.Timedelta(days=1)).date()),
        "_curves": {"segments": value, "rfm": (rfm["rfm_score"].to_numpy(), rfm["rfm_cell"].to_numpy()),
                    "k-means": km_val, "calibration spend": feats["total_spend"].to_numpy()},
        "_outcome": hs,
    }


def customers_table(feats, P, seg, uncertain_below, *, rfm=None, holdout=None):
    """``customers.csv``: features, segment, probabilities, boundary flag and value; written by run and apply alike."""
    labels = P.argmax(axis=1)
    out = feats.reset_index()
    out.insert(0, "customer_id", out.pop("customer_id"))
    out["segment"] = labels
    out["segment_name"] = [seg.names[i] for i in labels]
    for s, nm in enumerate(seg.names):
        out[f"p_{nm}"] = P[:, s]
    out["boundary"] = P.max(axis=1) < uncertain_below
    out["value"] = P @ seg.values
    if rfm is not None:
        out = pd.concat([out, rfm.reset_index(drop=True)], axis=1)
    if holdout is not None:
        out = pd.concat([out, holdout.reset_index(drop=True)], axis=1)
    return out


def summarise(feats, seg, res, table, out, validation, stability, n_transactions, win):
    """The run's ``summary.json`` figures."""
    return {
        "headline": f"{len(feats):,} customers in {seg.n_segments} segments"
                    + (f"; top {int(100 * validation['top_share'])}% by segment value capture "
                       f"{100 * validation['capture_segments']:.1f}% of holdout revenue "
                       f"(RFM: {100 * validation['capture_rfm']:.1f}%)" if validation else ""),
        "customers": len(feats),
        "transactions": n_transactions,
        "calibration": {"start": str(win.start.date()), "end": str((win.cal_end - pd.Timedelta(days=1)).date())},
        "n_segments": seg.n_segments,
        "n_components": int(seg.model.n_components),
        "covariance_type": seg.model.covariance_type,
        "segments": [{"segment": int(r.segment), "name": r["name"], "customers": int(r.customers),
                      "value": float(r.value), "action": r.action} for _, r in table.iterrows()],
        "boundary_customers": int(out["boundary"].sum()),
        "one_time_buyers": int((feats["n_purchases"] == 1).sum()),
        "validation": {k: v for k, v in (validation or {}).items() if not k.startswith("_")} or None,
        "stability": stability,
        "bic": float(res.best["bic"]),
        "smallest_segment": int(res.best["smallest_segment"]),
    }


class CustomersPipeline(Pipeline):
    name = "customers"
    quick_sets = ("report.stability_seeds=1", "report.bootstrap=0", "report.plots=false", "model.n_components=3")
    description = "customer segments from a transaction log, with probabilities, names and actions"
    config_model = CustomersConfig

    def check(self, config, source):
        p = local_path(config.data.path)
        if path_problem(p):
            raise ConfigError(f"{source}: data.path: {path_problem(p)}: {config.data.path}")
        if len(set(config.features.model)) != len(config.features.model):
            raise ConfigError(f"{source}: features.model: a feature is listed twice: {config.features.model}")
        undefined = {"interpurchase_days", "gaps_since_last"} & set(config.features.model)
        if config.features.one_time_buyers == "model" and undefined:
            raise ConfigError(
                f"{source}: features.model: {sorted(undefined)[0]!r} is undefined for one-time buyers; "
                "set features.one_time_buyers: separate or drop it"
            )

    def run(self, cfg, ctx):
        from . import report as rep

        purchases, n_transactions = load_purchases(cfg)
        win = calibration_window(purchases, cfg.split, cfg.data.path)
        purchases = purchases[purchases["date"] >= win.start]
        feats = customer_features(purchases, as_of=win.cal_end, convention=cfg.features.rfm_convention,
                                  recent_weeks=cfg.features.recent_weeks)
        logger.info("%s: %d transactions, %d customers in calibration (%s to %s)", cfg.data.path, n_transactions,
                    len(feats), win.start.date(), (win.cal_end - pd.Timedelta(days=1)).date())
        seg, res = self._fit(cfg, feats, ctx)
        P = seg.proba(feats)
        holdout = (holdout_outcomes(purchases, start=win.cal_end, end=win.ho_end, index=feats.index)
                   if win.has_holdout else None)
        rfm = rfm_scores(feats)
        validation = validate(feats, seg, P, rfm, holdout, cfg, win)
        stability = self._stability(feats, seg, res, cfg, P.argmax(axis=1), ctx)
        out = customers_table(feats, P, seg, cfg.report.uncertain_below, rfm=rfm, holdout=holdout)
        ctx.write_table("customers.csv", out)
        table = segment_table(feats, P, seg, holdout)
        ctx.write_table("segments.csv", table)
        ctx.write_table("model_selection.csv", res.table)
        seg.save(ctx.path("model.npz"), meta={
            "pipeline": "customers", "rfm_convention": cfg.features.rfm_convention,
            "recent_weeks": cfg.features.recent_weeks, "calibration_end": str(win.cal_end.date()),
        })
        summary = summarise(feats, seg, res, table, out, validation, stability, n_transactions, win)
        rep.build_report(ctx, cfg, summary=summary, feats=feats, P=P, seg=seg, table=table, selection=res,
                         validation=validation, stability=stability, holdout=holdout)
        return summary

    def _fit(self, cfg, feats, ctx):
        """The segmentation, K chosen by the criterion among candidates with large enough segments."""
        bar = ctx.progress(total=len(cfg.model.candidates()) * len(cfg.model.covariance_types()), desc="fitting candidates")
        seg, res = fit_segmentation(feats, cfg, random_state=cfg.model.random_state, progress=lambda i, n: bar.update(1))
        bar.close()
        smallest = int(res.best["smallest_segment"])
        if smallest < cfg.model.min_segment_size:
            logger.warning("every candidate has a segment smaller than model.min_segment_size=%d; kept K=%d "
                           "(smallest segment: %d customers)", cfg.model.min_segment_size, seg.model.n_components, smallest)
        return seg, res

    def _stability(self, feats, seg, res, cfg, labels, ctx):
        k, ct = int(seg.model.n_components), seg.model.covariance_type
        seeds = [cfg.model.random_state + i for i in range(1, cfg.report.stability_seeds)]
        out = {"seeds": [], "bootstrap": []}
        jobs = [("seed", s) for s in seeds] + [("bootstrap", b) for b in range(cfg.report.bootstrap)]
        rng = np.random.default_rng(cfg.model.random_state)
        for kind, v in ctx.progress(jobs, desc="stability refits"):
            if kind == "seed":
                other, _ = fit_segmentation(feats, cfg, random_state=v, n_components=[k], covariance_types=[ct])
                lab = other.proba(feats).argmax(axis=1)
                out["seeds"].append({"seed": v, "ari": float(adjusted_rand_score(labels, lab)),
                                     "identical": bool(np.array_equal(labels, lab))})
            else:
                idx = np.sort(rng.choice(len(feats), len(feats), replace=True))
                other, _ = fit_segmentation(feats.iloc[idx], cfg, random_state=cfg.model.random_state,
                                            n_components=[k], covariance_types=[ct])
                lab = other.proba(feats).argmax(axis=1)
                out["bootstrap"].append(float(adjusted_rand_score(labels, lab)))
        s = [r["ari"] for r in out["seeds"]]
        out["seed_ari_min"] = min(s) if s else None
        out["labels_identical_across_seeds"] = bool(all(r["identical"] for r in out["seeds"])) if s else None
        out["bootstrap_ari_mean"] = float(np.mean(out["bootstrap"])) if out["bootstrap"] else None
        out["bootstrap_ari_min"] = float(np.min(out["bootstrap"])) if out["bootstrap"] else None
        return out

    # ------------------------------------------------------------------ apply
    def read_model(self, path):
        return Segmentation.load(path)[0]

    def apply(self, run_dir, input, config, ctx):
        seg, meta = Segmentation.load(Path(run_dir) / "model.npz")
        tx = read_transactions(config.data, path=input)
        purchases = merge_same_day(tx)
        as_of = purchases["date"].max() + pd.Timedelta(days=1)
        feats = customer_features(purchases, as_of=as_of, convention=meta["rfm_convention"], recent_weeks=meta["recent_weeks"])
        P = seg.proba(feats)
        labels = P.argmax(axis=1)
        out = customers_table(feats, P, seg, config.report.uncertain_below)
        ctx.write_table("customers.csv", out)
        counts = {nm: int((labels == s).sum()) for s, nm in enumerate(seg.names)}
        return {"headline": f"{len(feats):,} customers assigned to {seg.n_segments} segments (as of {(as_of - pd.Timedelta(days=1)).date()})",
                "customers": len(feats), "as_of": str((as_of - pd.Timedelta(days=1)).date()), "segment_counts": counts,
                "boundary_customers": int(out["boundary"].sum())}
