"""gmm_apps: Gaussian-mixture applications on one shared EM engine."""

__version__ = "0.1.0"

from .api import Run, load_run, run  # noqa: E402
from .config import sample_path  # noqa: E402

__all__ = ["Run", "__version__", "load_run", "run", "sample_path"]
