"""Fitting regime models: the core GMM that seeds them, Baum-Welch from it (hmmlearn), the run's settings, and
warm refits continuing from the model in force (walk-forward); each returns a :class:`~.model.RegimeModel`."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from ...core import ConvergenceWarning, GaussianMixture
from ...errors import DataError
from .hmm import gaussian_hmm, gmm_hmm, sticky_transmat, with_floor
from .model import RegimeModel
from .states import order_by_volatility, raw_state_moments

logger = logging.getLogger("gmm_apps.regimes")


def fit_regime_model(
    X,
    returns,
    *,
    kind="hmm",
    n_components=3,
    covariance_type="full",
    n_init=10,
    init="kmeans",
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
        Restarts of the core GMM that seeds the HMM (``init='kmeans'``).
    init : {'kmeans', 'hierarchical'}
        How the core GMM starts: k-means from random seeds, the best of ``n_init``;
        or one Ward clustering of the training days, no randomness at all (every
        seed gives the same model).
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
            n_init=1 if init == "hierarchical" else n_init,
            init_params=init,
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


def fit_with_config(m, X, r, k, ct, seed):
    """A regime model on standardised ``X`` with the model section ``m``'s settings, ``k`` states, covariance
    ``ct`` and seed ``seed`` (the run's selection, stability and walk-forward fits)."""
    return fit_regime_model(
        X,
        r,
        kind=m.kind,
        n_components=k,
        covariance_type=ct,
        n_init=m.n_init,
        init=m.init,
        random_state=seed,
        stickiness=m.stickiness,
        n_mix=m.n_mix,
        hmm_iter=m.hmm_iter,
        tol=m.tol,
        max_iter=m.max_iter,
        reg_covar=m.reg_covar,
    )


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


def _with_floor(fit, gmm, K, covariance_type, reg_covar):
    """:func:`~.hmm.with_floor`, falling back on the seeding GMM's states with a sticky transition matrix."""
    return with_floor(
        fit,
        K,
        reg_covar,
        lambda: RegimeModel(
            gmm,
            np.arange(K),
            np.ones(K),
            gmm.weights_,
            sticky_transmat(K),
            kind="hmm",
            covariance_type=covariance_type,
            converged=False,
            n_iter=0,
        ),
    )


def _fit_hmm(X, gmm, K, ct, stickiness, hmm_iter, random_state, reg_covar, *, transmat=None, startprob=None, tol=1e-4):
    """Baum-Welch (hmmlearn) from ``gmm``'s Gaussians, a sticky transition matrix (or ``transmat``) and the
    mixture weights (or ``startprob``) as start probabilities."""
    hmm = gaussian_hmm(X, gmm, K, ct, stickiness, hmm_iter, random_state, reg_covar, transmat, startprob, tol)
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
    hmm = gmm_hmm(X, gmm, K, ct, stickiness, n_mix, hmm_iter, random_state, reg_covar, n_init)
    d = X.shape[1]
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
