"""Voxel geometry that every layer shares: the occupancy threshold, IoU and the distance matrices built on it.

One place for each:

- ``OCCUPANCY_THRESHOLD`` (0.5): a voxel is occupied where its probability is strictly above it; the
  default of every threshold and iso-level argument. ``check_threshold`` is the one check of a threshold,
  ``threshold_grids`` and ``as_binary`` the ways to apply one.
- ``iou_from_counts``: the one IoU formula, |a & b| / |a | b| from the counts; two empty grids have IoU 1.
  ``iou`` (per pair of grids) and ``iou_distance_matrix`` (1 - IoU between two sets) are built on it;
  ``l1_distance_matrix`` is its counterpart for probabilities.
- ``grid_occupancy``: the fraction of occupied voxels of each grid.
- ``is_power_of_two``: the one check of a grid or picture size.

The layers above (``tf3dgan.generation``, ``tf3dgan.evaluation``) import these; this module imports nothing
of theirs (only numpy, ``data_io.errors`` and, on first use of a distance matrix, TensorFlow's matmul).
"""

from __future__ import annotations

import numpy as np

from .errors import DataError

OCCUPANCY_THRESHOLD = 0.5
DEFAULT_CHUNK_BYTES = 128 * 2**20  # float32 operand block size that bounds the memory of a matrix product


# -- thresholds and sizes ------------------------------------------------------------------------------
def check_threshold(threshold: float, name: str = "threshold") -> float:
    """``threshold`` as a float, or DataError naming ``name`` unless it lies in (0, 1).

    The one check of an occupancy threshold: a voxel is occupied where its probability is above it, and the
    same value is the iso-level of the drawn and exported surfaces, which needs a level strictly inside (0, 1).
    """
    threshold = float(threshold)
    if not 0.0 < threshold < 1.0:
        raise DataError(f"{name} must be in (0, 1), got {threshold}")
    return threshold


def threshold_grids(probabilities, threshold: float = OCCUPANCY_THRESHOLD) -> np.ndarray:
    """uint8 occupancy: 1 where the probability is strictly above ``threshold``."""
    return (np.asarray(probabilities) > check_threshold(threshold)).astype(np.uint8)


def as_binary(voxels, name: str = "voxels") -> np.ndarray:
    """(N, D, D, D) grids as bool; probabilities (floats) are thresholded at ``OCCUPANCY_THRESHOLD``."""
    voxels = np.asarray(voxels)
    if voxels.ndim == 5 and voxels.shape[-1] == 1:
        voxels = voxels[..., 0]
    if voxels.ndim != 4 or not (voxels.shape[1] == voxels.shape[2] == voxels.shape[3]):
        raise ValueError(f"{name}: expected grids of shape (N, D, D, D), got {voxels.shape}")
    if voxels.dtype == bool:
        return voxels
    if np.issubdtype(voxels.dtype, np.floating):
        return voxels > OCCUPANCY_THRESHOLD
    return voxels != 0


def grid_occupancy(voxels) -> np.ndarray:
    """The fraction of occupied voxels of each grid of a batch (float64, one value a grid)."""
    voxels = np.asarray(voxels)
    return voxels.mean(axis=tuple(range(1, voxels.ndim)), dtype=np.float64)


def is_power_of_two(n: int, minimum: int = 1) -> bool:
    """True when ``n`` is a power of two no smaller than ``minimum`` (a cube side or a picture size)."""
    return n >= minimum and not n & (n - 1)


# -- IoU -----------------------------------------------------------------------------------------------
def iou_from_counts(inter, union):
    """IoU from intersection and union counts (arrays of one shape): inter / union, 1.0 where the union is 0."""
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def iou(a, b) -> np.ndarray:
    """Per-shape IoU of two batches of grids (N, D, D, D) (values > ``OCCUPANCY_THRESHOLD`` occupied);
    1.0 where both are empty."""
    a = np.asarray(a).reshape(len(a), -1) > OCCUPANCY_THRESHOLD
    b = np.asarray(b).reshape(len(b), -1) > OCCUPANCY_THRESHOLD
    return iou_from_counts((a & b).sum(1), (a | b).sum(1))


def _rows_per_chunk(row_len: int, chunk_bytes: int) -> int:
    return max(1, chunk_bytes // (4 * row_len))


def _matmul_transposed(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x @ y.T in float32. TensorFlow's kernel ran ~5x faster than numpy's OpenBLAS here on 0/1 rows."""
    import tensorflow as tf

    return tf.linalg.matmul(x, y, transpose_b=True).numpy()


def iou_distance_matrix(a, b, chunk_bytes: int = DEFAULT_CHUNK_BYTES, progress=None) -> np.ndarray:
    """(len(a), len(b)) float64 matrix of 1 - IoU between binary grids, by chunked float32 matrix products.

    Intersections are products of 0/1 rows (exact: every count is an integer below 2^24), restricted to the
    voxels occupied somewhere in both sets; unions are |a| + |b| - |a & b|. Two empty grids are at distance
    0; an empty and a non-empty grid at distance 1.
    """
    a, b = as_binary(a, "a"), as_binary(b, "b")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"grid sizes differ: {a.shape[1:]} vs {b.shape[1:]}")
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    size_a = a.sum(1, dtype=np.int64)
    size_b = b.sum(1, dtype=np.int64)
    # Only voxels occupied somewhere in both sets can be in an intersection: drop the other columns (exact).
    shared = a.any(0) & b.any(0)
    a, b = a[:, shared], b[:, shared]
    rows = _rows_per_chunk(max(1, a.shape[1]), chunk_bytes)
    out = np.empty((len(a), len(b)), dtype=np.float64)
    b_blocks = [(j, b[j : j + rows].astype(np.float32)) for j in range(0, len(b), rows)] if len(b) <= rows * 4 else None
    for i in range(0, len(a), rows):
        block_a = a[i : i + rows].astype(np.float32)
        blocks = b_blocks or ((j, b[j : j + rows].astype(np.float32)) for j in range(0, len(b), rows))
        for j, block_b in blocks:
            inter = _matmul_transposed(block_a, block_b).astype(np.int64)
            union = size_a[i : i + rows, None] + size_b[None, j : j + len(block_b)] - inter
            out[i : i + rows, j : j + len(block_b)] = 1.0 - iou_from_counts(inter, union)
        if progress is not None:
            progress.update(len(block_a))
    return out


def l1_distance_matrix(probabilities, train, chunk: int = 256) -> np.ndarray:
    """(N, M) mean over voxels of |p - t| for probabilities p and binary training grids t.

    For t in {0, 1}: sum |p - t| = sum p + sum t - 2 p.t, one matrix product per chunk of training shapes.
    """
    p = np.asarray(probabilities, np.float32).reshape(len(probabilities), -1)
    t = np.asarray(train).reshape(len(train), -1)
    sum_p = p.sum(1, dtype=np.float64)[:, None]
    out = np.empty((len(p), len(t)), np.float64)
    for j in range(0, len(t), chunk):
        block = (t[j : j + chunk] > 0).astype(np.float32)
        out[:, j : j + len(block)] = sum_p + block.sum(1, dtype=np.float64)[None] - 2.0 * (p @ block.T)
    return np.maximum(out, 0.0) / p.shape[1]
