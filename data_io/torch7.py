"""Torch7 serialization (``torch.save`` / ``torch.load`` in Lua, binary mode): a reader and a small writer.

The format, from torch7's ``File.lua``: every object starts with an int32 type tag. Numbers are float64,
booleans int32, strings an int32 length and bytes. Tables and torch objects carry an int32 reference index
first; an index seen before refers to the object already read (shared references and cycles). A table is
then an int32 count and that many (key, value) objects. A torch object is a version string ``"V <n>"``
followed by its class name (files older than version 1 have the class name directly); tensors store
int32 nDimension, int64 sizes and strides, an int64 1-based storage offset and their storage object;
storages an int64 size and the raw little-endian values; any other class (``nn.Sequential``,
``nn.VolumetricFullConvolution``, ...) stores the table of its fields.

``read_torch7(path)`` returns plain Python: numbers as float, tables as dicts (keys as read: 1.0, 2.0, ...
for Lua arrays; ``lua_list`` turns those into lists), tensors as numpy arrays (CUDA tensors as their CPU
types), other torch objects as ``TorchObject(class_name, fields)``. Lua functions are not supported.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, read_file_bytes

NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN = 0, 1, 2, 3, 4, 5
FUNCTIONS = (6, 7, 8)

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
        if tag == TABLE:
            index = self.int()
            if index in self.memo:
                return self.memo[index]
            table: dict = {}
            self.memo[index] = table
            for _ in range(self.int()):
                key = self.object()
                table[key] = self.object()
            return table
        if tag == TORCH:
            index = self.int()
            if index in self.memo:
                return self.memo[index]
            version = self.string()
            class_name = self.string() if version.startswith("V ") else version
            return self.torch_object(index, class_name)
        if tag in FUNCTIONS:
            raise DataError(f"{self.name}: holds a Lua function (type {tag}); not supported")
        raise DataError(f"{self.name}: not a Torch7 binary file (unknown type tag {tag} at byte {self.pos - 4})")

    def torch_object(self, index: int, class_name: str):
        element = _element_type(class_name, "Storage")
        if element is not None:
            n = self.long()
            dtype = np.dtype(_DTYPES[element])
            if n < 0 or self.pos + n * dtype.itemsize > len(self.data):
                raise DataError(f"{self.name}: truncated Torch7 file (a {class_name} of {n} values)")
            storage = np.frombuffer(self.data, dtype, n, self.pos)
            self.pos += n * dtype.itemsize
            self.memo[index] = storage
            return storage
        element = _element_type(class_name, "Tensor")
        if element is not None:
            ndim = self.int()
            sizes = [self.long() for _ in range(ndim)]
            strides = [self.long() for _ in range(ndim)]
            offset = self.long() - 1
            storage = self.object()
            if ndim == 0 or storage is None or 0 in sizes:
                tensor = np.zeros(sizes if ndim else (0,), _DTYPES[element])
            else:
                itemsize = storage.itemsize
                last = offset + sum((s - 1) * st for s, st in zip(sizes, strides))
                if offset < 0 or last >= len(storage):
                    raise DataError(f"{self.name}: a {class_name} of shape {tuple(sizes)} runs past its storage")
                tensor = np.lib.stride_tricks.as_strided(
                    storage[offset:], shape=sizes, strides=[st * itemsize for st in strides]
                ).copy()
            self.memo[index] = tensor
            return tensor
        obj = TorchObject(class_name)
        self.memo[index] = obj  # before its fields: they may refer back to it
        fields = self.object()
        obj.fields = fields if isinstance(fields, dict) else {"value": fields}
        return obj


def read_torch7(path: str | Path):
    """The object stored in a Torch7 binary file (see the module docstring)."""
    path = Path(path)
    data = read_file_bytes(path)
    return _Reader(data, str(path)).object()


class _Writer:
    def __init__(self):
        self.parts: list[bytes] = []
        self.next_index = 1

    def int(self, v: int) -> None:
        self.parts.append(struct.pack("<i", v))

    def long(self, v: int) -> None:
        self.parts.append(struct.pack("<q", v))

    def string(self, s: str) -> None:
        raw = s.encode("latin-1")
        self.int(len(raw))
        self.parts.append(raw)

    def _index(self) -> int:
        index, self.next_index = self.next_index, self.next_index + 1
        return index

    def object(self, value) -> None:
        if value is None:
            self.int(NIL)
        elif isinstance(value, bool):
            self.int(BOOLEAN)
            self.int(1 if value else 0)
        elif isinstance(value, (int, float)):
            self.int(NUMBER)
            self.parts.append(struct.pack("<d", float(value)))
        elif isinstance(value, str):
            self.int(STRING)
            self.string(value)
        elif isinstance(value, (list, tuple)):
            self.object({float(i + 1): v for i, v in enumerate(value)})
        elif isinstance(value, dict):
            self.int(TABLE)
            self.int(self._index())
            self.int(len(value))
            for key, item in value.items():
                self.object(key)
                self.object(item)
        elif isinstance(value, np.ndarray):
            name = {"<f8": "Double", "<f4": "Float", "<i8": "Long", "<i4": "Int", "|u1": "Byte"}[value.dtype.str]
            array = np.ascontiguousarray(value)
            self.int(TORCH)
            self.int(self._index())
            self.string("V 1")
            self.string(f"torch.{name}Tensor")
            self.int(array.ndim)
            for size in array.shape:
                self.long(size)
            for stride in array.strides:
                self.long(stride // array.itemsize)
            self.long(1)
            self.int(TORCH)
            self.int(self._index())
            self.string("V 1")
            self.string(f"torch.{name}Storage")
            self.long(array.size)
            self.parts.append(array.tobytes())
        elif isinstance(value, TorchObject):
            self.int(TORCH)
            self.int(self._index())
            self.string("V 1")
            self.string(value.class_name)
            self.object(value.fields)
        else:
            raise TypeError(f"cannot write {type(value).__name__} as Torch7")


def write_torch7(path: str | Path, value) -> None:
    """Write numbers, strings, booleans, lists/dicts (as tables), numpy arrays (as tensors) and TorchObjects
    in Torch7's binary format (no shared references: enough for test files and small exports)."""
    writer = _Writer()
    writer.object(value)
    Path(path).write_bytes(b"".join(writer.parts))
