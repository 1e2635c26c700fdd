"""What a saved regimes model must hold, checked before it is used (a file edited consistently with its checksums)."""

from __future__ import annotations

import numpy as np

from ...core import model_file_guard


def check_saved_model(path, emission, a, meta):
    """Refuse a regimes model file whose parts do not fit together, naming ``path`` and what is wrong.

    Parameters
    ----------
    path : str or Path
    emission : gmm_apps.core.GaussianMixture
    a : dict of ndarray
        The file's arrays (states, weights, start and transition probabilities, scaler).
    meta : dict
    """
    need = model_file_guard.require
    Ke, d = emission.means_.shape
    K = len(a["startprob"])
    need(
        a["transmat"].shape == (K, K) and np.allclose(a["transmat"].sum(axis=1), 1) and np.all(a["transmat"] >= 0),
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
        a["mix_weights"].shape == (Ke,) and np.all(np.isfinite(a["mix_weights"])) and np.all(a["mix_weights"] >= 0),
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
    check_return_moments(path, a, K)


def check_return_moments(path, a, K):
    """Each regime's saved return mean and variance (the volatility forecast's start), if the file has them."""
    if "return_mean" not in a and "return_var" not in a:
        return  # written before volatility forecasts
    rm, rv = a.get("return_mean"), a.get("return_var")
    model_file_guard.require(
        rm is not None
        and rv is not None
        and rm.shape == (K,)
        and rv.shape == (K,)
        and np.all(np.isfinite(rm))
        and np.all(np.isfinite(rv))
        and np.all(rv >= 0),
        path,
        "the regimes' return means and variances do not fit the regimes",
    )
