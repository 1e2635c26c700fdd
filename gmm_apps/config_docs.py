"""A pipeline's config schema as documentation: the key table of docs/configuration.md and ``gmm-apps init``."""

from __future__ import annotations

import typing
from typing import Literal, Union

from pydantic import BaseModel

from .yaml_io import yaml_text


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
    if origin is typing.Annotated:  # a bounded number (Field(ge=..)): its type's name
        return _type_name(args[0])
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


def commented_config(model_cls, name, values=None, source=None):
    """A pipeline's default config as YAML, every key with a comment (type, limits, what it does).

    Parameters
    ----------
    model_cls : type[PipelineConfig]
    name : str
    values : dict, optional
        Dotted key -> value written in place of the default (``init --data``), marked as read from ``source``.
    source : str, optional

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
        value = row["default"]
        if values and row["key"] in values:
            value, comment = values[row["key"]], f"from {source}; check it. {comment}"
        lines.append(f"{indent}{leaf}: {yaml_text(value)}  # {comment}")
    return "\n".join(lines) + "\n"
