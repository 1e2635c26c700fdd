"""What an analyst's verdicts add to the unsupervised score: a learned blend of evidence, cross-fitted.

Confirmed anomalies (verdict 1) and confirmed normals (verdict 0) are few;
most records are unknown.  The blend is chosen among *candidate* scores, each
a way to rank records:

* the unsupervised score and each of its views (what the detector sees
  without verdicts);
* ``near a confirmed anomaly``: minus the distance to the nearest confirmed
  anomaly, with every feature mapped to its reference percentile (so no
  feature's units dominate);
* ``near a confirmed anomaly, locally``: the same distance relative to the
  distance to the 10th nearest reference record (close to an anomaly *for
  this part of the data*);
* ``verdict classifier``: a regularised logistic regression of the confirmed
  anomalies against the confirmed normals and a sample of unknown records (as
  normals; anomalies are rare), on the percentile features and the views.

Each candidate is scored by how it ranks the confirmed anomalies among the
confirmed normals and the unknown sample (a positive-unlabelled ROC-AUC), with
cross-fitted values throughout: a confirmed anomaly's distance is to the
nearest *other* confirmed anomaly, and the classifier scores a labelled record
only with models fitted without it.  A record's own verdict therefore never
scores it.  The estimate is lowered for its uncertainty (``0.25`` standard
errors and ``0.3 / n_anomalies``) except for the unsupervised score, which
stays the default when the verdicts cannot show better; candidates weigh
``(AUC - 0.5) ** 4``; the blend is the weighted mean of the candidates'
reference percentiles (0 to 1).  The score is the larger of the blend and the
unsupervised score's reference percentile to the power 16: a record that the
unsupervised detector alone finds extreme keeps a high rank even when it is
unlike every confirmed anomaly (the labelled anomalies are of one kind, a new
one of another), while the merely unusual do not override the verdicts.
``flagged_by`` says which candidate gave a record its score.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: reference records kept as the unknown sample (percentiles, local scale, classifier negatives)
SAMPLE = 2000
#: neighbours for the local scale
NEIGHBOURS = 10
#: levels of the per-feature percentile map
LEVELS = 257
#: the uncertainty discount: standard errors, and a share per confirmed anomaly
SE_DISCOUNT = 0.25
COUNT_DISCOUNT = 0.3
POWER = 4
#: the unsupervised percentile's power that can overrule the blend (0.99 -> 0.85, 0.998 -> 0.97)
TAIL = 16
FOLDS = 5
NEAR = "near a confirmed anomaly"
LOCAL = "near a confirmed anomaly, locally"
CLASSIFIER = "verdict classifier"


def percentile_grid(P):
    """Per-feature quantiles of the reference at ``LEVELS`` levels, shape (LEVELS, d)."""
    return np.nanquantile(P, np.linspace(0, 1, LEVELS), axis=0)


def to_percentiles(P, grid):
    """Each feature mapped to its reference percentile (0 to 1); a missing value sits at the median."""
    levels = np.linspace(0, 1, LEVELS)
    out = np.empty(P.shape)
    for j in range(P.shape[1]):
        xp = grid[:, j]
        lo = np.interp(P[:, j], xp, levels)  # first level a tie reaches, and the last: their middle
        hi = -np.interp(-P[:, j], -xp[::-1], -levels[::-1])
        out[:, j] = 0.5 * (lo + hi)
    return np.where(np.isnan(P), 0.5, out)


def nearest(Q, anchors, exclude=None):
    """Distance of each row of ``Q`` to its nearest row of ``anchors``; ``exclude[i]`` (an anchor index or -1)
    is left out for row ``i`` (a confirmed anomaly's distance to the *other* ones).  Also the anchor's index."""
    if len(anchors) == 0:
        return np.full(len(Q), np.inf), np.full(len(Q), -1)
    D = (Q**2).sum(1)[:, None] + (anchors**2).sum(1)[None] - 2 * Q @ anchors.T
    if exclude is not None:
        rows = np.flatnonzero(exclude >= 0)
        D[rows, exclude[rows]] = np.inf
    k = D.argmin(axis=1)
    d = np.sqrt(np.maximum(D[np.arange(len(Q)), k], 0))
    return d, np.where(np.isfinite(d), k, -1)


def local_scale(Q, R, k=NEIGHBOURS):
    """Distance of each row of ``Q`` to its ``k``-th nearest row of ``R`` (in blocks)."""
    k = min(k, len(R) - 1)
    out = np.empty(len(Q))
    rr = (R**2).sum(1)
    for i in range(0, len(Q), 4096):
        q = Q[i : i + 4096]
        D = np.maximum((q**2).sum(1)[:, None] + rr[None] - 2 * q @ R.T, 0)
        out[i : i + 4096] = np.sqrt(np.partition(D, k, axis=1)[:, k])
    return out


def pu_auc(values, anomalies, negatives):
    """How the anomalies rank among the negatives: the mean share of negatives below each (ties half)."""
    neg = np.sort(values[negatives])
    a = values[anomalies]
    if len(neg) == 0 or len(a) == 0:
        return 0.5
    below = np.searchsorted(neg, a, "left") + 0.5 * (np.searchsorted(neg, a, "right") - np.searchsorted(neg, a, "left"))
    return float(np.where(np.isfinite(a), below / len(neg), 0.5).mean())


def ecdf(sorted_ref, values):
    """Reference percentile of ``values`` (ties half), 0 to 1.  Beyond the reference's ends it goes on towards
    1 (and 0) without reaching them, by ``1 - 1 / (2n) * w / (w + x - max)`` with ``w`` the span of the top 1% of
    the reference (the bottom's alike): records beyond every reference record keep their order (an analyst's
    verdicts are on the records ranked highest, which the reference of unknown records holds none of), where
    they would all tie at 1."""
    n, values = len(sorted_ref), np.asarray(values, float)
    lo = np.searchsorted(sorted_ref, values, "left")
    hi = np.searchsorted(sorted_ref, values, "right")
    p = (lo + hi) / (2.0 * n)
    k = max(1, n // 100)
    for side, end, inner in (
        (1, sorted_ref[-1], sorted_ref[max(0, n - 1 - k)]),
        (-1, sorted_ref[0], sorted_ref[min(n - 1, k)]),
    ):
        w = side * (end - inner)
        if not (np.isfinite(w) and w > 0):
            w = sorted_ref[-1] - sorted_ref[0]
        w = w if np.isfinite(w) and w > 0 else 1.0
        beyond = side * (values - end) > 0
        tail = 0.5 / n * w / (w + side * (values[beyond] - end))
        p[beyond] = 1 - tail if side == 1 else tail
    return p


class VerdictScores(NamedTuple):
    score: np.ndarray
    unsupervised: np.ndarray
    flagged_by: np.ndarray
    nearest: np.ndarray


class VerdictModel:
    """The blend of candidate scores learned from verdicts (see the module's description).

    Fitted on the *evidence*: the unknown sample ``U`` and the labelled records ``L``, each given as
    percentile features ``Q`` (n, d), standardised views ``S`` (n, V) and the unsupervised score ``s`` (n,).

    Attributes
    ----------
    names_ : list of str
        The candidates: ``"unsupervised"``, the views' names, then the verdict candidates.
    auc_ : ndarray of shape (n_candidates,)
        Cross-fitted ROC-AUC of each candidate on the confirmed anomalies against the confirmed normals
        and the unknown sample.
    weights_ : ndarray of shape (n_candidates,)
    ref_sorted_ : list of ndarray
        Each candidate's cross-fitted values on the unknown sample, sorted (its percentile scale).
    anomalies_ : ndarray of shape (n_anomalies, d)
        The confirmed anomalies' percentile features.
    sample_ : ndarray of shape (n_sample, d)
        The unknown sample's percentile features (the local scale).
    coef_, intercept_ : the classifier (mean of the cross-fitted folds), or None with fewer than 2 anomalies.
    labelled_scores_ : ndarray of shape (n_labelled,)
        The blended score of each labelled record, cross-fitted.
    """

    def __init__(self, view_names, *, random_state=0):
        self.view_names = list(view_names)
        self.random_state = random_state

    def fit(self, QU, SU, sU, QL, SL, sL, yL):
        rng = np.random.default_rng(self.random_state)
        yL = np.asarray(yL, float)
        A, N = np.flatnonzero(yL == 1), np.flatnonzero(yL == 0)
        nU = len(QU)
        self.anomalies_ = QL[A]
        self.sample_ = QU
        Q, S, s = np.r_[QU, QL], np.r_[SU, SL], np.r_[sU, sL]
        anom, neg = nU + A, np.r_[np.arange(nU), nU + N]
        # cross-fitted candidate values on the evidence
        exclude = np.full(len(Q), -1)
        exclude[anom] = np.arange(len(A))
        dist, _ = nearest(Q, self.anomalies_, exclude)
        scale = local_scale(Q, QU)
        cands = [s] + [S[:, v] for v in range(S.shape[1])]
        names = ["unsupervised"] + self.view_names
        cands += [-dist, np.log(scale + 1e-9) - np.log(dist + 1e-9)]
        names += [NEAR, LOCAL]
        self.coef_ = self.intercept_ = None
        if len(A) >= 2:
            F = self._classifier_features(Q, S)
            k = min(FOLDS, len(A))  # every fold holds a confirmed anomaly
            folds = np.empty(len(Q), int)
            for group in (anom, np.arange(nU), nU + N):
                folds[group] = rng.permutation(len(group)) % k
            target = np.zeros(len(Q))
            target[anom] = 1
            value = np.empty(len(Q))
            coefs = []
            for f in range(k):
                tr = folds != f
                c = _logistic(F[tr], target[tr])
                coefs.append(c)
                value[~tr] = F[~tr] @ c[:-1] + c[-1]
            mean = np.mean(coefs, axis=0)
            self.coef_, self.intercept_ = mean[:-1], float(mean[-1])
            cands.append(value)
            names.append(CLASSIFIER)
        self.names_ = names
        self.auc_ = np.array([pu_auc(c, anom, neg) for c in cands])
        n_a = max(1, len(A))
        se = np.sqrt(self.auc_ * (1 - self.auc_) / n_a)
        lcb = self.auc_ - SE_DISCOUNT * se - COUNT_DISCOUNT / n_a
        lcb[0] = self.auc_[0]
        w = np.maximum(0.0, lcb - 0.5) ** POWER
        if w.sum() == 0:
            w[0] = 1.0
        self.weights_ = w / w.sum()
        self.ref_sorted_ = [np.sort(c[:nU]) for c in cands]
        self.n_anomalies_, self.n_normals_ = len(A), len(N)
        blend, _ = self._blend(np.column_stack(cands))
        self.labelled_scores_ = blend[nU:]
        self.sample_scores_ = blend[:nU]
        return self

    def _classifier_features(self, Q, S):
        return np.c_[Q, np.clip(S, -5, 50)]

    def candidates(self, Q, S, s):
        """Every candidate's value for new records (not cross-fitted: these records carry no verdict here),
        and the index of each record's nearest confirmed anomaly (-1 if none)."""
        dist, idx = nearest(Q, self.anomalies_)
        cols = [s] + [S[:, v] for v in range(S.shape[1])]
        cols += [-dist, np.log(local_scale(Q, self.sample_) + 1e-9) - np.log(dist + 1e-9)]
        if self.coef_ is not None:
            cols.append(self._classifier_features(Q, S) @ self.coef_ + self.intercept_)
        return np.column_stack(cols), idx

    def _blend(self, C):
        """The blended score and, for each record, the weighted candidate that finds it most unusual (its
        highest reference percentile; the heavier candidate on a tie)."""
        P = np.column_stack([ecdf(r, C[:, j]) for j, r in enumerate(self.ref_sorted_)])
        used = self.weights_ > 0
        top = np.where(used, P + 1e-9 * self.weights_, -1.0).argmax(axis=1)
        blend = P @ self.weights_
        tail = P[:, 0] ** TAIL  # what the unsupervised score alone finds extreme keeps its rank
        views = 1 + P[:, 1 : 1 + len(self.view_names)].argmax(axis=1) if self.view_names else np.zeros(len(P), int)
        return np.maximum(blend, tail), np.where(tail > blend, views, top)

    def score(self, Q, S, s):
        """Blended scores (0 to 1), the unsupervised score ``s``, the index of the candidate that gave each
        record its score, and the index of its nearest confirmed anomaly (-1: none)."""
        C, idx = self.candidates(Q, S, s)
        blend, top = self._blend(C)
        return VerdictScores(blend, s, top, idx)

    # ------------------------------------------------------------ persistence
    def to_arrays(self):
        a = {
            "auc": self.auc_,
            "weights": self.weights_,
            "anomalies": self.anomalies_,
            "sample": self.sample_,
            "labelled_scores": self.labelled_scores_,
            "sample_scores": self.sample_scores_,
            "ref_sorted": np.array(self.ref_sorted_),
        }
        if self.coef_ is not None:
            a["coef"] = np.r_[self.coef_, self.intercept_]
        return {f"verdicts_{k}": v for k, v in a.items()}

    def to_meta(self):
        return {
            "names": self.names_,
            "view_names": self.view_names,
            "n_anomalies": self.n_anomalies_,
            "n_normals": self.n_normals_,
            "random_state": self.random_state,
        }

    @classmethod
    def from_arrays(cls, arrays, meta, bad):
        """Rebuild from :meth:`to_arrays` / :meth:`to_meta`; ``bad(what)`` makes the error for an inconsistent file."""
        try:
            m = cls(meta["view_names"], random_state=meta["random_state"])
            m.names_, m.n_anomalies_, m.n_normals_ = (
                list(meta["names"]),
                int(meta["n_anomalies"]),
                int(meta["n_normals"]),
            )
            get = {
                k: np.asarray(arrays[f"verdicts_{k}"], float)
                for k in ("auc", "weights", "anomalies", "sample", "labelled_scores", "sample_scores", "ref_sorted")
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"verdict blend entry {exc} missing or malformed") from None
        c = len(m.names_)
        coef = arrays.get("verdicts_coef")
        d = get["sample"].shape[1] if get["sample"].ndim == 2 else -1
        if (
            get["auc"].shape != (c,)
            or get["weights"].shape != (c,)
            or get["ref_sorted"].ndim != 2
            or get["ref_sorted"].shape[0] != c
            or get["anomalies"].ndim != 2
            or get["anomalies"].shape[1] != d
            or (coef is not None) != (CLASSIFIER in m.names_)
        ):
            raise bad("verdict blend arrays do not fit together")
        m.auc_, m.weights_ = get["auc"], get["weights"]
        m.anomalies_, m.sample_ = get["anomalies"], get["sample"]
        m.labelled_scores_, m.sample_scores_ = get["labelled_scores"], get["sample_scores"]
        m.ref_sorted_ = list(get["ref_sorted"])
        m.coef_, m.intercept_ = (None, None) if coef is None else (np.asarray(coef, float)[:-1], float(coef[-1]))
        return m


def _logistic(F, y, *, C=0.1):
    """A class-balanced, L2-regularised logistic regression: coefficients then intercept."""
    from sklearn.linear_model import LogisticRegression  # start-up time: scikit-learn loads only where it does the work

    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=200).fit(F, y)
    return np.r_[clf.coef_[0], clf.intercept_[0]]


def precision_at(scores, labels, n):
    """Share of confirmed anomalies among the ``n`` labelled records scored highest (ties by order)."""
    if n < 1 or len(scores) == 0:
        return None
    top = np.argsort(-np.asarray(scores), kind="stable")[:n]
    return float(np.mean(np.asarray(labels)[top] == 1))


def labelled_ids(ids, labelled):
    """The labelled records' ids as text (their row numbers without ids)."""
    return (np.asarray(ids)[labelled] if ids is not None else np.flatnonzero(labelled)).astype(str)


class VerdictsMixin:
    """The verdict path of :class:`~gmm_apps.pipelines.anomaly.model.GMMDetector`: learning the blend and scoring with it."""

    def fit_verdicts(self, X, verdicts, *, ids=None, _raw=None):
        """Learn (again) the verdict blend of a fitted detector from its reference records ``X``.

        :meth:`fit` calls it; called on its own it replaces the blend without
        refitting the mixtures (e.g. to try other verdicts in a notebook).
        Without a confirmed anomaly the detector is the unsupervised one.  The
        score scale and a rate threshold follow the new reference scores.
        The unknown sample and the labelled records are kept (raw) so that
        :meth:`update` can learn the blend again with updated members.

        Parameters
        ----------
        X : ndarray of shape (n, d)
            The records the detector was fitted on.
        verdicts : ndarray of shape (n,) or None
            1 = confirmed anomaly, 0 = confirmed normal, NaN = unknown.
        ids : ndarray of shape (n,), optional

        Returns
        -------
        self
        """
        X = np.asarray(X, dtype=np.float64)
        if getattr(self, "verdicts_", None) is not None:
            self.decision_scores_ = self.unsupervised_scores_
        self.verdicts_ = None
        verdicts = None if verdicts is None else np.asarray(verdicts, dtype=float)
        if verdicts is not None and np.any(verdicts == 1):
            self._fit_verdicts(X, verdicts, ids, _raw)
        self.score_mean_ = float(self.decision_scores_.mean())
        self.score_std_ = float(self.decision_scores_.std()) or 1.0
        self.set_threshold(rate=self.contamination)
        return self

    def _fit_verdicts(self, X, verdicts, ids, raw=None):
        labelled = ~np.isnan(verdicts)
        pick = self._keep_verdicts(X, verdicts, ids)
        self.unsupervised_scores_ = self.decision_scores_
        self._learn_blend()
        blend = self.verdicts_.score(*self._evidence(X, raw)).score
        blend[pick] = self.verdicts_.sample_scores_  # cross-fitted: these records helped choose the blend
        blend[labelled] = self.verdicts_.labelled_scores_
        self.decision_scores_ = blend

    def _keep_verdicts(self, X, verdicts, ids):
        """Keep the first verdicts: the labelled records, their ids, a sample of the unknown ones and the
        per-feature percentile map of ``X``.  Returns the sample's row indices."""
        labelled = ~np.isnan(verdicts)
        unknown = np.flatnonzero(~labelled)
        rng = np.random.default_rng(self.random_state)
        pick = np.sort(rng.choice(unknown, min(SAMPLE, len(unknown)), replace=False))
        self.verdict_sample_ = X[pick]
        self.verdict_X_, self.verdict_y_ = X[labelled], verdicts[labelled]
        self.verdict_ids_ = labelled_ids(ids, labelled)
        P, _ = self._project(self.scaler_.transform(X))
        self.percentile_grid_ = percentile_grid(P)
        return pick

    def _evidence(self, X, raw=None):
        """What the verdict blend reads of records ``X``: per-feature percentiles, standardised views and the
        unsupervised score (``raw``: the members' scores when already computed)."""
        Z = self.scaler_.transform(X)
        P, _ = self._project(Z)
        raw = self._raw(Z) if raw is None else raw
        return to_percentiles(P, self.percentile_grid_), (raw - self.med_) / self.iqr_, self._combine(raw)

    def _learn_blend(self):
        self.verdicts_ = VerdictModel(self.view_names(), random_state=self.random_state).fit(
            *self._evidence(self.verdict_sample_), *self._evidence(self.verdict_X_), self.verdict_y_
        )

    def verdict_scores(self, X):
        """Everything the verdicts say of records ``X``, from one pass through the members (requires verdicts).

        Returns
        -------
        scores : VerdictScores
            ``score`` (the blend, as :meth:`decision_function`), ``unsupervised`` (the score without
            verdicts), ``flagged_by`` (the evidence that gave each record its score: ``"unsupervised"``, a
            view's name, ``"near a confirmed anomaly"``, ...) and ``nearest`` (the id of the nearest
            confirmed anomaly).
        """
        parts = self.verdicts_.score(*self._evidence(np.asarray(X, dtype=np.float64)))
        anomaly_ids = self.verdict_ids_[self.verdict_y_ == 1]
        return parts._replace(
            flagged_by=np.array(self.verdicts_.names_, dtype=object)[parts.flagged_by],
            nearest=np.where(parts.nearest >= 0, anomaly_ids[np.maximum(parts.nearest, 0)], ""),
        )
