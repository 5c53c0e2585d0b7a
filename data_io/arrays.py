"""numpy ``.npy`` / ``.npz`` voxel arrays (e.g. ModelNet10's ``X_train`` / ``y_train``).

Arrays are converted to uint8 in chunks, so an int32 or float64 file never sits whole in memory. An .npz
is checked from its members' headers before anything is loaded: each must hold the data its shape promises
and stay under ``TF3DGAN_MAX_ARRAY_BYTES`` (default 4 GiB, see ``data_io.limits``), as must the uint8 stack.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import DataError
from .limits import budgeted, charge, refuse_if_too_large
from .voxelset import VoxelSet, as_occupancy

MODELNET10_CLASSES = [
    "bathtub", "bed", "chair", "desk", "dresser", "monitor", "night_stand", "sofa", "table", "toilet",
]
_CHUNK = 256  # grids converted per chunk
# What zipfile and numpy's header reader raise for a damaged archive (an unknown zip version: NotImplementedError,
# an encrypted member: RuntimeError).
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError)


def _voxel_key_candidates(split: str) -> list:
    return ["voxels", f"X_{split}", f"x_{split}", "X", "x", "data", "arr_0"]


def _label_key_candidates(split: str) -> list:
    return ["labels", f"y_{split}", f"Y_{split}", "y", "Y"]


def _to_stack(array, path: Path, key: str) -> np.ndarray:
    """Convert a (N, s, s, s[, 1]) or (s, s, s) array-like to a uint8 stack, chunk by chunk."""
    shape = tuple(array.shape)
    if len(shape) == 5 and shape[-1] == 1:
        shape = shape[:-1]
    elif len(shape) == 3:
        shape = (1,) + shape
    if len(shape) != 4 or len(set(shape[1:])) != 1:
        raise DataError(f"{path}: '{key}' must hold cubic grids (N, s, s, s), got shape {tuple(array.shape)}")
    refuse_if_too_large(path, f"'{key}' as uint8 grids {shape}", math.prod(shape), "bytes")
    # The stack, and a chunk read from the file plus its conversion (as_occupancy's float copy at most).
    chunk = min(shape[0], _CHUNK) * math.prod(shape[1:])
    charge(path, f"'{key}' as uint8 grids {shape}", math.prod(shape) + chunk * (np.dtype(array.dtype).itemsize + 9))
    out = np.empty(shape, dtype=np.uint8)
    for start in range(0, shape[0], _CHUNK):
        chunk = np.asarray(array[start:start + _CHUNK]).reshape((-1,) + shape[1:])
        out[start:start + len(chunk)] = as_occupancy(chunk, f"{path} ['{key}']")
    return out


def _npy_header(stream) -> tuple:
    """``(shape, fortran_order, dtype)`` from the header at the start of an .npy stream."""
    version = np.lib.format.read_magic(stream)
    read_header = {
        (1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0,
    }.get(version)
    if read_header is None:
        raise ValueError(f"unsupported .npy format version {version}")
    return read_header(stream)


def check_npz_sizes(path: str | Path) -> dict:
    """A DataError unless every array in the .npz ``path`` holds the bytes its header's shape needs and stays
    under ``TF3DGAN_MAX_ARRAY_BYTES``: read from the headers, before any array is loaded. Returns each array's
    ``(shape, dtype)`` by name."""
    headers = []  # (name, shape, dtype, bytes stored after the header)
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    with archive.open(info) as stream:
                        shape, _, dtype = _npy_header(stream)
                        headers.append((info.filename[:-4], shape, dtype, info.file_size - stream.tell()))
    except _ZIP_ERRORS as err:
        raise DataError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
    for name, shape, dtype, stored in headers:
        what = f"array '{name}' of shape {shape}"
        needed = math.prod(shape) * dtype.itemsize
        refuse_if_too_large(path, what, needed, "bytes")
        if needed > stored:
            raise DataError(f"{path}: {what} needs {needed:,} bytes of data; the archive holds {stored:,}")
    return {name: (shape, dtype) for name, shape, dtype, _ in headers}


class _NpzMember:
    """Sliceable view of one array stored in an .npz, read sequentially without loading it whole."""

    def __init__(self, archive: zipfile.ZipFile, member: str):
        self._file = archive.open(member)
        self.shape, fortran, self.dtype = _npy_header(self._file)
        if fortran or self.dtype.hasobject:
            raise ValueError("Fortran-ordered or object arrays are not supported")
        self._row = int(np.prod(self.shape[1:], dtype=np.int64)) if len(self.shape) > 1 else 1
        self._next = 0

    def __getitem__(self, item: slice) -> np.ndarray:
        start, stop, _ = item.indices(self.shape[0])
        assert start == self._next, "rows are read in order"
        n = stop - start
        raw = self._file.read(n * self._row * self.dtype.itemsize)
        if len(raw) != n * self._row * self.dtype.itemsize:
            raise ValueError("array data is truncated")
        self._next = stop
        return np.frombuffer(raw, dtype=self.dtype).reshape((n,) + tuple(self.shape[1:]))


@budgeted
def read_array(
    path: str | Path,
    key: Optional[str] = None,
    label_key: Optional[str] = None,
    split: str = "train",
    drop_empty: bool = True,
) -> VoxelSet:
    """Read voxels (and labels, names, class names when present) from an .npy or .npz file.

    Without ``key`` an .npz is searched for ``voxels``, ``X_<split>``, ``X``, ``data``, ``arr_0``; labels
    for ``labels``, ``y_<split>``, ``y``. ``names`` and ``class_names`` keys are used when present (the
    layout written by ``tf3dgan data convert``); files named like ModelNet10 get its class names.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix.lower() == ".npy":
        if key not in (None, "arr_0"):
            raise DataError(f"{path}: an .npy file holds one array, cannot select key '{key}'")
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as err:
            raise DataError(f"{path}: not a readable .npy file ({type(err).__name__}: {err})") from None
        result = VoxelSet(_to_stack(array, path, "array"), names=_default_names(path, _count(array)))
    else:
        result = _read_npz(path, key, label_key, split)
    return result.drop_empty(str(path)) if drop_empty else result


def _count(array) -> int:
    return 1 if array.ndim == 3 else int(array.shape[0])


def _default_names(path: Path, count: int) -> list:
    return [f"{path.stem}_{i:05d}" for i in range(count)]


def npz_keys(path: str | Path) -> list:
    """The array names in an .npz (without loading them)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
    except _ZIP_ERRORS as err:
        raise DataError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None


def _read_npz(path: Path, key, label_key, split) -> VoxelSet:
    keys = npz_keys(path)
    headers = check_npz_sizes(path)
    if key is None:
        key = next((k for k in _voxel_key_candidates(split) if k in keys), None)
        if key is None:
            raise DataError(f"{path}: no voxel array found (keys: {', '.join(keys)}); set data.array_key")
    elif key not in keys:
        raise DataError(f"{path}: no array '{key}' (keys: {', '.join(keys)})")
    if label_key is None:
        label_key = next((k for k in _label_key_candidates(split) if k in keys), None)
    for name in {label_key, "names", "class_names"} & set(headers):  # loaded whole
        shape, dtype = headers[name]
        charge(path, f"array '{name}' of shape {shape}", math.prod(shape) * dtype.itemsize)
    try:
        with zipfile.ZipFile(path) as archive:
            voxels = _to_stack(_NpzMember(archive, key + ".npy"), path, key)
            with np.load(path, allow_pickle=False) as small:
                labels = small[label_key] if label_key else None
                names = [str(n) for n in small["names"]] if "names" in keys else None
                class_names = [str(n) for n in small["class_names"]] if "class_names" in keys else []
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{path}: cannot read array '{key}' ({type(err).__name__}: {err})") from None
    n = len(voxels)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != n or not np.issubdtype(labels.dtype, np.integer) or (n and labels.min() < 0):
            raise DataError(f"{path}: '{label_key}' must hold {n} non-negative integer labels")
        top = int(labels.max()) + 1 if n else 0
        if not class_names:  # one made-up name per label up to the largest: a label of 2^62 would never end
            charge(path, f"names for the {top:,} classes of labels up to {top - 1:,}", 64 * top)
        if class_names and top > len(class_names):
            raise DataError(f"{path}: '{label_key}' holds label {top - 1}, but 'class_names' names only "
                            f"{len(class_names)} classes (labels 0..{len(class_names) - 1})")
        if not class_names:
            if "modelnet10" in path.name.lower() and top <= 10:
                class_names = list(MODELNET10_CLASSES)
            else:
                class_names = [f"class_{i}" for i in range(top)]
    if names is not None and len(names) != n:
        raise DataError(f"{path}: 'names' holds {len(names)} entries for {n} grids")
    prefix = f"{split}_" if key.lower().endswith(f"_{split}") else ""
    names = names or [f"{path.stem}_{prefix}{i:05d}" for i in range(n)]
    return VoxelSet(voxels, labels, names, class_names)


def write_npz(path: str | Path, voxels: VoxelSet) -> None:
    """Write a VoxelSet as a compressed .npz, atomically: keys ``voxels``, ``names``, and for a labelled set
    ``labels`` and ``class_names`` (an unlabelled set stays unlabelled when read back)."""
    from .atomic import atomic_write_bytes

    arrays = {"voxels": voxels.voxels.astype(np.uint8), "names": np.array(voxels.names, dtype=str)}
    if voxels.labels is not None:
        arrays["labels"] = voxels.labels.astype(np.int64)
        arrays["class_names"] = np.array(voxels.class_names, dtype=str)
    atomic_write_bytes(path, lambda f: np.savez_compressed(f, **arrays))
