"""The customers pipeline: transactions -> per-customer features -> GMM segments -> report."""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from ...core import GaussianMixture, load_model, model_file_guard, permute_components, save_model, select_model
from ...engine import dask_client
from ...config import path_problem
from ...errors import ConfigError, DataError
from ...registry import Pipeline
from .config import CustomersConfig
from .data import dask_purchases, read_transactions
from .features import (
    FEATURE_COLUMNS,
    captured_at,
    customer_features,
    holdout_outcomes,
    merge_same_day,
    model_matrix,
    rfm_scores,
)
from .segments import action_for, name_segments, profile

logger = logging.getLogger("gmm_apps.customers")


def _weights(feats, how):
    if how == "none":
        return None
    s = feats["total_spend"].to_numpy(dtype=float)
    return s if how == "spend" else np.sqrt(s)


class Segmentation:
    """A fitted segmentation: the core GMM plus the optional fixed one-timer segment.

    Segments are numbered by decreasing value (probability-weighted mean
    calibration spend), so their numbers and names stay attached across refits.
    """

    def __init__(self, model, mean, scale, features, values, names, *, separate_one_timers, one_timer_value=None):
        self.model = model
        self.mean = np.asarray(mean, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        self.features = list(features)
        self.values = np.asarray(values, dtype=float)
        self.names = list(names)
        self.separate = bool(separate_one_timers)
        self.one_timer_value = one_timer_value

    @property
    def n_segments(self):
        return len(self.values)

    def standardise(self, feats):
        return (model_matrix(feats, self.features) - self.mean) / self.scale

    def proba(self, feats):
        """Segment probabilities of each customer, shape (n, S), columns in segment order."""
        n = len(feats)
        S = self.n_segments
        P = np.zeros((n, S))
        if self.separate:
            ot = (feats["n_purchases"] == 1).to_numpy()
            seg_ot = self.one_timer_segment
            comp_cols = [s for s in range(S) if s != seg_ot]
            if (~ot).any():
                P[np.ix_(~ot, comp_cols)] = self.model.predict_proba(self.standardise(feats[~ot]))
            P[ot, seg_ot] = 1.0
        else:
            P[:] = self.model.predict_proba(self.standardise(feats))
        return P

    @property
    def one_timer_segment(self):
        return self.names.index("one-timers") if self.separate else None


def polish(model, Z, sample_weight, *, tol, max_iter):
    """Run EM from a fitted model's parameters to tight convergence.

    Candidates are compared after quick EM runs (``model.explore_tol``); the
    winner is then converged to ``tol`` so that restarts that found the same
    optimum give the same parameters, and the same labels, whatever the seed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            model.n_components, covariance_type=model.covariance_type, reg_covar=model.reg_covar, tol=tol,
            max_iter=max_iter, weights_init=model.weights_, means_init=model.means_, precisions_init=model.precisions_,
        ).fit(Z, sample_weight=sample_weight)


def _choose_with_min_size(res, Z, w, m):
    """Polish the best candidate whose every segment holds ``m.min_segment_size`` customers.

    Candidates are taken in the criterion's order; each is converged to ``m.tol``
    and its hard-assigned segment sizes counted (a component can shrink onto a
    single customer while it converges).  The first that passes is kept; if none
    does, the one with the largest smallest segment is (the caller says so).
    Returns the polished model and ``res`` pointing at the kept candidate, its
    table gaining ``smallest_segment`` for the candidates checked.
    """
    table = res.table.copy()
    table["smallest_segment"] = np.nan
    fallback = None
    for i in res.ranking():
        row = table.iloc[i]
        cand = res.models[(int(row.n_components), row.covariance_type)]
        model = polish(cand, Z, w, tol=m.tol, max_iter=m.max_iter)
        smallest = int(np.bincount(model.predict(Z), minlength=model.n_components).min())
        table.loc[table.index[i], "smallest_segment"] = smallest
        if smallest >= m.min_segment_size:
            return model, replace(res, table=table, best_model=model, best_index=int(i))
        if fallback is None or smallest > fallback[2]:
            fallback = (model, int(i), smallest)
    model, i, _ = fallback
    return model, replace(res, table=table, best_model=model, best_index=i)


def fit_segmentation(feats, cfg, *, random_state, progress=None, n_components=None, covariance_types=None):
    """Fit the GMM on calibration features and order the segments by value.

    Returns
    -------
    seg : Segmentation
    selection : gmm_apps.core.SelectionResult
    """
    separate = cfg.features.one_time_buyers == "separate"
    modeled = feats[feats["n_purchases"] > 1] if separate else feats
    if len(modeled) < 2:
        raise DataError(f"only {len(modeled)} customers to segment; need more transactions")
    X = model_matrix(modeled, cfg.features.model)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    constant = scale <= 1e-12 * np.maximum(1.0, np.abs(mean))
    if np.all(constant):
        raise DataError(f"all {len(modeled):,} customers have the same {', '.join(cfg.features.model)}; there are no "
                        "segments to find in identical purchase histories")
    if np.any(constant):
        col = cfg.features.model[int(np.flatnonzero(constant)[0])]
        raise DataError(f"feature {col!r} is the same for every customer; drop it from features.model")
    Z = (X - mean) / scale
    w = _weights(modeled, cfg.features.weight_by)
    ks = n_components or cfg.model.candidates()
    ks = [k for k in ks if k <= len(modeled)]
    if not ks:
        raise DataError(f"{len(modeled)} customers are fewer than every model.n_components candidate")
    m = cfg.model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = select_model(
            Z, n_components=ks, covariance_types=covariance_types or m.covariance_types(), criterion=m.criterion,
            n_init=1 if m.init == "hierarchical" else m.n_init, random_state=random_state, sample_weight=w,
            tol=m.explore_tol, max_iter=m.max_iter, init_params=m.init,
            reg_covar=m.reg_covar, progress=progress,
        )
    model, res = _choose_with_min_size(res, Z, w, m)
    P = model.predict_proba(Z)
    spend = modeled["total_spend"].to_numpy()
    comp_value = (P * spend[:, None]).sum(axis=0) / np.maximum(P.sum(axis=0), 1e-300)
    order = np.argsort(-comp_value, kind="stable")
    permute_components(model, order)
    comp_value = comp_value[order]
    if separate:
        ot_value = float(feats.loc[feats["n_purchases"] == 1, "total_spend"].mean()) if (feats["n_purchases"] == 1).any() else 0.0
        values = np.r_[comp_value, ot_value]
        seg_order = np.argsort(-values, kind="stable")
        values = values[seg_order]
        ot_pos = int(np.flatnonzero(seg_order == len(comp_value))[0])
        placeholder = ["one-timers" if i == ot_pos else f"segment {i}" for i in range(len(values))]
        seg = Segmentation(model, mean, scale, cfg.features.model, values, placeholder, separate_one_timers=True)
        # the GMM segments hold no one-time buyers here; name them from their profiles
        named = name_segments(profile(feats, seg.proba(feats)), feats)
        seg.names = ["one-timers" if i == ot_pos else named[i] for i in range(len(values))]
    else:
        seg = Segmentation(model, mean, scale, cfg.features.model, comp_value, [""] * len(comp_value), separate_one_timers=False)
        seg.names = name_segments(profile(feats, seg.proba(feats)), feats)
    return seg, res


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


def kmeans_baseline(Z, k, values_from, random_state):
    """k-means on the same standardised features; clusters valued like segments."""
    from sklearn.cluster import KMeans

    km = KMeans(k, n_init=3, random_state=random_state).fit(Z)
    lab = km.labels_
    v = np.array([values_from[lab == c].mean() if (lab == c).any() else 0.0 for c in range(k)])
    return v[lab], lab


class CustomersPipeline(Pipeline):
    name = "customers"
    quick_sets = ("report.stability_seeds=1", "report.bootstrap=0", "report.plots=false", "model.n_components=3")
    description = "customer segments from a transaction log, with probabilities, names and actions"
    config_model = CustomersConfig

    def check(self, config, source):
        p = Path(config.data.path)
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

        got = None
        with dask_client(cfg.engine) as client:
            if client is not None:
                got = dask_purchases(cfg.data, client, chunk_rows=cfg.engine.chunk_rows)
        if got is None:
            tx = read_transactions(cfg.data)
            got = merge_same_day(tx), len(tx)
        purchases, n_transactions = got
        first, last = purchases["date"].min(), purchases["date"].max()
        sp = cfg.split
        if sp.enabled:
            start = pd.Timestamp(sp.start) if sp.start else first
            cal_end = start + pd.Timedelta(weeks=sp.calibration_weeks)
            ho_end = cal_end + pd.Timedelta(weeks=sp.holdout_weeks)
            if cal_end <= first:
                raise DataError(f"{cfg.data.path}: no transactions in the calibration period ({start.date()} to {cal_end.date()})")
            if cal_end > last + pd.Timedelta(weeks=1):
                weeks = (last - start).days / 7
                raise DataError(f"{cfg.data.path}: split.calibration_weeks={sp.calibration_weeks} is longer than the data "
                                f"after the split start ({weeks:.0f} weeks, {start.date()} to {last.date()}); shorten it, "
                                "or set split.enabled: false to segment the whole file")
            has_holdout = last >= cal_end
        else:
            start, cal_end, ho_end, has_holdout = first, last + pd.Timedelta(days=1), None, False
        purchases = purchases[purchases["date"] >= start]
        feats = customer_features(purchases, as_of=cal_end, convention=cfg.features.rfm_convention,
                                  recent_weeks=cfg.features.recent_weeks)
        logger.info("%s: %d transactions, %d customers in calibration (%s to %s)", cfg.data.path, n_transactions, len(feats),
                    start.date(), (cal_end - pd.Timedelta(days=1)).date())
        seed = cfg.model.random_state
        bar = ctx.progress(total=len(cfg.model.candidates()) * len(cfg.model.covariance_types()), desc="fitting candidates")
        seg, res = fit_segmentation(feats, cfg, random_state=seed, progress=lambda i, n: bar.update(1))
        bar.close()
        smallest = int(res.best["smallest_segment"])
        if smallest < cfg.model.min_segment_size:
            logger.warning("every candidate has a segment smaller than model.min_segment_size=%d; kept K=%d "
                           "(smallest segment: %d customers)", cfg.model.min_segment_size, seg.model.n_components, smallest)
        P = seg.proba(feats)
        labels = P.argmax(axis=1)
        value = P @ seg.values
        holdout = holdout_outcomes(purchases, start=cal_end, end=ho_end, index=feats.index) if has_holdout else None
        rfm = rfm_scores(feats)

        # ---- validation on the future, and the baselines
        validation = None
        if holdout is not None and holdout["holdout_spend"].sum() > 0:
            top = cfg.report.top_share
            hs = holdout["holdout_spend"].to_numpy()
            separate = seg.separate
            modeled = (feats["n_purchases"] > 1).to_numpy() if separate else np.ones(len(feats), bool)
            Z = seg.standardise(feats[modeled])
            km_val = np.full(len(feats), np.nan)
            km_val[modeled], _ = kmeans_baseline(Z, seg.model.n_components, feats["total_spend"].to_numpy()[modeled], seed)
            if separate:
                km_val[~modeled] = seg.values[seg.one_timer_segment]
            validation = {
                "top_share": top,
                "capture_segments": captured_at(value, hs, top),
                "capture_rfm": captured_at(rfm["rfm_score"].to_numpy(), hs, top, tie_break=rfm["rfm_cell"].to_numpy()),
                "capture_kmeans": captured_at(km_val, hs, top),
                "capture_calibration_spend": captured_at(feats["total_spend"].to_numpy(), hs, top),
                "holdout_revenue": float(hs.sum()),
                "holdout_weeks": sp.holdout_weeks,
                "holdout_end": str((min(ho_end, last + pd.Timedelta(days=1)) - pd.Timedelta(days=1)).date()),
                "_curves": {"segments": value, "rfm": (rfm["rfm_score"].to_numpy(), rfm["rfm_cell"].to_numpy()),
                            "k-means": km_val, "calibration spend": feats["total_spend"].to_numpy()},
                "_outcome": hs,
            }

        # ---- stability across seeds and bootstrap refits
        stability = self._stability(feats, seg, res, cfg, labels, ctx)

        # ---- outputs
        out = feats.reset_index()
        out.insert(0, "customer_id", out.pop("customer_id"))
        out["segment"] = labels
        out["segment_name"] = [seg.names[i] for i in labels]
        for s, nm in enumerate(seg.names):
            out[f"p_{nm}"] = P[:, s]
        out["boundary"] = P.max(axis=1) < cfg.report.uncertain_below
        out["value"] = value
        out = pd.concat([out, rfm.reset_index(drop=True)], axis=1)
        if holdout is not None:
            out = pd.concat([out, holdout.reset_index(drop=True)], axis=1)
        ctx.write_table("customers.csv", out)
        table = segment_table(feats, P, seg, holdout)
        ctx.write_table("segments.csv", table)
        ctx.write_table("model_selection.csv", res.table)
        save_model(seg.model, ctx.path("model.npz"), extra={
            "pipeline": "customers", "features": seg.features, "names": seg.names,
            "separate_one_timers": seg.separate, "rfm_convention": cfg.features.rfm_convention,
            "recent_weeks": cfg.features.recent_weeks, "calibration_end": str(cal_end.date()),
        }, arrays={"scaler_mean": seg.mean, "scaler_scale": seg.scale, "segment_values": seg.values})

        summary = {
            "headline": f"{len(feats):,} customers in {seg.n_segments} segments"
                        + (f"; top {int(100 * validation['top_share'])}% by segment value capture "
                           f"{100 * validation['capture_segments']:.1f}% of holdout revenue "
                           f"(RFM: {100 * validation['capture_rfm']:.1f}%)" if validation else ""),
            "customers": len(feats),
            "transactions": n_transactions,
            "calibration": {"start": str(start.date()), "end": str((cal_end - pd.Timedelta(days=1)).date())},
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
            "smallest_segment": smallest,
        }
        rep.build_report(ctx, cfg, summary=summary, feats=feats, P=P, seg=seg, table=table, selection=res,
                         validation=validation, stability=stability, holdout=holdout)
        return summary

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
    def apply(self, run_dir, input, config, ctx):
        path = Path(run_dir) / "model.npz"
        model, extra = load_model(path, with_extra=True)
        meta, arrays = extra["meta"], extra["arrays"]
        need = model_file_guard.require
        with model_file_guard(path):
            d = model.means_.shape[1]
            seg = Segmentation(model, arrays["scaler_mean"], arrays["scaler_scale"], meta["features"],
                               arrays["segment_values"], meta["names"], separate_one_timers=meta["separate_one_timers"])
            need(seg.mean.shape == (d,) and seg.scale.shape == (d,) and len(seg.features) == d, path,
                 "the scaler and feature list do not fit the model")
            need(set(seg.features) <= set(FEATURE_COLUMNS), path, f"unknown features {sorted(set(seg.features) - set(FEATURE_COLUMNS))}")
            need(len(seg.names) == seg.n_segments == model.n_components + int(seg.separate), path,
                 "segment names and values do not fit the model's components")
            need(meta["rfm_convention"] in ("repeat", "all") and int(meta["recent_weeks"]) >= 1, path,
                 "the feature settings are malformed")
        tx = read_transactions(config.data, path=input)
        purchases = merge_same_day(tx)
        as_of = purchases["date"].max() + pd.Timedelta(days=1)
        feats = customer_features(purchases, as_of=as_of, convention=meta["rfm_convention"], recent_weeks=meta["recent_weeks"])
        P = seg.proba(feats)
        labels = P.argmax(axis=1)
        out = feats.reset_index()
        out["segment"] = labels
        out["segment_name"] = [seg.names[i] for i in labels]
        for s, nm in enumerate(seg.names):
            out[f"p_{nm}"] = P[:, s]
        out["boundary"] = P.max(axis=1) < config.report.uncertain_below
        out["value"] = P @ seg.values
        ctx.write_table("customers.csv", out)
        counts = {nm: int((labels == s).sum()) for s, nm in enumerate(seg.names)}
        return {"headline": f"{len(feats):,} customers assigned to {seg.n_segments} segments (as of {(as_of - pd.Timedelta(days=1)).date()})",
                "customers": len(feats), "as_of": str((as_of - pd.Timedelta(days=1)).date()), "segment_counts": counts,
                "boundary_customers": int(out["boundary"].sum())}
