"""The regimes pipeline: prices -> features -> regime model -> dated labels, report."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ...core import adjusted_rand_score
from ...errors import ConfigError, DataError
from ...paths import check_input, require_file
from ...registry import Part, Pipeline, muted
from ...runs import read_summary
from ...tabular import check_sheet
from . import data as data_mod
from .backtest import write_backtest
from .config import RegimesConfig, RegimesData
from .evidence import no_evidence, regime_evidence
from .features import build_features, fit_scaler, moves
from .fitting import fit_with_config
from .model import RegimeModel
from .periods import TRADING_DAYS, applied_period, check_spacing, in_periods, period_name, periods_per_year
from .states import (
    figures_sentence,
    forecast_summary,
    headline,
    regime_figures,
    regime_forecasts,
    regime_names,
    regime_statistics,
    regimes_table,
    state_volatility,
    transition_table,
)
from .walkforward import holdout_start, training_days, walk_forward, walk_start

logger = logging.getLogger("gmm_apps.regimes")

#: reading a sheet only to see its dates: rows without a price and prices at or below zero left out
_LOOSE = RegimesData(missing="drop", nonpositive="drop").reading()


# --------------------------------------------------------------------- loading
def ordering_returns(cfg, data, F, rets):
    """Daily log returns (changes, of levels) of the series that orders and names the regimes
    (``model.ordering``; default the first)."""
    name = cfg.model.ordering
    if name is None or name == data.primary:
        return rets
    if name not in data.prices.columns:
        series = ", ".join(map(str, data.prices.columns))
        raise ConfigError(f"config: model.ordering: no price series {name!r}; the series are {series}")
    logger.info("regimes ordered by the volatility of %s", name)
    r = moves(data.prices[name].to_numpy(), levels=cfg.data.levels)
    return pd.Series(r, index=data.prices.index).reindex(F.index).rename("log_return")


def ordering_name(cfg, data):
    """The name of the series whose volatility orders and names the regimes."""
    return str(data.primary if cfg.model.ordering is None else cfg.model.ordering)


def load_prices(cfg, source):
    d = cfg.data
    src = d.resolved_source()
    if src == "arch":
        data = data_mod.load_arch(d.arch_dataset, rules=d.reading())
    elif src == "file":
        if not d.path:
            raise ConfigError(f"{source}: data.path: required when data.source is 'file'")
        if d.sheet is not None:
            check_sheet(require_file(d.path, key="data.path"), d.sheet)
        data = data_mod.load_file(
            d.path,
            date_column=d.date_column,
            price_column=d.price_column,
            volume_column=d.volume_column,
            rules=d.reading(),
            sheet=d.sheet,
            series_column=d.series_column,
            series=d.series,
        )
    else:
        data = data_mod.load_yfinance(
            d.tickers, start=d.start, end=d.end, interval=d.interval, cache_dir=d.cache_dir, rules=d.reading()
        )
    if d.start is not None or d.end is not None:
        idx = data.prices.index
        keep = np.ones(len(idx), dtype=bool)
        if d.start is not None:
            keep &= idx >= pd.Timestamp(d.start)
        if d.end is not None:
            keep &= idx <= pd.Timestamp(d.end)
        if keep.sum() < 2:
            raise DataError(f"{data.source}: no prices between data.start={d.start} and data.end={d.end}")
        data = data.subset(keep)
    check_spacing(data.prices.index, data.source)
    return data


class Best(NamedTuple):
    """The chosen candidate: K, covariance type, its criteria and the training days."""

    K: int
    ct: str
    bic: float
    aic: float
    n_train: int


class Posteriors(NamedTuple):
    """What labelling the days gives: the model in force (with its scaler), the days labelled and their probabilities.

    ``in_sample`` is ``(dates, labels)``: the model in force, smoothed over the
    days it was fitted on.  ``refits`` (walk-forward) lists which days trained
    which model and which days it labelled.
    """

    model: object
    dates: pd.DatetimeIndex
    X: np.ndarray
    r: np.ndarray
    train: np.ndarray
    filtered: np.ndarray
    smoothed: np.ndarray | None
    labels: np.ndarray
    log_pred: np.ndarray
    refit_dates: np.ndarray | None
    forecasts: dict
    in_sample: tuple
    predicted_vol: np.ndarray
    refits: list | None = None
    year: int = TRADING_DAYS  # days a year figures are annualised over (365 for a series priced every day)

    @property
    def trained_to(self):
        if self.refit_dates is not None:
            return str(self.refit_dates[-1])
        return str(self.dates[self.train][-1].date())


def summarise(cfg, data, post, names, best, model, table, aris, evidence):
    """The run's ``summary.json`` figures; ``evidence``: :func:`regime_evidence`."""
    labels, dates, train = post.labels, post.dates, post.train
    K = best.K
    vol_regime = state_volatility(np.eye(K)[labels], post.r, year=post.year)
    today = {
        "date": dates[-1].strftime("%Y-%m-%d"),
        "regime": int(labels[-1]),
        "name": names[labels[-1]],
        "probability_filtered": float(post.filtered[-1, labels[-1]]),
    }
    if post.smoothed is not None:
        today["probability_smoothed"] = float(post.smoothed[-1, labels[-1]])
    outlook = forecast_summary(post.forecasts, post.model.transmat, labels[-1], names)
    oos = ~train
    in_sample = regime_figures(post.in_sample[1], post.in_sample[0], names, "smoothed, in sample", year=post.year)
    out_of_sample = regime_figures(
        post.filtered[oos].argmax(axis=1), dates[oos], names, "filtered, out of sample", year=post.year
    )
    line = headline(today["date"], today["name"], today["probability_filtered"], outlook, year=post.year)
    line += "; " + "; ".join(figures_sentence(f, year=post.year) for f in (out_of_sample, in_sample) if f)
    if evidence["supported"] is False:
        line += f"; caution: {no_evidence(evidence)}"
    out = {
        "headline": line,
        "forecast": outlook,
        "data_source": data.source,
        "cleaning": {"rules": cfg.data.rules(), "rows_dropped": data.cleaning},
        **({"values": "levels"} if cfg.data.levels else {}),  # a summary of prices reads as before
        "first_date": dates[0].strftime("%Y-%m-%d"),
        "last_date": today["date"],
        "n_days": len(labels),
        "n_train_days": best.n_train,
        "model_kind": cfg.model.kind,
        "n_components": K,
        "covariance_type": best.ct,
        "regime_names": names,
        "today": today,
        "in_sample": in_sample,
        "out_of_sample": out_of_sample,
        "volatility_per_regime": dict(zip(names, vol_regime.tolist())),
        "days_per_year": post.year,
        "period": period_name(post.year),
        "label_agreement_ari": aris,
        "regime_evidence": evidence,
        "oos_loglik_per_day": float(post.log_pred[oos].mean()) if oos.any() else None,
        "train_loglik_per_day": float(post.log_pred[train].mean()) if train.any() else None,
        "bic": best.bic,
        "aic": best.aic,
        "converged": post.model.converged,
        "n_iter": post.model.n_iter,
        "walk_forward": bool(cfg.walk_forward.enabled),
        "trained_to": post.trained_to,
    }
    if post.refits is not None:
        out["walk_forward_refits"] = post.refits
    return out


class RegimesPipeline(Pipeline):
    name = "regimes"
    input_keys = ("data.path", "data.cache_dir")
    quick_sets = (
        "report.stability_seeds=1",
        "report.bic_candidates=[3]",
        "report.plots=false",
        "model.n_init=2",
        "split.holdout_start=null",
    )

    def write_data(self, data, folder):
        """Prices, dates in the index or a column; yfinance's download (price x ticker columns) as its CSV reads."""
        data = data.to_frame() if isinstance(data, pd.Series) else data
        if not (isinstance(data, pd.DataFrame) and isinstance(data.index, pd.DatetimeIndex)):
            return super().write_data(data, folder)
        data = data.rename_axis(data.index.name or "Date")
        if data.columns.nlevels != 2:
            return super().write_data(data.reset_index(), folder)
        path = Path(folder) / "dataframe.csv"
        data.rename_axis(columns=[n or m for n, m in zip(data.columns.names, ("Price", "Ticker"))]).to_csv(path)
        return str(path)

    def apply_example(self, run_dir, folder):
        """The last ten years of the bundled S&P 500 as a price file."""
        from arch.data import sp500  # start-up time: arch's sample data loads only when asked for

        p = Path(folder) / "prices.csv"
        sp500.load()["Adj Close"].iloc[-2520:].rename("Close").rename_axis("Date").to_frame().to_csv(p)
        return str(p)

    def suggest(self, path):
        """The price file (a series split by year into a workbook's sheets: those sheets, stacked; a file of
        several inputs, :meth:`parts`, read part by part, as run --each FILE runs it), and the
        cleaning it needs to be read as the run would refuse it without: rows without a price left out
        (``data.missing: drop``), a price's rare misprint at or below zero left out (``data.nonpositive:
        drop``) (``init --data``)."""

        values, (parts, runs) = self.data_overrides(path), self.file_parts(path)
        if parts and not runs:  # one series split by year: its sheets stacked
            values["data.sheet"], parts = [p.overrides["data.sheet"] for p in parts], []

        def attempt(data):  # a fix may leave out empty rows, then a negative print; run --each FILE: every part's
            for over in [p.overrides for p in parts] or [{}]:
                part = {"sheet": data.sheet, "price_column": data.price_column}
                part.update({k.split(".", 1)[1]: v for k, v in over.items()})
                try:
                    data_mod.load_file(data.path, rules=data.reading(), **part)
                except DataError as exc:  # which part, unless the message names it; its fix kept
                    name = part["sheet"] or part["price_column"] or part.get("series")
                    if over and repr(str(name)) not in exc.args[0]:
                        exc.args = (f"{exc.args[0]} ({parts[0].kind} {name})",)
                    raise

        return self.with_fixes(values, attempt)

    def parts(self, path):
        """A workbook's sheets alike (an asset a sheet), else a wide file's price series (a currency a column,
        the tickers of a yfinance download): what the file's refusal as one series lists."""
        if found := super().parts(path):
            return found
        try:
            with muted(logging.WARNING):  # read again by the run, which says what it read
                data_mod.load_file(path, rules=_LOOSE)
        except DataError as exc:
            series, empty = getattr(exc, "series", None), getattr(exc, "empty", None)
            if series and empty:
                logger.info("%s: column(s) %s hold no price; not run", path, ", ".join(map(str, empty)))
            if series and getattr(exc, "series_column", None):  # a long file: a series' rows each
                return [Part("series", n, {"data.series_column": exc.series_column, "data.series": n}) for n in series]
            return [Part("series", str(c), {"data.price_column": c}) for c in series] if series else None
        return None

    def sheets_are_runs(self, path, sheets):
        """An asset a sheet when the first two sheets' dates overlap over half the shorter one's span; a series
        split by year (or by month, for intraday bars) into sheets that follow each other (sharing a day or two
        at most) is one run's, its sheets stacked."""
        try:
            with muted(logging.WARNING):  # only their dates
                (a, b), (c, d) = (
                    data_mod.load_file(path, sheet=s, rules=_LOOSE).prices.index[[0, -1]] for s in sheets[:2]
                )
        except DataError:  # a sheet the run would refuse says so in its own run
            return True
        return bool(min(b, d) - max(a, c) > 0.5 * min(b - a, d - c))

    description = "market regimes from prices: dated labels with filtered and smoothed probabilities"
    config_model = RegimesConfig
    model_class = RegimeModel
    batch_plot = "price_regimes.png"

    def batch_headline(self, rows):
        """How many runs are in each regime today, and which have regimes no clearer than chance: 'today 12
        normal, 5 calm, 5 stress; regimes no clearer than chance in 1 (IPO)'."""
        today = Counter(r["regime"] for r in rows if r.get("regime"))
        line = "today " + ", ".join(f"{n} {name}" for name, n in today.most_common()) if today else ""
        chance = [str(r["run"]) for r in rows if r.get("regimes_beyond_chance") is False]
        if chance:
            shown = ", ".join(chance[:5]) + (", ..." if len(chance) > 5 else "")
            line += f"{'; ' if line else ''}regimes no clearer than chance in {len(chance)} ({shown})"
        return line

    def batch_figures(self, summary):
        """Today's regime, how often regimes switched out of sample, whether the training days held regimes beyond
        chance (the shuffle test; none for an applied run, whose headline says it), and every backtest strategy's Sharpe ratio
        and maximum drawdown (each one, not the best of them after the fact; none for levels, which have no
        backtest)."""
        today, oos = summary.get("today") or {}, summary.get("out_of_sample") or {}
        strategies = (summary.get("backtest") or {}).get("strategies") or {}
        return {
            "date": today.get("date"),
            "regime": today.get("name"),
            "probability": today.get("probability_filtered"),
            "switches_per_year_out_of_sample": oos.get("switches_per_year"),
            "regimes_beyond_chance": (summary.get("regime_evidence") or {}).get("supported"),
            **{f"sharpe_{k.replace(' ', '_')}": v.get("sharpe") for k, v in strategies.items()},
            **{f"max_drawdown_{k.replace(' ', '_')}": v.get("max_drawdown") for k, v in strategies.items()},
            "headline": summary.get("headline"),
        }

    def check(self, config, source):
        d = config.data
        if d.source == "file" and not d.path:
            raise ConfigError(f"{source}: data.path: required when data.source is 'file'")
        if d.path and d.source in ("auto", "file"):  # a folder or a glob of files, one a ticker: --each
            each = (
                "a run models one price file: run each file as a run of its own with --each {path} in place of {key} "
                "(gmm_apps.run(config, each=...) from Python; --jobs 2 runs two at once), or join the series into one "
                "file, a column each (data.price_column as a list), to model them together"
            )
            check_input(d.path, key="data.path", source=source, each=each, one="price file")
        if config.model.criterion not in ("bic", "aic"):
            raise ConfigError(
                f"{source}: model.criterion: the regimes pipeline chooses K by 'bic' or 'aic', got {config.model.criterion!r}"
            )
        if config.model.kind == "gmm_hmm" and "tied" in config.model.covariance_types():
            raise ConfigError(f"{source}: model.covariance_type: 'tied' is not available with kind 'gmm_hmm'")

    # ----------------------------------------------------------------- fit
    def run(self, cfg, ctx):
        from . import report as rep  # start-up time: the report module loads matplotlib

        data = load_prices(cfg, "config")
        year = periods_per_year(data.prices.index)
        cfg, counted = in_periods(cfg, year)  # a weekly series counts the config's days in weeks
        F, rets = build_features(data, cfg.features.specs(), levels=cfg.data.levels)
        rets = ordering_returns(cfg, data, F, rets)
        start = holdout_start(F.index, cfg.split.holdout_start, data.source)
        cfg = cfg.model_copy(update={"split": cfg.split.model_copy(update={"holdout_start": start})})  # auto: its date
        if cfg.walk_forward.enabled:
            train = np.arange(len(F)) < walk_start(F.index, cfg.walk_forward, start, data.source)
        else:
            train = training_days(F.index, start, data.source)
        scaler = fit_scaler(F.values[train], names=list(F.columns))
        X, r = scaler.transform(F.values), rets.to_numpy()
        table, model, best = self._select(cfg, X[train], r[train], ctx, data.source)
        evidence = regime_evidence(cfg, r[train], ordering_name(cfg, data), data.source, year=year)
        model.scaler = scaler
        names = regime_names(model.n_states)
        post = self._posteriors(cfg, model, F, X, r, train, best, ctx)
        aris = self._stability(cfg, X, train, r, post, best, ctx, first=model)
        stats, trans = self._write(ctx, cfg, post, model, names, table, F, list(map(str, data.prices.columns)))
        summary = summarise(cfg, data, post, names, best, model, table, aris, evidence)
        if counted:
            summary["counted_in_periods"] = counted
        backtest = write_backtest(ctx, cfg, post, data, names)
        if backtest is not None:
            summary["backtest"] = backtest["summary"]
        rep.build_report(
            ctx,
            cfg,
            summary=summary,
            post=post,
            prices=data.prices[data.primary].reindex(post.dates),
            names=names,
            stats=stats,
            trans=trans,
            table=table,
            chosen=(best.K, best.ct),
            ticker=str(data.primary),
            feature_names=list(F.columns),
            backtest=backtest,
        )
        return summary

    # ------------------------------------------------------------- steps
    def _select(self, cfg, Xtr, rtr, ctx, source):
        """Fit every candidate (and the report's BIC curve); the criterion picks the model."""
        ks, cts = cfg.model.candidates(), cfg.model.covariance_types()
        curve_ks = sorted(set(ks) | set(cfg.report.bic_candidates)) if cfg.report.plots else ks
        jobs = [(k, ct) for ct in cts for k in ks]
        jobs += [(k, cts[0]) for k in curve_ks if (k, cts[0]) not in jobs]
        jobs = [(k, ct) for k, ct in jobs if 5 * k <= len(Xtr)]
        rows, fitted = [], {}
        for k, ct in ctx.progress(jobs, desc="fitting candidates"):
            mdl = fit_with_config(cfg.model, Xtr, rtr, k, ct, cfg.model.random_state)
            rows.append(
                {
                    "n_components": k,
                    "covariance_type": ct,
                    "log_likelihood": mdl.log_likelihood(Xtr),
                    "n_parameters": mdl.n_parameters(),
                    "bic": mdl.bic(Xtr),
                    "aic": mdl.aic(Xtr),
                    "candidate": (k in ks and ct in cts),
                }
            )
            fitted[(k, ct)] = mdl
        table = pd.DataFrame(rows)
        cand = table[table["candidate"]] if rows else table
        if cand.empty:
            raise DataError(
                f"{source}: too few training rows ({len(Xtr)}) for model.n_components {ks}: each regime "
                f"needs at least 5 rows, so at most {len(Xtr) // 5} regimes; lower model.n_components"
            )
        row = cand.iloc[int(cand[cfg.model.criterion].to_numpy().argmin())]
        best = Best(int(row.n_components), row.covariance_type, float(row.bic), float(row.aic), len(Xtr))
        logger.info("model: %s, K=%d, %s covariance", cfg.model.kind, best.K, best.ct)
        return table, fitted[(best.K, best.ct)], best

    def _posteriors(self, cfg, model, F, X, r, train, best, ctx):
        """Regime probabilities and labels of every day (walk-forward: out of sample only)."""
        dates = F.index
        year = periods_per_year(dates)
        if cfg.walk_forward.enabled:
            w0 = int(train.sum())
            filtered, log_pred, refit_dates, model, fc, refits, vol = walk_forward(cfg, F, r, model, w0, ctx, year)
            seen = refits[-1]["trained_days"]
            in_sample = (dates[:seen], model.smooth(model.scaler.transform(F.values[:seen])).argmax(axis=1))
            return Posteriors(
                model,
                dates[w0:],
                X[w0:],
                r[w0:],
                np.zeros(len(filtered), dtype=bool),
                filtered,
                None,
                filtered.argmax(axis=1),
                log_pred,
                refit_dates,
                fc,
                in_sample,
                vol,
                refits,
                year,
            )
        filtered, log_pred, smoothed = model.posteriors(X)
        src = smoothed if cfg.report.labels_from == "smoothed" else filtered
        return Posteriors(
            model,
            dates,
            X,
            r,
            train,
            filtered,
            smoothed,
            src.argmax(axis=1),
            log_pred,
            None,
            regime_forecasts(filtered, model.transmat, year=year),
            (dates[train], smoothed[train].argmax(axis=1)),
            model.predicted_volatility(filtered, r, half_life=cfg.model.vol_half_life, year=year)[0],
            None,
            year,
        )

    def _stability(self, cfg, X, train, r, post, best, ctx, *, first):
        """Label agreement (ARI) of refits from other seeds with the first.

        In walk-forward the seeds are compared on the first training window's
        fit, each labelling the walk-forward days by its filtered probabilities:
        with kind 'hmm' and warm starts every later refit continues from that fit
        without randomness, so this is where a seed can change the labels.
        ``first`` is the run's seed's model of the training days (the chosen one).
        """
        seed = cfg.model.random_state
        seeds = [seed + i for i in range(cfg.report.stability_seeds)]
        aris = []
        walk = cfg.walk_forward.enabled
        if len(seeds) > 1:
            ref = first.filter(X)[0][~train].argmax(axis=1) if walk else post.labels
            for s in ctx.progress(seeds[1:], desc="stability seeds"):
                other = fit_with_config(cfg.model, X[train], r[train], best.K, best.ct, s)
                if walk:
                    o = other.filter(X)[0][~train]
                else:
                    o = other.smooth(X) if cfg.report.labels_from == "smoothed" else other.filter(X)[0]
                aris.append(float(adjusted_rand_score(ref, o.argmax(axis=1))))
        out = {
            "seeds": seeds,
            "ari_vs_first": aris,
            "min": min(aris) if aris else None,
            "identical": bool(all(a == 1.0 for a in aris)) if aris else None,
        }
        if walk:
            out["measured_on"] = "the first training window's fit per seed, filtered labels of the walk-forward days"
        return out

    def _write(self, ctx, cfg, post, model, names, table, F, series):
        """regimes.csv, regime_stats.csv, transitions.csv, model_selection.csv and the model file."""
        ctx.write_table(
            "regimes.csv",
            regimes_table(
                post.dates,
                post.labels,
                names,
                post.filtered,
                post.smoothed,
                in_sample=post.train,
                fitted_to=post.refit_dates,
                forecasts=post.forecasts,
                vol_forecast=post.predicted_vol,
            ),
        )
        stats = regime_statistics(post.labels, post.r, names, year=post.year, levels=cfg.data.levels)
        ctx.write_table("regime_stats.csv", stats)
        trans = transition_table(post.model, names)
        ctx.write_table("transitions.csv", trans, index=True)
        ctx.write_table("model_selection.csv", table)
        post.model.save(
            ctx.path("model.npz"),
            meta={
                "pipeline": "regimes",
                "feature_names": list(F.columns),
                "names": names,
                "features": [s.model_dump() for s in cfg.features.specs()],
                "trained_to": post.trained_to,
                "series": series,
                "periods_per_year": post.year,
            },
        )
        return stats, trans

    # ---------------------------------------------------------------- apply

    def apply(self, run_dir, input, config, ctx):
        model, meta = RegimeModel.load(Path(run_dir) / "model.npz")
        scaler = model.scaler
        series = meta.get("series", [])
        # several series: the new file has a column for each, named as in the run
        columns = config.data.price_column or (series if len(series) > 1 else None)
        if config.data.series_column:  # a long file: the run's series, by name, from its rows
            columns = config.data.price_column
        data = data_mod.load_file(
            input,
            date_column=config.data.date_column,
            price_column=columns,
            volume_column=config.data.volume_column,
            rules=config.data.reading(),
            sheet=config.data.sheet,
            series_column=config.data.series_column,
            series=(config.data.series or series or None) if config.data.series_column else None,
        )
        year = applied_period(data.prices.index, meta.get("periods_per_year", TRADING_DAYS), input)
        config, _ = in_periods(config, year)
        F, rets = build_features(data, config.features.specs(), levels=config.data.levels)
        rets = ordering_returns(config, data, F, rets)
        if list(F.columns) != list(meta["feature_names"]):
            raise DataError(
                f"{input}: gives the features {', '.join(map(str, F.columns))}; the saved model expects "
                f"{', '.join(meta['feature_names'])}; use a file with the run's price series "
                "(data.price_column names them)"
            )
        X = scaler.transform(F.values)
        filtered, log_pred, smoothed = model.posteriors(X)
        names = meta["names"]
        labels = filtered.argmax(axis=1)
        forecasts, vol = regime_forecasts(filtered, model.transmat, year=year), None
        if model.return_moments is None:
            logger.warning("%s: written before volatility forecasts; run the config again for vol_forecast", run_dir)
        else:
            vol, _ = model.predicted_volatility(
                filtered, rets.to_numpy(), half_life=config.model.vol_half_life, year=year
            )
        out = regimes_table(F.index, labels, names, filtered, smoothed, forecasts=forecasts, vol_forecast=vol)
        ctx.write_table("regimes.csv", out)
        today = out.iloc[-1]
        outlook = forecast_summary(forecasts, model.transmat, labels[-1], names)
        line = headline(today["date"], today["name"], filtered[-1, labels[-1]], outlook, year=year)
        found = read_summary(run_dir).get("regime_evidence")
        if found and found.get("supported") is False:  # the model applied was fitted on regimes of chance
            line += f"; caution: the run's model was fitted where {no_evidence(found)}"
        return {
            "headline": line,
            "today": {
                "date": str(today["date"]),
                "regime": int(labels[-1]),
                "name": str(today["name"]),
                "probability_filtered": float(filtered[-1, labels[-1]]),
            },
            "forecast": outlook,
            "n_days": len(out),
            "labels_from": "filtered",
            "loglik_per_day": float(log_pred.mean()),
            "regime_counts": {nm: int((labels == k).sum()) for k, nm in enumerate(names)},
        }
