"""YAML configs read into typed models, validated before any work starts.

Every config has the same top-level sections: ``pipeline`` (its name),
``data``, ``features``, ``model`` and ``report``.  Each pipeline subclasses the
section models below; unknown keys, wrong types and missing files are reported
as one line naming the file and the dotted key.
"""

from __future__ import annotations

import copy
import glob
import math
import os
import re
import stat
import typing
from pathlib import Path
from typing import Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .core.persistence import loads_json
from .errors import ConfigError, DataError

#: ``n_components``: a fixed K, a list of candidates, or ``{min: .., max: ..}``
NComponents = int | list[int] | dict[str, int]
CovarianceType = Literal["full", "tied", "diag", "spherical"]
#: ``covariance_type``: one type or a list of candidates
CovarianceTypes = CovarianceType | list[CovarianceType]


def _wants_number(annotation):
    """Whether a field's type admits a number (int or float) and not a boolean."""
    args = typing.get_args(annotation)
    if annotation is bool or bool in args:
        return False
    if annotation in (int, float):
        return True
    return any(_wants_number(a) for a in args)


def _non_finite(v):
    """Whether a value (or a value inside a list or mapping) is a NaN or infinite float."""
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, (list, tuple)):
        return any(_non_finite(x) for x in v)
    if isinstance(v, dict):
        return any(_non_finite(x) for x in v.values())
    return False


def _has_bool(v):
    if isinstance(v, bool):
        return True
    if isinstance(v, (list, tuple)):
        return any(_has_bool(x) for x in v)
    if isinstance(v, dict):
        return any(_has_bool(x) for x in v.values())
    return False


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, and a boolean is never taken for a number."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, v, info):
        field = cls.model_fields.get(info.field_name)
        if field is not None and _wants_number(field.annotation):
            if _has_bool(v):
                raise ValueError(f"expected a number, not a yes/no value, got {yaml_text(v)}")
            if _non_finite(v):
                raise ValueError(f"expected a finite number, got {yaml_text(v)}")
        return v


class DataSection(Section):
    """Where the input comes from; each pipeline declares its own keys."""


class PathData(DataSection):
    """Input named by ``path``: a file, a folder or a glob."""

    path: str | None = Field(None, description="input file, folder or glob")


class ReportSection(Section):
    """Report options every pipeline has."""

    title: str | None = Field(None, description="report title; default: the pipeline's")
    plots: bool = Field(True, description="draw the report's plots")


class EvaluationReport(ReportSection):
    """Report options of pipelines whose report evaluates soft assignments (the model-evaluation block)."""

    uncertain_below: float = Field(
        0.6, gt=0, le=1, description="top probability below which an assignment is uncertain"
    )
    silhouette_sample: int = Field(5000, ge=100, description="rows sampled for the silhouette score")


class ModelSection(Section):
    """Engine options every pipeline has."""

    covariance_type: CovarianceTypes = Field(
        "full", description="full, tied, diag or spherical (or a list of them to compare)"
    )
    random_state: int = Field(0, ge=0, le=2**32 - 1, description="the run's random seed (--seed overrides it)")
    max_iter: int = Field(300, ge=1, description="EM iterations at most")
    reg_covar: float = Field(1e-6, ge=0, description="added to covariance diagonals")

    def covariance_types(self):
        """Candidate covariance types."""
        c = self.covariance_type
        return [c] if isinstance(c, str) else list(dict.fromkeys(c))


def check_components(v):
    """Validate an ``n_components``-like value: K, a list of candidates, or ``{min, max}``."""
    if isinstance(v, int):
        if v < 1:
            raise ValueError(f"must be >= 1, got {v}")
    elif isinstance(v, list):
        if not v or any(k < 1 for k in v):
            raise ValueError(f"candidates must be integers >= 1, got {v}")
    else:
        if set(v) != {"min", "max"} or not 1 <= v["min"] <= v["max"]:
            raise ValueError(f"expected {{min: K1, max: K2}} with 1 <= K1 <= K2, got {v}")
    return v


def expand_components(v):
    """The sorted candidate K values of an ``n_components``-like value."""
    if isinstance(v, int):
        return [v]
    if isinstance(v, list):
        return sorted(set(v))
    return list(range(v["min"], v["max"] + 1))


class SelectedModel(ModelSection):
    """Engine options of pipelines that choose the number of components.

    ``n_components`` is a fixed K, a list of candidates, or ``{min, max}``;
    with more than one candidate, ``criterion`` chooses.
    """

    n_components: NComponents = Field(
        3, description="K, a list of candidates, or {min: .., max: ..}; criterion chooses among several"
    )
    criterion: Literal["bic", "aic", "icl", "cv"] = Field("bic", description="how the number of components is chosen")
    tol: float = Field(1e-4, gt=0, description="EM stops when the mean log-likelihood gains less than this")

    @field_validator("n_components")
    @classmethod
    def _check_k(cls, v):
        return check_components(v)

    def candidates(self):
        """Candidate K values, sorted."""
        return expand_components(self.n_components)


class ThresholdSection(Section):
    """How a score becomes a decision: at a ``rate`` of the reference scores, or at a fixed ``value``.

    ``method: rate`` sets the threshold so that at most ``rate`` of the
    reference scores pass it; ``method: fixed`` uses ``value`` (giving only a
    ``value`` implies ``fixed``).
    """

    method: Literal["rate", "fixed"] = Field("rate", description="rate: from the reference scores; fixed: value")
    rate: float = Field(0.1, gt=0, lt=1, description="share of the reference scores that pass the threshold")
    value: float | None = Field(None, description="the threshold itself, for method: fixed")

    @model_validator(mode="before")
    @classmethod
    def _value_means_fixed(cls, data):
        if isinstance(data, dict) and data.get("value") is not None and "method" not in data:
            data = dict(data, method="fixed")
        return data

    @model_validator(mode="after")
    def _fixed_needs_value(self):
        if self.method == "fixed" and self.value is None:
            raise ValueError("method 'fixed' needs a value, got none")
        return self


_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")
_MEMORY = re.compile(r"^(?:auto|\d+(?:\.\d+)?\s*(?:[kKMGT]i?B|B)?)$")


class EngineSection(Section):
    """Where the heavy work runs: ``local`` (this process and its threads) or ``dask``
    (a ``dask.distributed`` cluster: the scheduler at ``address``, or a LocalCluster of
    ``n_workers`` processes when no address is given)."""

    kind: Literal["local", "dask"] = Field("local", description="local: this process and its threads; dask: a cluster")
    address: str | None = Field(None, description="e.g. tcp://10.0.0.5:8786; empty: start a LocalCluster")
    n_workers: int = Field(2, ge=1, le=1024, description="LocalCluster worker processes")
    memory_limit: str = Field("auto", description="per LocalCluster worker, e.g. 2GB")

    @field_validator("address")
    @classmethod
    def _check_address(cls, v):
        if v is not None and not _ADDRESS.match(v):
            raise ValueError(
                f"expected a scheduler address like tcp://10.0.0.5:8786 (scheme, host and port), got {v!r}"
            )
        return v

    @field_validator("memory_limit")
    @classmethod
    def _check_memory(cls, v):
        if not _MEMORY.match(v.strip()):
            raise ValueError(f"expected 'auto' or a size like 2GB or 512MiB, got {v!r}")
        return v


class ChunkedEngineSection(EngineSection):
    """``engine`` of pipelines that split large tables into row blocks on Dask."""

    chunk_rows: int = Field(1_000_000, ge=1000, description="rows per Dask block / partition")


class PipelineConfig(Section):
    """The whole config of one run.

    The base holds only what every pipeline has; each pipeline narrows the
    sections and adds its own (``features``, ``split``, ``engine`` for those
    that run on Dask ...), so a key a pipeline does not read is an unknown key.
    A pipeline lists keys it renamed in ``renamed`` (old dotted key -> new):
    a user config using an old key gets a one-line error naming the new one,
    and a run folder written with the old key is read as the new one.  Keys
    the pipeline no longer reads at all are listed in ``retired`` (old dotted
    key -> what to set instead): refused in a user's config, dropped from a
    run folder's.
    """

    renamed: typing.ClassVar[dict] = {}
    retired: typing.ClassVar[dict] = {}
    #: dotted key -> {old value: new value}, for values that were renamed
    renamed_values: typing.ClassVar[dict] = {}

    pipeline: str
    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    report: ReportSection = ReportSection()


# --------------------------------------------------------------------------- reading
class DuplicateKeyError(yaml.YAMLError):
    """A mapping in a YAML file names the same key twice."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                continue
            if first is not None:
                raise DuplicateKeyError(
                    f"key {key!r} appears twice (lines {first} and {key_node.start_mark.line + 1}); keep one of them"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


#: a config may nest sections and lists this deep at most (aliases expanded)
MAX_YAML_DEPTH = 64
#: and hold this many values at most once its aliases are expanded
MAX_YAML_VALUES = 100_000


def load_yaml_text(text, source):
    """Parse YAML text safely: no code, no key twice, nesting and alias expansion bounded.

    A "billion laughs" document (aliases of aliases) or one nested thousands
    of levels deep is refused in one line before it is expanded.

    Parameters
    ----------
    text : str
    source : str
        For messages: the file, or ``--set KEY``.

    Returns
    -------
    value : object
    """
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_StrictLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise ConfigError(
                        f"{source}: nested more than {MAX_YAML_DEPTH} levels deep; a config is a few "
                        "sections of keys and lists"
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expanded(node, source)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except DuplicateKeyError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: malformed YAML{where}: {problem}") from None


def _check_expanded(root, source):
    """Refuse a composed YAML graph whose expansion (every alias copied out) is too deep or too large.

    Aliases share nodes, so sizes and depths are counted once per node
    (post-order, without recursion) and summed as the expansion would.
    """
    size, depth = {}, {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in size and not done:
            continue
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in size)
            continue
        size[key] = 1 + sum(size[id(c)] for c in children)
        depth[key] = 1 + max((depth[id(c)] for c in children), default=0) if children else 0
        if size[key] > MAX_YAML_VALUES:
            raise ConfigError(
                f"{source}: expands to more than {MAX_YAML_VALUES:,} values (aliases of aliases); "
                "write the values out instead of repeating anchors"
            )
        if depth[key] > MAX_YAML_DEPTH:
            raise ConfigError(
                f"{source}: nested more than {MAX_YAML_DEPTH} levels deep once its aliases are "
                "expanded; a config is a few sections of keys and lists"
            )


def read_yaml(path):
    """Read a YAML config file into a dict.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    raw : dict
    """
    path = Path(path)
    problem = path_problem(path)
    if problem:
        raise ConfigError(f"{path}: {'config file not found' if problem == 'file not found' else problem}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected UTF-8 YAML)") from None
    raw = load_yaml_text(text, str(path))
    if raw is None:
        raise ConfigError(f"{path}: config file is empty; expected sections pipeline, data, features, model, report")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    return raw


def parse_override(text):
    """Split ``a.b.c=value`` into the key path and the YAML-parsed value.

    Parameters
    ----------
    text : str

    Returns
    -------
    keys : list of str
    value : object
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set data.path=prices.csv")
    key, _, value = text.partition("=")
    keys = [k for k in key.strip().split(".")]
    if not all(keys):
        raise ConfigError(f"--set {text!r}: empty key segment in {key!r}")
    try:
        parsed = load_yaml_text(value, f"--set {key}") if value.strip() else None
    except ConfigError as exc:
        if "malformed YAML" not in str(exc):
            raise
        parsed = value
    return keys, parsed


def apply_overrides(raw, overrides):
    """Return a copy of ``raw`` with ``--set`` overrides applied.

    Parameters
    ----------
    raw : dict
    overrides : list of str or (str, object)
        ``KEY=VALUE`` with a dotted key (the value read as YAML), or a
        ``(dotted key, value)`` pair taken as it is (the Python API's own paths).

    Returns
    -------
    raw : dict
    """
    raw = copy.deepcopy(raw)
    for text in overrides or []:
        if isinstance(text, tuple):
            keys, value = text[0].split("."), text[1]
            text = f"{text[0]}=..."
        else:
            keys, value = parse_override(text)
        node = raw
        for i, k in enumerate(keys[:-1]):
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {text!r}: {'.'.join(keys[: i + 1])} is not a section")
            node = nxt
        node[keys[-1]] = value
    return raw


#: parts of a pydantic error location that name a type of a union, not a key
_TYPE_TAG = re.compile(
    r"^(?:function-\w+|literal|list|dict|str|int|float|bool|date|nullable|union|tagged-union|"
    r"lax-or-strict|json-or-python|chain|is-instance|[A-Z]\w*)(?:\[.*\])?$"
)


def _format_validation_error(exc, source):
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not _TYPE_TAG.match(str(p)))
    typ = err["type"]
    if typ == "extra_forbidden":
        return (
            f"{source}: unknown key {loc!r}: the pipeline has no such key (a typo, or a key of another "
            "pipeline); compare with the example in configs/"
        )
    if typ == "missing":
        return f"{source}: missing required key {loc!r}"
    got = err.get("input")
    got_s = repr(got) if not isinstance(got, (dict, list)) or len(repr(got)) < 60 else type(got).__name__
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    if ", got " in msg or msg.endswith(str(got)):
        return f"{source}: {loc}: {msg}{more}"
    return f"{source}: {loc}: {msg}, got {got_s}{more}"


_MISSING = object()


def dotted_get(raw, key, default=_MISSING):
    """The value at a dotted key (``"model.n_init"``) of nested mappings, or ``default`` when absent."""
    node = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _pop(raw, key):
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    return node.pop(last, _MISSING) if isinstance(node, dict) else _MISSING


def _put(raw, key, value):
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node.setdefault(last, value)


#: keys every config written by gmm_apps 0.1 carried, whether its pipeline read them or not
#: (section -> keys; None: the whole section)
_OLD_SHARED_KEYS = {
    "data": {"path"},
    "features": None,
    "model": {"n_components", "criterion", "covariance_type", "n_init", "random_state", "tol", "max_iter", "reg_covar"},
    "report": {"title", "uncertain_below", "silhouette_sample", "plots", "top"},
    "engine": None,
}


def upgrade_run_config(raw, model_cls):
    """Read a run folder's ``config.yaml`` written by an older gmm_apps with today's schema.

    Renamed keys take their new names, and the shared keys older versions
    wrote into every config (whether the pipeline read them or not) are
    dropped where the pipeline has no such key.

    Parameters
    ----------
    raw : dict
    model_cls : type[PipelineConfig]

    Returns
    -------
    raw : dict
    """
    raw = copy.deepcopy(raw)
    for old, new in model_cls.renamed.items():
        v = _pop(raw, old)
        if v is not _MISSING:
            _put(raw, new, v)
        section = old.split(".")[0]
        if raw.get(section) == {} and section not in model_cls.model_fields:
            del raw[section]
    for key, mapping in model_cls.renamed_values.items():
        v = dotted_get(raw, key)
        if v is not _MISSING and isinstance(v, str) and v in mapping:
            _pop(raw, key)
            _put(raw, key, mapping[v])
    for old in getattr(model_cls, "retired", {}):
        _pop(raw, old)
    fields = model_cls.model_fields
    for section, keys in _OLD_SHARED_KEYS.items():
        node = raw.get(section)
        if section not in fields:
            if section in raw and (keys is None or (isinstance(node, dict) and set(node) <= keys)):
                del raw[section]
            continue
        sub = getattr(fields[section].annotation, "model_fields", {})
        if isinstance(node, dict):
            for k in [k for k in node if k not in sub and (keys is None or k in keys)]:
                del node[k]
    return raw


def validate_config(raw, model_cls, *, source):
    """Validate a raw dict into ``model_cls``, raising :class:`ConfigError` in one line.

    Parameters
    ----------
    raw : dict
    model_cls : type[PipelineConfig]
    source : str
        The config file's name, used in messages.

    Returns
    -------
    config : PipelineConfig
    """
    for old, new in getattr(model_cls, "renamed", {}).items():
        if dotted_get(raw, old) is not _MISSING:
            raise ConfigError(f"{source}: {old} was renamed to {new}; write {new} instead")
    for old, instead in getattr(model_cls, "retired", {}).items():
        if dotted_get(raw, old) is not _MISSING:
            raise ConfigError(f"{source}: {old} is no longer a key; {instead}")
    for key, mapping in getattr(model_cls, "renamed_values", {}).items():
        v = dotted_get(raw, key)
        if isinstance(v, str) and v in mapping:
            raise ConfigError(f"{source}: {key}: {v!r} is now called {mapping[v]!r}; write {key}: {mapping[v]}")
    try:
        return model_cls.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None
    except (TypeError, AttributeError) as exc:  # a value of a shape no validator expected
        raise ConfigError(
            f"{source}: a value has the wrong shape ({exc}); compare with the example in configs/"
        ) from None


def resolve_inputs(pattern, *, key, source, suffixes=None, allow_dir=True):
    """Expand ``data.path`` (file, folder or glob) into a sorted list of files.

    Parameters
    ----------
    pattern : str
    key : str
        Dotted key for messages (e.g. ``data.path``).
    source : str
        Config file name for messages.
    suffixes : iterable of str, optional
        Accepted file endings (lower case, with the dot) when listing a folder.
    allow_dir : bool, default=True

    Returns
    -------
    files : list of Path
    """
    p = local_path(pattern).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir() and allow_dir:
        files = sorted(f for f in _walk_files(p) if suffixes is None or f.suffix.lower() in suffixes)
        if not files:
            want = ", ".join(sorted(suffixes)) if suffixes else "files"
            raise ConfigError(f"{source}: {key}: folder {pattern} holds no {want}")
        return files
    if any(ch in pattern for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(str(p), recursive=True) if Path(f).is_file())
        outputs = {d for d in {d for f in files for d in f.parents} if is_run_folder(d)}  # each folder checked once
        files = [f for f in files if outputs.isdisjoint(f.parents)]
        if suffixes is not None:
            files = [f for f in files if f.suffix.lower() in suffixes]
        if not files:
            raise ConfigError(f"{source}: {key}: the pattern {pattern!r} matches no files")
        return files
    problem = path_problem(p) or "file not found"
    raise ConfigError(f"{source}: {key}: {problem}: {pattern}")


#: written into every run folder by :class:`gmm_apps.runs.RunContext`
RUN_MARKER = ".gmm_apps_run"


def is_run_folder(path):
    """Whether ``path`` is a folder that gmm_apps wrote (a run, or a run's temporary folder).

    Such a folder holds the :data:`RUN_MARKER` file; folders written before the
    marker existed are recognised by their ``summary.json`` (with the
    ``gmm_apps_version`` key) beside a ``config.yaml``.  Only these are ever
    replaced, and input scans skip them.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
    """
    p = Path(path)
    if p.is_symlink() or not p.is_dir():
        return False
    if (p / RUN_MARKER).is_file():
        return True
    try:
        summary = loads_json((p / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and "gmm_apps_version" in summary and (p / "config.yaml").is_file()


def _walk_files(root):
    """Regular files under ``root``, skipping run folders written by gmm_apps."""
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not is_run_folder(d / n))
        for n in filenames:
            f = d / n
            if f.is_file():
                yield f


#: ``sample:NAME`` in a data key names a file or folder of the sample data installed with gmm_apps
SAMPLE_PREFIX = "sample:"
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def sample_path(name):
    """The installed sample data file or folder ``name`` (e.g. ``"cdnow_sample.txt"``, ``"fsdd_sample/enrol"``).

    Parameters
    ----------
    name : str

    Returns
    -------
    path : Path

    Raises
    ------
    DataError
        No such sample; the message lists the samples there are.
    """
    p = SAMPLES_DIR / name
    if not name or ".." in Path(name).parts or not p.exists():
        have = ", ".join(sorted(q.name for q in SAMPLES_DIR.iterdir() if not q.name.startswith(("_", "."))))
        raise DataError(f"{SAMPLE_PREFIX}{name}: no such sample; the samples are {have}")
    return p


def local_path(path):
    """``path`` with a ``sample:NAME`` prefix resolved to the installed sample data; other paths as they are.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    path : Path
    """
    s = str(path)
    return sample_path(s[len(SAMPLE_PREFIX) :]) if s.startswith(SAMPLE_PREFIX) else Path(s)


def require_file(path, *, key=None, expected=None, allow_empty=False):
    """``path`` as a Path if it is a readable, non-empty regular file; else a one-line :class:`DataError`.

    Parameters
    ----------
    path : str or Path
    key : str, optional
        The config key that named the file, added to the message.
    expected : str, optional
        What the file should hold, for the empty-file message.
    allow_empty : bool

    Returns
    -------
    path : Path
    """
    p = local_path(path)
    where = f" ({key})" if key else ""
    problem = path_problem(p)
    if problem:
        raise DataError(f"{p}: {problem}{where}")
    if not allow_empty and p.stat().st_size == 0:
        raise DataError(f"{p}: file is empty" + (f"; expected {expected}" if expected else ""))
    return p


def path_problem(path):
    """Why ``path`` is not a readable regular file, or None when it is one.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    problem : str or None
        e.g. ``"file not found"``, ``"is a folder, expected a file"``,
        ``"is a named pipe (FIFO), expected a regular file"``.
    """
    if str(path).startswith(SAMPLE_PREFIX):
        try:
            path = local_path(path)
        except DataError:
            return "no such sample (see gmm_apps/samples)"
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "file not found"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None if os.access(path, os.R_OK) else "permission denied"
    if stat.S_ISDIR(mode):
        return "is a folder, expected a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), expected a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, expected a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, expected a regular file"
    return "is not a regular file"


def dump_config(config):
    """The resolved config as YAML text.

    Parameters
    ----------
    config : PipelineConfig

    Returns
    -------
    text : str
    """
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def load_config(path, model_for, *, overrides=None, seed=None):
    """Read, override and validate a config.

    Parameters
    ----------
    path : str or Path or dict
        A YAML file, or the config itself as a mapping (named ``config`` in messages).
    model_for : callable
        ``model_for(pipeline_name, source) -> type[PipelineConfig]`` (the registry's lookup).
    overrides : list of str, optional
        ``--set`` values.
    seed : int, optional
        Overrides ``model.random_state``.

    Returns
    -------
    config : PipelineConfig
    raw : dict
        The raw mapping after overrides.
    """
    if isinstance(path, dict):
        source, raw = "config", apply_overrides(path, overrides)
    else:
        source = str(path)
        raw = apply_overrides(read_yaml(path), overrides)
    if seed is not None:
        raw.setdefault("model", {})
        if not isinstance(raw["model"], dict):
            raise ConfigError(f"{source}: model: expected a section")
        raw["model"]["random_state"] = int(seed)
    name = raw.get("pipeline")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: missing required key 'pipeline' (the pipeline's name, e.g. regimes)")
    cls = model_for(name, source)
    return validate_config(raw, cls, source=source), raw


# --------------------------------------------------------------------------- the schema as documentation
def _describe(model, name):
    """A field's description, inherited from a base class when the subclass redeclares the field without one."""
    for cls in model.__mro__:
        field = (
            getattr(cls, "model_fields", {}).get(name) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        )
        if field is not None and field.description:
            return field.description
    return ""


def _type_name(annotation):
    """A short, user-facing name of a field's type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin in (Union, getattr(__import__("types"), "UnionType", Union)):
        parts = [_type_name(a) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(parts))
        return text + (" or null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    return {int: "integer", float: "number", str: "text", bool: "true | false"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def schema_rows(model_cls, prefix=""):
    """Every key of a config schema: dotted key, type, default, limits and description, in schema order.

    Parameters
    ----------
    model_cls : type[PipelineConfig] or type[Section]

    Returns
    -------
    rows : list of dict
        ``key``, ``section`` (True for a section heading), ``type``, ``default``, ``limits``, ``description``.
    """
    rows = []
    for name, field in model_cls.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.append({"key": key, "section": True, "description": (ann.__doc__ or "").strip().split("\n\n")[0]})
            rows.extend(schema_rows(ann, key + "."))
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        elif isinstance(default, list):
            default = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in default]
        limits = []
        for m in field.metadata:
            for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                v = getattr(m, attr, None)
                if v is not None:
                    limits.append(f"{sign} {v:g}" if isinstance(v, (int, float)) else f"{sign} {v}")
        rows.append(
            {
                "key": key,
                "section": False,
                "type": _type_name(ann),
                "default": default,
                "limits": ", ".join(limits),
                "description": _describe(model_cls, name),
            }
        )
    return rows


def yaml_text(v):
    """A value as one line of YAML (flow style), as a config file would hold it."""
    text = yaml.safe_dump(v, default_flow_style=True, allow_unicode=True).strip()
    return text.removesuffix("...").strip()


def commented_config(model_cls, name):
    """A pipeline's default config as YAML, every key with a comment (type, limits, what it does).

    Parameters
    ----------
    model_cls : type[PipelineConfig]
    name : str

    Returns
    -------
    text : str
    """
    lines = [f"# {name} config: every key with its default; see docs/configuration.md.", f"pipeline: {name}"]
    for row in schema_rows(model_cls):
        depth = row["key"].count(".")
        indent = "  " * depth
        leaf = row["key"].split(".")[-1]
        if leaf == "pipeline":
            continue
        if row["section"]:
            lines.append("")
            if row["description"]:
                lines.extend(f"{indent}# {ln.strip()}" for ln in row["description"].splitlines() if ln.strip())
            lines.append(f"{indent}{leaf}:")
            continue
        what = row["type"] + (f", {row['limits']}" if row["limits"] else "")
        comment = f"{what}: {row['description']}" if row["description"] else what
        lines.append(f"{indent}{leaf}: {yaml_text(row['default'])}  # {comment}")
    return "\n".join(lines) + "\n"
