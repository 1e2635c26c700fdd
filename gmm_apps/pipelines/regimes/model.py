"""Regime models: the core GMM, and Gaussian / GMM hidden Markov models seeded from it.

Every model is held in one form, :class:`RegimeModel`: emission Gaussians (a
core :class:`~gmm_apps.core.GaussianMixture` whose components each belong to a
state, with within-state mixture weights), a start distribution and a
transition matrix.  A plain GMM is the special case whose transition rows all
equal its weights, so filtering, smoothing and scoring are one code path.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ...core import (
    FeatureScaler,
    load_model,
    model_file_guard,
    n_parameters,
    permute_components,
    save_model,
)
from ...errors import ModelFileError
from .features import fit_scaler
from .hmm import full_covariances
from .model_file import check_saved_model
from .periods import TRADING_DAYS
from .states import VOL_HALF_LIFE, prefix_products, running_state_variances

logger = logging.getLogger("gmm_apps.regimes")


class RegimeModel:
    """A fitted regime model on standardised features.

    Parameters
    ----------
    emission : gmm_apps.core.GaussianMixture
        All emission Gaussians (C components).
    state_of : ndarray of shape (C,)
        State of each emission component.
    mix_weights : ndarray of shape (C,)
        Weight of each component within its state (they sum to 1 per state).
    startprob : ndarray of shape (K,)
    transmat : ndarray of shape (K, K)
    kind : {'hmm', 'gmm_hmm', 'gmm'}
    covariance_type : str
        The covariance type the model was fitted with (for parameter counts).
    n_mix : int
    converged : bool
    n_iter : int
    """

    def __init__(
        self,
        emission,
        state_of,
        mix_weights,
        startprob,
        transmat,
        *,
        kind,
        covariance_type,
        n_mix=1,
        converged=True,
        n_iter=0,
    ):
        self.emission = emission
        self.state_of = np.asarray(state_of, dtype=np.int64)
        self.mix_weights = np.asarray(mix_weights, dtype=np.float64)
        self.startprob = np.asarray(startprob, dtype=np.float64)
        self.transmat = np.asarray(transmat, dtype=np.float64)
        self.kind = kind
        self.covariance_type = covariance_type
        self.n_mix = n_mix
        self.converged = bool(converged)
        self.n_iter = int(n_iter)
        #: each state's daily return mean and variance on the days it was fitted on (set by order_by_volatility)
        self.return_moments = None
        #: smoothed state probabilities of the days it was fitted on, kept by the fit that computed them
        #: (hmmlearn's forward-backward) for :func:`order_by_volatility`; None otherwise and after loading
        self.fit_smoothed = None
        #: the standardisation of the raw features this model reads (set by :meth:`fit`, the pipeline or ``load``)
        self.scaler = None

    @classmethod
    def fit(cls, features, returns, *, names=None, **settings):
        """Standardise ``features`` and fit a regime model on them; the model keeps its scaler.

        Parameters
        ----------
        features : ndarray of shape (T, d)
            Raw daily features (as :func:`~gmm_apps.pipelines.regimes.features.build_features` makes them).
        returns : ndarray of shape (T,)
        names : list of str, optional
            Feature names, for messages.
        **settings
            As :func:`fit_regime_model` (``kind``, ``n_components``, ``covariance_type``, ...).

        Returns
        -------
        model : RegimeModel
            ``model.scaler.transform`` maps raw features to what the model reads.
        """
        from .fitting import fit_regime_model  # reason: fitting.py builds RegimeModels, so it imports this module

        scaler = fit_scaler(np.asarray(features, dtype=np.float64), names=names)
        model = fit_regime_model(scaler.transform(features), returns, **settings)
        model.scaler = scaler
        return model

    @property
    def n_states(self):
        return self.startprob.shape[0]

    @property
    def n_features(self):
        return self.emission.means_.shape[1]

    # ------------------------------------------------------------ inference
    def log_emission(self, X):
        """``log p(x_t | state k)``, shape (T, K)."""
        X = np.asarray(X, dtype=np.float64)
        comp = self.emission.component_log_density(X)
        comp = comp + np.log(self.mix_weights)[None, :]
        K = self.n_states
        out = np.empty((X.shape[0], K))
        for k in range(K):
            c = comp[:, self.state_of == k]
            m = c.max(axis=1)
            out[:, k] = m + np.log(np.exp(c - m[:, None]).sum(axis=1))
        return out

    def _forward(self, logB):
        """Filtered probabilities (T, K), per-day normalisers and the offsets taken out of ``logB``."""
        T, K = logB.shape
        m = logB.max(axis=1)
        B = np.exp(logB - m[:, None])
        M = self.transmat[None, :, :] * B[:, None, :]  # A diag(b_t)
        M[0] = np.tile(self.startprob * B[0], (K, 1))
        P, logscale = prefix_products(M)
        row = P[:, 0, :]
        norm = row.sum(axis=1)
        ok = norm > 0
        alpha = np.where(ok[:, None], row / np.where(ok, norm, 1.0)[:, None], 1.0 / K)
        loglik = np.where(ok, np.log(np.where(ok, norm, 1.0)), np.log(np.finfo(float).tiny)) + logscale
        cs = np.exp(np.diff(loglik, prepend=0.0))
        return alpha, cs, m

    def filter(self, X):
        """Filtered probabilities and one-step predictive log-likelihoods.

        Parameters
        ----------
        X : ndarray of shape (T, d)
            Standardised features in date order.

        Returns
        -------
        filtered : ndarray of shape (T, K)
            ``P(state_t | x_1..x_t)``: uses data up to t only.
        log_pred : ndarray of shape (T,)
            ``log p(x_t | x_1..x_{t-1})``; their sum is the sequence log-likelihood.
        """
        alpha, cs, m = self._forward(self.log_emission(X))
        return alpha, np.log(cs) + m

    def smooth(self, X):
        """Smoothed probabilities ``P(state_t | x_1..x_T)`` (forward-backward), shape (T, K)."""
        return self.posteriors(X)[2]

    def posteriors(self, X):
        """Filtered, one-step predictive and smoothed quantities from one forward-backward pass.

        Returns
        -------
        filtered : ndarray of shape (T, K)
        log_pred : ndarray of shape (T,)
        smoothed : ndarray of shape (T, K)
        """
        logB = self.log_emission(X)
        alpha, cs, m = self._forward(logB)
        B = np.exp(logB - m[:, None])
        T, K = alpha.shape
        beta = np.ones((T, K))
        if T > 1:
            # beta_t = A diag(b_{t+1}) ... A diag(b_T) 1, as prefix products of the reversed, transposed stack
            M = self.transmat[None, :, :] * B[1:, None, :]
            Q, _ = prefix_products(np.ascontiguousarray(M[::-1].transpose(0, 2, 1)))
            beta[:-1] = Q.sum(axis=1)[::-1]
            beta[:-1] /= beta[:-1].max(axis=1, keepdims=True)
        g = alpha * beta
        return alpha, np.log(cs) + m, g / g.sum(axis=1, keepdims=True)

    def log_likelihood(self, X):
        """Log-likelihood of the whole sequence."""
        return float(self.filter(X)[1].sum())

    def n_parameters(self):
        """Free parameters: start, transitions (none for 'gmm') and emissions."""
        K, d = self.n_states, self.n_features
        if self.kind == "gmm":
            return n_parameters(K, d, self.covariance_type)
        C = self.state_of.shape[0]
        emis = n_parameters(C, d, self.covariance_type) - (C - 1) + K * (self.n_mix - 1)
        if self.covariance_type == "tied" and self.kind == "gmm_hmm":
            emis += (K - 1) * d * (d + 1) // 2
        return int((K - 1) + K * (K - 1) + emis)

    def bic(self, X):
        return -2 * self.log_likelihood(X) + self.n_parameters() * math.log(len(X))

    def aic(self, X):
        return -2 * self.log_likelihood(X) + 2 * self.n_parameters()

    # ----------------------------------------------------------- structure
    def state_moments(self):
        """Mean (K, d) and covariance (K, d, d) of each state's emission distribution."""
        em = self.emission
        covs = full_covariances(em)
        K, d = self.n_states, self.n_features
        means = np.zeros((K, d))
        cov = np.zeros((K, d, d))
        for k in range(K):
            idx = np.flatnonzero(self.state_of == k)
            w = self.mix_weights[idx]
            mu = w @ em.means_[idx]
            means[k] = mu
            for j, c in zip(idx, w):
                diff = em.means_[j] - mu
                cov[k] += c * (covs[j] + np.outer(diff, diff))
        return means, cov

    def permute(self, order):
        """Reorder states in place: new state i is old state ``order[i]``."""
        order = np.asarray(order, dtype=np.int64)
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        self.state_of = inv[self.state_of]
        comp_order = np.argsort(self.state_of, kind="stable")
        permute_components(self.emission, comp_order)
        self.state_of = self.state_of[comp_order]
        self.mix_weights = self.mix_weights[comp_order]
        self.startprob = self.startprob[order]
        self.transmat = self.transmat[np.ix_(order, order)]
        if self.return_moments is not None:
            self.return_moments = tuple(m[order] for m in self.return_moments)
        if self.fit_smoothed is not None:
            self.fit_smoothed = self.fit_smoothed[:, order]
        return self

    def predicted_volatility(self, filtered, returns, *, state_var=None, half_life=VOL_HALF_LIFE, year=TRADING_DAYS):
        """Next-day return volatility under tomorrow's regime probabilities, annualised over ``year`` days.

        The variance of the mixture of the states' return distributions, weighted by
        ``filtered[t] @ transmat``: each state's mean from :attr:`return_moments`, its variance
        following the state's recent days (:func:`running_state_variances` with ``half_life``,
        from ``state_var`` or the training days' variances; ``half_life=None`` keeps the training
        days' variances).

        Parameters
        ----------
        filtered : ndarray of shape (T, K)
        returns : ndarray of shape (T,)
            The same days' returns.
        state_var : ndarray of shape (K,), optional
            The states' variances before the first day (walk-forward: where the last stretch ended).
        half_life : float or None

        Returns
        -------
        vol : ndarray of shape (T,)
        state_var : ndarray of shape (K,)
            The states' variances after the last day.
        """
        mu, var = self.return_moments
        start = var if state_var is None else state_var
        if half_life is None:
            V = np.broadcast_to(np.asarray(start, dtype=np.float64), np.shape(filtered))
        else:
            V = running_state_variances(filtered, returns, mu, start, half_life=half_life)
        p = np.asarray(filtered) @ self.transmat
        mean = p @ mu
        vol = np.sqrt(np.maximum((p * (V + mu**2)).sum(axis=1) - mean**2, 0.0) * year)
        return vol, V[-1] if len(V) else np.asarray(var, dtype=np.float64)

    # ---------------------------------------------------------- persistence
    def save(self, path, *, meta):
        """Write the model and its scaler to one checked model file, with ``meta``."""
        scaler = self.scaler
        if scaler is None:
            raise ValueError("the model has no scaler; set model.scaler (the standardisation it was fitted on)")
        arrays = {
            "state_of": self.state_of,
            "mix_weights": self.mix_weights,
            "startprob": self.startprob,
            "transmat": self.transmat,
            "scaler_mean": scaler.center,
            "scaler_scale": scaler.scale,
        }
        if self.return_moments is not None:  # the volatility forecast's starting point (older files lack it)
            arrays["return_mean"], arrays["return_var"] = self.return_moments
        meta = dict(
            meta,
            kind=self.kind,
            covariance_of_states=self.covariance_type,
            n_mix=self.n_mix,
            converged=self.converged,
            n_iter=self.n_iter,
        )
        return save_model(self.emission, path, extra=meta, arrays=arrays)

    @classmethod
    def load(cls, path):
        """Load a saved model (its ``scaler`` set); returns ``(model, meta)``."""
        emission, extra = load_model(path, with_extra=True)
        a, meta = extra["arrays"], extra["meta"]
        for key in ("state_of", "mix_weights", "startprob", "transmat", "scaler_mean", "scaler_scale"):
            if key not in a:
                raise ModelFileError(f"{path}: not a regimes model (array {key!r} missing)")
        if "covariance_of_states" not in meta:
            raise model_file_guard.older(path, "a regimes model", "the covariance type of its states")
        with model_file_guard(path):
            check_saved_model(path, emission, a, meta)
            model = cls(
                emission,
                a["state_of"],
                a["mix_weights"],
                a["startprob"],
                a["transmat"],
                kind=meta["kind"],
                covariance_type=meta["covariance_of_states"],
                n_mix=int(meta.get("n_mix", 1)),
                converged=bool(meta.get("converged", True)),
                n_iter=int(meta.get("n_iter", 0)),
            )
        model.scaler = FeatureScaler(a["scaler_mean"], a["scaler_scale"])
        if "return_mean" in a:
            model.return_moments = (a["return_mean"], a["return_var"])
        return model, meta
