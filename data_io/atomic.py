"""Atomic file writes: write a temporary file beside the target, then rename it over the target.

Also the two other ways the package writes a file that must survive a crash: ``append_line`` (a log that grows
by whole lines) and ``remove_stale_temporaries`` (the temporary files a killed process left behind).
A full disk raises ``OSError(ENOSPC)`` whose ``filename`` is the file being written.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from pathlib import Path

# The temporary name of ``path``: ``.<name>.<8 hex digits>.tmp`` beside it (see _create_temporary).
TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")


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
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        _name_full_disk(err, path)
        raise
    return path


# numpy's ``tofile`` (``np.save`` to a file) reports a full disk as a short write, without an errno.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def _name_full_disk(err: BaseException, path: Path) -> None:
    """Re-raise a full-disk OSError without a file name (or numpy's short write) as ENOSPC naming ``path``."""
    if isinstance(err, OSError) and err.filename is None and (
            err.errno == errno.ENOSPC or (err.errno is None and _SHORT_WRITE.fullmatch(str(err)))):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from err


def append_line(path: str | Path, line: str) -> None:
    """Append ``line`` (a newline is added) to ``path`` and fsync it, or leave the file as it was.

    One ``write`` of the whole line; should it fail (a full disk, a signal), the file is truncated back to
    its previous length, so a reader never sees a torn line written by this call. (A kill -9 in the middle
    of the write can still leave one: readers of such logs skip an incomplete last line.)
    """
    path = Path(path)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o666)
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except BaseException as err:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            _name_full_disk(err, path)
            raise
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files of interrupted atomic writes in ``folder`` and its subfolders.

    Only names of the form written here (``.<name>.<8 hex digits>.tmp``) are touched. Call it only where no
    other process writes (a run folder under its lock). Returns the files removed.
    """
    removed = []
    for tmp in Path(folder).rglob("*.tmp"):
        if tmp.is_file() and TEMPORARY_NAME.fullmatch(tmp.name):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
