"""Fixtures shared by the test modules."""

import logging
import os

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a run is reproducible and CI cannot turn red
# on an example no earlier run drew. HYPOTHESIS_PROFILE=explore draws new ones (and keeps failures).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture
def gmm_log(caplog):
    """``caplog`` listening to the ``gmm_apps`` logger at INFO (the CLI stops its propagation to the root
    logger, so pytest's own handler would hear nothing)."""
    lg = logging.getLogger("gmm_apps")
    lg.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="gmm_apps")
    try:
        yield caplog
    finally:
        lg.removeHandler(caplog.handler)
