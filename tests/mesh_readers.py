"""Mesh readers for the tests: the .obj, .stl, .ply and .off files ``data_io.mesh_io`` writes, read back through
trimesh (``process=False``: vertices and faces as stored, in order, nothing merged), and two checks of what
was read (face normals, signed volume). Any problem reading a file is a one-line DataError naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_io.errors import DataError
from data_io.meshes import Mesh


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals of the triangles (right-hand rule: counter-clockwise faces give outward normals)."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return (n / np.where(length > 0, length, 1.0)).astype(np.float32)


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed mesh: positive when its faces are counter-clockwise seen from outside."""
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def load_trimesh(path: str | Path, fmt: str | None = None):
    """``trimesh.Trimesh`` of a mesh file as stored (``process=False``); a DataError naming the file for a
    missing, unreadable or malformed file, or one that holds no triangles."""
    import trimesh

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        loaded = trimesh.load(path, file_type=fmt, process=False, maintain_order=True)
    except Exception as err:  # noqa: BLE001 - trimesh raises many kinds; the user needs the file and the reason
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"{path}: cannot read as .{fmt} ({reason})") from None
    if isinstance(loaded, trimesh.Scene):
        meshes = [g for g in loaded.geometry.values() if isinstance(g, trimesh.Trimesh)]
        loaded = trimesh.util.concatenate(meshes) if meshes else None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise DataError(f"{path}: no triangles in this .{fmt} file")
    return loaded


def _stored_vertex_normals(loaded) -> np.ndarray:
    """The vertex normals stored in the file (empty when it has none; trimesh would compute them)."""
    stored = loaded._cache.cache.get("vertex_normals")  # set by the loader only from the file's own normals
    if stored is None or len(stored) != len(loaded.vertices):
        return np.zeros((0, 3), np.float32)
    return np.asarray(stored, np.float32)


def _as_mesh(loaded) -> Mesh:
    return Mesh(np.asarray(loaded.vertices, np.float32), np.asarray(loaded.faces, np.int32),
                _stored_vertex_normals(loaded))


def read_obj(path: str | Path) -> Mesh:
    """Vertices, triangles (0-based; polygons triangulated) and vertex normals (empty when absent) of an .obj."""
    return _as_mesh(load_trimesh(path, "obj"))


def read_stl(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Triangles (F, 3, 3) and face normals (F, 3) of a binary or ascii .stl file."""
    loaded = load_trimesh(path, "stl")
    return np.asarray(loaded.triangles, np.float32), np.asarray(loaded.face_normals, np.float32)


def read_ply(path: str | Path) -> Mesh:
    """Vertices, triangles and vertex normals (empty when absent) of a binary or ascii .ply."""
    return _as_mesh(load_trimesh(path, "ply"))


def read_mesh(path: str | Path, fmt: str | None = None) -> Mesh:
    """Any mesh file trimesh reads (.obj, .stl, .ply, .off, .glb, ...) as a Mesh."""
    return _as_mesh(load_trimesh(path, fmt))
