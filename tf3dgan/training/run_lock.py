"""One writer per run folder: an OS file lock on ``RUN/.lock``, held by ``train`` for the whole run and by every
other command that writes into a run folder (``plot``, ``import-release``).

The lock is ``flock`` on an open file: the kernel drops it when the process ends, however it ends (kill -9
included), so there is never a stale lock to remove by hand. The holder writes its pid, host name, start
time and command into the file, and a second writer reads them back to say who holds the folder.
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
        return "being written by another process"
    command = holder.get("command", "train")
    return (f"{'being trained' if command == 'train' else 'being written'} by process {holder['pid']} on "
            f"{holder.get('host', '?')} ({'' if command == 'train' else f'tf3dgan {command}, '}"
            f"started {holder.get('started', '?')})")


@contextlib.contextmanager
def run_folder_lock(run_dir: str | Path, command: str = "train"):
    """Hold ``run_dir/.lock`` for the ``with`` block of ``tf3dgan command``; RunFolderError at once when another
    process holds it (or another block of this process: a second lock on the folder is refused too). A folder that
    does not exist (yet) is not locked: there is nothing in it to protect."""
    run_dir = Path(run_dir)
    if fcntl is None or not run_dir.is_dir():
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
                f"{run_dir} is {_describe(holder)}; wait for it to finish"
                + (f", stop it (kill {pid})" if pid else "") + (" or use another --out" if command != "plot" else "")
            ) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now().astimezone().isoformat(timespec="seconds"), "command": command}
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
