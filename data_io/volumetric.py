"""The 3D ShapeNets ``volumetric_data`` layout read by tf-3dgan: ``ROOT/<class>/30/<split>/*.mat``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .errors import DataError
from .limits import budgeted, charge, size_limit, transient
from .resample import pad_to
from .voxelset import VoxelSet, as_occupancy, fraction_indices

SPLITS = ("train", "test")
ROTATIONS = ("all", "first")  # every rotation of a 3D ShapeNets shape, or only its `_1` file
RESOLUTION_DIR = "30"
_ROTATION = re.compile(r"_(\d+)$")


def _mat_decoded_bytes(path: Path, stop: int) -> int:
    """The bytes of a MATLAB 5 file once its compressed variables are inflated, counted by inflating them in
    1 MiB pieces into nothing (a 4 MB variable can inflate to 4 GB); stops counting past ``stop``. Files of
    other versions (4, 7.3) are counted as their size."""
    import struct
    import zlib

    data = path.read_bytes()
    order = {b"IM": "<", b"MI": ">"}.get(data[126:128])
    if len(data) < 128 or order is None:
        return len(data)
    total, pos = len(data), 128
    while pos + 8 <= len(data) and total <= stop:
        kind, size = struct.unpack_from(order + "II", data, pos)
        pos += 8
        if kind == 15:  # miCOMPRESSED
            inflater, pending = zlib.decompressobj(), data[pos:pos + size]
            try:
                while pending and total <= stop:
                    total += len(inflater.decompress(pending, 2 ** 20))
                    pending = inflater.unconsumed_tail
            except zlib.error:
                return total  # loadmat reports the corrupt stream
        pos += size + (-size % 8 if kind != 15 else 0)
    return total


@budgeted
def read_mat(path: str | Path, key: str = "instance") -> np.ndarray:
    """Read one 3D grid from a MATLAB .mat file as uint8 {0, 1}; its inflated size is charged to the read
    budget before scipy decodes it."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with transient():
        budget = size_limit("bytes in all")
        inflated = _mat_decoded_bytes(path, budget)
        charge(path, "the inflated .mat file", inflated + inflated // 4)  # scipy's peak: 1.1x what it decodes
        try:
            contents = scipy.io.loadmat(str(path), variable_names=[key])
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except Exception as err:  # scipy raises many types for corrupt files
            raise DataError(f"{path}: not a readable .mat file ({type(err).__name__}: {err})") from None
        arrays = {k: v for k, v in contents.items() if not k.startswith("__")}
        if key not in arrays:
            found = [name for name, _, _ in scipy.io.whosmat(str(path))]
            raise DataError(f"{path}: no variable '{key}' (found: {', '.join(found) or 'none'})")
        grid = np.asarray(arrays[key])
        if grid.ndim != 3 or len(set(grid.shape)) != 1:
            raise DataError(f"{path}: '{key}' must be a cubic 3D grid, got shape {grid.shape}")
        charge(path, f"'{key}' as a uint8 grid", grid.size)
        occupancy = as_occupancy(grid, str(path))
    charge(path, f"'{key}' as a uint8 grid", occupancy.nbytes)  # kept
    return occupancy


def rotation_of(path: Path) -> Optional[int]:
    """The rotation number of ``chair_000000182_3.mat`` (3), or None."""
    match = _ROTATION.search(path.stem)
    return int(match.group(1)) if match else None


def is_volumetric_layout(path: str | Path) -> bool:
    """True when ``path`` is a volumetric_data root, a class folder, its ``30`` folder or a split folder."""
    try:
        locate(path)
        return True
    except DataError:
        return False


def locate(path: str | Path, split: str = "train"):
    """Return ``(root, classes_or_None, split)`` for a root, class, ``30`` or split folder."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: not a folder")
    if path.name in SPLITS and path.parent.name == RESOLUTION_DIR:
        return path.parent.parent.parent, [path.parent.parent.name], path.name
    if path.name == RESOLUTION_DIR and any((path / s).is_dir() for s in SPLITS):
        return path.parent.parent, [path.parent.name], split
    if (path / RESOLUTION_DIR).is_dir():
        return path.parent, [path.name], split
    if any((child / RESOLUTION_DIR).is_dir() for child in path.iterdir() if child.is_dir()):
        return path, None, split
    raise DataError(f"{path}: not a volumetric_data folder (expected <class>/30/<train|test>/*.mat)")


def list_volumetric(
    root: str | Path,
    classes: Optional[Sequence[str]] = None,
    split: str = "train",
    rotations: str = "all",
):
    """Return ``(files, labels, class_names)``: sorted .mat paths of the chosen classes, split, rotations."""
    root = Path(root)
    if split not in SPLITS:
        raise DataError(f"{root}: split must be one of {SPLITS}, got {split!r}")
    if rotations not in ROTATIONS:
        raise DataError(f"{root}: rotations must be one of {ROTATIONS}, got {rotations!r}")
    available = sorted(d.name for d in root.iterdir() if (d / RESOLUTION_DIR).is_dir())
    class_names = list(classes) if classes else available
    unknown = [c for c in class_names if c not in available]
    if unknown:
        raise DataError(f"{root}: unknown class(es) {unknown} (available: {', '.join(available)})")
    files, labels = [], []
    for label, name in enumerate(class_names):
        folder = root / name / RESOLUTION_DIR / split
        found = sorted(folder.glob("*.mat")) if folder.is_dir() else []
        if rotations == "first":
            found = [f for f in found if rotation_of(f) in (None, 1)]
        files += found
        labels += [label] * len(found)
    if not files:
        raise DataError(f"{root}: no .mat files for classes {class_names}, split '{split}'")
    return files, np.asarray(labels, dtype=np.int64), class_names


@budgeted
def read_volumetric(
    path: str | Path,
    classes: Optional[Sequence[str]] = None,
    split: str = "train",
    rotations: str = "all",
    fraction: float = 1.0,
    pad: int = 32,
    progress: bool = False,
    drop_empty: bool = True,
) -> VoxelSet:
    """Read a volumetric_data tree (root, class, ``30`` or split folder) into a VoxelSet.

    Files come in sorted order per class; ``fraction`` keeps the first part of each class like tf-3dgan's
    ``obj_ratio``; grids are zero-padded to ``pad`` (32, as tf-3dgan; 0 keeps 30^3).
    """
    root, located, split = locate(path, split)
    if located and classes and set(classes) - set(located):
        raise DataError(f"{path}: holds only class {located}, cannot select {list(classes)}")
    files, labels, class_names = list_volumetric(root, located or classes, split, rotations)
    keep = fraction_indices(len(files), labels, fraction)
    files, labels = [files[i] for i in keep], labels[keep]
    grids = read_grids(files, pad, progress)
    result = VoxelSet(grids, labels, [f.stem for f in files], class_names)
    return result.drop_empty(str(path)) if drop_empty else result


def read_grids(files: Sequence[Path], pad: int = 32, progress: bool = False) -> np.ndarray:
    """Read .mat grids of one shape into a uint8 stack (N, pad, pad, pad)."""
    from tqdm.auto import tqdm

    out = None
    for i, f in enumerate(tqdm(files, desc="reading .mat", unit="file", disable=not progress)):
        with transient():
            grid = read_mat(f)
        if out is None:
            size = max(pad, grid.shape[0]) if pad else grid.shape[0]
            charge(f, f"a stack of {len(files):,} grids of {size}^3 like this one", len(files) * size ** 3)
            out = np.empty((len(files), size, size, size), np.uint8)
            first = grid.shape
        if grid.shape != first:
            raise DataError(f"{f}: grid of shape {grid.shape}, expected {first} like {files[0].name}")
        out[i] = pad_to(grid, out.shape[1])
    return out if out is not None else np.zeros((0, pad, pad, pad), np.uint8)
