"""The Gaussian-mixture engine of gmm_apps.

It knows nothing of pipelines: arrays in, fitted models out.

>>> import numpy as np
>>> from gmm_apps.core import GaussianMixture, select_model, save_model, load_model
"""

from ._covariance import COVARIANCE_TYPES, IllDefinedCovarianceError, full_covariances, n_parameters
from ._estimator import ConvergenceWarning
from ._stats import SufficientStats, chunk_statistics, m_step, map_reduce, prepare
from .ensemble import as_slice, column_log_densities, diagonal_log_densities, fit_diagonal_columns, fit_diagonal_starts
from .init import INIT_METHODS
from .mixture import GaussianMixture
from .monitor import ConvergenceMonitor
from .ordering import (
    adjusted_rand_score,
    align_components,
    bhattacharyya_distances,
    order_components,
    permute_components,
)
from .persistence import (
    SIGNING_KEY_ENV,
    check_mixture,
    file_digest,
    jsonable,
    load_arrays,
    load_model,
    loads_json,
    model_file_guard,
    read_header,
    save_arrays,
    save_model,
)
from .scaling import FeatureScaler
from .selection import SelectionResult, fit_metrics, select_model, variational_mixture
from .thresholds import threshold_at_rate

__all__ = [
    "COVARIANCE_TYPES",
    "INIT_METHODS",
    "IllDefinedCovarianceError",
    "SIGNING_KEY_ENV",
    "ConvergenceMonitor",
    "ConvergenceWarning",
    "FeatureScaler",
    "GaussianMixture",
    "SelectionResult",
    "SufficientStats",
    "adjusted_rand_score",
    "align_components",
    "as_slice",
    "bhattacharyya_distances",
    "check_mixture",
    "chunk_statistics",
    "column_log_densities",
    "diagonal_log_densities",
    "file_digest",
    "fit_diagonal_columns",
    "fit_diagonal_starts",
    "fit_metrics",
    "full_covariances",
    "jsonable",
    "load_arrays",
    "load_model",
    "loads_json",
    "m_step",
    "map_reduce",
    "model_file_guard",
    "prepare",
    "n_parameters",
    "order_components",
    "permute_components",
    "read_header",
    "save_arrays",
    "save_model",
    "select_model",
    "threshold_at_rate",
    "variational_mixture",
]
