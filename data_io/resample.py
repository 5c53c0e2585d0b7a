"""Resampling of occupancy grids: padding, nearest / trilinear upsampling, max-pool downsampling.

All functions take a single grid (s, s, s) or a stack (N, s, s, s) and work on the last three axes.
"""

from __future__ import annotations

import numpy as np

from .voxel_geometry import OCCUPANCY_THRESHOLD, threshold_grids

UPSAMPLE_MODES = ("nearest", "trilinear")  # how grids smaller than the net's are brought to its size


def _check_factor(size: int, factor: int, what: str) -> None:
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"{what}: factor must be a positive integer, got {factor}")


def pad_to(voxels: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad the last three axes to ``size``, centred (30 -> 32 adds one voxel each side, as tf-3dgan)."""
    s = voxels.shape[-1]
    if s > size:
        raise ValueError(f"pad_to: grid of size {s} is larger than {size}")
    before = (size - s) // 2
    width = [(0, 0)] * (voxels.ndim - 3) + [(before, size - s - before)] * 3
    return np.pad(voxels, width)


def upsample_nearest(voxels: np.ndarray, factor: int = 2) -> np.ndarray:
    """Copy each voxel into a factor^3 block; equals ``scipy.ndimage.zoom(v, factor, order=0)``."""
    _check_factor(voxels.shape[-1], factor, "upsample_nearest")
    for axis in (-3, -2, -1):
        voxels = np.repeat(voxels, factor, axis=axis)
    return voxels


def linear_weights(size: int, factor: int):
    """Source indices and weights of align-corners=False linear interpolation (clamped at the edges)."""
    centres = (np.arange(size * factor) + 0.5) / factor - 0.5
    low = np.floor(centres)
    weight = (centres - low).astype(np.float32)
    low = low.astype(np.int64)
    return np.clip(low, 0, size - 1), np.clip(low + 1, 0, size - 1), weight


def upsample_trilinear(voxels: np.ndarray, factor: int = 2, threshold: float | None = OCCUPANCY_THRESHOLD) -> np.ndarray:
    """Trilinear upsampling (voxel-centre aligned); thresholded to uint8 unless ``threshold`` is None."""
    _check_factor(voxels.shape[-1], factor, "upsample_trilinear")
    out = voxels.astype(np.float32)
    for axis in (-3, -2, -1):
        low, high, w = linear_weights(out.shape[axis], factor)
        shape = [1] * out.ndim
        shape[axis] = -1
        w = w.reshape(shape)
        out = np.take(out, low, axis=axis) * (1 - w) + np.take(out, high, axis=axis) * w
    return out if threshold is None else threshold_grids(out, threshold)


def downsample_max(voxels: np.ndarray, factor: int) -> np.ndarray:
    """Max-pool by ``factor`` on each axis: a block is occupied if any voxel in it is (thin parts survive)."""
    s = voxels.shape[-1]
    _check_factor(s, factor, "downsample_max")
    if s % factor:
        raise ValueError(f"downsample_max: size {s} is not divisible by {factor}")
    lead = voxels.shape[:-3]
    n = s // factor
    blocks = voxels.reshape(*lead, n, factor, n, factor, n, factor)
    return blocks.max(axis=(-5, -3, -1))


def resize(voxels: np.ndarray, size: int, upsample: str = "nearest") -> np.ndarray:
    """Bring grids to ``size``: max-pool when larger, upsample (nearest or trilinear) when smaller."""
    s = voxels.shape[-1]
    if s == size:
        return voxels
    if s > size:
        if s % size:
            raise ValueError(f"resize: cannot max-pool size {s} to {size} (not a multiple)")
        return downsample_max(voxels, s // size)
    if size % s:
        raise ValueError(f"resize: cannot upsample size {s} to {size} (not a multiple)")
    if upsample == "nearest":
        return upsample_nearest(voxels, size // s)
    if upsample == "trilinear":
        return upsample_trilinear(voxels, size // s)
    raise ValueError(f"resize: upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
