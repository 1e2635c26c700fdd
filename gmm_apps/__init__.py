"""gmm_apps: Gaussian-mixture applications on one shared EM engine."""

__version__ = "0.1.0"

__all__ = ["__version__"]
