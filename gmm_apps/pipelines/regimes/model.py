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
import warnings

import numpy as np

from ...core import (
    ConvergenceWarning,
    FeatureScaler,
    GaussianMixture,
    bhattacharyya_distances,
    load_model,
    model_file_guard,
    n_parameters,
    permute_components,
    save_model,
)
from ...errors import DataError, ModelFileError
from .features import TRADING_DAYS, fit_scaler

logger = logging.getLogger("gmm_apps.regimes")

NAMES = {
    1: ["all"],
    2: ["calm", "stress"],
    3: ["calm", "normal", "stress"],
    4: ["calm", "normal", "volatile", "stress"],
    5: ["calm", "quiet", "normal", "volatile", "stress"],
    6: ["calm", "quiet", "normal", "nervous", "volatile", "stress"],
}


def regime_names(k):
    """Readable names for K regimes ordered from calmest to most volatile."""
    return list(NAMES.get(k, [f"regime {i}" for i in range(k)]))


def prefix_products(M):
    """Running products ``M[0] @ M[1] @ ... @ M[t]`` of a stack of square matrices, each rescaled.

    A log-depth scan (Hillis-Steele): ``ceil(log2 T)`` batched matrix products
    instead of ``T`` sequential ones, which is what makes the forward and
    backward passes of a long series fast in numpy.  Each product is divided
    by its largest entry to stay in range; the logs of those divisors are
    returned so that the true product is ``P[t] * exp(logscale[t])``.

    Parameters
    ----------
    M : ndarray of shape (T, K, K)
        Non-negative matrices.

    Returns
    -------
    P : ndarray of shape (T, K, K)
    logscale : ndarray of shape (T,)
    """
    P = np.array(M, dtype=np.float64)
    T = len(P)

    def rescale(Z):
        s = Z.max(axis=(1, 2))
        s = np.where(s > 0, s, 1.0)
        Z /= s[:, None, None]
        return np.log(s)

    logscale = rescale(P)
    shift = 1
    while shift < T:
        new = np.matmul(P[:-shift], P[shift:])
        ls = logscale[:-shift] + logscale[shift:] + rescale(new)
        P[shift:] = new
        logscale[shift:] = ls
        shift *= 2
    return P, logscale


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
        covs = _full_covs(em)
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

    def predicted_volatility(self, filtered):
        """Annualised volatility of the next day's return under tomorrow's regime probabilities.

        The variance of the mixture of the states' return distributions
        (:attr:`return_moments`) weighted by ``filtered[t] @ transmat``.

        Parameters
        ----------
        filtered : ndarray of shape (T, K)

        Returns
        -------
        vol : ndarray of shape (T,)
        """
        mu, var = self.return_moments
        p = np.asarray(filtered) @ self.transmat
        mean = p @ mu
        return np.sqrt(np.maximum(p @ (var + mu**2) - mean**2, 0.0) * TRADING_DAYS)

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
        need = model_file_guard.require
        with model_file_guard(path):
            Ke, d = emission.means_.shape
            K = len(a["startprob"])
            need(
                a["transmat"].shape == (K, K)
                and np.allclose(a["transmat"].sum(axis=1), 1)
                and np.all(a["transmat"] >= 0),
                path,
                "the transition matrix does not fit the regimes",
            )
            need(
                a["state_of"].shape == (Ke,)
                and np.issubdtype(a["state_of"].dtype, np.integer)
                and set(a["state_of"].tolist()) == set(range(K)),
                path,
                "components are not mapped onto the regimes",
            )
            need(
                a["startprob"].ndim == 1
                and np.all(np.isfinite(a["startprob"]))
                and np.all(a["startprob"] >= 0)
                and abs(float(a["startprob"].sum()) - 1) < 1e-6,
                path,
                "the start probabilities are not a probability vector",
            )
            need(
                a["mix_weights"].shape == (Ke,)
                and np.all(np.isfinite(a["mix_weights"]))
                and np.all(a["mix_weights"] >= 0),
                path,
                "mixing weights do not fit the components",
            )
            need(
                np.all(np.isfinite(a["scaler_mean"]))
                and np.all(np.isfinite(a["scaler_scale"]))
                and np.all(a["scaler_scale"] > 0),
                path,
                "the scaler holds a non-positive or non-finite scale",
            )
            need(
                a["scaler_mean"].shape == (d,) and a["scaler_scale"].shape == (d,),
                path,
                "the scaler does not fit the features",
            )
            need(meta["kind"] in ("hmm", "gmm_hmm", "gmm"), path, f"unknown model kind {meta['kind']!r}")
            need(meta["covariance_of_states"] in ("full", "diag", "spherical", "tied"), path, "unknown covariance type")
            names = meta.get("names", [""] * K)
            need(
                isinstance(names, list) and len(names) == K and all(isinstance(n, str) for n in names),
                path,
                f"{len(names)} regime names for {K} regimes",
            )
            fn = meta.get("feature_names", [""] * d)
            need(isinstance(fn, list) and len(fn) == d, path, f"{len(fn)} feature names for {d} features")
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
        return model, meta


def _full_covs(gm):
    return gm.covariance_matrices()


def _to_type(full, ct):
    """Full (…, d, d) covariances to hmmlearn's shapes for ``ct`` (per state)."""
    if ct == "full":
        return full
    if ct == "diag":
        return np.diagonal(full, axis1=-2, axis2=-1).copy()
    if ct == "spherical":
        return np.diagonal(full, axis1=-2, axis2=-1).mean(axis=-1)
    raise AssertionError(ct)


def _sticky_transmat(K, stay=0.95):
    if K == 1:
        return np.ones((1, 1))
    A = np.full((K, K), (1 - stay) / (K - 1))
    np.fill_diagonal(A, stay)
    return A


def fit_regime_model(
    X,
    returns,
    *,
    kind="hmm",
    n_components=3,
    covariance_type="full",
    n_init=10,
    random_state=0,
    stickiness=100.0,
    n_mix=2,
    hmm_iter=200,
    tol=1e-4,
    max_iter=300,
    reg_covar=1e-6,
):
    """Fit a regime model and order its states from calmest to most volatile.

    Parameters
    ----------
    X : ndarray of shape (T, d)
        Standardised training features in date order.
    returns : ndarray of shape (T,)
        Daily log returns on the same dates (used to order states by volatility).
    kind : {'hmm', 'gmm_hmm', 'gmm'}
    n_components : int
    covariance_type : str
    n_init : int
        Restarts of the core GMM that seeds the HMM.
    random_state : int
    stickiness : float
        Dirichlet pseudo-counts on staying in a state (HMM kinds).
    n_mix : int
        Gaussians per state ('gmm_hmm').
    hmm_iter : int
    tol, max_iter, reg_covar : float, int, float
        Core GMM options.

    Returns
    -------
    model : RegimeModel
    """
    X = np.asarray(X, dtype=np.float64)
    K = int(n_components)
    if X.shape[0] < 5 * K:
        raise DataError(f"only {X.shape[0]} training days for {K} regimes; use more data or fewer regimes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = GaussianMixture(
            K,
            covariance_type=covariance_type,
            n_init=n_init,
            random_state=random_state,
            tol=tol,
            max_iter=max_iter,
            reg_covar=reg_covar,
        ).fit(X)
    if kind == "gmm":
        model = RegimeModel(
            gmm,
            np.arange(K),
            np.ones(K),
            gmm.weights_,
            np.tile(gmm.weights_, (K, 1)),
            kind="gmm",
            covariance_type=covariance_type,
            converged=gmm.converged_,
            n_iter=gmm.n_iter_,
        )
    elif kind == "hmm":
        model = _with_floor(
            lambda floor: _fit_hmm(X, gmm, K, covariance_type, stickiness, hmm_iter, random_state, floor),
            gmm,
            K,
            covariance_type,
            reg_covar,
        )
    elif kind == "gmm_hmm":
        model = _with_floor(
            lambda floor: _fit_gmm_hmm(
                X, gmm, K, covariance_type, stickiness, n_mix, hmm_iter, random_state, floor, n_init
            ),
            gmm,
            K,
            covariance_type,
            reg_covar,
        )
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    order_by_volatility(model, X, returns)
    return model


#: Baum-Welch's stopping rule for warm refits, per day of the window: hmmlearn's ``tol`` applies to the
#: whole sequence's log-likelihood, so the fresh fits' fixed 1e-4 asks 1e-8 a day of a 10,000-day window;
#: a refit continuing from the model in force stops once a day's log-likelihood gains less than this
WARM_TOL_PER_DAY = 1e-6


def refit_regime_model(
    previous, X, returns, *, previous_scaler, scaler, stickiness=100.0, hmm_iter=200, reg_covar=1e-6
):
    """Refit an HMM regime model on a longer window, starting from the model in force.

    The previous model's states are carried into the new standardisation
    (``scaler``) and Baum-Welch continues from them: no seeding mixture, no
    restarts, no randomness; it stops when the log-likelihood gains less than
    :data:`WARM_TOL_PER_DAY` per day.  States keep their identity and are reordered from calmest
    to most volatile as :func:`fit_regime_model` does.

    Parameters
    ----------
    previous : RegimeModel
        Of kind 'hmm'.
    X : ndarray of shape (T, d)
        The new window's features, standardised by ``scaler``.
    returns : ndarray of shape (T,)
    previous_scaler, scaler : FeatureScaler
        The standardisations of the previous model and of ``X``.
    stickiness, hmm_iter, reg_covar
        As for :func:`fit_regime_model`.

    Returns
    -------
    model : RegimeModel
    """
    if previous.kind != "hmm":
        raise ValueError("warm refits are for kind 'hmm'")
    X = np.asarray(X, dtype=np.float64)
    mu, cov = raw_state_moments(previous, previous_scaler)
    scale = np.asarray(scaler.scale, dtype=float)
    K, ct = previous.n_states, previous.covariance_type
    start = GaussianMixture.from_parameters(
        previous.startprob, scaler.transform(mu), cov / np.outer(scale, scale), covariance_type="full"
    )
    model = _with_floor(
        lambda floor: _fit_hmm(
            X,
            start,
            K,
            ct,
            stickiness,
            hmm_iter,
            0,
            floor,
            transmat=previous.transmat,
            startprob=previous.startprob,
            tol=WARM_TOL_PER_DAY * len(X),
        ),
        start,
        K,
        ct,
        reg_covar,
    )
    order_by_volatility(model, X, returns)
    return model


#: variance floors (standardised feature units) tried in turn when an HMM state collapses onto a few days
HMM_FLOORS = (1e-3, 1e-2, 1e-1)


def _usable(model):
    m = model.emission
    arrays = (
        m.weights_,
        m.means_,
        m.covariances_,
        m.precisions_cholesky_,
        model.startprob,
        model.transmat,
        model.mix_weights,
    )
    return all(np.all(np.isfinite(a)) for a in arrays)


def _with_floor(fit, gmm, K, covariance_type, reg_covar):
    """Fit an HMM; when a state collapses (a singular covariance), refit with a higher variance floor.

    Baum-Welch can shrink a state onto a handful of near-identical days, where
    its covariance stops being positive definite.  As the core engine does for
    a collapsed component, the fit is repeated with a larger regularisation
    (``HMM_FLOORS``) and the log says so; if every floor fails, the seeding GMM's
    states are kept with a sticky transition matrix.
    """
    floors = [max(reg_covar, 1e-6)] + [f for f in HMM_FLOORS if f > reg_covar]
    for i, floor in enumerate(floors):
        try:
            with np.errstate(all="ignore"):
                model = fit(floor)
            if _usable(model):
                if i:
                    logger.warning(
                        "a state of the %d-state HMM collapsed onto too few days; refitted with a variance "
                        "floor of %g (standardised units)",
                        K,
                        floor,
                    )
                return model
            why = "non-finite parameters"
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        logger.debug("%d-state HMM with variance floor %g failed (%s)", K, floor, why)
    logger.warning("every %d-state HMM fit collapsed; kept the GMM's states with a sticky transition matrix", K)
    return RegimeModel(
        gmm,
        np.arange(K),
        np.ones(K),
        gmm.weights_,
        _sticky_transmat(K),
        kind="hmm",
        covariance_type=covariance_type,
        converged=False,
        n_iter=0,
    )


def _hmm_common(K, stickiness):
    prior = np.ones((K, K)) + stickiness * np.eye(K)
    return prior


class _quiet_hmmlearn:
    """hmmlearn logs a warning whenever MAP-EM (with a transition prior) lowers the
    likelihood by rounding; send those to our debug log instead of the terminal."""

    def __enter__(self):
        self.lg = logging.getLogger("hmmlearn")
        self.level, self.prop = self.lg.level, self.lg.propagate
        self.lg.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        self.lg.setLevel(self.level)
        return False


def _fit_hmm(X, gmm, K, ct, stickiness, hmm_iter, random_state, reg_covar, *, transmat=None, startprob=None, tol=1e-4):
    """Baum-Welch (hmmlearn) from ``gmm``'s Gaussians, a sticky transition matrix (or ``transmat``) and the
    mixture weights (or ``startprob``) as start probabilities."""
    from hmmlearn.hmm import GaussianHMM  # start-up time: hmmlearn loads only for HMM fits

    hmm = GaussianHMM(
        K,
        covariance_type=ct,
        n_iter=hmm_iter,
        tol=tol,
        init_params="",
        params="stmc",
        transmat_prior=_hmm_common(K, stickiness),
        random_state=random_state,
        min_covar=max(reg_covar, 1e-6),
        implementation="scaling",
    )
    hmm.startprob_ = (gmm.weights_ if startprob is None else startprob).astype(np.float64)
    hmm.transmat_ = _sticky_transmat(K) if transmat is None else np.asarray(transmat, dtype=np.float64)
    hmm.means_ = gmm.means_.astype(np.float64)
    full = _full_covs(gmm)
    hmm.covars_ = {
        "full": full,
        "tied": np.asarray(gmm.covariances_) if gmm.covariance_type == "tied" else full.mean(axis=0),
        "diag": _to_type(full, "diag"),
        "spherical": _to_type(full, "spherical"),
    }[ct]
    with warnings.catch_warnings(), _quiet_hmmlearn():
        warnings.simplefilter("ignore")
        hmm.fit(X)
    logger.debug("hmm K=%d: %d iterations, converged %s", K, hmm.monitor_.iter, hmm.monitor_.converged)
    emission = GaussianMixture.from_parameters(np.full(K, 1.0 / K), hmm.means_, hmm.covars_, covariance_type="full")
    model = RegimeModel(
        emission,
        np.arange(K),
        np.ones(K),
        hmm.startprob_,
        hmm.transmat_,
        kind="hmm",
        covariance_type=ct,
        converged=hmm.monitor_.converged,
        n_iter=hmm.monitor_.iter,
    )
    # the same forward-backward as RegimeModel.smooth (agreeing to rounding), in hmmlearn's compiled code
    with np.errstate(all="ignore"):
        model.fit_smoothed = hmm.predict_proba(X)
    return model


def _fit_gmm_hmm(X, gmm, K, ct, stickiness, n_mix, hmm_iter, random_state, reg_covar, n_init):
    from hmmlearn.hmm import GMMHMM  # start-up time: hmmlearn loads only for HMM fits

    labels = gmm.predict(X)
    d = X.shape[1]
    means = np.zeros((K, n_mix, d))
    covs = np.zeros((K, n_mix, d, d))
    weights = np.zeros((K, n_mix))
    for k in range(K):
        Xk = X[labels == k]
        m = min(n_mix, max(1, len(Xk) // (d + 2)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sub = GaussianMixture(m, random_state=random_state, n_init=n_init, reg_covar=1e-4).fit(Xk)
        for j in range(n_mix):
            jj = j % m
            means[k, j] = sub.means_[jj] + 1e-3 * j
            covs[k, j] = sub.covariances_[jj]
            weights[k, j] = sub.weights_[jj]
        weights[k] /= weights[k].sum()
    hmm = GMMHMM(
        K,
        n_mix=n_mix,
        covariance_type=ct,
        n_iter=hmm_iter,
        tol=1e-4,
        init_params="",
        params="stmcw",
        transmat_prior=_hmm_common(K, stickiness),
        random_state=random_state,
        min_covar=max(reg_covar, 1e-6),
        implementation="scaling",
    )
    hmm.startprob_ = gmm.weights_.astype(np.float64)
    hmm.transmat_ = _sticky_transmat(K)
    hmm.means_ = means
    hmm.weights_ = weights
    hmm.covars_ = {
        "full": covs,
        "tied": covs.mean(axis=1),
        "diag": _to_type(covs, "diag"),
        "spherical": _to_type(covs, "spherical"),
    }[ct]
    with warnings.catch_warnings(), _quiet_hmmlearn():
        warnings.simplefilter("ignore")
        hmm.fit(X)
    c = np.asarray(hmm.covars_)
    full = {
        "full": lambda: c,
        "tied": lambda: np.broadcast_to(c[:, None], (K, n_mix, d, d)),
        "diag": lambda: c[..., :, None] * np.eye(d),
        "spherical": lambda: c[..., None, None] * np.eye(d),
    }[ct]()
    emission = GaussianMixture.from_parameters(
        np.full(K * n_mix, 1.0 / (K * n_mix)),
        hmm.means_.reshape(K * n_mix, d),
        np.asarray(full).reshape(K * n_mix, d, d),
        covariance_type="full",
    )
    return RegimeModel(
        emission,
        np.repeat(np.arange(K), n_mix),
        hmm.weights_.reshape(-1),
        hmm.startprob_,
        hmm.transmat_,
        kind="gmm_hmm",
        covariance_type=ct,
        n_mix=n_mix,
        converged=hmm.monitor_.converged,
        n_iter=hmm.monitor_.iter,
    )


def state_return_moments(probs, returns):
    """Mean and variance of daily returns within each state (probability-weighted).

    Parameters
    ----------
    probs : ndarray of shape (T, K)
    returns : ndarray of shape (T,)

    Returns
    -------
    mean, var : ndarrays of shape (K,)
    """
    r = np.asarray(returns, dtype=np.float64)
    w = probs / np.maximum(probs.sum(axis=0, keepdims=True), 1e-300)
    mu = w.T @ r
    var = (w * (r[:, None] - mu[None, :]) ** 2).sum(axis=0)
    return mu, var


def state_volatility(probs, returns):
    """Annualised volatility of daily returns within each state (probability-weighted), shape (K,)."""
    return np.sqrt(state_return_moments(probs, returns)[1] * TRADING_DAYS)


def order_by_volatility(model, X, returns):
    """Sort states in place from the lowest return volatility to the highest, and keep each state's return
    moments on the model (:meth:`RegimeModel.predicted_volatility`)."""
    probs = model.fit_smoothed
    if probs is None or probs.shape != (len(X), model.n_states) or not np.all(np.isfinite(probs)):
        probs = model.smooth(X)
    model.fit_smoothed = None
    mu, var = state_return_moments(probs, returns)
    order = np.argsort(var, kind="stable")
    model.permute(order)
    model.return_moments = (mu[order], var[order])
    return order


def raw_state_moments(model, standardiser):
    """Each state's emission mean (K, d) and covariance (K, d, d) in raw feature units, undoing
    ``standardiser`` (the scaler the model was fitted under)."""
    mu, cov = model.state_moments()
    scale = np.asarray(standardiser.scale, dtype=float)
    return standardiser.inverse_transform(mu), cov * np.outer(scale, scale)


def align_states(model, reference, standardiser, ref_standardiser):
    """Permute ``model``'s states to best match ``reference``'s (walk-forward refits).

    States are compared in raw feature units (each model has its own
    standardisation) by the Bhattacharyya distance of their moment-matched
    Gaussians, and matched one-to-one (Hungarian algorithm).

    Returns
    -------
    order : ndarray of shape (K,)
    """
    from scipy.optimize import linear_sum_assignment  # start-up time: this part of SciPy loads only when used

    def raw(m, s):
        mu, cov = raw_state_moments(m, s)
        K = len(mu)
        return GaussianMixture.from_parameters(np.full(K, 1.0 / K), mu, cov, covariance_type="full")

    D = bhattacharyya_distances(raw(reference, ref_standardiser), raw(model, standardiser))
    rows, cols = linear_sum_assignment(D)
    order = np.asarray([c for _, c in sorted(zip(rows, cols))], dtype=np.int64)
    model.permute(order)
    return order


#: trading days ahead of the regime forecasts (a day, a week, a month)
FORECAST_HORIZONS = (1, 5, 21)


def regime_forecasts(filtered, transmat, horizons=FORECAST_HORIZONS):
    """Probability of each regime ``h`` trading days ahead, from each day's filtered probabilities.

    The hidden Markov chain moves the day's regime distribution one step per
    day: ``p_{t+h} = p_t A^h``.  Uses only data up to each day.

    Parameters
    ----------
    filtered : ndarray of shape (T, K)
    transmat : ndarray of shape (K, K)
    horizons : iterable of int

    Returns
    -------
    forecasts : dict of int -> ndarray of shape (T, K)
    """
    return {h: filtered @ np.linalg.matrix_power(transmat, h) for h in horizons}


def expected_remaining_days(transmat, regime):
    """Expected further trading days in ``regime`` once in it: ``A_kk / (1 - A_kk)`` (stays are geometric)."""
    stay = float(transmat[regime, regime])
    return stay / (1.0 - stay) if stay < 1 else float("inf")
