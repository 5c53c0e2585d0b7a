"""VoxelSet: a stack of uint8 occupancy grids with their names, labels and class names."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .errors import DataError, EmptyGridWarning
from .voxel_geometry import OCCUPANCY_THRESHOLD


@dataclass
class VoxelSet:
    """``voxels`` uint8 (N, s, s, s) in {0, 1}; ``labels`` int64 (N,) or None; one name per grid."""

    voxels: np.ndarray
    labels: Optional[np.ndarray] = None
    names: list = field(default_factory=list)
    class_names: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.voxels.dtype != np.uint8:
            raise TypeError(f"VoxelSet.voxels must be uint8, got {self.voxels.dtype}")
        if not self.names:
            self.names = [f"{i:05d}" for i in range(len(self.voxels))]
        if len(self.names) != len(self.voxels):
            raise ValueError("VoxelSet: one name per grid is required")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
            if self.labels.shape != (len(self.voxels),):
                raise ValueError("VoxelSet: labels must have shape (N,)")

    def __len__(self) -> int:
        return len(self.voxels)

    @property
    def grid_size(self) -> int:
        return int(self.voxels.shape[1]) if self.voxels.ndim == 4 else 0

    def subset(self, index) -> "VoxelSet":
        """The grids selected by a boolean mask or an index array (class names kept)."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return VoxelSet(
            voxels=self.voxels[index],
            labels=None if self.labels is None else self.labels[index],
            names=[self.names[i] for i in index],
            class_names=list(self.class_names),
        )

    def empty_mask(self) -> np.ndarray:
        """True for grids with no occupied voxel."""
        if len(self) == 0:
            return np.zeros(0, dtype=bool)
        return ~self.voxels.reshape(len(self), -1).any(axis=1)

    def drop_empty(self, source: str = "") -> "VoxelSet":
        """Drop all-zero grids, with one EmptyGridWarning naming how many and which."""
        empty = self.empty_mask()
        if not empty.any():
            return self
        names = [self.names[i] for i in np.flatnonzero(empty)]
        shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
        warnings.warn(
            EmptyGridWarning(f"{source}: dropped {len(names)} empty grid(s) (all zeros): {shown}"),
            stacklevel=2,
        )
        return self.subset(~empty)

    def select_classes(self, classes: Optional[Sequence[str]], source: str = "") -> "VoxelSet":
        """Keep only the named classes (None: all); unknown names raise DataError."""
        if not classes:
            return self
        if self.labels is None or not self.class_names:
            raise DataError(f"{source}: has no class labels, cannot select classes {list(classes)}")
        unknown = [c for c in classes if c not in self.class_names]
        if unknown:
            raise DataError(
                f"{source}: unknown class(es) {unknown} (available: {', '.join(self.class_names)})"
            )
        wanted = [self.class_names.index(c) for c in classes]
        kept = self.subset(np.isin(self.labels, wanted))
        # Relabel 0..len(classes)-1 in the order asked for.
        remap = np.full(len(self.class_names), -1, dtype=np.int64)
        remap[wanted] = np.arange(len(wanted))
        kept.labels = remap[kept.labels]
        kept.class_names = list(classes)
        return kept

    def take_fraction(self, fraction: float) -> "VoxelSet":
        """Keep the first ``fraction`` of each class (tf-3dgan's ``obj_ratio``), at least one each."""
        if fraction == 1 or len(self) == 0:
            return self
        return self.subset(fraction_indices(len(self), self.labels, fraction))

    def class_counts(self) -> dict:
        """{class name: count}, or {"all": N} without labels."""
        if self.labels is None:
            return {"all": len(self)}
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        names = self.class_names or [str(i) for i in range(len(counts))]
        return {names[i]: int(n) for i, n in enumerate(counts)}


def fraction_indices(count: int, labels: Optional[np.ndarray], fraction: float) -> np.ndarray:
    """Sorted indices of the first ``fraction`` of each class (or of all when ``labels`` is None)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if labels is None:
        groups = [np.arange(count)]
    else:
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate([g[: max(1, int(fraction * len(g)))] for g in groups]))


def concat(sets: Sequence[VoxelSet]) -> VoxelSet:
    """Stack VoxelSets sharing one grid size and class list."""
    sets = list(sets)
    labels = None if any(s.labels is None for s in sets) else np.concatenate([s.labels for s in sets])
    return VoxelSet(
        voxels=np.concatenate([s.voxels for s in sets]),
        labels=labels,
        names=[n for s in sets for n in s.names],
        class_names=list(sets[0].class_names) if sets else [],
    )


def as_occupancy(array: np.ndarray, source: str) -> np.ndarray:
    """Convert a numeric array of values in [0, 1] to uint8 {0, 1} (floats thresholded at ``OCCUPANCY_THRESHOLD``)."""
    array = np.asarray(array)
    if array.dtype == np.uint8 or array.dtype == bool:
        out = array.astype(np.uint8, copy=False)
        if array.dtype == np.uint8 and out.size and out.max() > 1:
            raise DataError(f"{source}: occupancy values must be 0 or 1, found max {int(out.max())}")
        return out
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DataError(f"{source}: expected a numeric occupancy grid, got dtype {array.dtype}")
    if array.size:
        lo, hi = array.min(), array.max()
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite([lo, hi]).all():
            raise DataError(f"{source}: occupancy grid contains NaN or infinite values")
        if lo < 0 or hi > 1:
            raise DataError(f"{source}: occupancy values must lie in [0, 1], found {lo}..{hi}")
    if np.issubdtype(array.dtype, np.floating):
        return (array > OCCUPANCY_THRESHOLD).astype(np.uint8)
    return (array != 0).astype(np.uint8)
