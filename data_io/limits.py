"""Caps on what the readers of user files allocate, checked against a file's header before anything is
decoded or allocated.

A hostile header (an 875 KB PNG of 30,000 x 30,000 pixels, a binvox cube of 10^6 per side, an .npz member
or Torch7 tensor claiming terabytes) is refused with one line instead of driving the process out of memory.
Each cap has a default and an environment variable that changes it:

- PNG pixels (width x height): ``TF3DGAN_MAX_IMAGE_PIXELS``, default 4096^2;
- binvox voxels (its ``dim`` line): ``TF3DGAN_MAX_GRID_VOXELS``, default 1024^3 (binvox's largest size);
- .off vertices plus faces (its counts line): ``TF3DGAN_MAX_MESH_ELEMENTS``, default 2 x 10^7;
- array bytes (an .npz member, a Torch7 tensor, a stack of voxel grids): ``TF3DGAN_MAX_ARRAY_BYTES``,
  default 4 GiB;
- voxelizer work (the (triangle, voxel column) pairs of the ray-parity fill plus the pieces the surface is cut
  into, estimated before voxelizing): ``TF3DGAN_MAX_VOXELIZER_WORK``, default 3 x 10^7 (about 30 s on a
  2-core CPU: a 2,234-face ModelNet chair is 0.4 x 10^6 at 32^3, 6.4 x 10^6 at 128^3);
- the read budget: everything one reading decodes together (a source read by ``read_source``, one file, the
  grids ``view`` shows), all its files and arrays summed: ``TF3DGAN_MAX_READ_BYTES``, default 4 GiB. A
  reader charges each buffer it is about to allocate (``charge``), sized from the file's declared sizes, so
  four small tensors that each pass the per-array cap cannot add up to more than the budget; buffers freed
  before the next file (``transient``) are given back.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os

from .errors import DataError, UserError

# unit -> (environment variable, default)
LIMITS = {
    "pixels": ("TF3DGAN_MAX_IMAGE_PIXELS", 4096 ** 2),
    "voxels": ("TF3DGAN_MAX_GRID_VOXELS", 1024 ** 3),
    "vertices + faces": ("TF3DGAN_MAX_MESH_ELEMENTS", 2 * 10 ** 7),
    "bytes": ("TF3DGAN_MAX_ARRAY_BYTES", 4 * 1024 ** 3),
    "units of voxelizer work": ("TF3DGAN_MAX_VOXELIZER_WORK", 3 * 10 ** 7),
    "bytes in all": ("TF3DGAN_MAX_READ_BYTES", 4 * 1024 ** 3),
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


class _Budget:
    """The bytes a reading may still decode: ``limit`` and the ``held`` part already charged."""

    def __init__(self, limit: int):
        self.limit, self.held = limit, 0


_BUDGET: contextvars.ContextVar = contextvars.ContextVar("tf3dgan_read_budget", default=None)


@contextlib.contextmanager
def read_budget():
    """One read budget (``TF3DGAN_MAX_READ_BYTES``) for everything inside; nested calls share the outermost."""
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget(size_limit("bytes in all")))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def budgeted(reader):
    """``reader`` run inside ``read_budget()``: a reader called on its own has a budget of its own."""

    @functools.wraps(reader)
    def wrapper(*args, **kwargs):
        with read_budget():
            return reader(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def transient():
    """Bytes charged inside are given back on leaving: buffers freed once a file's grids are kept."""
    budget = _BUDGET.get()
    held = budget.held if budget is not None else 0
    try:
        yield
    finally:
        if budget is not None:
            budget.held = held


def charge(name, what: str, nbytes: int) -> None:
    """Count ``nbytes`` about to be allocated for ``what`` of file ``name`` against the read budget; a DataError
    naming the file when it would go over (call it before allocating)."""
    budget = _BUDGET.get()
    limit = budget.limit if budget is not None else size_limit("bytes in all")
    held = budget.held if budget is not None else 0
    if held + nbytes > limit:
        variable = LIMITS["bytes in all"][0]
        already = f" on top of the {held:,} bytes already read" if held else ""
        raise DataError(f"{name}: {what} needs {nbytes:,} bytes{already}, over the read budget of {limit:,} bytes "
                        f"(set {variable} to raise it)")
    if budget is not None:
        budget.held += nbytes
