"""Per-feature centring and scaling: the one scaler every pipeline uses."""

from __future__ import annotations

import numpy as np

#: the interquartile range of a standard normal distribution: IQR / 1.349 estimates its standard deviation
NORMAL_IQR = 1.349


class FeatureScaler:
    """Centre and scale each feature: ``x' = (x - center) / scale``.

    Build it with :meth:`standard` (mean and standard deviation) or
    :meth:`median_iqr` (median and IQR / 1.349, robust to outliers), or from
    saved ``center`` and ``scale`` arrays.

    Parameters
    ----------
    center, scale : array-like of shape (n_features,)

    Attributes
    ----------
    center, scale : ndarray of shape (n_features,), float64
    """

    def __init__(self, center, scale):
        self.center = np.asarray(center, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    @classmethod
    def standard(cls, X):
        """Mean and (population) standard deviation of each column; a constant column gets scale 0 (see :meth:`constant`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scaler : FeatureScaler
        """
        X = np.asarray(X, dtype=np.float64)
        return cls(X.mean(axis=0), X.std(axis=0, ddof=0))

    @classmethod
    def median_iqr(cls, X, *, floor=1e-12):
        """Median and IQR / 1.349 of each column (the standard deviation for normal data).

        A column whose IQR is below ``floor`` is scaled by its standard
        deviation instead, and a constant column by 1.  Missing entries (NaN)
        are ignored.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        floor : float

        Returns
        -------
        scaler : FeatureScaler
        """
        X = np.asarray(X, dtype=np.float64)
        if np.isnan(X).any():  # missing entries (NaN) are left out, column by column
            q75, q25 = np.nanpercentile(X, [75, 25], axis=0)
            sd, med = np.nanstd(X, axis=0), np.nanmedian(X, axis=0)
        else:
            q75, q25 = np.percentile(X, [75, 25], axis=0)
            sd, med = X.std(axis=0), np.median(X, axis=0)
        scale = np.where(q75 - q25 > floor, (q75 - q25) / NORMAL_IQR, np.where(sd > floor, sd, 1.0))
        return cls(med, scale)

    def constant(self, *, rtol=1e-12):
        """Boolean mask of the features whose scale is zero (to within ``rtol`` of their centre)."""
        return self.scale <= rtol * np.maximum(1.0, np.abs(self.center))

    def transform(self, X):
        """Scaled features, float64."""
        return (np.asarray(X, dtype=np.float64) - self.center) / self.scale

    def inverse_transform(self, Z):
        """Features in original units."""
        return np.asarray(Z, dtype=np.float64) * self.scale + self.center
