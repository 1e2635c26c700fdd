"""The hidden Markov models' side of regimes: hmmlearn's settings, starting values and covariance layouts."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from ...core import ConvergenceWarning, GaussianMixture

logger = logging.getLogger("gmm_apps.regimes")


def full_covariances(gm):
    return gm.covariance_matrices()


def to_covariance_type(full, ct):
    """Full (…, d, d) covariances to hmmlearn's shapes for ``ct`` (per state)."""
    if ct == "full":
        return full
    if ct == "diag":
        return np.diagonal(full, axis1=-2, axis2=-1).copy()
    if ct == "spherical":
        return np.diagonal(full, axis1=-2, axis2=-1).mean(axis=-1)
    raise AssertionError(ct)


def sticky_transmat(K, stay=0.95):
    if K == 1:
        return np.ones((1, 1))
    A = np.full((K, K), (1 - stay) / (K - 1))
    np.fill_diagonal(A, stay)
    return A


def transition_prior(K, stickiness):
    prior = np.ones((K, K)) + stickiness * np.eye(K)
    return prior


def baum_welch(hmm, X):
    """Fit an hmmlearn model on ``X`` quietly and return it.

    hmmlearn logs a warning whenever MAP-EM (with a transition prior) lowers
    the likelihood by rounding, and warns about its own settings; neither
    reaches the terminal (our debug log has the iterations).
    """
    lg = logging.getLogger("hmmlearn")
    level = lg.level
    lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hmm.fit(X)
    finally:
        lg.setLevel(level)
    return hmm


def gaussian_hmm(X, gmm, K, ct, stickiness, hmm_iter, random_state, reg_covar, transmat, startprob, tol):
    """hmmlearn's Gaussian HMM fitted by Baum-Welch from ``gmm``'s Gaussians, a sticky transition matrix (or
    ``transmat``) and the mixture weights (or ``startprob``) as start probabilities."""
    from hmmlearn.hmm import GaussianHMM  # start-up time: hmmlearn loads only for HMM fits

    hmm = GaussianHMM(
        K,
        covariance_type=ct,
        n_iter=hmm_iter,
        tol=tol,
        init_params="",
        params="stmc",
        transmat_prior=transition_prior(K, stickiness),
        random_state=random_state,
        min_covar=max(reg_covar, 1e-6),
        implementation="scaling",
    )
    hmm.startprob_ = (gmm.weights_ if startprob is None else startprob).astype(np.float64)
    hmm.transmat_ = sticky_transmat(K) if transmat is None else np.asarray(transmat, dtype=np.float64)
    hmm.means_ = gmm.means_.astype(np.float64)
    full = full_covariances(gmm)
    hmm.covars_ = {
        "full": full,
        "tied": np.asarray(gmm.covariances_) if gmm.covariance_type == "tied" else full.mean(axis=0),
        "diag": to_covariance_type(full, "diag"),
        "spherical": to_covariance_type(full, "spherical"),
    }[ct]
    baum_welch(hmm, X)
    logger.debug("hmm K=%d: %d iterations, converged %s", K, hmm.monitor_.iter, hmm.monitor_.converged)
    return hmm


def gmm_hmm(X, gmm, K, ct, stickiness, n_mix, hmm_iter, random_state, reg_covar, n_init):
    """hmmlearn's GMM-HMM (``n_mix`` Gaussians per state) fitted by Baum-Welch, started from a mixture fitted to
    each of ``gmm``'s states."""
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
        transmat_prior=transition_prior(K, stickiness),
        random_state=random_state,
        min_covar=max(reg_covar, 1e-6),
        implementation="scaling",
    )
    hmm.startprob_ = gmm.weights_.astype(np.float64)
    hmm.transmat_ = sticky_transmat(K)
    hmm.means_ = means
    hmm.weights_ = weights
    hmm.covars_ = {
        "full": covs,
        "tied": covs.mean(axis=1),
        "diag": to_covariance_type(covs, "diag"),
        "spherical": to_covariance_type(covs, "spherical"),
    }[ct]
    baum_welch(hmm, X)
    return hmm


def finite_parameters(model):
    """Whether every parameter of a fitted regime model is finite (a collapsed Baum-Welch fit is not)."""
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


#: variance floors (standardised feature units) tried in turn when an HMM state collapses onto a few days
HMM_FLOORS = (1e-3, 1e-2, 1e-1)


def with_floor(fit, K, reg_covar, fallback):
    """Fit an HMM; when a state collapses (a singular covariance), refit with a higher variance floor.

    Baum-Welch can shrink a state onto a handful of near-identical days, where
    its covariance stops being positive definite.  As the core engine does for
    a collapsed component, ``fit(floor)`` is repeated with a larger regularisation
    (``HMM_FLOORS``) and the log says so; if every floor fails, ``fallback()`` is
    returned (the caller's model without dynamics learnt).
    """
    floors = [max(reg_covar, 1e-6)] + [f for f in HMM_FLOORS if f > reg_covar]
    for i, floor in enumerate(floors):
        try:
            with np.errstate(all="ignore"):
                model = fit(floor)
            if finite_parameters(model):
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
    return fallback()
