"""Why a record is flagged: each feature's part of its score, and the view that scored it.

:class:`ExplanationsMixin` gives :class:`~gmm_apps.pipelines.anomaly.model.GMMDetector`
its ``contributions``, ``explain`` and ``view_names``; it reads the fitted
members and views and changes nothing.
"""

from __future__ import annotations

import numpy as np

#: a record's cluster holding fewer than this share of the reference records is named in its explanation
SMALL_CLUSTER = 0.01


class ExplanationsMixin:
    """Per-feature explanations of a fitted detector's scores."""

    def contributions(self, X):
        """Each feature's part of each record's negative log-likelihood, and its signed deviation.

        The view that explains a record is the one that gives it its score:
        with ``combine="max"`` the record's largest standardised view, with
        ``"mean"`` the finest joint view (the diagonal one with the most
        components).  In a joint view (its first member), under the record's
        most responsible component ``k`` the negative log-density is a sum over
        features, and the part that depends on the record is ``0.5 * z_j**2``
        with ``z_j = (x_j - mu_kj) / sd_kj``: feature ``j``'s contribution.  In
        the per-feature view, ``z_j`` is the same under the most responsible
        component of feature ``j``'s own mixture.  Missing features contribute
        nothing (their entries are NaN).  When the joint members work on
        principal components (many features), the record's negative
        log-likelihood is that of a low-rank-plus-noise Gaussian: the
        standardised deviations along the principal components, mapped back
        to the features with the loadings (``delta = V z_pc``, so ``sum_j
        delta_j**2 = sum_r z_pc_r**2``; none when the residual view explains
        the record), plus the residual off the subspace in units of the
        reference's residual spread; feature ``j`` contributes ``0.5 *
        (delta_j**2 + (res_j / s_res)**2)`` and ``z_j`` is the larger of the
        two in magnitude.

        Returns
        -------
        contributions : ndarray of shape (n, d)
        z : ndarray of shape (n, d)
        """
        Z = self.scaler_.transform(np.asarray(X, dtype=np.float64))
        return self._contributions(Z, *self._explaining_views(Z))

    def _contributions(self, Z, P, view):
        """:meth:`contributions` of the scaled records ``Z`` (``P``, ``view``: from :meth:`_explaining_views`)."""
        zp = np.full(P.shape, np.nan)  # deviations in the members' space (the features, or the principal components)
        for v in np.unique(view):
            rows = view == v
            zp[rows] = self._deviations(v, P[rows])
        if self.projection_ is not None:
            delta = np.nan_to_num(zp) @ self.projection_.T
            C = np.nan_to_num(Z - self.projection_mean_, nan=0.0)
            res = (C - P @ self.projection_.T) / np.sqrt(self.residual_var_)
            z = np.where(np.abs(res) > np.abs(delta), res, delta)
            z[np.isnan(Z)] = np.nan
            contrib = 0.5 * (delta**2 + res**2)
            contrib[np.isnan(Z)] = np.nan
            return contrib, z
        return 0.5 * zp**2, zp

    def _explaining_views(self, Z):
        """The records in the members' space, and the view that explains each (see :meth:`contributions`)."""
        P, _ = self._project(Z)
        kinds = self._view_kinds(P.shape[1])
        readable = [v for v, (kind, _) in enumerate(kinds) if kind != "joint"]
        finest = max(
            readable, key=lambda v: kinds[v][1].n_components if kinds[v][0] == "diagonal" else -1, default=0
        )  # the diagonal joint view with the most components
        view = np.full(len(Z), finest)
        if self.combine == "max":
            top = ((self._raw(Z) - self.med_) / self.iqr_).argmax(axis=1)
            view = np.where(np.isin(top, readable), top, view)
        return P, view

    def cluster_shares(self, X):
        """The share of the reference records in each record's most responsible component of the joint view that
        explains it (its first member's mixture weight); NaN where a per-feature or the residual view does, or a
        one-component view.  A record in a cluster of a few records is unusual for the cluster's rarity, which
        the deviations within it do not show."""
        return self._cluster_shares(*self._explaining_views(self.scaler_.transform(np.asarray(X, dtype=np.float64))))

    def _cluster_shares(self, P, view):
        """:meth:`cluster_shares` of records in the members' space (``P``, ``view``: :meth:`_explaining_views`)."""
        kinds = self._view_kinds(P.shape[1])
        share = np.full(len(P), np.nan)
        for v in np.unique(view):
            kind, g = kinds[v]
            if kind == "diagonal" and g.n_components > 1:
                rows = view == v
                cols = self.members_[self._view_members(v)[0]][0]
                share[rows] = g.weights_[g.predict(P[rows][:, cols])]
        return share

    def _view_kinds(self, d):
        """Each view as ``(kind, first member)``: ``"diagonal"`` (a joint view with diagonal covariance on all
        ``d`` columns, readable feature by feature), ``"joint"`` (any other joint view), ``"per-feature"``, or
        ``"residual"`` (no member)."""
        kinds = []
        for v in range(self.view_matrix_.shape[1]):
            idx = self._view_members(v)
            if not len(idx):
                kinds.append(("residual", None))
                continue
            cols, g = self.members_[idx[0]]
            kind = (
                "per-feature"
                if self._is_marginal(idx[0])
                else "diagonal"
                if g.covariance_type == "diag" and len(cols) == d
                else "joint"
            )
            kinds.append((kind, g))
        return kinds

    def view_names(self):
        """A short name for each view, in the order of ``view_matrix_``'s columns: ``"K=4"`` (with the
        covariance type and ``"on a feature subset"`` when not diagonal on all features), ``"per-feature"``,
        ``"residual"``."""
        d = self.projection_.shape[1] if self.projection_ is not None else len(self.scaler_.center)
        names = []
        for v, (kind, g) in enumerate(self._view_kinds(d)):
            if kind in ("per-feature", "residual"):
                names.append(kind)
            else:
                cols = self.members_[self._view_members(v)[0]][0]
                names.append(
                    f"K={g.n_components}"
                    + ("" if g.covariance_type == "diag" else f" {g.covariance_type}")
                    + ("" if len(cols) == d else " on a feature subset")
                )
        return names

    def _deviations(self, v, P):
        """Standardised deviations ``z`` of the records ``P`` (members' space) under view ``v``'s responsible
        components; NaN where a feature is missing, zeros for the residual view."""
        idx = self._view_members(v)
        if not len(idx):
            return np.zeros(P.shape)
        z = np.full(P.shape, np.nan)
        if self._is_marginal(idx[0]):
            for i in idx:
                cols, g = self.members_[i]
                x = P[:, cols[0]]
                seen = ~np.isnan(x)
                if seen.any():
                    k = g.predict(x[seen, None])
                    z[seen, cols[0]] = (x[seen] - g.means_[k, 0]) / np.sqrt(g.covariance_matrices()[k, 0, 0])
            return z
        cols, g = self.members_[idx[0]]
        k = g.predict(P[:, cols])
        var = np.diagonal(g.covariance_matrices(), axis1=1, axis2=2)[k]
        z[:, cols] = (P[:, cols] - g.means_[k]) / np.sqrt(var)
        return z

    def explain(self, X, *, top=3, names=None):
        """The features that contribute most to each record's negative log-likelihood (see :meth:`contributions`).

        Returns
        -------
        features : list of list of str
            For each record, up to ``top`` entries like ``"chol high (z=+4.1, 62%)"``
            (the percentage is the feature's share of the record's summed
            contributions; after the first, a feature whose share rounds to 0%
            is not named: it explains nothing), then ``"in a small cluster: 0.4%
            of the reference records"`` when the record's cluster holds fewer
            than :data:`SMALL_CLUSTER` of them (:meth:`cluster_shares`), then
            ``"missing: a, b"`` when features are missing.
        """
        Z = self.scaler_.transform(np.asarray(X, dtype=np.float64))
        P, view = self._explaining_views(Z)  # once, for both
        contrib, z = self._contributions(Z, P, view)
        shares = self._cluster_shares(P, view)
        small = shares < SMALL_CLUSTER  # NaN: no cluster to speak of
        n, d = contrib.shape
        names = names or [f"x{i}" for i in range(d)]
        absent = np.isnan(np.asarray(X, dtype=np.float64))
        gone = absent.any(axis=1)
        total = np.nansum(contrib, axis=1)
        order = np.argsort(-np.nan_to_num(contrib, nan=-1.0), axis=1, kind="stable")[:, :top]
        rows = np.arange(n)[:, None]
        c, zt = contrib[rows, order], z[rows, order]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = 100 * c / total[:, None]
        out = []
        for i, (js, cs, zs, ss, t) in enumerate(
            zip(order.tolist(), c.tolist(), zt.tolist(), share.tolist(), total.tolist())
        ):
            parts = [
                (
                    f"{names[j]} {'high' if zj > 0 else 'low'} (z={_z(zj)}, {sj:.0f}%)"
                    if t > 0
                    else f"{names[j]} (z={_z(zj)})"
                )
                for rank, (j, cj, zj, sj) in enumerate(zip(js, cs, zs, ss))
                if cj == cj and (rank == 0 or t <= 0 or sj >= 0.5)
            ]
            if small[i]:
                parts.append(f"in a small cluster: {_percent(shares[i])} of the reference records")
            if gone[i]:
                parts.append("missing: " + ", ".join(names[j] for j in np.flatnonzero(absent[i])))
            out.append(parts)
        return out


def _percent(share):
    """A share of records as a percentage: one decimal, or two significant digits below 0.1%."""
    return f"{100 * share:.1f}%" if share >= 0.001 else f"{100 * share:.2g}%"


def _z(z):
    """A z-score as read in an explanation: one decimal, or in powers of ten beyond a million (an export's 1e25)."""
    return f"{z:+.1f}" if abs(z) < 1e6 else f"{z:+.2g}"
