"""Save and load fitted mixtures in a safe, inspectable format.

A model file is a NumPy ``.npz`` archive holding the parameter arrays and one
extra entry, ``__header__``, with a JSON document (UTF-8 bytes)::

    {"format": "gmm_apps.GaussianMixture", "format_version": 1,
     "package_version": "0.1.0", "params": {...constructor parameters...},
     "attributes": {...scalars: n_iter_, converged_, lower_bound_...},
     "arrays": {"means_": {"shape": [...], "dtype": "float64", "sha256": "..."}},
     "extra": {...anything the caller stored...}}

Loading uses ``allow_pickle=False`` and never executes code.  The whole file
is checked: each array's shape, dtype and SHA-256 are recorded in the header,
and the header's own SHA-256 is stored beside it (``__checksum__``), so a
truncated or edited file -- header or arrays -- is refused with one clear
message.  The parameters are then checked against each other (component
count, feature count, covariance shapes), so a file that is consistent with
its checksum but not with itself is refused too.

A checksum catches accidents, not intent: anyone can recompute it.  For
tamper protection set the environment variable ``GMM_APPS_SIGNING_KEY``
(any secret text): files are then written with an HMAC-SHA256 signature of
the header (``__signature__``), and loading refuses files whose signature is
missing or wrong.

The same checked container holds other numeric models too
(:func:`save_arrays` / :func:`load_arrays`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ModelFileError, UserError
from ._covariance import COVARIANCE_TYPES
from ._estimator import check_is_fitted
from ._stats import SufficientStats
from .mixture import GaussianMixture

FORMAT = "gmm_apps.GaussianMixture"
FORMAT_VERSION = 2
#: the environment variable holding the signing key
SIGNING_KEY_ENV = "GMM_APPS_SIGNING_KEY"
_RESERVED = ("__header__", "__checksum__", "__signature__")

_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")
_SCALARS = ("converged_", "n_iter_", "lower_bound_", "n_features_in_", "n_reseeds_", "n_steps_")
#: ``partial_fit``'s running statistics, saved so that a loaded model continues the stream
_STREAM = ("nk", "s1", "s2", "centre")
_PARAMS = (
    "n_components",
    "covariance_type",
    "tol",
    "reg_covar",
    "max_iter",
    "n_init",
    "init_params",
    "random_state",
    "warm_start",
    "verbose",
    "chunk_size",
    "init_sample_size",
    "n_jobs",
    "missing",
    "learning_decay",
    "learning_offset",
    "forgetting_factor",
)


#: JSON read from files (model headers, detector files, run markers and summaries) nests this deep at most
MAX_JSON_DEPTH = 64


def loads_json(raw, *, max_depth=MAX_JSON_DEPTH):
    """``json.loads`` for files that may have been tampered with: deep nesting is a ``ValueError``.

    Parameters
    ----------
    raw : str or bytes
    max_depth : int

    Returns
    -------
    value : object

    Raises
    ------
    ValueError
        Malformed JSON (``json.JSONDecodeError``), or nested deeper than ``max_depth``.
    """
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > max_depth:
                raise ValueError(f"nested deeper than {max_depth} levels")
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return value


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def jsonable(obj, *, non_finite="null"):
    """``obj`` with NumPy values, dates and paths turned into plain JSON values (recursively).

    The package's one JSON conversion: run summaries, model-file headers and
    run markers all go through it.

    Parameters
    ----------
    obj : object
    non_finite : {'null', 'text'}
        How NaN and infinities are written: JSON ``null`` (tables and
        summaries), or their text ``'nan'``, ``'inf'``, ``'-inf'`` (model headers,
        where the value must come back as it was).

    Returns
    -------
    value : object
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v, non_finite=non_finite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, non_finite=non_finite) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist(), non_finite=non_finite)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        if math.isfinite(v):
            return v
        return None if non_finite == "null" else repr(v)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return obj


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
    check_is_fitted(model)
    path = Path(path)
    data = {name: np.asarray(getattr(model, name)) for name in _ARRAYS}
    data.update({"extra:" + name: a for name, a in _checked_arrays(arrays or {}).items()})
    stream = getattr(model, "_stream", None)
    if stream is not None:
        data.update(
            {
                "stream:nk": stream.nk,
                "stream:s1": stream.s1,
                "stream:s2": stream.s2,
                "stream:centre": np.asarray(model._stream_centre, dtype=np.float64),
            }
        )
    params = {}
    for p in _PARAMS:
        v = getattr(model, p, None)
        if p == "random_state" and not (v is None or isinstance(v, (int, np.integer))):
            v = None
        params[p] = jsonable(v, non_finite="text")
    params["dtype"] = np.dtype(model.dtype).name
    order_by = getattr(model, "order_by", None)
    params["order_by"] = order_by if (order_by is None or isinstance(order_by, (str, int))) else None
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "params": params,
        "attributes": {s: jsonable(getattr(model, s, None), non_finite="text") for s in _SCALARS},
        "extra": extra or {},
    }
    return _write(path, header, data)


def _signing_key():
    key = os.environ.get(SIGNING_KEY_ENV)
    return key.encode("utf-8") if key else None


def signature(raw):
    """HMAC-SHA256 (hex) of ``raw`` bytes under the key in ``GMM_APPS_SIGNING_KEY``, or None when no key is set."""
    key = _signing_key()
    return None if key is None else hmac.new(key, raw, hashlib.sha256).hexdigest()


def _checked_arrays(arrays):
    """Extra arrays as NumPy arrays; a reserved name (``__...``) or an object array is refused."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if name.startswith("__") or a.dtype == object:
            raise ValueError(f"array {name!r}: a reserved name or an object array; only numeric or string arrays")
        out[name] = a
    return out


def _write(path, header, data):
    """Write ``data`` (name -> array) and ``header`` (JSON) to ``path`` atomically.

    The header gets each array's shape, dtype and SHA-256, its own checksum
    beside it, and a signature when a signing key is set.
    """
    path = Path(path)
    header = dict(
        header,
        arrays={n: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _digest(a)} for n, a in data.items()},
    )
    raw = json.dumps(header, sort_keys=True).encode("utf-8")
    data = dict(data)
    data["__header__"] = np.frombuffer(raw, dtype=np.uint8)
    data["__checksum__"] = np.frombuffer(hashlib.sha256(raw).hexdigest().encode("ascii"), dtype=np.uint8)
    sig = signature(raw)
    if sig is not None:
        data["__signature__"] = np.frombuffer(sig.encode("ascii"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **data)
    os.replace(tmp, path)
    return path


def save_arrays(path, arrays, *, format, meta=None, format_version=1):
    """Write named numeric arrays and JSON metadata in the checked model-file container.

    Parameters
    ----------
    path : str or Path
    arrays : dict of str -> ndarray
        Numeric or string arrays (no objects); names must not start with ``__``.
    format : str
        The file's kind, checked by :func:`load_arrays` (e.g. ``"gmm_apps.GMMDetector"``).
    meta : dict, optional
        JSON-serialisable metadata.
    format_version : int

    Returns
    -------
    path : Path
    """
    header = {"format": format, "format_version": format_version, "package_version": __version__, "extra": meta or {}}
    return _write(path, header, _checked_arrays(arrays))


def load_arrays(path, *, format, max_version=1):
    """Read a file written by :func:`save_arrays`, checking checksums (and the signature when a key is set).

    Parameters
    ----------
    path : str or Path
    format : str
        The kind expected; another kind is refused.
    max_version : int
        Newest ``format_version`` this reader understands.

    Returns
    -------
    meta : dict
    arrays : dict of str -> ndarray
    """
    header, arrays = _read(path, format=format, max_version=max_version)
    return header.get("extra", {}), arrays


def file_digest(path):
    """SHA-256 of a file's bytes (to bind files that belong together)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def _altered(path, what):
    return ModelFileError(f"{path}: {what}; the file was altered or damaged; rerun 'gmm-apps run' to write it again")


def _read(path, *, format=FORMAT, max_version=FORMAT_VERSION):
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            if "__header__" not in files:
                raise ModelFileError(f"{path}: not a gmm_apps model file (no header)")
            raw = npz["__header__"].tobytes()
            checksum = npz["__checksum__"].tobytes().decode("ascii") if "__checksum__" in files else None
            signed = npz["__signature__"].tobytes().decode("ascii") if "__signature__" in files else None
            header = loads_json(raw.decode("utf-8"))
            arrays = {k: npz[k] for k in files if k not in _RESERVED}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, UnicodeDecodeError, KeyError) as exc:
        raise ModelFileError(
            f"{path}: cannot read the model file ({type(exc).__name__}: {exc}); "
            "it is truncated or not a gmm_apps model; refit and save it again"
        ) from None
    if not isinstance(header, dict) or header.get("format") != format:
        got = header.get("format") if isinstance(header, dict) else None
        raise ModelFileError(f"{path}: not a {format} file (format {got!r}); pass the file this kind of run wrote")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > max_version:
        raise ModelFileError(
            f"{path}: model format version {version!r} is newer than this gmm_apps "
            f"({__version__}) reads (up to {max_version}); upgrade gmm_apps"
        )
    want = signature(raw)
    if want is not None:
        if signed is None:
            raise ModelFileError(
                f"{path}: the file is not signed, and {SIGNING_KEY_ENV} is set; only files written "
                "with the key are accepted (rerun with the key set, or unset it to skip the check)"
            )
        if not hmac.compare_digest(want, signed):
            raise ModelFileError(
                f"{path}: the signature does not match {SIGNING_KEY_ENV}; the file was altered or "
                "signed with another key"
            )
    if checksum is not None:
        if not hmac.compare_digest(hashlib.sha256(raw).hexdigest(), checksum):
            raise _altered(path, "the header does not match its checksum")
    elif format != FORMAT or version >= 2:
        raise _altered(path, "the header's checksum is missing")
    spec = header.get("arrays")
    if not isinstance(spec, dict) or set(spec) != set(arrays):
        raise _altered(path, f"arrays {sorted(arrays)} do not match the header's {sorted(spec or {})}")
    for name, a in arrays.items():
        s = spec[name]
        if (
            not isinstance(s, dict)
            or list(a.shape) != s.get("shape")
            or a.dtype.str != s.get("dtype")
            or _digest(a) != s.get("sha256")
        ):
            raise _altered(path, f"array {name!r} does not match its checksum in the header")
    return header, arrays


class model_file_guard:
    """Turn a malformed entry met while reading a model file into one :class:`ModelFileError`.

    Readers of pipeline model files unpack names, shapes and options from the
    file; a file edited consistently with its checksums can still disagree
    with itself.  Inside this context a ``KeyError``, ``IndexError``,
    ``TypeError`` or ``ValueError`` names the file instead of surfacing as a bug.

    Parameters
    ----------
    path : str or Path
    """

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if typ is None or issubclass(typ, ModelFileError):
            return False
        if issubclass(typ, (KeyError, IndexError, TypeError, ValueError, AttributeError)) and not issubclass(
            typ, UserError
        ):
            raise ModelFileError(
                f"{self.path}: inconsistent model file ({type(exc).__name__}: {exc}); "
                "rerun 'gmm-apps run' to write it again"
            ) from None
        return False

    @staticmethod
    def require(cond, path, what):
        """Raise :class:`ModelFileError` naming ``path`` and ``what`` unless ``cond``."""
        if not cond:
            raise ModelFileError(f"{path}: inconsistent model file: {what}; rerun 'gmm-apps run' to write it again")

    @staticmethod
    def older(path, what, lacking):
        """The one refusal of a model file from an earlier version that lacks a part this version needs.

        The policy every pipeline follows: a file of an earlier gmm_apps is read
        when it holds everything the model needs, and otherwise refused with
        this message; a missing part is never guessed.

        Parameters
        ----------
        path : str or Path
        what : str
            e.g. ``"a regimes model"``.
        lacking : str
            What the file does not hold, e.g. ``"the states' covariance type"``.

        Returns
        -------
        ModelFileError
        """
        return ModelFileError(
            f"{path}: {what} written by an older gmm_apps, without {lacking}; rerun 'gmm-apps run' with the "
            "run's config.yaml to write it again"
        )


def _restore_stream(model, arrays, path):
    """Put back ``partial_fit``'s running statistics when the file has them (checked against the parameters)."""
    if not any(k.startswith("stream:") for k in arrays):
        return

    try:
        nk, s1, s2, centre = (np.asarray(arrays["stream:" + k], dtype=np.float64) for k in _STREAM)
    except KeyError as exc:
        raise ModelFileError(
            f"{path}: streaming statistics incomplete ({exc} missing); rerun to write the model again"
        ) from None
    K, d = model.means_.shape
    want = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K, d)}[model.covariance_type]
    if nk.shape != (K,) or s1.shape != (K, d) or s2.shape != want or centre.shape != (d,):
        raise ModelFileError(f"{path}: streaming statistics do not fit a model of {K} components and {d} features")
    model._stream = SufficientStats(nk, s1, s2, 0.0, 1.0, np.broadcast_to(centre, (K, d)))
    model._stream_centre = centre


def check_mixture(model, path):
    """Check that a mixture's parameters agree with each other; raise :class:`ModelFileError` if not.

    Parameters
    ----------
    model : GaussianMixture
    path : str or Path
        For the message.
    """

    def bad(what):
        return ModelFileError(f"{path}: inconsistent model file: {what}; rerun 'gmm-apps run' to write it again")

    ct = model.covariance_type
    if ct not in COVARIANCE_TYPES:
        raise bad(f"covariance_type {ct!r} is not one of {', '.join(COVARIANCE_TYPES)}")
    w, m = np.asarray(model.weights_), np.asarray(model.means_)
    if m.ndim != 2 or w.shape != (m.shape[0],) or m.shape[0] < 1:
        raise bad(f"weights of shape {w.shape} and means of shape {m.shape}")
    K, d = m.shape
    n = model.n_components
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n != K:
        raise bad(f"n_components {n!r} but {K} components stored")
    if getattr(model, "n_features_in_", d) not in (None, d):
        raise bad(f"n_features_in_ {model.n_features_in_!r} but means have {d} features")
    want = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[ct]
    for name in ("covariances_", "precisions_cholesky_", "precisions_"):
        a = np.asarray(getattr(model, name))
        if a.shape != want:
            raise bad(f"{name} has shape {a.shape}, expected {want} for covariance_type {ct!r}")
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        a = np.asarray(getattr(model, name))
        if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)):
            raise bad(f"{name} holds non-finite or non-numeric values")
    if np.any(w < 0) or abs(float(w.sum()) - 1.0) > 1e-6:
        raise bad("the weights are not a probability vector")
    problem = _covariance_problem(
        ct,
        np.asarray(model.covariances_, dtype=np.float64),
        np.asarray(model.precisions_cholesky_, dtype=np.float64),
        np.asarray(model.precisions_, dtype=np.float64),
        tol=1e-2 if np.asarray(model.covariances_).dtype == np.float32 else 1e-4,
    )
    if problem:
        raise bad(problem)


def _covariance_problem(ct, cov, prec_chol, prec, *, tol):
    """Why covariances, their precision Cholesky factors and precisions disagree or are not positive definite, or None.

    With ``P`` the precision Cholesky factor of a covariance ``C``, ``P.T @ C @ P``
    is the identity, and the precision is ``P @ P.T`` (so ``precision @ C`` is
    the identity too); both are checked to ``tol``.
    """
    if ct in ("diag", "spherical"):
        if np.any(cov <= 0):
            return "a variance is not positive"
        if np.max(np.abs(cov * prec_chol**2 - 1)) > tol or np.max(np.abs(cov * prec - 1)) > tol:
            return "the precisions do not match the covariances"
        return None
    covs = cov[None] if ct == "tied" else cov
    pcs = prec_chol[None] if ct == "tied" else prec_chol
    precs = prec[None] if ct == "tied" else prec
    eye = np.eye(cov.shape[-1])
    for C, P, Q in zip(covs, pcs, precs):
        if not np.allclose(C, C.T, rtol=1e-6, atol=1e-12 * max(1.0, float(np.abs(C).max()))):
            return "a covariance matrix is not symmetric"
        try:
            np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            return "a covariance matrix is not positive definite"
        if np.max(np.abs(P.T @ C @ P - eye)) > tol or np.max(np.abs(Q @ C - eye)) > tol:
            return "the precisions do not match the covariances"
    return None


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
    header, arrays = _read(path)
    try:
        p = dict(header["params"])
        if p.get("dtype", "float64") not in ("float32", "float64"):
            raise ValueError(f"dtype {p.get('dtype')!r} is not float32 or float64")
        p["dtype"] = np.dtype(p.get("dtype", "float64")).type
        model = GaussianMixture(**p)
    except (TypeError, KeyError, ValueError) as exc:
        raise ModelFileError(f"{path}: unexpected model parameters ({exc})") from None
    for name in _ARRAYS:
        if name not in arrays:
            raise ModelFileError(f"{path}: array {name!r} missing")
        setattr(model, name, arrays[name])
    attributes = header.get("attributes", {})
    for name, v in attributes.items() if isinstance(attributes, dict) else ():
        if name not in _SCALARS:
            continue
        if name == "lower_bound_" and isinstance(v, str):
            v = float(v)
        setattr(model, name, v)
    model.lower_bounds_ = []
    check_mixture(model, path)
    _restore_stream(model, arrays, path)
    if with_extra:
        extra_arrays = {k[len("extra:") :]: v for k, v in arrays.items() if k.startswith("extra:")}
        return model, {"meta": header.get("extra", {}), "arrays": extra_arrays}
    return model
