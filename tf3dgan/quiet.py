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


HOLD_IMPORT_VARIABLE = "TF3DGAN_TEST_HOLD_IMPORT"


def hold_import_for_tests() -> None:
    """A hook for tests: with ``TF3DGAN_TEST_HOLD_IMPORT=PATH`` set, the ``tf3dgan`` command creates PATH and waits
    there (60 s at most) just before it imports TensorFlow, inside its Ctrl-C handler, so that a test can send
    Ctrl-C at that point without racing the speed of TensorFlow's import. Unset, it does nothing."""
    path = os.environ.get(HOLD_IMPORT_VARIABLE)
    if path:
        with open(path, "w"):
            pass
        time.sleep(60)
