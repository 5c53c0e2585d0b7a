"""Shared fixtures: tiny configs and the optional real data beside the repository (the helpers behind them:
tests/harness.py)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import tf3dgan  # noqa: E402,F401  (before any test imports TensorFlow: switches oneDNN on)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

from harness import TINY  # noqa: E402  (the shared harness: tests/harness.py)


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
