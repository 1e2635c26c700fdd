"""Fixtures shared by the test modules."""

import logging

import pytest


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
