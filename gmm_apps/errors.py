"""Exceptions shared by the whole package.

A :class:`UserError` is a mistake the user can fix (a bad config key, a missing
file, unusable data).  The CLI prints it as one ``error: ...`` line and exits
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, config or files.

    The message should name the file, key or column, say what was expected and
    what was found, and suggest a fix.
    """

    exit_code = 2


class ArgumentError(UserError, TypeError):
    """An argument of the Python API has the wrong type (e.g. ``run(42)``, ``seed="abc"``)."""


class ConfigError(UserError, ValueError):
    """A config file is malformed, has an unknown key or a value of the wrong type."""


class DataError(UserError, ValueError):
    """Input data is missing, empty, malformed or unusable for the model."""


class ModelFileError(UserError, ValueError):
    """A saved model file is truncated, tampered with or of an unknown version."""


class DegenerateDataError(UserError, ValueError):
    """The data cannot support the requested mixture (e.g. too few distinct rows)."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM); handled like Ctrl-C: nothing is left half written."""


class DegenerateComponentWarning(RuntimeWarning):
    """A mixture component collapsed during EM and was re-seeded."""
