"""Write triangle meshes as .obj, binary .stl, .ply (binary little-endian or ascii) and .off.

Writing goes through trimesh (``process=False``: vertices and faces are kept as they are, in order,
nothing merged). Faces are counter-clockwise seen from outside and normals point outward, as
``data_io.meshes.voxels_to_mesh`` makes them; .obj and .ply carry the vertex normals, .stl the face normals.
The tests read the files back with ``tests/mesh_readers.py``.
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
