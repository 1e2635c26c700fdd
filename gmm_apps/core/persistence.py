"""Save and load fitted mixtures in a safe, inspectable format.

A model file is a NumPy ``.npz`` archive holding the parameter arrays and one
extra entry, ``__header__``, with a JSON document (UTF-8 bytes)::

    {"format": "gmm_apps.GaussianMixture", "format_version": 1,
     "package_version": "0.1.0", "params": {...constructor parameters...},
     "attributes": {...scalars: n_iter_, converged_, lower_bound_...},
     "arrays": {"means_": {"shape": [...], "dtype": "float64", "sha256": "..."}},
     "extra": {...anything the caller stored...}}

Loading uses ``allow_pickle=False`` and never executes code; each array's
shape, dtype and SHA-256 are checked against the header, so a truncated or
edited file is rejected with a clear message.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ModelFileError

FORMAT = "gmm_apps.GaussianMixture"
FORMAT_VERSION = 1

_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")
_SCALARS = ("converged_", "n_iter_", "lower_bound_", "n_features_in_", "n_reseeds_")
_PARAMS = (
    "n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init",
    "init_params", "random_state", "warm_start", "verbose", "chunk_size", "init_sample_size", "n_jobs",
)


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def save_model(model, path, *, extra=None, arrays=None):
    """Write a fitted :class:`GaussianMixture` to ``path`` (an ``.npz`` file).

    Parameters
    ----------
    model : GaussianMixture
        Fitted model.
    path : str or Path
        Destination; written atomically (temporary file, then rename).
    extra : dict, optional
        JSON-serialisable metadata stored in the header (e.g. feature names).
    arrays : dict of str -> ndarray, optional
        Extra numeric arrays stored beside the parameters (e.g. scaler
        statistics); their names must not start with ``__``.

    Returns
    -------
    path : Path
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    path = Path(path)
    data = {name: np.asarray(getattr(model, name)) for name in _ARRAYS}
    for name, a in (arrays or {}).items():
        if name.startswith("__") or name in data:
            raise ValueError(f"extra array name {name!r} is reserved")
        a = np.asarray(a)
        if a.dtype == object:
            raise ValueError(f"extra array {name!r} has dtype object; only numeric or string arrays")
        data["extra:" + name] = a
    params = {}
    for p in _PARAMS:
        v = getattr(model, p, None)
        if p == "random_state" and not (v is None or isinstance(v, (int, np.integer))):
            v = None
        params[p] = _jsonable(v)
    params["dtype"] = np.dtype(model.dtype).name
    order_by = getattr(model, "order_by", None)
    params["order_by"] = order_by if (order_by is None or isinstance(order_by, (str, int))) else None
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "params": params,
        "attributes": {s: _jsonable(getattr(model, s, None)) for s in _SCALARS},
        "arrays": {
            name: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _digest(a)}
            for name, a in data.items()
        },
        "extra": extra or {},
    }
    raw = json.dumps(header, sort_keys=True).encode("utf-8")
    data["__header__"] = np.frombuffer(raw, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **data)
    os.replace(tmp, path)
    return path


def read_header(path):
    """Read and check a model file's JSON header without building the model.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    header : dict
    """
    header, _ = _read(path)
    return header


def _read(path):
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            if "__header__" not in files:
                raise ModelFileError(f"{path}: not a gmm_apps model file (no header)")
            header = json.loads(npz["__header__"].tobytes().decode("utf-8"))
            arrays = {k: npz[k] for k in files if k != "__header__"}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"{path}: cannot read the model file ({type(exc).__name__}: {exc}); "
            "it is truncated or not a gmm_apps model; refit and save it again"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a gmm_apps model file (format {header.get('format')!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version!r} is newer than this gmm_apps "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade gmm_apps"
        )
    spec = header.get("arrays", {})
    if set(spec) != set(arrays):
        raise ModelFileError(
            f"{path}: arrays {sorted(arrays)} do not match the header's {sorted(spec)}; the file was altered"
        )
    for name, a in arrays.items():
        s = spec[name]
        if list(a.shape) != s["shape"] or a.dtype.str != s["dtype"] or _digest(a) != s["sha256"]:
            raise ModelFileError(
                f"{path}: array {name!r} does not match its checksum in the header; the file was altered"
            )
    return header, arrays


def load_model(path, *, with_extra=False):
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
    with_extra : bool, default=False
        Also return the header's ``extra`` dict and the extra arrays.

    Returns
    -------
    model : GaussianMixture
    extra : dict
        Only with ``with_extra``: ``{"meta": header["extra"], "arrays": {...}}``.

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, altered, or of a newer format.
    """
    from .mixture import GaussianMixture

    header, arrays = _read(path)
    p = dict(header["params"])
    p["dtype"] = np.dtype(p.get("dtype", "float64")).type
    try:
        model = GaussianMixture(**p)
    except TypeError as exc:
        raise ModelFileError(f"{path}: unexpected model parameters ({exc})") from None
    for name in _ARRAYS:
        if name not in arrays:
            raise ModelFileError(f"{path}: array {name!r} missing")
        setattr(model, name, arrays[name])
    for name, v in header.get("attributes", {}).items():
        if name == "lower_bound_" and isinstance(v, str):
            v = float(v)
        setattr(model, name, v)
    model.lower_bounds_ = []
    if with_extra:
        extra_arrays = {k[len("extra:"):]: v for k, v in arrays.items() if k.startswith("extra:")}
        return model, {"meta": header.get("extra", {}), "arrays": extra_arrays}
    return model
