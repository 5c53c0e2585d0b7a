"""Atomic file writes: write a temporary file beside the target, then rename it over the target."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new, empty file beside ``path``, opened for writing.

    Like ``tempfile.mkstemp`` (exclusive creation under a random name), but with mode 0o666 so that the kernel
    applies the process umask and the result gets the permissions of any other new file. (mkstemp makes it
    0o600; fixing that with chmod would need the umask, which can only be read by setting it.)
    """
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def atomic_write_bytes(path: str | Path, write) -> Path:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, fsync it, rename it over ``path``.

    A crash or Ctrl-C leaves either the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
