"""One writer per run folder: an OS file lock on ``RUN/.lock``, held by ``train`` for the whole run.

The lock is ``flock`` on an open file: the kernel drops it when the process ends, however it ends (kill -9
included), so there is never a stale lock to remove by hand. The holder writes its pid, host name and start
time into the file, and a second trainer reads them back to say who holds the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path

from tf3dgan.errors import RunFolderError
from tf3dgan.training.run_folder import LOCK_FILE

try:
    import fcntl
except ImportError:  # Windows: no flock; the run folder is not protected there
    fcntl = None


def _holder(fd: int) -> dict:
    """The holder's record, read from the lock file (it may still be writing it: a short wait)."""
    for _ in range(20):
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
        try:
            return json.loads(raw)
        except ValueError:
            time.sleep(0.05)
    return {}


def _describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "another process"
    return (f"process {holder['pid']} on {holder.get('host', '?')} "
            f"(started {holder.get('started', '?')})")


@contextlib.contextmanager
def run_folder_lock(run_dir: str | Path):
    """Hold ``run_dir/.lock`` for the ``with`` block; RunFolderError at once when another process holds it."""
    run_dir = Path(run_dir)
    if fcntl is None:
        yield
        return
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            pid = holder.get("pid")
            raise RunFolderError(
                f"{run_dir} is being trained by {_describe(holder)}; wait for it to finish"
                + (f", stop it (kill {pid})" if pid else "") + " or use another --out"
            ) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(record) + "\n").encode())
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
