"""scikit-learn's estimator protocol, without importing scikit-learn.

Importing scikit-learn costs 1-2 s (it loads scipy.stats and pandas), more than
a small command-line run does in total.  The engine therefore implements the
protocol itself -- ``get_params`` / ``set_params``, cloning, tags, fitted checks
and input validation -- and imports scikit-learn only where scikit-learn is
really needed: tags (only scikit-learn asks for them), input that is not already
a finite 2-D float array (lists, data frames, integer arrays, bad input whose
error message scikit-learn words), and the ``NotFittedError`` of an unfitted
model.  ``GaussianMixture`` stays a drop-in scikit-learn estimator
(``clone``, ``Pipeline``, ``GridSearchCV``, ``check_estimator``), which the
tests check with scikit-learn's own estimator checks.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the lower bound settled.

    The engine's own class (scikit-learn's would import scikit-learn); filter it
    with ``warnings.simplefilter("ignore", gmm_apps.core.ConvergenceWarning)``.
    """


def check_random_state(seed):
    """``seed`` as a ``numpy.random.RandomState``, as scikit-learn's helper."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


def check_is_fitted(estimator):
    """Raise scikit-learn's ``NotFittedError`` unless ``estimator`` has fitted state."""
    if not any(k.endswith("_") and not k.startswith("__") for k in vars(estimator)):
        from sklearn.utils.validation import check_is_fitted as sk_check  # reason: only on the error path

        sk_check(estimator)


def _plain_float_matrix(X, min_samples):
    """True when ``X`` is already what validation would return (no copy, no message)."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOATS
        and X.shape[0] >= min_samples
        and X.shape[1] >= 1
        and (np.isfinite(X.sum()) or not np.isinf(X).any())  # a finite sum rules out inf without a mask
    )


def validate_data(estimator, X, *, reset, min_samples):
    """scikit-learn's ``validate_data`` for a float matrix that may hold NaN.

    A finite (or NaN-holding) float64/float32 ndarray is checked here; anything
    else goes through scikit-learn, which converts it or words the error.
    """
    names_fitted = hasattr(estimator, "feature_names_in_")
    if _plain_float_matrix(X, min_samples) and (reset or not names_fitted):
        if reset:
            estimator.n_features_in_ = X.shape[1]
            if names_fitted:
                del estimator.feature_names_in_
        elif hasattr(estimator, "n_features_in_") and X.shape[1] != estimator.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(estimator).__name__} "
                f"is expecting {estimator.n_features_in_} features as input."
            )
        return X
    from sklearn.utils.validation import validate_data as sk_validate  # reason: converts or refuses other input

    return sk_validate(
        estimator,
        X,
        reset=reset,
        dtype=[np.float64, np.float32],
        ensure_min_samples=min_samples,
        ensure_all_finite="allow-nan",
    )


def check_sample_weight(sample_weight, X):
    """Non-negative finite weights, one per row of ``X``, in ``X``'s dtype."""
    w = sample_weight
    if (
        type(w) is np.ndarray
        and w.ndim == 1
        and w.shape[0] == X.shape[0]
        and w.dtype == X.dtype
        and w.flags.c_contiguous
        and np.isfinite(w).all()
        and (w >= 0).all()
        and w.any()
    ):
        return w
    from sklearn.utils.validation import _check_sample_weight  # reason: converts or refuses other weights

    return _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)


class DensityEstimator:
    """The parts of ``sklearn.base.BaseEstimator`` and ``DensityMixin`` the engine needs.

    Parameters are the keyword arguments of ``__init__``, stored unchanged as
    attributes of the same name; fitted state ends in ``_``.
    """

    @classmethod
    def _get_param_names(cls):
        params = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in params if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """Parameter names mapped to their values (``deep`` adds nested estimators')."""
        out = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params):
        """Set parameters (``name=value`` or ``nested__name=value``); returns self."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested = {}
        for key, value in params.items():
            key, delim, sub_key = key.partition("__")
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {self}. "
                    f"Valid parameters are: {self._get_param_names()!r}."
                )
            if delim:
                nested.setdefault(key, {})[sub_key] = value
            else:
                setattr(self, key, value)
                valid[key] = value
        for key, sub_params in nested.items():
            valid[key].set_params(**sub_params)
        return self

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags  # reason: only scikit-learn asks for tags

        return Tags(
            estimator_type="density_estimator",
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
        )

    def _repr_html_(self):
        """scikit-learn's HTML diagram, for notebooks."""
        from sklearn.utils import estimator_html_repr  # reason: only a notebook's display needs it

        return estimator_html_repr(self)

    def __repr__(self):
        """The constructor call with the parameters that differ from the defaults."""
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values() if p.name != "self"
        }
        changed = []
        for key in self._get_param_names():
            value = getattr(self, key, None)
            default = defaults.get(key, inspect.Parameter.empty)
            if value is default or (_scalar(value) and _scalar(default) and value == default):
                continue
            changed.append(f"{key}={_short_repr(value)}")
        return f"{type(self).__name__}({', '.join(changed)})"


def _scalar(value):
    return value is None or isinstance(value, (str, numbers.Number, type))


def _short_repr(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:28] + "..." + text[-28:]
