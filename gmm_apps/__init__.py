"""gmm_apps: Gaussian-mixture applications on one shared EM engine."""

__version__ = "0.1.0"

__all__ = ["Run", "__version__", "load_run", "run", "sample_path"]

#: the public names and the modules that define them, imported on first use so that the command line
#: starts without loading the engine (``gmm-apps --help`` needs neither numpy's stack nor scikit-learn)
_LAZY = {"Run": "api", "load_run": "api", "run": "api", "sample_path": "paths"}
#: submodules reachable as attributes of the package, as they were when it imported them eagerly
_SUBMODULES = {
    "api",
    "cli",
    "config",
    "config_docs",
    "core",
    "destination",
    "engine",
    "errors",
    "paths",
    "pipelines",
    "registry",
    "report",
    "run_context",
    "runs",
    "workers",
    "yaml_io",
}


def __getattr__(name):
    import importlib  # reason: only when a public name is first used

    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
