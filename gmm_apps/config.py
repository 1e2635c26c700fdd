"""YAML configs read into typed models, validated before any work starts.

Every config has the same top-level sections: ``pipeline`` (its name),
``data``, ``features``, ``model`` and ``report``.  Each pipeline subclasses the
section models below; unknown keys, wrong types and missing files are reported
as one line naming the file and the dotted key.

This module holds the schema's building blocks and turns raw mappings into
validated configs (renamed and retired keys included).  Reading YAML and
``--set`` is :mod:`gmm_apps.yaml_io`; the files and folders a config names are
:mod:`gmm_apps.paths`; the schema as documentation is :mod:`gmm_apps.config_docs`.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import typing
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .yaml_io import MISSING, apply_overrides, dotted_get, dotted_pop, dotted_put, read_yaml, yaml_text

#: ``n_components``: a fixed K, a list of candidates, or ``{min: .., max: ..}``
NComponents = int | list[int] | dict[str, int]
CovarianceType = Literal["full", "tied", "diag", "spherical"]
#: ``covariance_type``: one type or a list of candidates
CovarianceTypes = CovarianceType | list[CovarianceType]


def _zone(v):
    from .dates import zone_problem  # reason: dates loads pandas; only configs naming a zone need it

    problem = None if v is None else zone_problem(v)
    if problem:
        raise ValueError(problem)
    return v


#: ``data.timezone``: the time zone a day is taken in (a name zoneinfo knows), or None: as written
TimeZone = Annotated[str | None, AfterValidator(_zone)]


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


def no_demo_beside_own(data, own, other, *, null_means):
    """With data ``own`` of the user's, the demo data is never what key ``other`` reads: left unset, ``other``
    becomes null (``null_means`` says what that does); a ``sample:`` set on purpose is an error.

    For a data section's ``model_validator(mode="after")``; returns the section.
    """
    mine, theirs = getattr(data, own), getattr(data, other)
    if str(mine).startswith("sample:") or theirs is None or not str(theirs).startswith("sample:"):
        return data
    if other not in data.model_fields_set:
        setattr(data, other, None)
        return data
    raise ValueError(
        f"data.{other} must be null ({null_means}) or data of your own when data.{own} is your own ({mine}), "
        f"got the demo data {theirs}; set data.{other}: null, or name data of your own"
    )


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
    reg_covar: float = Field(1e-6, ge=0, le=1e6, description="added to covariance diagonals")

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

    @model_validator(mode="after")
    def _each_method_reads_its_key(self):
        """A ``rate`` (other than the default) with ``method: fixed`` would change nothing: refused (a ``value``
        with ``method: rate`` is refused with the other unread keys)."""
        unread = self.method == "fixed" and "rate" in self.model_fields_set
        if unread and self.rate != type(self).model_fields["rate"].default:
            raise ValueError(
                f"rate {self.rate:g} is read only with method: rate, and method is fixed (value {self.value:g}); "
                "remove one of them"
            )
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

    def check_unread_keys(self, where):
        """Refuse a key set where the run would not read it (:func:`refuse_unread`), before any work: here the
        shared sections' (a threshold's value without ``method: fixed``; a LocalCluster's settings with
        ``engine.kind: local`` or a scheduler's address); a pipeline adds its own, calling this too.  A run
        folder's config is not held to it: ``apply`` reads runs of older versions as they were."""
        threshold, engine = getattr(self, "threshold", None), getattr(self, "engine", None)
        if isinstance(threshold, ThresholdSection) and threshold.method != "fixed":
            refuse_unread(where, "threshold", threshold, ("value",), "with threshold.method: fixed")
        if isinstance(engine, EngineSection):
            if engine.kind == "local":
                refuse_unread(
                    where, "engine", engine, ("address", "n_workers", "memory_limit"), "with engine.kind: dask"
                )
            elif engine.address:
                refuse_unread(
                    where, "engine", engine, ("n_workers", "memory_limit"), "for a LocalCluster (no engine.address)"
                )


#: parts of a pydantic error location that name a type of a union, not a key
_TYPE_TAG = re.compile(
    r"^(?:function-\w+|literal|list|dict|str|int|float|bool|date|nullable|union|tagged-union|"
    r"lax-or-strict|json-or-python|chain|is-instance|[A-Z]\w*)(?:\[.*\])?$"
)


def refuse_unread(where, name, section, keys, reason):
    """Refuse, in one line, a key of ``section`` (``name`` in the config) that the config sets to other than its
    default while the run would not read it (``reason``: when it is read): it would change nothing."""
    for key in keys:
        default = type(section).model_fields[key].get_default(call_default_factory=True)
        if key in section.model_fields_set and getattr(section, key) != default:
            raise ConfigError(
                f"{where}: {name}.{key} is read only {reason}, so as set it would change nothing; remove it, or set "
                "what makes it read"
            )


def _sibling_keys(model_cls, loc):
    """The keys beside the last part of the dotted ``loc`` in ``model_cls`` (a section's keys), or []."""
    section = model_cls
    for part in loc.split(".")[:-1]:
        field = getattr(section, "model_fields", {}).get(part)
        section = None if field is None else field.annotation
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            return []
    return list(section.model_fields)


def _format_validation_error(exc, source, model_cls=None):
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not _TYPE_TAG.match(str(p)))
    typ = err["type"]
    if typ == "extra_forbidden":
        keys = _sibling_keys(model_cls, loc) if model_cls is not None else []
        near = difflib.get_close_matches(loc.rsplit(".", 1)[-1], keys, n=1, cutoff=0.6)
        where = loc.rsplit(".", 1)[0] + "." if "." in loc else ""
        hint = f"did you mean {where}{near[0]}? " if near else ""
        hint = hint or (f"{where.rstrip('.') or 'the config'} has {', '.join(keys)}; " if keys else "")
        return (
            f"{source}: unknown key {loc!r}: the pipeline has no such key (a typo, or a key of another "
            f"pipeline); {hint}compare with the example in configs/"
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
    if typ == "string_type" and isinstance(got, dict) and len(got) == 1:  # YAML read `Unnamed: 0` as a mapping
        ((k, v),) = got.items()
        text = f"{k}: {'' if v is None else v}".strip()
        key = loc.split(".")[-1]
        how = f'"{text}"' if key.isdigit() else f'{key}: "{text}" (on the command line: --set \'{loc}="{text}"\')'
        return (
            f"{source}: {loc}: expected text, got {text!r}, read by YAML as a mapping (a colon and a space in it)"
            f"{more}; quote it: {how}"
        )
    bound = typ in ("greater_than", "greater_than_equal", "less_than", "less_than_equal")  # "greater than 0", got 0
    if not bound and (", got " in msg or msg.endswith(str(got)) or isinstance(got, dict)):  # a dict: a section's check
        return f"{source}: {loc}: {msg}{more}"
    return f"{source}: {loc}: {msg}, got {got_s}{more}"


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
        v = dotted_pop(raw, old)
        if v is not MISSING:
            dotted_put(raw, new, v)
        section = old.split(".")[0]
        if raw.get(section) == {} and section not in model_cls.model_fields:
            del raw[section]
    for key, mapping in model_cls.renamed_values.items():
        v = dotted_get(raw, key)
        if v is not MISSING and isinstance(v, (str, bool)) and v in mapping:
            dotted_pop(raw, key)
            dotted_put(raw, key, mapping[v])
    for old in getattr(model_cls, "retired", {}):
        dotted_pop(raw, old)
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
        v = dotted_get(raw, old)
        if v is not MISSING:
            mapping = getattr(model_cls, "renamed_values", {}).get(new, {})
            value = f": {mapping[v]}" if isinstance(v, (str, bool)) and v in mapping else ""
            raise ConfigError(f"{source}: {old} was renamed to {new}; write {new}{value} instead")
    for old, instead in getattr(model_cls, "retired", {}).items():
        if dotted_get(raw, old) is not MISSING:
            raise ConfigError(f"{source}: {old} is no longer a key; {instead}")
    for key, mapping in getattr(model_cls, "renamed_values", {}).items():
        v = dotted_get(raw, key)
        if isinstance(v, str) and v in mapping:
            raise ConfigError(f"{source}: {key}: {v!r} is now called {mapping[v]!r}; write {key}: {mapping[v]}")
    try:
        return model_cls.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source, model_cls)) from None
    except (TypeError, AttributeError) as exc:  # a value of a shape no validator expected
        raise ConfigError(
            f"{source}: a value has the wrong shape ({exc}); compare with the example in configs/"
        ) from None


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
