"""Covariance maths for the four covariance types, as small pure functions.

Shapes by ``covariance_type`` (K components, d features):

============  ===================  ============================
type          covariances          precisions_cholesky
============  ===================  ============================
'full'        (K, d, d)            (K, d, d), upper-triangular U, P = U U^T
'tied'        (d, d)               (d, d)
'diag'        (K, d)               (K, d)
'spherical'   (K,)                 (K,)
============  ===================  ============================

The conventions are those of scikit-learn's ``GaussianMixture``, so parameters
can be exchanged between the two.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

LOG_2PI = math.log(2.0 * math.pi)


class IllDefinedCovarianceError(np.linalg.LinAlgError):
    """Raised when covariances are not positive definite.

    Attributes
    ----------
    components : list of int
        The components whose covariance failed (``[0]`` for 'tied').
    """

    def __init__(self, components):
        self.components = list(components)
        super().__init__(f"covariance of component(s) {self.components} is not positive definite")


def covariance_shape(covariance_type, n_components, n_features):
    """Shape of ``covariances_`` for a covariance type.

    Parameters
    ----------
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_components, n_features : int

    Returns
    -------
    shape : tuple of int
    """
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def compute_precision_cholesky(covariances, covariance_type):
    """Upper-triangular Cholesky factors of the precisions from covariances.

    Parameters
    ----------
    covariances : ndarray
        Shape by ``covariance_type`` (see module docstring).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    precisions_cholesky : ndarray, same shape as ``covariances``

    Raises
    ------
    IllDefinedCovarianceError
        If a covariance is not positive definite; ``components`` lists which.
    """
    covariances = np.asarray(covariances)
    if covariance_type in ("full", "tied"):
        covs = covariances if covariance_type == "full" else covariances[None]
        n_features = covs.shape[-1]
        eye = np.eye(n_features, dtype=covs.dtype)
        out = np.empty_like(covs)
        bad = []
        for k, cov in enumerate(covs):
            if not np.all(np.isfinite(cov)):
                bad.append(k)
                continue
            try:
                chol = linalg.cholesky(cov, lower=True, check_finite=False)
            except np.linalg.LinAlgError:
                bad.append(k)
                continue
            out[k] = linalg.solve_triangular(chol, eye, lower=True, check_finite=False).T
        if bad:
            raise IllDefinedCovarianceError(bad)
        return out if covariance_type == "full" else out[0]
    bad = np.flatnonzero(~(covariances > 0).reshape(covariances.shape[0], -1).all(axis=1))
    if bad.size:
        raise IllDefinedCovarianceError(bad.tolist())
    return 1.0 / np.sqrt(covariances)


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Cholesky factors ``U`` (``P = U U^T``, U upper-triangular) of given precisions.

    Parameters
    ----------
    precisions : ndarray
        Precision matrices, shaped as the covariances of ``covariance_type``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    precisions_cholesky : ndarray, same shape as ``precisions``
    """
    precisions = np.asarray(precisions)
    if covariance_type in ("full", "tied"):
        mats = precisions if covariance_type == "full" else precisions[None]
        out = np.empty_like(mats)
        for k, p in enumerate(mats):
            try:
                # flip so that the lower factor of the flipped matrix is upper for P
                low = linalg.cholesky(p[::-1, ::-1], lower=True)
            except np.linalg.LinAlgError as exc:
                raise IllDefinedCovarianceError([k]) from exc
            out[k] = low[::-1, ::-1]
        return out if covariance_type == "full" else out[0]
    if np.any(precisions <= 0):
        raise IllDefinedCovarianceError(np.flatnonzero(np.atleast_1d(precisions <= 0)).tolist())
    return np.sqrt(precisions)


def precisions_from_cholesky(precisions_cholesky, covariance_type):
    """Precision matrices ``U U^T`` from their Cholesky factors.

    Parameters
    ----------
    precisions_cholesky : ndarray
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    precisions : ndarray, same shape as ``precisions_cholesky``
    """
    pc = np.asarray(precisions_cholesky)
    if covariance_type == "full":
        return np.matmul(pc, np.swapaxes(pc, 1, 2))
    if covariance_type == "tied":
        return pc @ pc.T
    return pc**2


def covariances_from_precisions(precisions, covariance_type):
    """Invert precisions into covariances.

    Parameters
    ----------
    precisions : ndarray
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    covariances : ndarray, same shape as ``precisions``
    """
    precisions = np.asarray(precisions)
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(precisions)
    return 1.0 / precisions


def log_det_cholesky(precisions_cholesky, covariance_type, n_features):
    """Log-determinant of the precision Cholesky factors, one per component.

    Parameters
    ----------
    precisions_cholesky : ndarray
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_features : int

    Returns
    -------
    log_det : ndarray of shape (K,) or a scalar for 'tied'
        ``sum(log(diag(U)))``, i.e. half the log-determinant of the precision.
    """
    pc = np.asarray(precisions_cholesky)
    if covariance_type == "full":
        return np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(pc)).sum()
    if covariance_type == "diag":
        return np.log(pc).sum(axis=1)
    return n_features * np.log(pc)


def full_covariances(covariances, covariance_type, n_components, n_features):
    """Covariances of any type as ``(K, d, d)`` full matrices (a new float64 array).

    Parameters
    ----------
    covariances : ndarray
        Shaped by ``covariance_type``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_components, n_features : int

    Returns
    -------
    full : ndarray of shape (K, d, d)
    """
    c = np.asarray(covariances, dtype=np.float64)
    K, d = n_components, n_features
    if covariance_type == "full":
        return c.copy()
    if covariance_type == "tied":
        return np.broadcast_to(c, (K, d, d)).copy()
    if covariance_type == "diag":
        return c[:, :, None] * np.eye(d)
    return c[:, None, None] * np.eye(d)


def n_parameters(n_components, n_features, covariance_type):
    """Number of free parameters of a mixture.

    Parameters
    ----------
    n_components, n_features : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    n : int
        Covariance parameters + ``K * d`` means + ``K - 1`` weights.
    """
    k, d = n_components, n_features
    cov = {
        "full": k * d * (d + 1) // 2,
        "tied": d * (d + 1) // 2,
        "diag": k * d,
        "spherical": k,
    }[covariance_type]
    return int(cov + k * d + k - 1)
