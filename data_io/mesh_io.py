"""Write triangle meshes as .obj, binary .stl, .ply (binary little-endian or ascii) and .off, and read them back.

Reading and writing go through trimesh (``process=False``: vertices and faces are kept as they are, in order,
nothing merged). Faces are counter-clockwise seen from outside and normals point outward, as
``data_io.meshes.voxels_to_mesh`` makes them; .obj and .ply carry the vertex normals, .stl the face normals.
Any problem reading a file is a one-line DataError naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .meshes import Mesh

MESH_FORMATS = ("obj", "stl", "ply", "off")
MESH_SCALES = ("unit", "voxel")


def scale_mesh(mesh: Mesh, grid_size: int, scale: str = "unit") -> Mesh:
    """``"unit"``: the D^3 grid spans the unit cube [0, 1]^3 (voxel i covers [i/D, (i+1)/D]);
    ``"voxel"``: voxel units, voxel centres at integer coordinates 0..D-1 (as voxels_to_mesh returns)."""
    if scale == "voxel":
        return mesh
    if scale != "unit":
        raise DataError(f"mesh scale must be one of {MESH_SCALES}, got {scale!r}")
    vertices = ((mesh.vertices + 0.5) / float(grid_size)).astype(np.float32)
    return Mesh(vertices, mesh.faces, mesh.normals)


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


# -- writers -------------------------------------------------------------------------------------------
def _trimesh(mesh: Mesh):
    import trimesh

    normals = mesh.normals if len(mesh.normals) == len(mesh.vertices) else None
    return trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_normals=normals, process=False)


def _write(path: str | Path, data) -> None:
    Path(path).write_bytes(data if isinstance(data, bytes) else data.encode("ascii"))


def write_obj(path: str | Path, mesh: Mesh, comment: str = "tf3dgan mesh") -> None:
    """Wavefront .obj: ``v``, ``vn`` and ``f a//a b//b c//c`` lines (1-based indices)."""
    from trimesh.exchange.obj import export_obj

    _write(path, export_obj(_trimesh(mesh), include_normals=len(mesh.normals) > 0, include_color=False,
                            include_texture=False, digits=6, header=f"{comment}: {len(mesh.vertices)} vertices, "
                            f"{len(mesh.faces)} faces"))


def write_stl(path: str | Path, mesh: Mesh) -> None:
    """Binary .stl: 80-byte header, triangle count, then per triangle its unit normal and three vertices."""
    from trimesh.exchange.stl import export_stl

    _write(path, export_stl(_trimesh(mesh)))


def write_ply(path: str | Path, mesh: Mesh, binary: bool = True) -> None:
    """.ply with float x y z [nx ny nz] per vertex and ``list uchar int vertex_indices`` per face."""
    from trimesh.exchange.ply import export_ply

    _write(path, export_ply(_trimesh(mesh), encoding="binary" if binary else "ascii",
                            vertex_normal=len(mesh.normals) > 0, include_attributes=False))


def write_off(path: str | Path, mesh: Mesh) -> None:
    """.off (ModelNet's format): vertices and triangles, no normals."""
    from trimesh.exchange.off import export_off

    _write(path, export_off(_trimesh(mesh), digits=6))


def write_mesh(path: str | Path, mesh: Mesh, fmt: str | None = None, ply_binary: bool = True) -> None:
    """Write ``mesh`` as ``fmt`` (default: from the suffix of ``path``)."""
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt == "obj":
        write_obj(path, mesh)
    elif fmt == "stl":
        write_stl(path, mesh)
    elif fmt == "ply":
        write_ply(path, mesh, binary=ply_binary)
    elif fmt == "off":
        write_off(path, mesh)
    else:
        raise DataError(f"{path}: unsupported mesh format {fmt!r} (supported: {', '.join(MESH_FORMATS)})")


# -- readers -------------------------------------------------------------------------------------------
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
