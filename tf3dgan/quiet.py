"""Quiet start-up of TensorFlow: its C++ start-up lines (oneDNN notice, CUDA probing on machines without a
GPU) go to file descriptor 2 and ignore TF_CPP_MIN_LOG_LEVEL, so they are muted at that level."""

from __future__ import annotations

import contextlib
import os
import sys
import time


@contextlib.contextmanager
def stderr_muted():
    """File descriptor 2 points to the null device within the block; an exception still propagates."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow_import():
    """``stderr_muted`` if TensorFlow is still to be imported, else a no-op context."""
    return stderr_muted() if "tensorflow" not in sys.modules else contextlib.nullcontext()


def exit_if_command_interrupted() -> None:
    """Inside the ``except KeyboardInterrupt`` of ``import tf3dgan``: when the process is the ``tf3dgan`` command
    (still loading TensorFlow, before its own handler is set up), say so in one line and exit with 130; in any
    other program (a script, a notebook) return, so that the interrupt propagates as usual."""
    if os.path.basename(sys.argv[0] if sys.argv else "") == "tf3dgan":
        print("\ntf3dgan: interrupted while loading", file=sys.stderr)
        raise SystemExit(130)


HOLD_IMPORT_VARIABLE = "TF3DGAN_TEST_HOLD_IMPORT"


def hold_import_for_tests() -> None:
    """A hook for tests: with ``TF3DGAN_TEST_HOLD_IMPORT=PATH`` set, ``import tf3dgan`` creates PATH and waits there
    (60 s at most) inside its guarded import, so that a test can send Ctrl-C at that point without racing the
    speed of TensorFlow's import. Unset, it does nothing."""
    path = os.environ.get(HOLD_IMPORT_VARIABLE)
    if path:
        with open(path, "w"):
            pass
        time.sleep(60)
