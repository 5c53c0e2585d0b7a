"""A small Torch7 writer for the tests: the .t7 files that ``data_io.torch7.read_torch7`` and
``tf3dgan import-release`` are tested on (the package itself only reads Torch7), and a small net laid out as the
3dgan-release generator."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from data_io.torch7 import BOOLEAN, NIL, NUMBER, STRING, TABLE, TORCH, TorchObject


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
    in Torch7's binary format (no shared references: enough for test files)."""
    writer = _Writer()
    writer.object(value)
    Path(path).write_bytes(b"".join(writer.parts))


def release_net(rng, nz=5, widths=(8, 4, 1)):
    """A 16^3 generator laid out as the release's (nn.Sequential of Torch modules), random asymmetric weights."""
    layers, cin = [], nz
    for i, cout in enumerate(widths):
        stride, pad = (1, 0) if i == 0 else (2, 1)
        fields = {"nInputPlane": cin, "nOutputPlane": cout, "kT": 4, "kW": 4, "kH": 4, "dT": stride, "dW": stride,
                  "dH": stride, "padT": pad, "padW": pad, "padH": pad, "adjT": 0, "adjW": 0, "adjH": 0,
                  "weight": rng.normal(0, 0.4, (cin, cout, 4, 4, 4)).astype(np.float32),
                  "bias": rng.normal(size=cout).astype(np.float32), "train": False}  # the bias is zeroed on import
        layers.append(TorchObject("nn.VolumetricFullConvolution", fields))
        if i < len(widths) - 1:
            stats = {"eps": 1e-5, "momentum": 0.1, "affine": True, "running_mean": rng.normal(0, 0.3, cout),
                     "weight": rng.uniform(0.5, 1.5, cout).astype(np.float32),
                     "bias": rng.normal(0, 0.2, cout).astype(np.float32)}
            var = rng.uniform(0.2, 2.0, cout)
            if i == 0:  # torch nn before 2016 stored 1 / sqrt(var + eps)
                stats["running_std"] = 1 / np.sqrt(var + 1e-5)
            else:
                stats["running_var"] = var
            layers.append(TorchObject("nn.VolumetricBatchNormalization", stats))
            layers.append(TorchObject("nn.ReLU", {"inplace": True}))
        cin = cout
    layers.append(TorchObject("nn.Sigmoid", {}))
    return TorchObject("nn.Sequential", {"modules": layers, "train": False, "output": np.zeros(0, np.float32)})
