"""Clean up generated shapes: threshold, keep the largest connected component, fill holes.

The authors' viewer thresholds at 0.1 and keeps the largest connected component (the paper's Experiment 1);
the default here is 0.5 (``data_io.voxel_geometry.OCCUPANCY_THRESHOLD``). Functions take one grid (D, D, D) or
a stack (N, D, D, D).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from data_io.voxel_geometry import OCCUPANCY_THRESHOLD, check_threshold, threshold_grids
from tf3dgan.errors import UsageError

# Neighbourhoods of a voxel: faces (6), faces + edges (18), faces + edges + corners (26).
CONNECTIVITIES = {6: 1, 18: 2, 26: 3}


def _per_grid(fn, voxels: np.ndarray) -> np.ndarray:
    voxels = np.asarray(voxels)
    if voxels.ndim == 3:
        return fn(voxels)
    if voxels.ndim == 4:
        return np.stack([fn(v) for v in voxels]) if len(voxels) else voxels.astype(np.uint8)
    raise UsageError(f"expected a grid (D, D, D) or a stack (N, D, D, D), got shape {voxels.shape}")


def _structure(connectivity: int) -> np.ndarray:
    if connectivity not in CONNECTIVITIES:
        raise UsageError(f"connectivity must be 6, 18 or 26, got {connectivity}")
    return ndimage.generate_binary_structure(3, CONNECTIVITIES[connectivity])


def largest_component(voxels, connectivity: int = 26) -> np.ndarray:
    """Keep only the largest connected component of each occupancy grid (ties: the lowest label)."""
    structure = _structure(connectivity)

    def one(grid):
        labels, count = ndimage.label(grid > 0, structure=structure)
        if count <= 1:
            return (grid > 0).astype(np.uint8)
        sizes = np.bincount(labels.ravel())[1:]
        return (labels == 1 + int(np.argmax(sizes))).astype(np.uint8)

    return _per_grid(one, voxels)


def fill_holes(voxels) -> np.ndarray:
    """Fill cavities: empty voxels not connected (6-connectivity) to the outside of the grid become occupied."""
    return _per_grid(lambda grid: ndimage.binary_fill_holes(grid > 0).astype(np.uint8), voxels)


def postprocess(
    probabilities,
    threshold: float = OCCUPANCY_THRESHOLD,
    keep_largest: bool = False,
    connectivity: int = 26,
    fill: bool = False,
) -> np.ndarray:
    """Threshold, then optionally keep the largest component, then optionally fill holes; uint8."""
    voxels = threshold_grids(probabilities, threshold)
    if keep_largest:
        voxels = largest_component(voxels, connectivity)
    else:
        _structure(connectivity)  # validate the option even when unused
    if fill:
        voxels = fill_holes(voxels)
    return voxels


def mesh_field(probabilities, voxels, threshold: float) -> tuple[np.ndarray, float]:
    """A scalar field and an iso-level whose iso-surface is the boundary of the post-processed ``voxels``.

    Kept voxels keep their probability (smooth sub-voxel surface), filled ones become 1, removed ones 0;
    empty voxels keep theirs.
    """
    threshold = check_threshold(threshold)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    voxels = np.asarray(voxels) > 0
    above = probabilities > threshold
    field = np.where(voxels, np.where(above, probabilities, 1.0), np.where(above, 0.0, probabilities))
    return field.astype(np.float32), float(threshold)
