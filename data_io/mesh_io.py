"""Write triangle meshes as .obj, binary .stl and .ply (binary little-endian or ascii), and read them back.

Plain numpy, no mesh library. Faces are counter-clockwise seen from outside and normals point outward,
as ``data_io.meshes.voxels_to_mesh`` makes them. The readers are small: enough for the files written here
and for the common variants of these formats (obj ``f a/b/c``, ascii .stl), not for every extension.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .meshes import Mesh

MESH_FORMATS = ("obj", "stl", "ply")
MESH_SCALES = ("unit", "voxel")
_STL_TRIANGLE = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])


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
def write_obj(path: str | Path, mesh: Mesh, comment: str = "tf3dgan mesh") -> None:
    """Wavefront .obj: ``v``, ``vn`` and ``f a//a b//b c//c`` lines (1-based indices)."""
    faces = mesh.faces.astype(np.int64) + 1
    with open(path, "w", encoding="ascii") as f:
        f.write(f"# {comment}\n# {len(mesh.vertices)} vertices, {len(faces)} faces\n")
        np.savetxt(f, mesh.vertices, fmt="v %.6f %.6f %.6f")
        np.savetxt(f, mesh.normals, fmt="vn %.6f %.6f %.6f")
        np.savetxt(f, np.repeat(faces, 2, axis=1), fmt="f %d//%d %d//%d %d//%d")


def write_stl(path: str | Path, mesh: Mesh, header: str = "tf3dgan mesh") -> None:
    """Binary .stl: 80-byte header, triangle count, then per triangle its normal and three vertices."""
    triangles = np.zeros(len(mesh.faces), dtype=_STL_TRIANGLE)
    triangles["normal"] = face_normals(mesh.vertices, mesh.faces)
    triangles["vertices"] = mesh.vertices[mesh.faces]
    head = header.encode("ascii")[:80].ljust(80, b" ")
    if head.lower().startswith(b"solid"):  # a binary file must not look like an ascii one
        head = b"binary " + head[:73]
    with open(path, "wb") as f:
        f.write(head)
        f.write(np.uint32(len(triangles)).tobytes())
        f.write(triangles.tobytes())


def write_ply(path: str | Path, mesh: Mesh, binary: bool = True) -> None:
    """.ply with float x y z nx ny nz per vertex and ``list uchar int vertex_indices`` per face."""
    fmt = "binary_little_endian" if binary else "ascii"
    header = (
        f"ply\nformat {fmt} 1.0\ncomment tf3dgan mesh\n"
        f"element vertex {len(mesh.vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property float nx\nproperty float ny\nproperty float nz\n"
        f"element face {len(mesh.faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    vertex_data = np.concatenate([mesh.vertices, mesh.normals], axis=1).astype("<f4")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        if binary:
            faces = np.zeros(len(mesh.faces), dtype=[("n", "u1"), ("i", "<i4", 3)])
            faces["n"] = 3
            faces["i"] = mesh.faces
            f.write(vertex_data.tobytes())
            f.write(faces.tobytes())
        else:
            np.savetxt(f, vertex_data, fmt="%.6f")
            np.savetxt(f, mesh.faces, fmt="3 %d %d %d")


def write_mesh(path: str | Path, mesh: Mesh, fmt: str | None = None, ply_binary: bool = True) -> None:
    """Write ``mesh`` as ``fmt`` (default: from the suffix of ``path``)."""
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt == "obj":
        write_obj(path, mesh)
    elif fmt == "stl":
        write_stl(path, mesh)
    elif fmt == "ply":
        write_ply(path, mesh, binary=ply_binary)
    else:
        raise DataError(f"{path}: unsupported mesh format {fmt!r} (supported: {', '.join(MESH_FORMATS)})")


# -- readers -------------------------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None


def read_obj(path: str | Path) -> Mesh:
    """Vertices, triangles (0-based) and vertex normals (empty when absent) of an .obj file."""
    vertices, normals, faces = [], [], []
    for number, line in enumerate(_read_bytes(path).decode("ascii", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            if parts[0] == "v":
                vertices.append([float(x) for x in parts[1:4]])
            elif parts[0] == "vn":
                normals.append([float(x) for x in parts[1:4]])
            elif parts[0] == "f":
                index = [int(p.split("/")[0]) for p in parts[1:]]
                index = [i - 1 if i > 0 else len(vertices) + i for i in index]
                faces += [[index[0], index[k], index[k + 1]] for k in range(1, len(index) - 1)]
        except ValueError as err:
            raise DataError(f"{path}: line {number}: cannot parse {line.strip()!r} ({err})") from None
    return Mesh(
        np.array(vertices, np.float32).reshape(-1, 3),
        np.array(faces, np.int32).reshape(-1, 3),
        np.array(normals, np.float32).reshape(-1, 3),
    )


def read_stl(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Triangles (F, 3, 3) and stored face normals (F, 3) of a binary or ascii .stl file."""
    raw = _read_bytes(path)
    if len(raw) >= 84:
        count = int(np.frombuffer(raw, "<u4", 1, 80)[0])
        if len(raw) == 84 + count * _STL_TRIANGLE.itemsize:
            triangles = np.frombuffer(raw, _STL_TRIANGLE, count, 84)
            return triangles["vertices"].astype(np.float32), triangles["normal"].astype(np.float32)
    if not raw.lstrip().lower().startswith(b"solid"):
        raise DataError(f"{path}: neither a binary .stl (size does not match its triangle count) nor ascii")
    normals, vertices = [], []
    for line in raw.decode("ascii", errors="replace").splitlines():
        parts = line.split()
        if parts[:2] == ["facet", "normal"]:
            normals.append([float(x) for x in parts[2:5]])
        elif parts[:1] == ["vertex"]:
            vertices.append([float(x) for x in parts[1:4]])
    if len(vertices) != 3 * len(normals):
        raise DataError(f"{path}: ascii .stl has {len(normals)} facets but {len(vertices)} vertices")
    return np.array(vertices, np.float32).reshape(-1, 3, 3), np.array(normals, np.float32).reshape(-1, 3)


def read_ply(path: str | Path) -> Mesh:
    """A .ply written by ``write_ply`` (float x y z [nx ny nz], triangles as ``list uchar int``)."""
    raw = _read_bytes(path)
    end = raw.find(b"end_header\n")
    if not raw.startswith(b"ply") or end < 0:
        raise DataError(f"{path}: not a .ply file (no 'ply' magic or no end_header)")
    header = raw[:end].decode("ascii").splitlines()
    fmt = next((line.split()[1] for line in header if line.startswith("format")), "")
    counts = {line.split()[1]: int(line.split()[2]) for line in header if line.startswith("element")}
    props = [line.split()[-1] for line in header if line.startswith("property float")]
    n_vertices, n_faces = counts.get("vertex", 0), counts.get("face", 0)
    body = raw[end + len(b"end_header\n"):]
    if fmt == "binary_little_endian":
        vertex_data = np.frombuffer(body, "<f4", n_vertices * len(props)).reshape(n_vertices, len(props))
        faces = np.frombuffer(body, [("n", "u1"), ("i", "<i4", 3)], n_faces, vertex_data.nbytes)
        if n_faces and (faces["n"] != 3).any():
            raise DataError(f"{path}: only triangle faces are supported")
        faces = faces["i"]
    elif fmt == "ascii":
        rows = body.decode("ascii").splitlines()
        vertex_data = np.array([r.split() for r in rows[:n_vertices]], np.float32).reshape(n_vertices, len(props))
        faces = np.array([r.split()[1:4] for r in rows[n_vertices:n_vertices + n_faces]], np.int32)
    else:
        raise DataError(f"{path}: unsupported .ply format {fmt!r}")
    normals = vertex_data[:, 3:6] if len(props) >= 6 else np.zeros((0, 3), np.float32)
    return Mesh(vertex_data[:, :3].astype(np.float32), faces.astype(np.int32).reshape(-1, 3), normals.astype(np.float32))
