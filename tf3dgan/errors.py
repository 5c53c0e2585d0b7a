"""The errors a user can fix, all subclasses of ``UserError`` (the CLI reports them as one line, exit 2).

- ``DataError``: input data cannot be read (raised by data_io);
- ``ConfigError``: a config file, override or variant option is invalid;
- ``RunFolderError``: a run folder is missing, incomplete or does not match the model;
- ``UsageError``: a command-line or function argument is invalid.

This module imports nothing of tf3dgan's; the base lives in ``data_io.errors`` (the lowest layer).
"""

from __future__ import annotations

from data_io.errors import DataError, UserError


class ConfigError(UserError):
    """A config file or override is invalid; the message names the source, the key and what was expected."""


class RunFolderError(UserError):
    """A run folder is missing, has no config or checkpoint, or its checkpoint does not fit the model."""


class UsageError(UserError):
    """An argument is invalid; the message names it and what was expected."""


class RunFolderWarning(UserWarning):
    """Something in a run folder was skipped (an unreadable checkpoint, a torn last metrics line); the CLI
    prints it as one line."""


class ResultsFileWarning(UserWarning):
    """Lines of a suite's results file were skipped (malformed, or cut short by a crash); the CLI prints it as one
    line."""


__all__ = ["ConfigError", "DataError", "ResultsFileWarning", "RunFolderError", "RunFolderWarning", "UsageError",
           "UserError"]
