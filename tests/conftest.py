"""Shared fixtures: tiny configs and the optional real data beside the repository (the helpers behind them:
tests/harness.py)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One TensorFlow thread per pool in each pytest-xdist worker and in the processes its tests start: with
    # TensorFlow's default (a thread per core in each pool) the workers and their subprocesses oversubscribe the
    # cores, and the tiny in-process tests, which hand thousands of small ops between threads, waited for the
    # scheduler: 7-19x slower beside a subprocess-heavy test than alone (2 cores, 2 workers).
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import pytest  # noqa: E402

import tf3dgan  # noqa: E402,F401  (before any test imports TensorFlow: switches oneDNN on)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

from harness import TINY  # noqa: E402  (the shared harness: tests/harness.py)


def pytest_collection_modifyitems(items):
    """The tests marked slow first (in their order), so that pytest-xdist does not end on a long one."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (real voxel data); the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real voxel data not found at {SHARED_DATA} (a shared/data folder beside the repo)")
    return SHARED_DATA


@pytest.fixture
def tiny_overrides():
    """``--set`` overrides that shrink any config to a 16^3 net that trains in milliseconds per step."""
    return list(TINY)


@pytest.fixture
def tiny_voxels():
    """20 random 8^3 occupancy grids (upsampled to 16^3 by the pipeline)."""
    import numpy as np

    return (np.random.default_rng(0).random((20, 8, 8, 8)) > 0.7).astype("uint8")


@pytest.fixture
def real16():
    """8 random 16^3 occupancy grids (about 40 % set), fed to ``GAN.fit`` as they are (harness.fit_steps)."""
    from harness import random_grids

    return random_grids(8, 16, seed=1, density=0.4)
