"""Missing values in :class:`~gmm_apps.core.GaussianMixture`: rows with NaN in the E-step, scoring and imputation.

The maths per missing-data pattern lives in :mod:`gmm_apps.core._missing`;
this module splits a batch into complete and incomplete rows for the EM loop
(:class:`SplitRows`) and gives the estimator its methods over the observed
features (:class:`MissingValuesMixin`).
"""

from __future__ import annotations

import math

import numpy as np

from . import _covariance as cov
from ._estimator import check_is_fitted
from ._missing import (
    IncompleteRows,
    diag_log_prob,
    diag_posterior,
    missing_patterns,
    pattern_entropy,
    pattern_impute,
    pattern_log_prob,
    recentre,
)
from ._stats import map_reduce


class SplitRows:
    """A batch of rows split for the E-step: complete rows take the chunked fast path, rows with NaN go by pattern.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    mask : ndarray of shape (n, d), bool
        True where ``X`` is missing.
    sample_weight : ndarray of shape (n,) or None
    fill : bool
        Also make ``filled`` (missing entries replaced by the observed column
        means), which a fit's initialisation and re-seeding use.
    """

    def __init__(self, X, mask, sample_weight, *, fill=True):
        inc = mask.any(axis=1)
        self.X, self.sample_weight = X, sample_weight
        self.complete = np.flatnonzero(~inc)
        self.Xc = np.ascontiguousarray(X[self.complete])
        self.wc = None if sample_weight is None else sample_weight[self.complete]
        rows_inc = np.flatnonzero(inc)
        self.incomplete = IncompleteRows(
            X[rows_inc], rows_inc, None if sample_weight is None else sample_weight[rows_inc]
        )
        if fill:
            w = np.ones(len(X)) if sample_weight is None else sample_weight.astype(np.float64)
            seen = (~mask) * w[:, None]
            counts = seen.sum(axis=0)
            if np.any(counts <= 0):
                j = int(np.flatnonzero(counts <= 0)[0])
                raise ValueError(
                    f"feature {j} has no observed value (it is NaN in every row with positive weight); "
                    "drop that feature"
                )
            col_means = (np.where(mask, 0.0, X) * seen).sum(axis=0) / counts
            self.filled = np.where(mask, col_means, X).astype(X.dtype)

    def statistics(self, prep, params, covariance_type, chunk, n_jobs, executor):
        """Sufficient statistics of all rows about ``prep.shift`` (float64), complete and incomplete added."""
        weights, means, covariances = params.weights, params.means, params.covariances
        shift = np.asarray(prep.shift, dtype=np.float64)
        w64, mu64 = np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64)
        full = cov.full_covariances(np.asarray(covariances, dtype=np.float64), covariance_type, *mu64.shape)
        parts = [self.incomplete.statistics(w64, mu64, full, covariance_type, shift, n_jobs, executor)]
        if len(self.complete):
            st = map_reduce(self.Xc, self.wc, prep, chunk_rows=chunk, n_jobs=n_jobs, executor=executor)
            st.worst_index = int(self.complete[st.worst_index])
            parts.insert(0, recentre(st, shift, covariance_type))
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total


class MissingValuesMixin:
    """``missing='marginalize'``: densities over each row's observed features, ``impute`` and ``missing_entropy``."""

    def _missing_mode(self):
        return getattr(self, "missing", "error")

    def _missing_mask(self, X):
        """The NaN mask of ``X`` when it has missing entries to marginalise, else None."""
        if self._missing_mode() != "marginalize":
            return None
        mask = np.isnan(X)
        return mask if mask.any() else None

    # ---------------------------------------------------------------- predict
    def _weighted_log_prob(self, X):
        """``log pi_k + log N(x | k)`` for all rows, shape (n_samples, K); over the observed features of rows with NaN."""
        mask = self._missing_mask(X)
        if mask is None:
            return self._weighted_log_prob_complete(X)
        out = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        inc = mask.any(axis=1)
        if not inc.all():
            out[~inc] = self._weighted_log_prob_complete(X[~inc])
        rows_inc = np.flatnonzero(inc)
        w, mu = self.weights_.astype(np.float64), self.means_.astype(np.float64)
        if self.covariance_type in ("diag", "spherical"):
            c = mu.mean(axis=0)
            out[rows_inc] = diag_log_prob(X[rows_inc].astype(np.float64) - c, w, mu - c, self._variances())
            return out
        covs = self.covariance_matrices().astype(np.float64)
        for observed, rows in missing_patterns(mask[inc]):
            out[rows_inc[rows]] = pattern_log_prob(X, rows_inc[rows], observed, w, mu, covs)
        return out

    def _variances(self):
        """Per component and feature variances, (K, d) float64 ('diag' and 'spherical')."""
        v = self.covariances_.astype(np.float64)
        return v if self.covariance_type == "diag" else np.repeat(v[:, None], self.means_.shape[1], axis=1)

    def impute(self, X):
        """``X`` with each missing entry (NaN) replaced by its conditional mean under the fitted mixture.

        For a row with observed features ``o``, the missing part becomes
        ``sum_k p(k | x_o) E[x_m | x_o, k]``: each component's regression of the
        missing features on the observed ones, weighted by the posterior of the
        component given the observed features.  Needs ``missing='marginalize'``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), float64
        """
        check_is_fitted(self)
        if self._missing_mode() != "marginalize":
            raise ValueError(
                "impute needs missing='marginalize' (set it with set_params; the fitted model is unchanged)"
            )
        X = self._validate_X(X, reset=False)
        out = np.array(X, dtype=np.float64)
        mask = np.isnan(out)
        inc = np.flatnonzero(mask.any(axis=1))
        if not len(inc):
            return out
        w, mu = self.weights_.astype(np.float64), self.means_.astype(np.float64)
        if self.covariance_type in ("diag", "spherical"):  # a missing entry's conditional mean is mu_kj
            R = diag_posterior(out[inc], w, mu, self._variances())
            out[inc] = np.where(mask[inc], R @ mu, out[inc])
            return out
        covs = self.covariance_matrices().astype(np.float64)
        for observed, rows in missing_patterns(mask[inc]):
            filled, m = pattern_impute(out, inc[rows], observed, w, mu, covs)
            out[np.ix_(inc[rows], m)] = filled
        return out

    def missing_entropy(self, X):
        """Expected information in each row's missing entries: ``E[-log p(x_m | x_o)]`` (0 for complete rows).

        The posterior-weighted entropy of the missing part given the observed
        part (each component's conditional Gaussian).  ``-score_samples(X) +
        missing_entropy(X)`` is then the expected negative log-likelihood of
        the complete row given what was observed, comparable across rows with
        different numbers of missing entries (the anomaly detector scores with
        it).  Needs ``missing='marginalize'``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        entropy : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        if self._missing_mode() != "marginalize":
            raise ValueError("missing_entropy needs missing='marginalize'")
        X = self._validate_X(X, reset=False)
        out = np.zeros(X.shape[0])
        mask = np.isnan(X)
        inc = np.flatnonzero(mask.any(axis=1))
        if not len(inc):
            return out
        w, mu = self.weights_.astype(np.float64), self.means_.astype(np.float64)
        if self.covariance_type in ("diag", "spherical"):  # sum over the missing features of 1/2 log(2 pi e v_kj)
            v = self._variances()
            R = diag_posterior(X[inc].astype(np.float64), w, mu, v)
            out[inc] = (R * (mask[inc].astype(np.float64) @ (0.5 * np.log(2.0 * math.pi * math.e * v)).T)).sum(axis=1)
            return out
        covs = self.covariance_matrices().astype(np.float64)
        for observed, rows in missing_patterns(mask[inc]):
            out[inc[rows]] = pattern_entropy(X, inc[rows], observed, w, mu, covs)
        return out
