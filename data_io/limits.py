"""Caps on what the readers of user files allocate, checked against a file's header before anything is
decoded or allocated.

A hostile header (an 875 KB PNG of 30,000 x 30,000 pixels, a binvox cube of 10^6 per side, an .npz member
or Torch7 tensor claiming terabytes) is refused with one line instead of driving the process out of memory.
Each cap has a default and an environment variable that changes it:

- PNG pixels (width x height): ``TF3DGAN_MAX_IMAGE_PIXELS``, default 4096^2;
- binvox voxels (its ``dim`` line): ``TF3DGAN_MAX_GRID_VOXELS``, default 1024^3 (binvox's largest size);
- .off vertices plus faces (its counts line): ``TF3DGAN_MAX_MESH_ELEMENTS``, default 2 x 10^7;
- array bytes (an .npz member, a Torch7 tensor, a stack of voxel grids): ``TF3DGAN_MAX_ARRAY_BYTES``,
  default 4 GiB.
"""

from __future__ import annotations

import os

from .errors import DataError, UserError

# unit -> (environment variable, default)
LIMITS = {
    "pixels": ("TF3DGAN_MAX_IMAGE_PIXELS", 4096 ** 2),
    "voxels": ("TF3DGAN_MAX_GRID_VOXELS", 1024 ** 3),
    "vertices + faces": ("TF3DGAN_MAX_MESH_ELEMENTS", 2 * 10 ** 7),
    "bytes": ("TF3DGAN_MAX_ARRAY_BYTES", 4 * 1024 ** 3),
}


def size_limit(unit: str) -> int:
    """The cap for ``unit`` (a key of ``LIMITS``): its environment variable when set, else the default."""
    variable, default = LIMITS[unit]
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"{variable}={value!r}: expected a positive whole number")
    return int(value)


def refuse_if_too_large(name, what: str, count: int, unit: str) -> None:
    """A DataError naming file ``name`` when ``what`` (e.g. "a 30000x30000 image") holds more than the cap
    on ``unit``; call it with the header's numbers, before allocating."""
    limit = size_limit(unit)
    if count > limit:
        variable = LIMITS[unit][0]
        raise DataError(f"{name}: {what} has {count:,} {unit}, over the limit of {limit:,} "
                        f"(set {variable} to raise it)")
