"""The customers model: a core GMM over standardised customer features, plus the fixed one-timer segment.

Fitting chooses K by the criterion among candidates whose every segment is
large enough (:meth:`Segmentation.fit`); segments are ordered and named by
value.  :class:`Segmentation` scores new customers and saves / loads itself.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from datetime import date

import numpy as np

from ...core import (
    ConvergenceWarning,
    FeatureScaler,
    GaussianMixture,
    load_model,
    model_file_guard,
    permute_components,
    save_model,
    select_model,
)
from ...errors import DataError
from .features import FEATURE_COLUMNS, model_matrix
from .segments import name_segments, profile

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
        #: the model-selection result of :meth:`fit` (None for a loaded segmentation)
        self.selection_ = None

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

    # ------------------------------------------------------------ persistence
    #: the forward-value model saved with the segmentation (a :class:`PurchaseModel`), or None
    purchases = None

    @classmethod
    def fit(cls, feats, cfg, *, random_state, progress=None, n_components=None, covariance_types=None):
        """Fit the segmentation of customer features ``feats`` as the config ``cfg`` says.

        K (and the covariance type) are chosen among the candidates by the
        criterion, with segments large enough; segments are ordered by value
        and named from their profiles.  ``n_components`` and
        ``covariance_types`` narrow the candidates (stability refits).

        Returns
        -------
        seg : Segmentation
            ``seg.selection_`` is the model-selection result.
        """
        seg, selection = _fit_segmentation(
            feats,
            cfg,
            random_state=random_state,
            progress=progress,
            n_components=n_components,
            covariance_types=covariance_types,
        )
        seg.selection_ = selection
        return seg

    def save(self, path, *, meta):
        """Write the segmentation (model, scaler, names, values, purchase model) to ``path`` in the core's checked format."""
        meta = dict(meta, features=self.features, names=self.names, separate_one_timers=self.separate)
        arrays = {"scaler_mean": self.mean, "scaler_scale": self.scale, "segment_values": self.values}
        if self.purchases is not None:
            arrays.update(bgnbd=self.purchases.bgnbd_, gamma_gamma=self.purchases.gamma_gamma_)
        return save_model(self.model, path, extra=meta, arrays=arrays)

    @classmethod
    def load(cls, path):
        """Read a saved segmentation; returns ``(segmentation, meta)``.

        Raises
        ------
        ModelFileError
            If the file is altered, truncated or inconsistent with itself.
        """
        model, extra = load_model(path, with_extra=True)
        meta, arrays = extra["meta"], extra["arrays"]
        need = model_file_guard.require
        with model_file_guard(path):
            d = model.means_.shape[1]
            seg = cls(
                model,
                arrays["scaler_mean"],
                arrays["scaler_scale"],
                meta["features"],
                arrays["segment_values"],
                meta["names"],
                separate_one_timers=meta["separate_one_timers"],
            )
            need(
                seg.mean.shape == (d,) and seg.scale.shape == (d,) and len(seg.features) == d,
                path,
                "the scaler and feature list do not fit the model",
            )
            need(
                np.all(np.isfinite(seg.mean)) and np.all(np.isfinite(seg.scale)) and np.all(seg.scale > 0),
                path,
                "the scaler holds a non-positive or non-finite scale",
            )
            need(
                set(seg.features) <= set(FEATURE_COLUMNS),
                path,
                f"unknown features {sorted(set(seg.features) - set(FEATURE_COLUMNS))}",
            )
            need(
                len(seg.names) == seg.n_segments == model.n_components + int(seg.separate),
                path,
                "segment names and values do not fit the model's components",
            )
            need(
                meta["rfm_convention"] in ("repeat", "all") and int(meta["recent_weeks"]) >= 1,
                path,
                "the feature settings are malformed",
            )
            if "calibration_start" in meta:  # written since apply says the months calibration never held
                need(
                    _dates_in_order(meta["calibration_start"], meta.get("calibration_end")),
                    path,
                    "the calibration dates are malformed",
                )
            if "bgnbd" in arrays:  # written since the forward value exists
                bg, gg = np.asarray(arrays["bgnbd"], float), np.asarray(arrays["gamma_gamma"], float)
                need(
                    bg.shape == (4,)
                    and np.all(np.isfinite(bg))
                    and np.all(bg > 0)
                    and gg.shape == (3,)
                    and (np.all(np.isnan(gg)) or (np.all(np.isfinite(gg)) and np.all(gg > 0) and gg[1] > 1)),
                    path,
                    "the purchase model's parameters are not positive",
                )
                seg.purchases = PurchaseModel(bg, gg)
        return seg, meta


def polish(model, Z, sample_weight, *, tol, max_iter):
    """Run EM from a fitted model's parameters to tight convergence.

    Candidates are compared after quick EM runs (``model.explore_tol``); the
    winner is then converged to ``tol`` so that restarts that found the same
    optimum give the same parameters, and the same labels, whatever the seed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            model.n_components,
            covariance_type=model.covariance_type,
            reg_covar=model.reg_covar,
            tol=tol,
            max_iter=max_iter,
            weights_init=model.weights_,
            means_init=model.means_,
            precisions_init=model.precisions_,
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


def _fit_segmentation(feats, cfg, *, random_state, progress=None, n_components=None, covariance_types=None):
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
    scaler = FeatureScaler.standard(X)
    mean, scale = scaler.center, scaler.scale
    constant = scaler.constant()
    if np.all(constant):
        raise DataError(
            f"all {len(modeled):,} customers have the same {', '.join(cfg.features.model)}; there are no "
            "segments to find in identical purchase histories"
        )
    if np.any(constant):
        same = [c for c, k in zip(cfg.features.model, constant) if k]
        rest = [c for c, k in zip(cfg.features.model, constant) if not k]
        value = f"{np.expm1(X[0, int(np.flatnonzero(constant)[0])]):,.4g}"  # the matrix holds log1p
        why = ": one price, as a subscription's?" if same[0] in ("aov", "monetary") else ""
        raise DataError(
            f"feature {same[0]!r} is the same for every customer ({value}{why}); drop it: set "
            f"features.model: [{', '.join(rest)}]"
            if len(same) == 1
            else f"features {', '.join(map(repr, same))} are the same for every customer; drop them: set "
            f"features.model: [{', '.join(rest)}]"
        )
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
            Z,
            n_components=ks,
            covariance_types=covariance_types or m.covariance_types(),
            criterion=m.criterion,
            n_init=1 if m.init == "hierarchical" else m.n_init,
            random_state=random_state,
            sample_weight=w,
            tol=m.explore_tol,
            max_iter=m.max_iter,
            init_params=m.init,
            reg_covar=m.reg_covar,
            progress=progress,
        )
    model, res = _choose_with_min_size(res, Z, w, m)
    seg = _valued_and_named(model, Z, modeled, feats, mean, scale, cfg.features, separate)
    return seg, res


def _valued_and_named(model, Z, modeled, feats, mean, scale, features, separate):
    """The fitted mixture as a :class:`Segmentation`: components ordered by value (probability-weighted mean
    calibration spend), one-time buyers as their own segment when kept apart, names from the profiles."""
    P = model.predict_proba(Z)
    spend = modeled["total_spend"].to_numpy()
    comp_value = (P * spend[:, None]).sum(axis=0) / np.maximum(P.sum(axis=0), 1e-300)
    order = np.argsort(-comp_value, kind="stable")
    permute_components(model, order)
    comp_value = comp_value[order]
    if separate:
        ot_value = (
            float(feats.loc[feats["n_purchases"] == 1, "total_spend"].mean())
            if (feats["n_purchases"] == 1).any()
            else 0.0
        )
        values = np.r_[comp_value, ot_value]
        seg_order = np.argsort(-values, kind="stable")
        values = values[seg_order]
        ot_pos = int(np.flatnonzero(seg_order == len(comp_value))[0])
        placeholder = ["one-timers" if i == ot_pos else f"segment {i}" for i in range(len(values))]
        seg = Segmentation(model, mean, scale, features.model, values, placeholder, separate_one_timers=True)
        # the GMM segments hold no one-time buyers here; name them from their profiles
        named = name_segments(profile(feats, seg.proba(feats)), feats)
        seg.names = ["one-timers" if i == ot_pos else named[i] for i in range(len(values))]
    else:
        seg = Segmentation(
            model, mean, scale, features.model, comp_value, [""] * len(comp_value), separate_one_timers=False
        )
        seg.names = name_segments(profile(feats, seg.proba(feats)), feats)
    return seg


def kmeans_baseline(Z, k, values_from, random_state):
    """k-means on the same standardised features; clusters valued like segments."""
    from sklearn.cluster import KMeans  # start-up time: scikit-learn loads only where it does the work

    km = KMeans(k, n_init=3, random_state=random_state).fit(Z)
    lab = km.labels_
    v = np.array([values_from[lab == c].mean() if (lab == c).any() else 0.0 for c in range(k)])
    return v[lab], lab


# --------------------------------------------------------------------------- forward value
class PurchaseModel:
    """What each customer will buy next: BG/NBD purchase counts times Gamma-Gamma spend per purchase.

    The beta-geometric / negative-binomial model (Fader, Hardie and Lee 2005)
    treats each customer as buying at a Poisson rate (gamma-distributed over
    customers, ``r``, ``alpha``) until they drop out after some purchase (with a
    beta-distributed probability, ``a``, ``b``); the Gamma-Gamma model (Fader,
    Hardie and Lee 2005, "RFM and CLV") shrinks each repeat buyer's mean spend
    towards the population's (``p``, ``q``, ``v``).  Both are fitted by maximum
    likelihood on the calibration period, time in weeks, and give each customer's
    expected purchases and spend over the next ``t`` weeks.  This is the model the
    ``lifetimes`` package fits; here it is a few vectorised functions.

    Parameters of :meth:`fit` and the predictions, per customer: ``x`` repeat
    purchases, ``t_x`` weeks from the first to the last purchase, ``T`` weeks from
    the first purchase to the end of the period, ``m`` the mean value of the
    repeat purchases (unused where ``x = 0``).
    """

    def __init__(self, bgnbd=None, gamma_gamma=None):
        self.bgnbd_ = None if bgnbd is None else np.asarray(bgnbd, dtype=float)
        self.gamma_gamma_ = None if gamma_gamma is None else np.asarray(gamma_gamma, dtype=float)

    @staticmethod
    def inputs(feats):
        """``x``, ``t_x``, ``T`` (weeks) and ``m`` of each customer from :func:`customer_features`' columns."""
        n = feats["n_purchases"].to_numpy(dtype=float)
        x = n - 1
        T = feats["tenure"].to_numpy(dtype=float) / 7.0
        t_x = (feats["tenure"] - feats["recency"]).to_numpy(dtype=float) / 7.0
        m = feats["repeat_monetary"].to_numpy(dtype=float)
        return x, t_x, T, m

    def fit(self, feats):
        """Fit both models on the customers' calibration features; returns self."""
        from scipy.optimize import minimize  # start-up time: this part of SciPy loads only when used

        x, t_x, T, m = self.inputs(feats)
        T = np.maximum(T, 1.0 / 7)  # a customer first seen on the last day has been observed one day
        # in one order whatever the log's: where the likelihood is flat (customers alike) the optimiser's stop
        # would otherwise follow the sums' order, and a log's customer ids would change the forecast
        order = np.lexsort((np.nan_to_num(m), T, t_x, x))
        x, t_x, T, m = x[order], t_x[order], T[order], m[order]

        def nll_bg(logp):
            return -bgnbd_loglik(np.exp(logp), x, t_x, T).sum() / len(x)

        best = min(
            (
                minimize(nll_bg, np.log(start), method="L-BFGS-B", bounds=[(-10, 10)] * 4)
                for start in ([1.0, 1.0, 1.0, 1.0], [0.3, 5.0, 0.8, 2.5])
            ),
            key=lambda r: r.fun,
        )
        self.bgnbd_ = np.exp(best.x)
        rep = (x > 0) & (m > 0)
        if rep.sum() >= 3:

            def nll_gg(logp):
                return -gamma_gamma_loglik(np.exp(logp), x[rep], m[rep]).sum() / rep.sum()

            gg = min(
                (
                    minimize(
                        nll_gg, np.log(start), method="L-BFGS-B", bounds=[(-10, 10), (np.log(1.01), 10), (-10, 15)]
                    )
                    for start in ([1.0, 2.0, float(np.mean(m[rep]))], [6.0, 4.0, 15.0])
                ),
                key=lambda r: r.fun,
            )
            self.gamma_gamma_ = np.exp(gg.x)
        else:  # too few repeat buyers to shrink anything: everyone's spend is their mean purchase value
            self.gamma_gamma_ = np.array([np.nan, np.nan, np.nan])
        return self

    def expected_purchases(self, feats, weeks):
        """Expected purchases of each customer over the next ``weeks`` weeks."""
        x, t_x, T, _ = self.inputs(feats)
        return bgnbd_expected(self.bgnbd_, x, t_x, np.maximum(T, 1.0 / 7), float(weeks))

    def expected_value(self, feats):
        """Expected spend per purchase of each customer (the population mean for those without repeat purchases)."""
        x, _, _, m = self.inputs(feats)
        p, q, v = self.gamma_gamma_
        if not np.isfinite(p):
            return feats["aov"].to_numpy(dtype=float)
        population = p * v / (q - 1)
        shrunk = p * (v + x * np.nan_to_num(m)) / (p * x + q - 1)
        return np.where((x > 0) & (np.nan_to_num(m) > 0), shrunk, population)

    def expected_spend(self, feats, weeks):
        """Expected spend of each customer over the next ``weeks`` weeks."""
        return self.expected_purchases(feats, weeks) * self.expected_value(feats)

    def params(self):
        """The fitted parameters as plain numbers (for the summary and the model file)."""
        r, alpha, a, b = (float(v) for v in self.bgnbd_)
        p, q, v = (float(u) for u in self.gamma_gamma_)
        return {"bgnbd": {"r": r, "alpha_weeks": alpha, "a": a, "b": b}, "gamma_gamma": {"p": p, "q": q, "v": v}}


def bgnbd_loglik(params, x, t_x, T):
    """BG/NBD log-likelihood of each customer (Fader, Hardie and Lee 2005, eq. 6)."""
    from scipy.special import gammaln  # start-up time: this part of SciPy loads only when used

    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_expected(params, x, t_x, T, t):
    """E[purchases in (T, T + t]] given x, t_x, T (Fader, Hardie and Lee 2005, eq. 10)."""
    from scipy.special import hyp2f1  # start-up time: this part of SciPy loads only when used

    r, alpha, a, b = params
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = 1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return np.maximum(head * body / tail, 0.0)


def gamma_gamma_loglik(params, x, m):
    """Gamma-Gamma log-likelihood of each repeat buyer's mean spend ``m`` over ``x`` purchases."""
    from scipy.special import gammaln  # start-up time: this part of SciPy loads only when used

    p, q, v = params
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )


def _dates_in_order(start, end):
    """Whether ``start`` and ``end`` are ISO dates, ``start`` first (a model file's calibration period)."""
    try:
        return date.fromisoformat(start) < date.fromisoformat(end)
    except (TypeError, ValueError):
        return False
