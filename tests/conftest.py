"""Shared fixtures: tiny configs and the optional real data beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import tf3dgan  # noqa: E402,F401  (before any test imports TensorFlow: switches oneDNN on)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

TINY = [
    "model.cube_len=16",
    "model.base_width=4",
    "model.z_dim=8",
    "train.batch_size=4",
    "train.log_every=2",
    "train.checkpoint_every=3",
    "train.sample_every=4",
    "train.num_samples=2",
]


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
