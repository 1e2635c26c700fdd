"""The customers pipeline: transactions -> per-customer features -> GMM segments -> report."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ...core import adjusted_rand_score
from ...engine import dask_client
from ...errors import ConfigError
from ...paths import check_input, local_path
from ...registry import Pipeline
from ...runs import read_summary
from .blocks import dask_purchases
from .cohorts import averages, retention
from .config import CustomersConfig
from .data import (
    check_data_keys,
    check_format_keys,
    file_kind,
    read_transactions,
    suggested_columns,
)
from .features import (
    customer_features,
    holdout_outcomes,
    rfm_scores,
)
from .migration import moves_sentence, segment_moves
from .model import PurchaseModel, Segmentation
from .ranking import recommend, validate
from .rows import same_currency
from .segments import action_for, money
from .split import (
    calibration_said,
    calibration_weeks,
    calibration_window,
    horizon_weeks,
    log_outside,
    month_names,
    month_words,
    unseen_months,
)

logger = logging.getLogger("gmm_apps.customers")


def segment_table(feats, P, seg, holdout=None, expected=None, check=None):
    """Per-segment table for the report and ``segments.csv`` (with the forward value's totals when given)."""
    labels = P.argmax(axis=1)
    total_rev = feats["total_spend"].sum()
    rows = []
    for s, name in enumerate(seg.names):
        mask = labels == s
        f = feats[mask]
        row = {
            "segment": s,
            "name": name,
            "customers": int(mask.sum()),
            "share": mask.mean(),
            "revenue_share": f["total_spend"].sum() / total_rev if total_rev > 0 else np.nan,
            "mean_recency_days": f["recency"].mean(),
            "mean_frequency": f["frequency"].mean(),
            "mean_monetary": f["monetary"].mean(),
            "mean_aov": f["aov"].mean(),
            "repeat_rate": (f["n_purchases"] > 1).mean() if len(f) else np.nan,
            "value": seg.values[s],
        }
        if expected is not None:
            row["expected_purchases"] = float(expected[0][mask].sum())
            row["expected_spend"] = float(expected[1][mask].sum())
            row["expected_share"] = (
                float(expected[1][mask].sum() / expected[1].sum()) if expected[1].sum() > 0 else np.nan
            )
        if holdout is not None:
            h = holdout[mask]
            if check is not None:
                row["check_expected_spend"] = float(check[mask].sum())
            row["holdout_purchases_per_customer"] = h["holdout_purchases"].mean() if len(h) else np.nan
            row["holdout_spend_per_customer"] = h["holdout_spend"].mean() if len(h) else np.nan
            tot = holdout["holdout_spend"].sum()
            row["holdout_revenue_share"] = h["holdout_spend"].sum() / tot if tot > 0 else np.nan
        row["action"] = action_for(name)
        rows.append(row)
    return pd.DataFrame(rows)


def load_purchases(cfg):
    """Purchases (one row per customer and day) and what the cleaning rules touched, on Dask or here."""
    got = None
    with dask_client(cfg.engine) as client:
        if client is not None:
            got = dask_purchases(cfg.data, client, chunk_rows=cfg.engine.chunk_rows)
    return got if got is not None else read_transactions(cfg.data)


def customers_table(feats, P, seg, uncertain_below, *, expected=None, rfm=None, holdout=None):
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
    if expected is not None:
        out["expected_purchases"], out["expected_spend"] = expected
    if rfm is not None:
        out = pd.concat([out, rfm.reset_index(drop=True)], axis=1)
    if holdout is not None:
        out = pd.concat([out, holdout.reset_index(drop=True)], axis=1)
    return out


def summarise(feats, seg, res, table, out, validation, stability, cleaning, win, weeks, inner):
    """The run's ``summary.json`` figures."""
    expected = float(out["expected_spend"].sum())
    worth = money(expected, cleaning.get("amounts_in"), 0)
    headline = (
        f"{len(feats):,} customers in {seg.n_segments} segments; expected {worth} over the next {weeks:.3g} weeks"
    )
    if validation:
        headline += (
            f"; top {int(100 * validation['top_share'])}% by {validation['recommended']} capture "
            f"{100 * validation['capture_recommended']:.1f}% of holdout revenue "
            f"(RFM: {100 * validation['capture_rfm']:.1f}%)"
        )
    return {
        "headline": headline,
        "customers": len(feats),
        "transactions": cleaning["lines"],
        **win.periods(),
        "cleaning": cleaning,
        "n_segments": seg.n_segments,
        "n_components": int(seg.model.n_components),
        "covariance_type": seg.model.covariance_type,
        "segments": [
            {
                "segment": int(r.segment),
                "name": r["name"],
                "customers": int(r.customers),
                "value": float(r.value),
                "expected_spend": float(r.expected_spend),
                "expected_share": float(r.expected_share),
                "action": r.action,
            }
            for _, r in table.iterrows()
        ],
        "forward_value": {
            "horizon_weeks": weeks,
            "from": str(win.cal_end.date()),
            "expected_purchases": float(out["expected_purchases"].sum()),
            "expected_spend": expected,
            "model": seg.purchases.params(),
            "months_not_in_calibration": month_names(unseen_months(win.start, win.cal_end, win.cal_end, weeks)),
        },
        "recommended_ranking": {
            "ranking": validation["recommended"] if validation else inner[0],
            "inner_split": inner[1],
        },
        "boundary_customers": int(out["boundary"].sum()),
        "one_time_buyers": int((feats["n_purchases"] == 1).sum()),
        "validation": {k: v for k, v in (validation or {}).items() if not k.startswith("_")} or None,
        "stability": stability,
        "bic": float(res.best["bic"]),
        "smallest_segment": int(res.best["smallest_segment"]),
    }


def _log_unseen(source, start, end, forward):
    """Say which calendar months the forward value reaches that the calibration period did not hold."""
    if months := forward.get("months_not_in_calibration"):
        logger.info(
            "%s: the calibration period (%s to %s) holds no %s, which the forward value's %.3g weeks from %s reach: "
            "the purchase model learnt no season of theirs",
            source,
            start.date(),
            (end - pd.Timedelta(days=1)).date(),
            month_words(months),
            forward["horizon_weeks"],
            forward["from"],
        )


def _model_meta(cfg, win, weeks, cleaning):
    """What the model file records besides the model: the conventions its features were made with, the currency
    of the amounts it learned (a log in another applied to it is refused) and how its dates and numbers were
    read."""
    meta = {
        "pipeline": "customers",
        "rfm_convention": cfg.features.rfm_convention,
        "recent_weeks": cfg.features.recent_weeks,
        "calibration_start": str(win.start.date()),
        "calibration_end": str(win.cal_end.date()),
        "horizon_weeks": weeks,
    }
    return {**meta, **{k: cleaning[k] for k in ("amounts_in", "date_order", "decimal_marks") if cleaning.get(k)}}


class CustomersPipeline(Pipeline):
    name = "customers"
    quick_sets = ("report.stability_seeds=1", "report.bootstrap=0", "report.plots=false", "model.n_components=3")
    description = "customer segments from a transaction log, with probabilities, names and actions"
    config_model = CustomersConfig
    model_class = Segmentation
    batch_plot = "profiles.png"

    def suggest(self, path):
        """``data.path`` and the columns that look like the customer id, date and amount (``init --data``)."""
        return {"data.path": path, **suggested_columns(path)}

    def batch_figures(self, summary):
        """Customers and segments, their expected spend ahead, and the holdout check of the ranking."""
        forward, check = summary.get("forward_value") or {}, summary.get("validation") or {}
        return {
            "customers": summary.get("customers"),
            "segments": summary.get("n_segments"),
            "expected_spend": forward.get("expected_spend"),
            "horizon_weeks": forward.get("horizon_weeks"),
            "capture_recommended": check.get("capture_recommended"),
            "headline": summary.get("headline"),
        }

    def check(self, config, source):
        p = local_path(config.data.path)
        check_input(config.data.path, key="data.path", source=source, each=True)
        check_data_keys(config.data, source)
        check_format_keys(config.data, file_kind(config.data, p)[0], source)
        weeks = calibration_weeks(config.split)  # None: to the log's last weeks, checked against the log
        if config.split.enabled and weeks is not None and config.features.recent_weeks >= weeks:
            raise ConfigError(
                f"{source}: features.recent_weeks={config.features.recent_weeks} is not shorter than "
                f"split.calibration_weeks{calibration_said(config.split)}, so recent spend would equal total spend; "
                "shorten features.recent_weeks"
            )
        if len(set(config.features.model)) != len(config.features.model):
            raise ConfigError(f"{source}: features.model: a feature is listed twice: {config.features.model}")
        undefined = {"interpurchase_days", "gaps_since_last"} & set(config.features.model)
        if config.features.one_time_buyers == "model" and undefined:
            raise ConfigError(
                f"{source}: features.model: {sorted(undefined)[0]!r} is undefined for one-time buyers; "
                "set features.one_time_buyers: separate or drop it"
            )

    def run(self, cfg, ctx):
        from . import report as rep  # start-up time: the report module loads matplotlib

        purchases, cleaning, win, feats = self._customers(cfg)
        seg, res = self._fit(cfg, feats, ctx)
        seg.purchases = PurchaseModel().fit(feats)
        weeks = horizon_weeks(cfg, win)
        expected = (seg.purchases.expected_purchases(feats, weeks), seg.purchases.expected_spend(feats, weeks))
        P = seg.proba(feats)
        holdout = (
            holdout_outcomes(purchases, start=win.cal_end, end=win.ho_end, index=feats.index)
            if win.has_holdout
            else None
        )
        rfm = rfm_scores(feats)
        inner = recommend(purchases, win, seg, cfg, weeks)
        check = (
            expected[1]
            if holdout is None or weeks == win.holdout_weeks
            else seg.purchases.expected_spend(feats, win.holdout_weeks)
        )  # the check is on the holdout's length
        validation = validate(feats, seg, P, rfm, holdout, cfg, win, check, inner[0])
        stability = self._stability(feats, seg, res, cfg, P.argmax(axis=1), ctx)
        out = customers_table(feats, P, seg, cfg.report.uncertain_below, expected=expected, rfm=rfm, holdout=holdout)
        ctx.write_table("customers.csv", out)
        table = segment_table(feats, P, seg, holdout, expected, check if holdout is not None else None)
        ctx.write_table("segments.csv", table)
        ctx.write_table("model_selection.csv", res.table)
        seg.save(ctx.path("model.npz"), meta=_model_meta(cfg, win, weeks, cleaning))
        summary = summarise(feats, seg, res, table, out, validation, stability, cleaning, win, weeks, inner)
        _log_unseen(cfg.data.path, win.start, win.cal_end, summary["forward_value"])
        cohorts = retention(purchases)
        if cohorts is not None:
            ctx.write_table("cohorts.csv", cohorts)
            summary["retention"] = averages(cohorts)
        rep.build_report(
            ctx,
            cfg,
            summary=summary,
            feats=feats,
            P=P,
            seg=seg,
            table=table,
            selection=res,
            validation=validation,
            stability=stability,
            holdout=holdout,
            cohorts=cohorts,
        )
        return summary

    def _customers(self, cfg):
        """The purchases, what cleaning them did, the calibration window and each customer's features."""
        purchases, cleaning = load_purchases(cfg)
        win = calibration_window(purchases, cfg.split, cfg.data.path, recent_weeks=cfg.features.recent_weeks)
        if outside := win.outside(purchases):
            cleaning["outside_periods"] = outside
            log_outside(cfg.data.path, outside, cleaning.get("amounts_in"), cfg.split.holdout_weeks)
        purchases = purchases[purchases["date"] >= win.start]
        feats = customer_features(
            purchases, as_of=win.cal_end, convention=cfg.features.rfm_convention, recent_weeks=cfg.features.recent_weeks
        )
        logger.info(
            "%s: %d lines, %d customers in calibration (%s to %s)",
            cfg.data.path,
            cleaning["lines"],
            len(feats),
            win.start.date(),
            (win.cal_end - pd.Timedelta(days=1)).date(),
        )
        _log_cleaning(cleaning)
        return purchases, cleaning, win, feats

    def _fit(self, cfg, feats, ctx):
        """The segmentation, K chosen by the criterion among candidates with large enough segments."""
        bar = ctx.progress(
            total=len(cfg.model.candidates()) * len(cfg.model.covariance_types()), desc="fitting candidates"
        )
        seg = Segmentation.fit(feats, cfg, random_state=cfg.model.random_state, progress=lambda i, n: bar.update(1))
        res = seg.selection_
        bar.close()
        smallest = int(res.best["smallest_segment"])
        if smallest < cfg.model.min_segment_size:
            logger.warning(
                "every candidate has a segment smaller than model.min_segment_size=%d; kept K=%d%s "
                "(smallest segment: %d customers)",
                cfg.model.min_segment_size,
                seg.model.n_components,
                " segments of repeat customers, one-timers beside them" if seg.separate else "",
                smallest,
            )
        return seg, res

    def _stability(self, feats, seg, res, cfg, labels, ctx):
        k, ct = int(seg.model.n_components), seg.model.covariance_type
        seeds = [cfg.model.random_state + i for i in range(1, cfg.report.stability_seeds)]
        out = {"seeds": [], "bootstrap": []}
        jobs = [("seed", s) for s in seeds] + [("bootstrap", b) for b in range(cfg.report.bootstrap)]
        rng = np.random.default_rng(cfg.model.random_state)
        for kind, v in ctx.progress(jobs, desc="stability refits"):
            if kind == "seed":
                other = Segmentation.fit(feats, cfg, random_state=v, n_components=[k], covariance_types=[ct])
                lab = other.proba(feats).argmax(axis=1)
                out["seeds"].append(
                    {
                        "seed": v,
                        "ari": float(adjusted_rand_score(labels, lab)),
                        "identical": bool(np.array_equal(labels, lab)),
                    }
                )
            else:
                idx = np.sort(rng.choice(len(feats), len(feats), replace=True))
                other = Segmentation.fit(
                    feats.iloc[idx], cfg, random_state=cfg.model.random_state, n_components=[k], covariance_types=[ct]
                )
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
        seg, meta = Segmentation.load(Path(run_dir) / "model.npz")
        purchases, cleaning = read_transactions(
            config.data, path=input, date_order=meta.get("date_order"), decimal_marks=meta.get("decimal_marks")
        )
        same_currency(meta, cleaning, input)
        _log_cleaning(cleaning)
        as_of = purchases["date"].max() + pd.Timedelta(days=1)
        feats = customer_features(
            purchases, as_of=as_of, convention=meta["rfm_convention"], recent_weeks=meta["recent_weeks"]
        )
        P = seg.proba(feats)
        labels = P.argmax(axis=1)
        weeks = float(config.forward.horizon_weeks or meta.get("horizon_weeks", 13.0))
        expected = None
        if seg.purchases is not None:
            expected = (seg.purchases.expected_purchases(feats, weeks), seg.purchases.expected_spend(feats, weeks))
        else:
            logger.warning(
                "%s: written before the forward value existed; rerun it for expected purchases and spend", run_dir
            )
        out = customers_table(feats, P, seg, config.report.uncertain_below, expected=expected)
        ctx.write_table("customers.csv", out)
        counts = {nm: int((labels == s).sum()) for s, nm in enumerate(seg.names)}
        day = (as_of - pd.Timedelta(days=1)).date()
        summary = {
            "headline": f"{len(feats):,} customers assigned to {seg.n_segments} segments (as of {day})",
            "customers": len(feats),
            "as_of": str(day),
            "segment_counts": counts,
            "cleaning": cleaning,
            "boundary_customers": int(out["boundary"].sum()),
        }
        if expected is not None:
            summary["forward_value"] = {
                "horizon_weeks": weeks,
                "from": str(as_of.date()),
                "expected_purchases": float(expected[0].sum()),
                "expected_spend": float(expected[1].sum()),
            }
            worth = money(expected[1].sum(), cleaning.get("amounts_in"), 0)
            summary["headline"] += f"; expected {worth} over the next {weeks:.3g} weeks"
            if "calibration_start" in meta:  # model files from before it say nothing of seasons
                start, end = pd.Timestamp(meta["calibration_start"]), pd.Timestamp(meta["calibration_end"])
                months = unseen_months(start, end, as_of, weeks)
                summary["forward_value"]["months_not_in_calibration"] = month_names(months)
                if months:
                    summary["headline"] += f" ({month_words(months)} not in the model's calibration period)"
                _log_unseen(input, start, end, summary["forward_value"])
        first = purchases["date"].min().date()
        self._moves(ctx, run_dir, pd.Series(labels, index=feats.index.astype(str)), seg.names, summary, first, input)
        return summary

    def _moves(self, ctx, run_dir, after, names, summary, first, source):
        """The customers who moved between segments since the run (``segment_moves.csv``, the summary's
        ``segment_moves``, said in the headline); nothing for a run folder without its ``customers.csv``. A new
        log that starts after the run's (``first``: its first day) is said: its customers are read from its
        purchases alone, so part of their moves is the history left out."""
        path = Path(run_dir) / "customers.csv"
        if not path.is_file():
            return
        before = pd.read_csv(path, usecols=["customer_id", "segment"], dtype={"customer_id": str})
        table, moves = segment_moves(before.set_index("customer_id")["segment"], after, names)
        calibration = read_summary(run_dir).get("calibration", {})
        since, start = calibration.get("end"), calibration.get("start")
        ctx.write_table("segment_moves.csv", table.reset_index())
        partial = start is not None and first > pd.Timestamp(start).date() + pd.Timedelta(days=7)
        summary["segment_moves"] = {"since": since, **moves, "history_from": str(first), "partial_history": partial}
        summary["headline"] += "; " + moves_sentence(moves, since)
        if partial:
            logger.warning(
                "%s: starts on %s, after the run's log (from %s): each customer's segment now is read from this "
                "log's purchases alone, so part of the moves is the history left out; give the whole history to "
                "compare with the run",
                source,
                first,
                start,
            )
            summary["headline"] += f" (from this log's purchases alone, since {first})"


def _log_cleaning(cleaning):
    m, r = cleaning["missing_id"], cleaning["returns"]
    if m["lines"]:
        logger.info("%d rows without a customer id dropped (%.1f%% of revenue)", m["lines"], 100 * m["revenue_share"])
    if m.get("from_above"):
        logger.info(
            "%d rows without a customer id given the customer above them (data.missing_id: above)", m["from_above"]
        )
    if m.get("written_once"):
        logger.warning(
            "the rows without a customer id each follow rows of one customer, whose id is written once (a report "
            "that writes each customer once over their rows?): data.missing_id: above gives each the customer "
            "above it"
        )
    if named := m.get("named_by"):
        logger.warning(
            "column %r holds an e-mail address on %d of the rows without a customer id (guest checkouts?): "
            "data.id_column: %s keeps them, each address one customer",
            named["column"],
            named["rows"],
            named["column"],
        )
    if r["lines"]:
        logger.info(
            "%d return or cancellation lines, worth %s: %s",
            r["lines"],
            money(r["amount"], cleaning.get("amounts_in")),
            {"net": "netted against purchases", "drop": "left out"}[r["rule"]],
        )
