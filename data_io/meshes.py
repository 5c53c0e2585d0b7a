"""Voxel grids to triangle meshes: marching cubes of the iso-surface, on a grid padded by one voxel.

Padding closes surfaces that touch the grid border. Vertices are in voxel units, the grid's voxel centres
at integer coordinates (0..D-1), so a shape's mesh sits in the same frame as its grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError
from .voxel_geometry import OCCUPANCY_THRESHOLD, check_threshold


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) float32, voxel units
    faces: np.ndarray  # (F, 3) int32, counter-clockwise seen from outside
    normals: np.ndarray  # (V, 3) float32, outward


def voxels_to_mesh(grid, threshold: float = OCCUPANCY_THRESHOLD, name: str = "grid") -> Mesh:
    """The ``threshold`` iso-surface of a (D, D, D) occupancy/probability grid as a Mesh.

    Raises DataError (naming ``name``) when no voxel exceeds the threshold: an empty grid has no surface.
    """
    from skimage.measure import marching_cubes

    grid = np.asarray(grid, dtype=np.float32)
    if grid.ndim == 4 and grid.shape[-1] == 1:
        grid = grid[..., 0]
    if grid.ndim != 3:
        raise DataError(f"{name}: expected a 3D grid, got shape {grid.shape}")
    check_threshold(threshold, f"{name}: threshold")
    if not (grid > threshold).any():
        raise DataError(f"{name}: no voxel is above the threshold {threshold}; an empty grid has no surface")
    padded = np.pad(grid, 1, mode="constant", constant_values=0.0)
    vertices, faces, normals, _ = marching_cubes(padded, level=threshold, gradient_direction="descent")
    # skimage winds these triangles clockwise seen from outside (its normals do point out): reverse them.
    faces = faces[:, ::-1]
    return Mesh((vertices - 1.0).astype(np.float32), np.ascontiguousarray(faces, np.int32), normals.astype(np.float32))
