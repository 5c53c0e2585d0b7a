"""Exploring a trained generator's latent space: interpolation, arithmetic, per-dimension effects, and the
nearest training shape of each sample.

Latent vectors are named on the command line by a *spec*:
- an integer ``S``: the vector ``tf3dgan sample --n 1 --seed S`` draws (``gan.sample_latent(1, S)[0]``);
- ``FILE`` or ``FILE#i``: row ``i`` of a saved file: ``.npy`` (z_dim,) or (N, z_dim); ``.npz`` with key ``z``
  (``tf3dgan sample`` output, training snapshots) or a single array; ``.mat`` with ``inputs`` (the 3D-GAN
  release layout). ``RUN/fixed_z.npy#i`` is the i-th shape of the run's training snapshots.
- ``FILE#NAME``: the row whose entry in the file's ``names`` array is NAME (a ``tf3dgan project`` output:
  real shapes projected into the latent space, e.g. ``chairs_z.npz#chair_000012_1``).
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_io.voxel_geometry import OCCUPANCY_THRESHOLD, iou_distance_matrix, l1_distance_matrix
from tf3dgan.errors import DataError, UsageError

INTERPOLATIONS = ("slerp", "linear")


# -- interpolation -------------------------------------------------------------------------------------
def _fractions(t) -> np.ndarray:
    return np.atleast_1d(np.asarray(t, dtype=np.float64))


def lerp(a, b, t) -> np.ndarray:
    """(1 - t) a + t b for each fraction in ``t``: (len(t), z_dim); t = 0 and 1 give a and b exactly."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = _fractions(t)[:, None]
    return (1.0 - t) * a + t * b


def _orthogonal(unit: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to ``unit`` (deterministic)."""
    basis = np.zeros_like(unit)
    basis[int(np.argmin(np.abs(unit)))] = 1.0
    v = basis - unit * (basis @ unit)
    return v / np.linalg.norm(v)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation: the direction moves along the great circle from a to b at constant angular
    speed and the norm goes linearly from |a| to |b| (so equal-norm endpoints keep their norm throughout).

    Parallel vectors (or a zero vector) fall back to ``lerp``; opposite vectors turn through a fixed
    orthogonal direction. t = 0 and 1 give a and b exactly.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = _fractions(t)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0:
        return lerp(a, b, t)
    ua, ub = a / norm_a, b / norm_b
    cos = float(np.clip(ua @ ub, -1.0, 1.0))
    omega = float(np.arccos(cos))
    if omega < 1e-6:
        out = lerp(a, b, t)
    else:
        if np.pi - omega < 1e-6:
            # The great circle is not unique: go half-way round through a fixed orthogonal direction.
            ub_perp = _orthogonal(ua)
            direction = np.cos(np.pi * t)[:, None] * ua + np.sin(np.pi * t)[:, None] * ub_perp
        else:
            s = np.sin(omega)
            direction = (np.sin((1 - t) * omega) / s)[:, None] * ua + (np.sin(t * omega) / s)[:, None] * ub
        out = direction * ((1 - t) * norm_a + t * norm_b)[:, None]
    out[t == 0] = a
    out[t == 1] = b
    return out


def interpolate(a, b, steps: int, method: str = "slerp") -> np.ndarray:
    """``steps`` (>= 2) float32 vectors from a to b inclusive, evenly spaced in t."""
    if steps < 2:
        raise UsageError(f"steps must be >= 2 (the two endpoints included), got {steps}")
    if method not in INTERPOLATIONS:
        raise UsageError(f"interpolation method must be one of {INTERPOLATIONS}, got {method!r}")
    t = np.linspace(0.0, 1.0, steps)
    fn = slerp if method == "slerp" else lerp
    return fn(a, b, t).astype(np.float32)


# -- latent vectors from specs -------------------------------------------------------------------------
_INT = re.compile(r"^-?\d+$")


def load_latent_file(path: str | Path) -> np.ndarray:
    """The latent vectors in a file as float32 (N, z_dim) (a single vector becomes (1, z_dim))."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: latent file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                if "z" in keys:
                    array = data["z"]
                elif len(keys) == 1:
                    array = data[keys[0]]
                else:
                    raise DataError(f"{path}: no 'z' array (keys: {', '.join(keys)})")
        elif suffix == ".mat":
            import scipy.io

            data = scipy.io.loadmat(path)
            if "inputs" not in data:
                raise DataError(f"{path}: no 'inputs' (latent vectors) in this .mat file")
            array = data["inputs"]
        else:
            raise DataError(f"{path}: unsupported latent file type (expected .npy, .npz or .mat)")
    except (OSError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path}: cannot read latent vectors ({err})") from None
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path}: expected latent vectors of shape (z_dim,) or (N, z_dim), got {array.shape}")
    return array.astype(np.float32)


def load_latent_names(path: str | Path) -> list[str] | None:
    """The ``names`` array of an .npz latent file (one per row), or None when it has none."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return [str(n) for n in data["names"]] if "names" in data.files else None
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read names ({err})") from None


def resolve_latent(spec: str, z_dim: int, gan=None) -> np.ndarray:
    """The (z_dim,) float32 vector named by ``spec`` (see the module docstring)."""
    spec = str(spec).strip()
    if _INT.match(spec):
        if gan is None:
            raise UsageError(f"latent {spec!r}: a seed needs the run's generator")
        return np.asarray(gan.sample_latent(1, seed=int(spec)), np.float32)[0]
    path, _, index = spec.partition("#")
    vectors = load_latent_file(path)
    if index:
        if not _INT.match(index):
            names = load_latent_names(path)
            if names is None:
                raise UsageError(f"latent {spec!r}: the index after '#' must be an integer ({path} has no names), "
                                 f"got {index!r}")
            matches = [i for i, name in enumerate(names) if name == index]
            if not matches:
                shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
                raise UsageError(f"latent {spec!r}: no shape named {index!r} in {path} (names: {shown})")
            index = str(matches[0])
        i = int(index)
        if not -len(vectors) <= i < len(vectors):
            raise UsageError(f"latent {spec!r}: index {i} out of range ({path} holds {len(vectors)} vectors)")
        vector = vectors[i]
    elif len(vectors) == 1:
        vector = vectors[0]
    else:
        raise UsageError(f"latent {spec!r}: {path} holds {len(vectors)} vectors; pick one with {path}#i")
    if vector.shape != (z_dim,):
        raise UsageError(
            f"latent {spec!r}: vectors of size {vector.shape[0]}, but the run's generator takes z_dim {z_dim}"
        )
    return vector


# -- latent arithmetic ---------------------------------------------------------------------------------
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def expression_names(expr: str) -> list[str]:
    """The latent names an expression uses, in order of first appearance."""
    nodes = sorted((n for n in ast.walk(_parse(expr)) if isinstance(n, ast.Name)), key=lambda n: n.col_offset)
    return list(dict.fromkeys(n.id for n in nodes))


def _parse(expr: str) -> ast.Expression:
    try:
        return ast.parse(expr, mode="eval")
    except SyntaxError as err:
        raise UsageError(f"expression {expr!r}: syntax error ({err.msg})") from None


def evaluate_expression(expr: str, latents: dict) -> np.ndarray:
    """Evaluate e.g. ``"a - b + c"`` or ``"0.5*a + 0.5*b"`` over named vectors (float32).

    Allowed: names, numbers, ``+``, ``-``, unary ``-``/``+``, parentheses, and ``*`` with a number on
    at least one side. Nothing is executed (the expression is walked as an ``ast`` tree).
    """

    def fail(node, what):
        raise UsageError(f"expression {expr!r}: {what} (at {ast.unparse(node)!r})")

    def value(node):
        """Return ('scalar', float) or ('vector', ndarray)."""
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Name):
            if node.id not in latents:
                fail(node, f"unknown name {node.id!r} (given: {', '.join(sorted(latents)) or 'none'})")
            return "vector", np.asarray(latents[node.id], np.float64)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                fail(node, "only numbers and latent names are allowed")
            return "scalar", float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            kind, v = value(node.operand)
            return kind, -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            (ka, a), (kb, b) = value(node.left), value(node.right)
            if isinstance(node.op, ast.Mult):
                if ka == kb == "vector":
                    fail(node, "two latent vectors cannot be multiplied (scale by a number)")
            elif ka != kb:
                fail(node, "cannot add a number to a latent vector")
            kind = "vector" if "vector" in (ka, kb) else "scalar"
            return kind, _BINARY[type(node.op)](a, b)
        fail(node, "only +, -, unary -, and * by a number are allowed")

    kind, result = value(_parse(expr))
    if kind != "vector":
        raise UsageError(f"expression {expr!r}: the result is a number, not a latent vector")
    return result.astype(np.float32)


# -- per-dimension effect (the paper's Figure 5) -------------------------------------------------------
@dataclass
class DimensionEffect:
    dim: int
    values: np.ndarray  # (K,) the values given to z[dim]
    z: np.ndarray  # (K, z_dim)
    probabilities: np.ndarray  # (K, D, D, D)
    voxels: np.ndarray  # (K, D, D, D) uint8
    base_voxels: np.ndarray  # (D, D, D) uint8: the shape of the unmodified z
    added: np.ndarray  # (K, D, D, D) bool: occupied now, empty in the base shape
    removed: np.ndarray  # (K, D, D, D) bool

    @property
    def changed_counts(self) -> np.ndarray:
        return (self.added | self.removed).reshape(len(self.values), -1).sum(1)


def dimension_effect(gan, z, dim: int, values, threshold: float = OCCUPANCY_THRESHOLD) -> DimensionEffect:
    """Set ``z[dim]`` to each of ``values``; report the shapes and which voxels differ from z's own shape."""
    z = np.asarray(z, np.float32)
    if not 0 <= dim < len(z):
        raise UsageError(f"latent dimension {dim} out of range [0, {len(z)})")
    values = np.asarray(values, np.float32)
    zs = np.repeat(z[None], len(values), 0)
    zs[:, dim] = values
    probabilities = gan.generate(np.concatenate([z[None], zs]))
    voxels = (probabilities > threshold).astype(np.uint8)
    base, varied = voxels[0], voxels[1:]
    return DimensionEffect(dim, values, zs, probabilities[1:], varied, base,
                           (varied == 1) & (base == 0), (varied == 0) & (base == 1))


def dimension_sensitivity(gan, z, delta: float, threshold: float = OCCUPANCY_THRESHOLD,
                          batch_size: int = 32) -> np.ndarray:
    """(z_dim,) number of voxels that flip when ``delta`` is added to each latent dimension in turn."""
    z = np.asarray(z, np.float32)
    zs = np.repeat(z[None], len(z), 0) + np.eye(len(z), dtype=np.float32) * delta
    base = gan.generate(z[None])[0] > threshold
    shifted = gan.generate(zs, batch_size=batch_size) > threshold
    return (shifted != base).reshape(len(z), -1).sum(1)


# -- nearest training neighbours -----------------------------------------------------------------------
@dataclass
class Neighbours:
    iou_index: np.ndarray  # (N,) index of the training shape nearest in 1 - IoU
    iou_distance: np.ndarray  # (N,) its 1 - IoU
    l1_index: np.ndarray  # (N,) index of the training shape nearest in mean |p - t|
    l1_distance: np.ndarray  # (N,) that mean absolute difference per voxel


def nearest_neighbours(probabilities, voxels, train) -> Neighbours:
    """Nearest training grid of each sample in 1 - IoU (binary ``voxels``) and in L1 (``probabilities``)."""
    voxels, train = np.asarray(voxels), np.asarray(train)
    if voxels.shape[1:] != train.shape[1:]:
        raise UsageError(f"sample grids {voxels.shape[1:]} and training grids {train.shape[1:]} differ in size")
    iou = iou_distance_matrix(voxels > 0, train > 0)
    l1 = l1_distance_matrix(probabilities, train)
    rows = np.arange(len(voxels))
    iou_index, l1_index = iou.argmin(1), l1.argmin(1)
    return Neighbours(iou_index, iou[rows, iou_index], l1_index, l1[rows, l1_index])
