"""A folder of mixed voxel files (.mat, .binvox, .off, .npy, .npz), read by extension.

Files in first-level subfolders are labelled by the subfolder name (``folder/chair/a.binvox`` is class
``chair``); files directly in the folder have no label. In the ModelNet layout, ``<class>/<split>/`` (or a
class folder's own ``<split>/`` subfolders), only the files of the chosen split are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .arrays import read_array
from .binvox import read_binvox
from .errors import DataError, LinkedFolderWarning
from .limits import budgeted, charge, transient
from .off_mesh import read_off_voxels
from .resample import pad_to, resize
from .volumetric import SPLITS, read_mat
from .voxelset import VoxelSet

EXTENSIONS = (".mat", ".binvox", ".off", ".npy", ".npz")


def list_voxel_files(path: str | Path) -> list:
    """Sorted voxel files under ``path`` (recursively), by extension; DataError naming a folder that cannot
    be read (rather than skipping its files silently).

    Links to folders are followed once: a link to a folder already read (or about to be), such as
    ``self -> .``, is skipped with one LinkedFolderWarning, so a cycle never repeats files or runs forever."""
    import os
    import warnings

    def unreadable(err: OSError):
        raise DataError(f"{err.filename or path}: cannot read this folder ({err.strerror or err})")

    def identity(folder: str):
        try:
            status = os.stat(folder)
        except OSError:  # a dangling link or an unreadable folder: os.walk reports what it cannot list
            return None
        return status.st_dev, status.st_ino

    found, skipped = [], []
    seen = {identity(str(path))}
    for folder, subfolders, names in os.walk(path, onerror=unreadable, followlinks=True):
        kept = []
        # Real folders claim their identity before links to them, so a link is the one skipped.
        for name in sorted(subfolders, key=lambda n: (os.path.islink(os.path.join(folder, n)), n)):
            key = identity(os.path.join(folder, name))
            if key is not None and key in seen:
                skipped.append(os.path.join(folder, name))
                continue
            seen.add(key)
            kept.append(name)
        subfolders[:] = sorted(kept)
        found += [Path(folder) / n for n in names if Path(n).suffix.lower() in EXTENSIONS]
    if skipped:
        shown = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        warnings.warn(LinkedFolderWarning(f"{path}: skipped {len(skipped)} linked folder(s) already read "
                                          f"(a link cycle or a second link to one folder): {shown}"), stacklevel=2)
    return sorted(p for p in found if p.is_file())


def read_file(path: Path, size: Optional[int] = None, split: str = "train", key: Optional[str] = None) -> list:
    """Return ``[(name, grid uint8)]`` for one file of any supported kind (an array file may hold many)."""
    suffix = path.suffix.lower()
    if suffix == ".mat":
        grid = read_mat(path, key or "instance")
        return [(path.stem, pad_to(grid, 32) if grid.shape[0] == 30 else grid)]
    if suffix == ".binvox":
        return [(path.stem, read_binvox(path).voxels)]
    if suffix == ".off":
        return [(path.stem, read_off_voxels(path, size or 32))]
    if suffix in (".npy", ".npz"):
        stack = read_array(path, key=key, split=split, drop_empty=False)
        return list(zip(stack.names, stack.voxels))
    raise DataError(f"{path}: unsupported file type (supported: {', '.join(EXTENSIONS)})")


def _split_files(path: Path, files: list, split: str) -> tuple[list, bool]:
    """``(files, labelled)``: the files of ``split`` in a ModelNet-style folder, else all of them."""
    parts = [f.relative_to(path).parts for f in files]
    if all(len(p) >= 3 and p[1] in SPLITS for p in parts):  # <class>/<split>/...
        kept, labelled = [f for f, p in zip(files, parts) if p[1] == split], True
    elif all(len(p) >= 2 and p[0] in SPLITS for p in parts):  # <split>/... (one class folder)
        kept, labelled = [f for f, p in zip(files, parts) if p[0] == split], False
    else:
        return files, True
    if not kept:
        raise DataError(f"{path}: no voxel files in the '{split}' split (the folder has <class>/<split>/ "
                        "subfolders)")
    return kept, labelled


def folder_splits(path: str | Path) -> list:
    """The splits (``train``, ``test``) of a ModelNet-style folder, in that order; [] for other folders."""
    path = Path(path)
    files = list_voxel_files(path)
    parts = [f.relative_to(path).parts for f in files]
    if files and all(len(p) >= 3 and p[1] in SPLITS for p in parts):
        found = {p[1] for p in parts}
    elif files and all(len(p) >= 2 and p[0] in SPLITS for p in parts):
        found = {p[0] for p in parts}
    else:
        return []
    return [s for s in SPLITS if s in found]


@budgeted
def read_folder(
    path: str | Path,
    size: Optional[int] = None,
    split: str = "train",
    key: Optional[str] = None,
    progress: bool = False,
    drop_empty: bool = True,
) -> VoxelSet:
    """Read every supported file under ``path``; grids of other sizes are resized to ``size`` when given."""
    from tqdm.auto import tqdm

    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: folder not found")
    files = list_voxel_files(path)
    if not files:
        raise DataError(f"{path}: no voxel files found (looked for {', '.join(EXTENSIONS)})")
    files, labelled = _split_files(path, files, split)
    subfolders = [f.relative_to(path).parts[0] for f in files if len(f.relative_to(path).parts) > 1]
    labelled = labelled and len(subfolders) == len(files)
    class_names = sorted(set(subfolders)) if labelled else []
    names, grids, labels = [], [], []
    for f in tqdm(files, desc="reading files", unit="file", disable=not progress):
        with transient():  # what decoding a file holds is freed once its grids are kept (charged below)
            read = read_file(f, size, split, key)
        for name, grid in read:
            if grid.ndim != 3 or len(set(grid.shape)) != 1:
                raise DataError(f"{f}: expected a cubic grid, got shape {grid.shape}")
            if size is not None and grid.shape[0] != size:
                try:
                    grid = resize(grid, size)
                except ValueError as err:
                    raise DataError(f"{f}: {err}") from None
            charge(f, f"a grid of shape {grid.shape}", grid.nbytes)
            names.append(str(f.relative_to(path).with_suffix("")) if name == f.stem else name)
            grids.append(grid)
            if labelled:
                labels.append(class_names.index(f.relative_to(path).parts[0]))
    shapes = sorted({g.shape for g in grids})
    if len(shapes) > 1:
        raise DataError(f"{path}: grids of different sizes {shapes}; choose a common size (--cube-len)")
    charge(path, f"the stack of {len(grids):,} grids", sum(g.nbytes for g in grids))
    result = VoxelSet(np.stack(grids), np.array(labels) if labelled else None, names, class_names)
    return result.drop_empty(str(path)) if drop_empty else result
