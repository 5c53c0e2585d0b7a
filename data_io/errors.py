"""Errors and warnings raised by data_io, and ``UserError``, the base of every error a user can fix.

``UserError`` lives here, in the lowest layer, so that data_io depends on nothing above it; ``tf3dgan.errors``
re-exports it with the other kinds (ConfigError, RunFolderError, UsageError).
"""

from __future__ import annotations


class UserError(ValueError):
    """Something the user can fix (a file, a config key, an argument); the CLI prints it as one line, exit 2."""


class DataError(UserError):
    """Input data cannot be read; the message names the file and what was wrong."""


class EmptyGridWarning(UserWarning):
    """Some grids were all zeros and were dropped (one warning per source, with the count and names)."""


class LinkedFolderWarning(UserWarning):
    """Links to folders already read (a cycle such as ``self -> .``) were skipped (one warning per listing)."""


def read_file_bytes(path) -> bytes:
    """The bytes of ``path``; a missing or unreadable file is a DataError naming it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err})") from None
