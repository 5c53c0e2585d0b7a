"""Read and write ``.binvox`` files (Patrick Min's run-length voxel format).

Header: ``#binvox 1``, ``dim D H W``, ``translate tx ty tz``, ``scale s``, ``data``; then (value, count) byte
pairs. The voxel order on disk is x-z-y (y fastest); arrays here are indexed [x, y, z], the same as
binvox-rw-py's ``read_as_3d_array``. A ``dim`` over ``TF3DGAN_MAX_GRID_VOXELS`` (default 1024^3, see
``data_io.limits``) is refused before anything is allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, read_file_bytes
from .limits import budgeted, charge, refuse_if_too_large
from .voxelset import as_occupancy


@dataclass
class Binvox:
    voxels: np.ndarray  # uint8 (X, Y, Z) in {0, 1}; a transposed view of the file's x-z-y order
    translate: tuple = (0.0, 0.0, 0.0)
    scale: float = 1.0


def _parse_header(path: Path, raw: bytes):
    """Return (dims, translate, scale, offset of the run-length data)."""
    fields, pos = {}, 0
    for number in range(10):
        end = raw.find(b"\n", pos)
        if end < 0:
            raise DataError(f"{path}: truncated binvox header (no 'data' line)")
        line = raw[pos:end].strip().decode("ascii", errors="replace")
        pos = end + 1
        if number == 0:
            if not line.startswith("#binvox"):
                raise DataError(f"{path}: not a binvox file (first line {line[:40]!r})")
            continue
        if line == "data":
            break
        key, _, value = line.partition(" ")
        fields[key] = value.split()
    else:
        raise DataError(f"{path}: binvox header has no 'data' line")
    try:
        dims = tuple(int(v) for v in fields["dim"])
        translate = tuple(float(v) for v in fields.get("translate", (0, 0, 0)))
        scale = float(fields.get("scale", ["1"])[0])
    except KeyError:
        raise DataError(f"{path}: binvox header has no 'dim' line") from None
    except ValueError as err:
        raise DataError(f"{path}: malformed binvox header ({err})") from None
    if len(dims) != 3 or min(dims) < 1 or len(translate) != 3:
        raise DataError(f"{path}: malformed binvox header (dim {dims}, translate {translate})")
    refuse_if_too_large(path, f"a {'x'.join(map(str, dims))} grid", math.prod(dims), "voxels")
    return dims, translate, scale, pos


@budgeted
def read_binvox(path: str | Path) -> Binvox:
    """Read a .binvox file into a Binvox (voxels uint8 indexed [x, y, z], translate, scale)."""
    path = Path(path)
    raw = read_file_bytes(path)
    dims, translate, scale, offset = _parse_header(path, raw)
    runs = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    if len(runs) % 2:
        raise DataError(f"{path}: truncated binvox data (odd number of run-length bytes)")
    values, counts = runs[0::2], runs[1::2]
    total, expected = int(counts.sum(dtype=np.int64)), math.prod(dims)
    if total != expected:
        raise DataError(f"{path}: binvox data holds {total} voxels, header dim {dims} needs {expected}")
    if values.size and values.max() > 1:
        raise DataError(f"{path}: binvox run values must be 0 or 1, found {int(values.max())}")
    # The file, np.repeat's int64 run counts and the decoded runs.
    charge(path, f"a {'x'.join(map(str, dims))} grid", len(raw) + 4 * len(runs) + math.prod(dims))
    flat = np.repeat(values, counts)
    # A view in [x, y, z] order, not a copy: copying a 1024^3 grid across its strides took 15 s.
    return Binvox(flat.reshape(dims).transpose(0, 2, 1), translate, scale)


def encode_runs(flat: np.ndarray) -> bytes:
    """Run-length encode a 1D uint8 {0, 1} array as (value, count <= 255) byte pairs."""
    if flat.size == 0:
        return b""
    starts = np.flatnonzero(np.concatenate([[True], flat[1:] != flat[:-1]]))
    lengths = np.diff(np.append(starts, flat.size))
    values = flat[starts]
    # Split runs longer than 255 into full chunks plus a remainder.
    chunks = (lengths + 254) // 255
    run_values = np.repeat(values, chunks)
    run_counts = np.full(chunks.sum(), 255, dtype=np.int64)
    last = np.cumsum(chunks) - 1
    run_counts[last] = lengths - 255 * (chunks - 1)
    return np.stack([run_values, run_counts.astype(np.uint8)], axis=1).astype(np.uint8).tobytes()


def write_binvox(path: str | Path, voxels: np.ndarray, translate=(0.0, 0.0, 0.0), scale: float = 1.0) -> None:
    """Write a 3D occupancy grid indexed [x, y, z] as a .binvox file (exact round trip with read_binvox)."""
    voxels = as_occupancy(np.asarray(voxels), str(path))
    if voxels.ndim != 3:
        raise ValueError(f"write_binvox: expected a 3D grid, got shape {voxels.shape}")
    dims = voxels.shape
    header = (
        "#binvox 1\n"
        f"dim {dims[0]} {dims[2]} {dims[1]}\n"
        f"translate {' '.join(repr(float(t)) for t in translate)}\n"
        f"scale {float(scale)!r}\n"
        "data\n"
    )
    flat = np.ascontiguousarray(voxels.transpose(0, 2, 1)).ravel()
    Path(path).write_bytes(header.encode("ascii") + encode_runs(flat))
