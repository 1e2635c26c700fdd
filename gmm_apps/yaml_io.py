"""Config files as plain data: safe YAML reading, ``--set`` overrides and dotted keys.

Nothing here knows a pipeline's schema; :mod:`gmm_apps.config` validates what
these functions read.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from .errors import ConfigError
from .paths import path_problem


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
    (post-order, without recursion) and summed as the expansion would. An alias
    inside its own anchor's value (``title: &a [*a]``) never ends: refused.
    """
    size, depth, open_ = {}, {}, set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in size and not done:
            continue
        if key in open_ and not done:  # reached again from inside itself: everything above it on the stack is its own
            raise ConfigError(
                f"{source}: an alias (*name) stands inside its own anchor's value (&name), so the value never "
                "ends; write the value out"
            )
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        if not done:
            open_.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in size)
            continue
        open_.discard(key)
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


#: what :func:`dotted_get` returns for an absent key (``None`` is a value a config may hold)
MISSING = object()


def dotted_get(raw, key, default=MISSING):
    """The value at a dotted key (``"model.n_init"``) of nested mappings, or ``default`` when absent."""
    node = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def dotted_pop(raw, key):
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    return node.pop(last, MISSING) if isinstance(node, dict) else MISSING


def dotted_put(raw, key, value):
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node.setdefault(last, value)


#: keys every config written by gmm_apps 0.1 carried, whether its pipeline read them or not


def yaml_text(v):
    """A value as one line of YAML (flow style), as a config file would hold it."""
    text = yaml.safe_dump(v, default_flow_style=True, allow_unicode=True).strip()
    return text.removesuffix("...").strip()
