"""The customers model: a core GMM over standardised customer features, plus the fixed one-timer segment.

Fitting chooses K by the criterion among candidates whose every segment is
large enough (:func:`fit_segmentation`); segments are ordered and named by
value.  :class:`Segmentation` scores new customers and saves / loads itself.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ...core import FeatureScaler, GaussianMixture, load_model, model_file_guard, permute_components, save_model, select_model
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
    def save(self, path, *, meta):
        """Write the segmentation (model, scaler, names, values) to ``path`` through the core's checked format."""
        meta = dict(meta, features=self.features, names=self.names, separate_one_timers=self.separate)
        return save_model(self.model, path, extra=meta,
                          arrays={"scaler_mean": self.mean, "scaler_scale": self.scale, "segment_values": self.values})

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
            seg = cls(model, arrays["scaler_mean"], arrays["scaler_scale"], meta["features"],
                      arrays["segment_values"], meta["names"], separate_one_timers=meta["separate_one_timers"])
            need(seg.mean.shape == (d,) and seg.scale.shape == (d,) and len(seg.features) == d, path,
                 "the scaler and feature list do not fit the model")
            need(np.all(np.isfinite(seg.mean)) and np.all(np.isfinite(seg.scale)) and np.all(seg.scale > 0), path,
                 "the scaler holds a non-positive or non-finite scale")
            need(set(seg.features) <= set(FEATURE_COLUMNS), path,
                 f"unknown features {sorted(set(seg.features) - set(FEATURE_COLUMNS))}")
            need(len(seg.names) == seg.n_segments == model.n_components + int(seg.separate), path,
                 "segment names and values do not fit the model's components")
            need(meta["rfm_convention"] in ("repeat", "all") and int(meta["recent_weeks"]) >= 1, path,
                 "the feature settings are malformed")
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
    scaler = FeatureScaler.standard(X)
    mean, scale = scaler.center, scaler.scale
    constant = scaler.constant()
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


def kmeans_baseline(Z, k, values_from, random_state):
    """k-means on the same standardised features; clusters valued like segments."""
    from sklearn.cluster import KMeans

    km = KMeans(k, n_init=3, random_state=random_state).fit(Z)
    lab = km.labels_
    v = np.array([values_from[lab == c].mean() if (lab == c).any() else 0.0 for c in range(k)])
    return v[lab], lab
