"""Open any supported source (a file or a folder) by what it is, and prepare training grids."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .arrays import read_array
from .errors import DataError
from .folders import read_file, read_folder
from .limits import budgeted
from .resample import downsample_max
from .synthetic import generate_synthetic
from .volumetric import is_volumetric_layout, read_volumetric
from .voxel_geometry import grid_occupancy
from .voxelset import VoxelSet


@budgeted
def read_source(
    path: str | Path,
    *,
    classes: Optional[Sequence[str]] = None,
    split: str = "train",
    rotations: str = "all",
    fraction: float = 1.0,
    array_key: Optional[str] = None,
    size: Optional[int] = None,
    progress: bool = False,
    drop_empty: bool = True,
) -> VoxelSet:
    """Read a file (.mat, .binvox, .off, .npy, .npz) or a folder (volumetric_data layout or mixed files).

    ``size`` is the voxelization size of meshes and the common size of grids in a mixed folder. A folder
    that cannot be read is a DataError naming it.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    try:
        if path.is_dir() and is_volumetric_layout(path):  # classes and fraction applied while listing files
            result = read_volumetric(path, classes, split, rotations, fraction, progress=progress, drop_empty=False)
        else:
            result = _read_path(path, split, array_key, size, progress).select_classes(classes, str(path))
            result = result.take_fraction(fraction)
    except PermissionError as err:
        raise DataError(f"{err.filename or path}: permission denied") from None
    if drop_empty:
        result = result.drop_empty(str(path))
    if len(result) == 0:
        raise DataError(f"{path}: no non-empty grids to use")
    return result


def _read_path(path: Path, split: str, array_key: Optional[str], size: Optional[int], progress: bool) -> VoxelSet:
    """Every grid of a file or of a folder of mixed files (empty grids kept)."""
    if path.is_dir():
        return read_folder(path, size, split, array_key, progress, drop_empty=False)
    if path.suffix.lower() in (".npy", ".npz"):  # many grids, with their labels
        return read_array(path, key=array_key, split=split, drop_empty=False)
    ((name, grid),) = read_file(path, size, split, array_key)
    return VoxelSet(grid[None], names=[name])


def require_cubic(voxels: VoxelSet, source: str = "") -> VoxelSet:
    """``voxels`` unchanged, or DataError when its grids are not cubic (training and .npz files need cubes)."""
    shape = tuple(voxels.voxels.shape[1:])
    if len(shape) != 3 or len(set(shape)) != 1:
        raise DataError(f"{source}: grids of shape {'x'.join(map(str, shape))} are not cubic; training and "
                        "`data convert` need cubic grids (D x D x D)")
    return voxels


def fit_to_cube_len(voxels: VoxelSet, cube_len: int, source: str = "") -> VoxelSet:
    """Max-pool grids larger than ``cube_len``; smaller ones stay small (the pipeline upsamples them)."""
    require_cubic(voxels, source)
    size = voxels.grid_size
    if size > cube_len:
        if size % cube_len:
            raise DataError(f"{source}: grids of size {size} cannot be max-pooled to {cube_len}")
        voxels = VoxelSet(downsample_max(voxels.voxels, size // cube_len), voxels.labels, voxels.names,
                          voxels.class_names)
    elif cube_len % size:
        raise DataError(f"{source}: grids of size {size} cannot be upsampled to {cube_len} (not a divisor)")
    return voxels


def load_training_voxels(cfg, cube_len: int) -> VoxelSet:
    """Training grids for a ``tf3dgan.config.DataConfig`` (duck-typed), at most ``cube_len`` in size."""
    if cfg.source == "synthetic":
        voxels = generate_synthetic(cfg.synthetic_count, cube_len, cfg.seed, cfg.classes)
    else:
        voxels = fit_to_cube_len(_read_training_source(cfg, cube_len), cube_len, str(cfg.source))
    return voxels if cfg.mirror_axis is None else with_mirror_images(voxels, cfg.mirror_axis)


def with_mirror_images(voxels: VoxelSet, axis: int) -> VoxelSet:
    """``voxels`` followed by each grid flipped along grid ``axis`` (0-2), labels kept, names marked."""
    flipped = np.ascontiguousarray(np.flip(voxels.voxels, axis=axis + 1))
    labels = None if voxels.labels is None else np.concatenate([voxels.labels, voxels.labels])
    names = [*voxels.names, *(f"{name} (mirrored)" for name in voxels.names)]
    return VoxelSet(np.concatenate([voxels.voxels, flipped]), labels, names, voxels.class_names)


def _read_training_source(cfg, cube_len: int) -> VoxelSet:
    return read_source(
        cfg.source,
        classes=cfg.classes,
        split=cfg.split,
        rotations=cfg.rotations,
        fraction=cfg.fraction,
        array_key=cfg.array_key,
        size=cube_len,
        progress=True,
    )


def occupancy_stats(voxels: np.ndarray) -> dict:
    """min / mean / max fraction of occupied voxels per grid."""
    if len(voxels) == 0:
        return {"min": 0.0, "mean": 0.0, "max": 0.0}
    occupancy = grid_occupancy(voxels)
    return {"min": float(occupancy.min()), "mean": float(occupancy.mean()), "max": float(occupancy.max())}
