"""An anomaly detector from an ensemble of core GMMs, in the style of PyOD's ``BaseDetector``."""

from __future__ import annotations

import contextlib
import logging
import warnings

import numpy as np

from ...core import (
    ConvergenceWarning,
    FeatureScaler,
    GaussianMixture,
    as_slice,
    column_log_densities,
    diagonal_log_densities,
    fit_diagonal_columns,
    fit_diagonal_starts,
    threshold_at_rate,
)
from ...errors import DataError, DegenerateComponentWarning
from .config import AnomalyConfig
from .explain import ExplanationsMixin
from .model_file import DetectorFileMixin
from .thresholds import ThresholdsMixin, score_spread
from .verdicts import VerdictsMixin, labelled_ids

logger = logging.getLogger("gmm_apps.anomaly")


@contextlib.contextmanager
def _quiet_views():
    """Fitting the ensemble's views: EM stopped at its iteration cap is no news (ConvergenceWarning ignored), and
    views of many components meet repeated values (a status code, a count, few distinct records): a component
    that collapses there is re-seeded, and the view is one of many, so nothing a user would change; said once
    each in the run's log (debug), not on the screen with a source path.  Other warnings pass."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DegenerateComponentWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
    for w in caught:
        if not issubclass(w.category, DegenerateComponentWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for said in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, DegenerateComponentWarning)):
        logger.debug("a view of the ensemble: %s", said)


#: the default config: the one source of the detector's defaults
_DEFAULT = AnomalyConfig()
_DEFAULT_COMPONENTS = tuple(_DEFAULT.model.member_components())
_DEFAULT_COVARIANCE_TYPES = tuple(_DEFAULT.model.covariance_types())


class GMMDetector(VerdictsMixin, ExplanationsMixin, ThresholdsMixin, DetectorFileMixin):
    """Anomaly scores from an ensemble of Gaussian mixtures.

    The ensemble has several *views* of the reference, each a density:

    * one per K of ``n_components`` (and per covariance type): a mixture of
      the features jointly, ``seeds`` fits from different random starts for
      K > 1 (their negative log-densities averaged, so a view does not hinge
      on one local optimum of EM);
    * the per-feature view (``marginal_components`` > 0, more than one
      feature): one 1-D mixture per feature, their negative log-densities
      summed (the product of the marginals; sees a value that is rare for its
      own feature, as ECOD / HBOS do, which a joint mixture with many
      components can absorb);
    * the distance from the principal subspace when there are many features
      (see ``max_joint_features``).

    Each view's negative log-density is standardised by its median and IQR on
    the reference; ``decision_function`` returns the largest of them
    (``combine="max"``: a record is as unusual as the view that finds it most
    unusual) or their mean (``combine="mean"``).  Higher is more anomalous.

    Parameters
    ----------
    n_components : list of int
    covariance_types : list of str
    reg_covar : float
    seeds : int
        Random starts kept (not only the best) for every K > 1.
    bags : int
        Extra full-covariance members on random feature subsets.
    bag_components : list of int
    bag_reg_covar : float
    trim : float
        Refit once without this share of the highest-scoring training rows.
    combine : {'max', 'mean'}
        How the standardised views make the score.
    marginal_components : int
        K (at most) of the per-feature mixtures; 0: no per-feature view.
    contamination : float
        Expected share of anomalies, for ``threshold_`` (PyOD's convention).
    random_state : int
    max_iter : int
        EM iterations at most, per member.
    missing : {'error', 'marginalize'}
        'marginalize': records may have missing features (NaN); every member
        scores a record by its observed features (see
        :class:`gmm_apps.core.GaussianMixture`).
    max_joint_features : int
        With more features than this, the joint mixtures would have to
        estimate a density in too many dimensions from the data at hand: they
        are fitted on the leading ``projection_components`` principal
        components of the scaled records instead, and the distance of a record
        from that principal subspace (its squared residual) is one more view
        of the ensemble, weighted as one group.  Mixture in the subspace and
        isotropic residual together are a low-rank-plus-noise Gaussian model,
        as probabilistic PCA.
    max_fit_rows : int or None
        With more reference records than this, each view (a K's random
        starts together, the per-feature members together) is fitted on its
        own random sample of this many, as IsolationForest fits each tree on
        a sample (every record is still scored and used for the
        standardisation); None fits every member on all records.
    projection_components : int
        At most this many principal components: those that together explain
        90% of the variance, or this many if that takes more.

    Attributes
    ----------
    members_ : list of (columns, GaussianMixture)
        The joint members, then the per-feature ones.
    view_matrix_ : ndarray of shape (n_members [+ 1 for the residual], n_views)
        Each view's raw score as a weighted sum of the members' negative
        log-densities (1 / group size for a seed group, 1 for each feature of
        the per-feature view) and the residual.
    weights_ : ndarray of shape (n_views,)
        Each view's weight when ``combine="mean"``.
    member_fill_ : ndarray of shape (n_members,)
        For a per-feature member, its mean negative log-density on the
        reference, used for a missing value (the joint members use the
        conditional entropy instead); NaN for the joint members.
    threshold_ : float
        The score above which a reference record is flagged (``labels_``).
    score_spread_ : float
        The scale turning a score's distance from the threshold into a probability (see
        :func:`~.thresholds.score_spread`).
    threshold_new_ : float
        The score above which a record the detector was not fitted on is
        flagged (:meth:`predict`): a detector scores such records as more
        unusual than those it learned from, the more so the fewer they were,
        so :meth:`set_threshold` can set it on held-out scores of the
        reference; else ``threshold_``.
    decision_scores_ : ndarray of shape (n_train,)
    labels_ : ndarray of shape (n_train,)
    n_updates_ : int
        Batches :meth:`update` has learned from since the fit.
    verdicts_ : VerdictModel or None
        With verdicts (confirmed anomalies among the reference records), the
        blend of the unsupervised score, its views and the verdicts' evidence
        that scores records (see :mod:`gmm_apps.pipelines.anomaly.verdicts`);
        ``decision_function`` then returns the blend (0 to 1) and
        ``unsupervised_scores_`` keeps the reference's unsupervised scores.
    """

    #: variance floor of the per-feature mixtures, in robust-scaled units (finer than the joint members':
    #: one feature at a time has the records to resolve it)
    MARGINAL_REG_COVAR = 0.05
    #: the fewest reference records a detector learns from
    MIN_RECORDS = 10
    #: records scored at a time (each member's score of a block is held at once)
    SCORE_ROWS = 65_536

    def __init__(
        self,
        *,
        n_components=_DEFAULT_COMPONENTS,
        covariance_types=_DEFAULT_COVARIANCE_TYPES,
        reg_covar=_DEFAULT.model.reg_covar,
        seeds=_DEFAULT.model.seeds,
        bags=_DEFAULT.model.bags,
        bag_components=tuple(_DEFAULT.model.bag_components),
        bag_reg_covar=_DEFAULT.model.bag_reg_covar,
        trim=_DEFAULT.model.trim,
        contamination=_DEFAULT.threshold.rate,
        random_state=_DEFAULT.model.random_state,
        max_iter=_DEFAULT.model.max_iter,
        missing=_DEFAULT.data.missing,
        max_joint_features=_DEFAULT.model.max_joint_features,
        projection_components=_DEFAULT.model.projection_components,
        max_fit_rows=_DEFAULT.model.max_fit_rows,
        combine=_DEFAULT.model.combine,
        marginal_components=_DEFAULT.model.marginal_components,
    ):
        if combine not in ("max", "mean"):
            raise ValueError(f"combine must be 'max' or 'mean', got {combine!r}")
        self.combine = combine
        self.marginal_components = marginal_components
        self.max_fit_rows = max_fit_rows
        self.missing = missing
        self.max_joint_features = max_joint_features
        self.projection_components = projection_components
        self.n_components = list(n_components)
        self.covariance_types = list(covariance_types)
        self.reg_covar = reg_covar
        self.seeds = seeds
        self.bags = bags
        self.bag_components = list(bag_components)
        self.bag_reg_covar = bag_reg_covar
        self.trim = trim
        self.contamination = contamination
        self.random_state = random_state
        self.max_iter = max_iter

    @classmethod
    def from_config(cls, cfg):
        """The detector an :class:`~gmm_apps.pipelines.anomaly.config.AnomalyConfig` describes.

        The signature's defaults are read from the default config, so the two cannot drift.
        """
        m = cfg.model
        return cls(
            n_components=m.member_components(),
            covariance_types=m.covariance_types(),
            reg_covar=m.reg_covar,
            seeds=m.seeds,
            bags=m.bags,
            bag_components=m.bag_components,
            bag_reg_covar=m.bag_reg_covar,
            trim=m.trim,
            contamination=cfg.threshold.rate,
            random_state=m.random_state,
            max_iter=m.max_iter,
            missing=cfg.data.missing,
            max_joint_features=m.max_joint_features,
            projection_components=m.projection_components,
            max_fit_rows=m.max_fit_rows,
            combine=m.combine,
            marginal_components=m.marginal_components,
        )

    # ------------------------------------------------------------------ fit
    def _specs(self, d, n, rng):
        """Member specifications ``(group, columns, covariance type, K, reg_covar)``."""
        groups = [(np.arange(d), ct, k, self.reg_covar) for ct in self.covariance_types for k in self.n_components]
        for _ in range(self.bags if d > 2 else 0):
            m = int(rng.integers(max(2, d // 2), d + 1))
            cols = np.sort(rng.choice(d, m, replace=False))
            groups += [(cols, "full", k, self.bag_reg_covar) for k in self.bag_components]
        specs, seen = [], set()
        for cols, ct, k, reg in groups:
            k = max(1, min(k, n // 10))  # at least 10 records per component
            key = (tuple(cols), ct, k, reg)
            if key in seen:  # two K capped to the same value are one view, not a doubly weighted one
                continue
            seen.add(key)
            specs += [(len(seen) - 1, cols, ct, k, reg)] * (self.seeds if k > 1 else 1)
        return specs

    def _marginal_specs(self, d, n):
        """The per-feature view's members ``(column, K)``: none for a single feature (the joint view is that).

        ``K`` is further capped by the feature's distinct values when fitted."""
        if self.marginal_components < 1 or d < 2:
            return []
        return [(j, max(1, min(self.marginal_components, n // 10))) for j in range(d)]

    def _fit_members(self, Z, specs, marginal, progress=None):
        """Fit the joint members group by group, then the per-feature members.

        Returns ``[(columns, mixture), ...]`` and each member's fill (for a
        per-feature member its mean negative log-density on the records it was
        fitted on, NaN for the others; see ``member_fill_``).

        A group of diagonal members (one K's random starts) on complete records
        is fitted at once (:func:`gmm_apps.core.fit_diagonal_starts`), as are
        the per-feature members (:func:`gmm_apps.core.fit_diagonal_columns`);
        other groups member by member.  Each group, and the per-feature view,
        is fitted on its own random sample of ``max_fit_rows`` records.
        """
        members = [None] * len(specs)
        total = len(specs) + len(marginal)
        fill = np.full(total, np.nan)
        groups = {}
        for i, spec in enumerate(specs):
            groups.setdefault(spec[0], []).append(i)
        with _quiet_views():
            for idx in groups.values():
                _, cols, ct, k, reg = specs[idx[0]]
                rows = self._fit_rows(Z, idx[0])[:, cols]
                seeds = [self.random_state + i for i in idx]
                if ct == "diag" and not np.isnan(rows).any():
                    fitted = fit_diagonal_starts(
                        rows, k, seeds, reg_covar=reg, max_iter=self.max_iter, dtype=np.float32, missing=self.missing
                    )
                else:
                    fitted = [
                        GaussianMixture(
                            k,
                            covariance_type=ct,
                            reg_covar=reg,
                            random_state=seed,
                            max_iter=self.max_iter,
                            missing=self.missing,
                        ).fit(rows)
                        for seed in seeds
                    ]
                for i, g in zip(idx, fitted):
                    members[i] = (cols, g)
                if progress is not None:
                    progress(sum(m is not None for m in members), total)
            if marginal:
                rows = self._fit_rows(Z, len(specs))
                ks = []
                for j, k in marginal:
                    x = rows[:, j]
                    x = x[~np.isnan(x)]  # a per-feature mixture learns from the records that have the feature
                    if len(x) < 2:
                        raise DataError(f"feature {j + 1} has fewer than 2 observed reference values; drop it")
                    ks.append(max(1, min(k, len(x) // 10, len(np.unique(x)))))  # two values: two components
                R = rows[:, [j for j, _ in marginal]]
                fitted = fit_diagonal_columns(R, ks, reg_covar=self.MARGINAL_REG_COVAR, max_iter=self.max_iter)
                members += [(np.array([j]), g) for (j, _), g in zip(marginal, fitted)]
                fill[len(specs) :] = np.nanmean(-column_log_densities(fitted, R), axis=0)
                if progress is not None:
                    progress(total, total)
        return members, fill

    def _fit_rows(self, Z, i):
        """The records the view whose first member is ``i`` is fitted on: all, or a random sample of
        ``max_fit_rows`` seeded by ``i``."""
        if self.max_fit_rows and len(Z) > self.max_fit_rows:
            pick = np.random.default_rng(self.random_state + i).choice(len(Z), self.max_fit_rows, replace=False)
            return Z[np.sort(pick)]
        return Z

    def _view_matrix(self, specs, marginal):
        """``view_matrix_`` and ``weights_``: a seed group's members averaged, the per-feature members summed,
        the residual (if any) a view of its own; every view weighs the same in a mean."""
        groups = [s[0] for s in specs]
        n_joint = max(groups) + 1
        views = n_joint + bool(marginal) + (self.projection_ is not None)
        A = np.zeros((len(specs) + len(marginal) + (self.projection_ is not None), views))
        size = np.bincount(groups)
        A[np.arange(len(specs)), groups] = 1.0 / size[groups]
        if marginal:
            A[len(specs) : len(specs) + len(marginal), n_joint] = 1.0
        if self.projection_ is not None:
            A[-1, -1] = 1.0
        return A, np.full(views, 1.0 / views)

    def _project(self, Z):
        """The records as the joint members see them, and each record's squared residual (None without projection)."""
        if getattr(self, "projection_", None) is None:
            return Z, None
        C = np.nan_to_num(Z - self.projection_mean_, nan=0.0)  # a missing value sits at the median
        P = C @ self.projection_
        return P, ((C - P @ self.projection_.T) ** 2).sum(axis=1)

    def _raw(self, Z):
        """Every view's raw score (higher: more unusual), shape (n, n_views)."""
        P, resid = self._project(Z)
        out = np.empty((len(Z), self.view_matrix_.shape[1]))
        for start in range(0, len(Z), self.SCORE_ROWS):  # a block at a time: the members' scores stay small
            rows = slice(start, start + self.SCORE_ROWS)
            members = self._raw_members(P[rows])
            out[rows] = (members if resid is None else np.c_[members, resid[rows]]) @ self.view_matrix_
        return out

    def _raw_members(self, Z):
        """Each member's negative log-likelihood of each record, shape (n, n_members).

        With missing features the member's expected negative log-likelihood of
        the whole record given its observed part: ``-log p(x_o)`` plus the
        entropy of the missing part given the observed one.  Without that term
        a record missing half its features would look twice as normal.
        """
        gaps = self.missing == "marginalize" and np.isnan(Z).any()
        out = np.empty((len(Z), len(self.members_)))
        marginal = [i for i in range(len(self.members_)) if self._is_marginal(i)]
        if marginal:  # a per-feature member: a missing value scores as the member's mean
            cols = [int(self.members_[i][0][0]) for i in marginal]
            ld = column_log_densities([self.members_[i][1] for i in marginal], Z[:, cols], exp_dtype=np.float32)
            out[:, as_slice(marginal)] = np.where(np.isnan(ld), self.member_fill_[marginal], -ld)
        groups = {}  # diagonal members on the same columns score complete records in one pass
        for i, (cols, g) in enumerate(self.members_):
            if not self._is_marginal(i):
                groups.setdefault(tuple(cols) if g.covariance_type == "diag" else ("member", i), []).append(i)
        for idx in groups.values():
            cols, g = self.members_[idx[0]]
            Zc = Z[:, cols]
            if g.covariance_type == "diag" and not gaps and not np.isnan(Zc).any():
                out[:, as_slice(idx)] = -diagonal_log_densities(
                    [self.members_[j][1] for j in idx], Zc, exp_dtype=np.float32
                )
                continue
            for j in idx:
                gj = self.members_[j][1]
                out[:, j] = -gj.score_samples(Zc) + (gj.missing_entropy(Zc) if gaps else 0.0)
        return out

    def fit(self, X, *, verdicts=None, ids=None, progress=None):
        """Fit on reference records (assumed mostly normal).

        Parameters
        ----------
        X : ndarray of shape (n, d)
        verdicts : ndarray of shape (n,), optional
            1 = confirmed anomaly, 0 = confirmed normal, NaN = unknown.  With
            at least one confirmed anomaly the score becomes the verdict blend
            (cross-fitted on the labelled records); otherwise the fit is the
            unsupervised one, unchanged.
        ids : ndarray of shape (n,), optional
            The records' ids, to name the nearest confirmed anomaly.
        progress : callable, optional
            Called as ``progress(i, n)`` when ``i`` of the ``n`` members are
            fitted (after each group of random starts and after the
            per-feature members; again from the start for the refit when
            ``trim`` > 0).

        Returns
        -------
        self
        """
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] < self.MIN_RECORDS:
            raise DataError(
                f"only {X.shape[0]} reference records; need at least {self.MIN_RECORDS} to learn what normal looks like"
            )
        self.scaler_ = FeatureScaler.median_iqr(X)
        Z = self.scaler_.transform(X)
        B = _bounded(Z)
        self._fit_projection(B)
        P, _ = self._project(B)
        self._fit_views(P, progress)
        raw = self._raw(Z)  # every member scores the reference once
        self._standardise(raw)
        if self.trim > 0:
            s = self._combine(raw)
            keep = s <= np.quantile(s, 1 - self.trim)
            self._fit_views(P[keep], progress)
            raw = self._raw(Z)
            self._standardise(raw[keep])
        self.decision_scores_ = self._combine(raw)
        self.verdicts_ = None
        self.n_updates_ = 0
        return self.fit_verdicts(X, verdicts, ids=ids, _raw=raw)

    def _fit_views(self, P, progress):
        """Fit every member on the (projected) reference records ``P``; set the view matrix and the fills."""
        n, d = P.shape
        specs = self._specs(d, n, np.random.default_rng(self.random_state))
        marginal = self._marginal_specs(d, n)
        self.members_, self.member_fill_ = self._fit_members(P, specs, marginal, progress)
        self.view_matrix_, self.weights_ = self._view_matrix(specs, marginal)

    def _fit_projection(self, Z):
        """Leading principal components of the scaled records when there are too many features (else none)."""
        self.projection_ = self.projection_mean_ = None
        n, d = Z.shape
        if d <= self.max_joint_features:
            return
        self.projection_mean_ = np.nanmean(Z, axis=0)
        C = np.nan_to_num(Z - self.projection_mean_, nan=0.0)
        sv, vt = _leading_directions(C, self.projection_components, self.random_state)
        # the directions that carry 90% of the variance, at most projection_components of them: beyond the
        # structure the leading directions are noise, and a few unusual records could claim one of them
        explained = np.cumsum(sv**2) / max(float(np.sum(C**2)), 1e-300)
        r = min(self.projection_components, int(np.searchsorted(explained, 0.9)) + 1, d, n - 1)
        self.projection_ = vt[:r].T.copy()  # (d, r)
        resid = C - (C @ self.projection_) @ self.projection_.T
        self.residual_var_ = max(float(np.mean(resid**2)) * d / max(1, d - r), 1e-12)

    def _standardise(self, raw):
        self.med_, self.iqr_ = _median_iqr(raw)

    def update(self, X, *, verdicts=None, ids=None):
        """Learn from a batch of new reference records (assumed mostly normal) without refitting.

        Every member takes one step of online EM on the batch
        (:meth:`gmm_apps.core.GaussianMixture.partial_fit`, which continues
        from the statistics of the original fit), and the members'
        standardisation, the score scale and a rate threshold move towards the
        batch's by the same step, ``(t + 10) ** -0.7`` for the ``t``-th batch.
        The feature scaling stays that of the original reference.

        With verdicts (this batch's, or earlier ones kept in the model) the
        verdict blend is learned again with the updated members, from the
        kept unknown sample and every labelled record so far, and a rate
        threshold and the score scale are those of the blend on the sample.

        Parameters
        ----------
        X : ndarray of shape (n, d)
        verdicts : ndarray of shape (n,), optional
            As in :meth:`fit`.
        ids : ndarray of shape (n,), optional

        Returns
        -------
        self
        """
        X = np.asarray(X, dtype=np.float64)
        Z = self.scaler_.transform(X)
        P, _ = self._project(_bounded(Z))
        with _quiet_views():
            for i, (cols, g) in enumerate(self.members_):
                if self._is_marginal(i):  # a per-feature member learns from the observed values
                    x = P[:, cols[0]]
                    x = x[~np.isnan(x)]
                    if len(x):
                        g.partial_fit(x[:, None])
                else:
                    g.partial_fit(P[:, cols])
        g0 = self.members_[0][1]
        step = (self.n_updates_ + g0.learning_offset) ** -g0.learning_decay
        raw = self._raw(Z)  # the updated members' view of the batch, scored once
        med, iqr = _median_iqr(raw)
        self.med_ = (1 - step) * self.med_ + step * med
        self.iqr_ = (1 - step) * self.iqr_ + step * iqr
        s = self._combine(raw)
        self.score_mean_ = (1 - step) * self.score_mean_ + step * float(s.mean())
        self.score_std_ = (1 - step) * self.score_std_ + step * (float(s.std()) or 1.0)
        self.n_updates_ += 1
        verdicts = np.full(len(X), np.nan) if verdicts is None else np.asarray(verdicts, dtype=float)
        labelled = ~np.isnan(verdicts)
        if getattr(self, "verdicts_", None) is None and not np.any(verdicts == 1):
            if self.threshold_rate_ is not None:  # the threshold for new records keeps its distance
                gap = self.threshold_new_ - self.threshold_
                self.threshold_ = (1 - step) * self.threshold_ + step * threshold_at_rate(s, self.threshold_rate_)
                self.threshold_new_ = self.threshold_ + gap
            self.score_spread_ = (1 - step) * self.score_spread_ + step * score_spread(s, self.threshold_)
            return self
        if getattr(self, "verdicts_", None) is None:  # the first verdicts: the batch's unknown records are the sample
            self._keep_verdicts(X, verdicts, ids)
        else:
            self.verdict_X_ = np.r_[self.verdict_X_, X[labelled]]
            self.verdict_y_ = np.r_[self.verdict_y_, verdicts[labelled]]
            self.verdict_ids_ = np.r_[self.verdict_ids_, labelled_ids(ids, labelled)]
        self._learn_blend()
        ref = self.verdicts_.sample_scores_
        self.score_mean_, self.score_std_ = float(ref.mean()), float(ref.std()) or 1.0
        if self.threshold_rate_ is not None:
            self.threshold_ = threshold_at_rate(ref, self.threshold_rate_)
        self.threshold_new_ = self.threshold_  # the blend's sample scores are cross-fitted
        self.score_spread_ = score_spread(ref, self.threshold_)
        return self

    # ---------------------------------------------------------------- score
    def decision_function(self, X):
        """Anomaly score of each record (higher is more anomalous), shape (n,): the unsupervised score, or
        with verdicts the blend (0 to 1)."""
        X = np.asarray(X, dtype=np.float64)
        if getattr(self, "verdicts_", None) is not None:
            return self.verdicts_.score(*self._evidence(X)).score
        return self._combine(self._raw(self.scaler_.transform(X)))

    def _combine(self, raw):
        """The score from the views' raw scores: each standardised, then the largest or the weighted mean."""
        S = (raw - self.med_) / self.iqr_
        return S.max(axis=1) if self.combine == "max" else S @ self.weights_

    def _view_members(self, v):
        return np.flatnonzero(self.view_matrix_[: len(self.members_), v])

    def _is_marginal(self, i):
        return self.member_fill_ is not None and not np.isnan(self.member_fill_[i])


def _leading_directions(C, k, seed):
    """The ``k`` leading singular values and right singular vectors of ``C`` (rows), as ``np.linalg.svd``'s.

    A wide record (thousands of features) needs only the first few: a
    randomised range finder with power iterations (Halko, Martinsson and
    Tropp 2011) finds them in a fraction of a full SVD's time; small
    matrices take the full SVD.
    """
    n, d = C.shape
    m = min(n, d)
    if m <= 4 * (k + 10):
        _, sv, vt = np.linalg.svd(C, full_matrices=False)
        return sv[:k], vt[:k]
    Q = C @ np.random.default_rng(seed).standard_normal((d, k + 20))
    for _ in range(6):
        Q, _ = np.linalg.qr(Q)
        Q = C @ (C.T @ Q)
    Q, _ = np.linalg.qr(Q)
    _, sv, vt = np.linalg.svd(Q.T @ C, full_matrices=False)
    return sv[:k], vt[:k]


#: robust units (IQRs from the median) a value is learned from at most: far beyond any real feature (the 20
#: benchmark sets reach 2.7e4), near enough that an export's 1e25 cannot wreck a fit; records are scored unbounded
FIT_BOUND = 1e6


def _bounded(Z):
    """Scaled records as the mixtures learn from them: each value within :data:`FIT_BOUND` (NaN kept)."""
    return np.clip(Z, -FIT_BOUND, FIT_BOUND)


def _median_iqr(raw):
    """Per column median and IQR (1 where the IQR vanishes)."""
    med = np.median(raw, axis=0)
    q75, q25 = np.percentile(raw, [75, 25], axis=0)
    return med, np.where(q75 - q25 > 1e-12, q75 - q25, 1.0)
