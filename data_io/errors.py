"""Errors and warnings raised by data_io."""

from __future__ import annotations


class DataError(ValueError):
    """Input data cannot be read; the message names the file and what was wrong."""


class EmptyGridWarning(UserWarning):
    """Some grids were all zeros and were dropped (one warning per source, with the count and names)."""
