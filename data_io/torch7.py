"""Torch7 serialization (``torch.save`` / ``torch.load`` in Lua, binary mode): a reader (the tests write their
.t7 files with ``tests/torch7_writer.py``).

The format, from torch7's ``File.lua``: every object starts with an int32 type tag. Numbers are float64,
booleans int32, strings an int32 length and bytes. Tables and torch objects carry an int32 reference index
first; an index seen before refers to the object already read (shared references and cycles). A table is
then an int32 count and that many (key, value) objects. A torch object is a version string ``"V <n>"``
followed by its class name (files older than version 1 have the class name directly); tensors store
int32 nDimension, int64 sizes and strides, an int64 1-based storage offset and their storage object;
storages an int64 size and the raw little-endian values; any other class (``nn.Sequential``,
``nn.VolumetricFullConvolution``, ...) stores the table of its fields.

``read_torch7(path)`` returns plain Python: numbers as float, tables as dicts (keys as read: 1.0, 2.0, ...
for Lua arrays; ``lua_list`` turns those into lists; a table, tensor or torch object used as a key, as
nngraph's graphs key their nodes, comes wrapped in an ``ObjectKey``), tensors as numpy arrays (CUDA tensors
as their CPU types), ``tds.Hash`` / ``tds.Vec`` as a dict / list, other torch objects as
``TorchObject(class_name, fields)``. Lua functions and classes with their own serializer are not supported.

The file is untrusted: a tensor's sizes, strides and offset are checked against its storage before any view
of it is made, its size against ``data_io.limits`` (``TF3DGAN_MAX_ARRAY_BYTES``, and the copies of all tensors together
against the read budget, ``TF3DGAN_MAX_READ_BYTES``), and objects nested deeper
than ``MAX_NESTING`` are refused; every fault is a one-line ``DataError`` naming the file.
"""

from __future__ import annotations

import math
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, read_file_bytes
from .limits import budgeted, charge, refuse_if_too_large

NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN = 0, 1, 2, 3, 4, 5
FUNCTIONS = (6, 7, 8)
KNOWN_TAGS = (NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN) + FUNCTIONS
MAX_NESTING = 5000  # tables / torch objects inside one another
MAX_TENSOR_DIMS = 32
TDS_HASH, TDS_VEC = ("tds.Hash", "tds_hash"), ("tds.Vec", "tds_vec")
CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,199}")

# torch.<Type>Tensor / torch.<Type>Storage (and torch.Cuda<Type>...) -> element dtype
_DTYPES = {
    "Double": "<f8", "Float": "<f4", "Half": "<f2", "Long": "<i8", "Int": "<i4", "Short": "<i2",
    "Char": "<i1", "Byte": "<u1", "Cuda": "<f4", "CudaDouble": "<f8", "CudaLong": "<i8", "CudaInt": "<i4",
    "CudaHalf": "<f2", "CudaByte": "<u1",
}


@dataclass
class TorchObject:
    """A torch class other than a tensor or storage: its class name and the table of its fields."""

    class_name: str
    fields: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)


@dataclass(frozen=True, eq=False)
class ObjectKey:
    """A table, tensor or torch object used as a table key: Lua compares such keys by identity, and so does
    this wrapper (Python cannot hash a dict or an array); ``value`` is the object."""

    value: object


def _as_key(value):
    """``value`` as a dict key: itself, or wrapped in an ObjectKey when it is a table, tensor or torch object."""
    return ObjectKey(value) if isinstance(value, (dict, list, np.ndarray, TorchObject)) else value


def _element_type(class_name: str, kind: str):
    """``"Float"`` for ``torch.FloatTensor`` (kind ``Tensor``), None when it is not such a class."""
    if not class_name.startswith("torch.") or not class_name.endswith(kind):
        return None
    name = class_name[len("torch."):-len(kind)]
    return name if name in _DTYPES else None


def lua_list(table) -> list:
    """The array part of a Lua table read as a dict ({1.0: a, 2.0: b} -> [a, b])."""
    if isinstance(table, list):
        return table
    out, i = [], 1
    while float(i) in table:
        out.append(table[float(i)])
        i += 1
    return out


class _Reader:
    def __init__(self, data: bytes, name: str):
        self.data, self.pos, self.name = data, 0, name
        self.memo: dict[int, object] = {}
        self.storage_ids: set[int] = set()  # id() of the arrays read as storages (kept alive by memo)
        self.depth = 0

    def _take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise DataError(f"{self.name}: truncated Torch7 file (at byte {self.pos})")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def int(self) -> int:
        return self._take("<i")[0]

    def long(self) -> int:
        return self._take("<q")[0]

    def string(self) -> str:
        n = self.int()
        if n < 0 or self.pos + n > len(self.data):
            raise DataError(f"{self.name}: truncated Torch7 file (a string of {n} bytes at byte {self.pos})")
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw.decode("latin-1")

    def object(self):
        tag = self.int()
        if tag == NIL:
            return None
        if tag == NUMBER:
            return self._take("<d")[0]
        if tag == BOOLEAN:
            return self.int() == 1
        if tag == STRING:
            return self.string()
        if tag in (TABLE, TORCH):
            index = self.int()
            if index in self.memo:
                return self.memo[index]
            if self.depth >= MAX_NESTING:
                raise DataError(f"{self.name}: objects nested deeper than {MAX_NESTING} levels (at byte {self.pos})")
            self.depth += 1
            try:
                return self.table(index) if tag == TABLE else self.torch_object(index)
            finally:
                self.depth -= 1
        if tag in FUNCTIONS:
            raise DataError(f"{self.name}: holds a Lua function (type {tag}); not supported")
        raise DataError(f"{self.name}: not a Torch7 binary file (unknown type tag {tag} at byte {self.pos - 4})")

    def table(self, index: int) -> dict:
        table: dict = {}
        self.memo[index] = table  # before its entries: they may refer back to it
        for _ in range(self.int()):
            key = _as_key(self.object())
            table[key] = self.object()
        return table

    def torch_object(self, index: int):
        version = self.string()
        class_name = self.string() if version.startswith("V ") else version
        if not CLASS_NAME.fullmatch(class_name):
            raise DataError(f"{self.name}: not a Torch7 binary file (a class name of {len(class_name)} characters "
                            f"that is not a Lua name, before byte {self.pos})")
        element = _element_type(class_name, "Storage")
        if element is not None:
            storage = self.storage(class_name, np.dtype(_DTYPES[element]))
            self.storage_ids.add(id(storage))
            self.memo[index] = storage
            return storage
        element = _element_type(class_name, "Tensor")
        if element is not None:
            tensor = self.tensor(class_name, np.dtype(_DTYPES[element]))
            self.memo[index] = tensor
            return tensor
        if class_name in TDS_HASH + TDS_VEC:
            return self.tds_container(index, class_name)
        obj = TorchObject(class_name)
        self.memo[index] = obj  # before its fields: they may refer back to it
        tag = struct.unpack_from("<i", self.data, self.pos)[0] if self.pos + 4 <= len(self.data) else NIL
        if tag not in KNOWN_TAGS:
            raise DataError(f"{self.name}: holds a {class_name} (at byte {self.pos}) written by its own serializer, "
                            "which this reader does not know")
        fields = self.object()
        obj.fields = fields if isinstance(fields, dict) else {"value": fields}
        return obj

    def storage(self, class_name: str, dtype: np.dtype) -> np.ndarray:
        """A storage: int64 n and n raw values, viewed in place (read-only)."""
        n = self.long()
        if n < 0 or self.pos + n * dtype.itemsize > len(self.data):
            raise DataError(f"{self.name}: truncated Torch7 file (a {class_name} of {n} values at byte {self.pos})")
        storage = np.frombuffer(self.data, dtype, n, self.pos)
        self.pos += n * dtype.itemsize
        return storage

    def tensor(self, class_name: str, dtype: np.dtype) -> np.ndarray:
        """A tensor: int32 nDimension, int64 sizes, strides and 1-based offset, then its storage; copied out of
        the storage after checking that every element it addresses lies inside it."""
        ndim = self.int()
        if not 0 <= ndim <= MAX_TENSOR_DIMS:
            raise DataError(f"{self.name}: a {class_name} of {ndim} dimensions (expected 0..{MAX_TENSOR_DIMS})")
        sizes = tuple(self.long() for _ in range(ndim))
        strides = tuple(self.long() for _ in range(ndim))
        offset = self.long() - 1
        storage = self.object()
        what = f"a {class_name} of shape {sizes}"
        if min(sizes + strides, default=0) < 0:
            raise DataError(f"{self.name}: {what} and strides {strides}: sizes and strides must be >= 0")
        count = math.prod(sizes) if ndim else 0
        extent = math.prod(max(size, 1) for size in sizes)  # what numpy checks, even for an empty tensor
        refuse_if_too_large(self.name, what, extent * dtype.itemsize, "bytes")
        if count == 0:
            return np.zeros(sizes if ndim else (0,), dtype)
        if id(storage) not in self.storage_ids or storage.dtype != dtype:
            found = storage.dtype if isinstance(storage, np.ndarray) else type(storage).__name__
            raise DataError(f"{self.name}: {what} has no storage of its element type (found {found})")
        last = offset + sum((size - 1) * stride for size, stride in zip(sizes, strides))
        if offset < 0 or last >= len(storage):
            raise DataError(f"{self.name}: {what} (strides {strides}, offset {offset + 1}) runs past its storage "
                            f"of {len(storage)} values")
        charge(self.name, what, count * dtype.itemsize)  # the copy: zero strides make it larger than the file
        byte_strides = [stride * dtype.itemsize if size > 1 else 0 for size, stride in zip(sizes, strides)]
        return np.lib.stride_tricks.as_strided(storage[offset:], shape=sizes, strides=byte_strides).copy()

    def tds_container(self, index: int, class_name: str):
        """A tds.Hash (int64 n, then n keys and values) as a dict, or a tds.Vec (int64 n, n values) as a list."""
        container = {} if class_name in TDS_HASH else []
        self.memo[index] = container
        n = self.long()
        if n < 0:
            raise DataError(f"{self.name}: a {class_name} of {n} entries (at byte {self.pos - 8})")
        for _ in range(n):  # a lying n ends at the end of the file
            if class_name in TDS_HASH:
                key = _as_key(self.object())
                container[key] = self.object()
            else:
                container.append(self.object())
        return container


@budgeted
def read_torch7(path: str | Path):
    """The object stored in a Torch7 binary file (see the module docstring)."""
    path = Path(path)
    data = read_file_bytes(path)
    charge(path, "the file", len(data))
    # Each nested table costs one or two Python frames; make room for MAX_NESTING of them.
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 3 * MAX_NESTING + 1000))
    try:
        return _Reader(data, str(path)).object()
    finally:
        sys.setrecursionlimit(old_limit)

