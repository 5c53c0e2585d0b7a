"""``.off`` triangle meshes (ModelNet's format) and a vectorized solid voxelizer.

The voxelizer marks a voxel inside when a ray through its centre crosses the surface an odd number of times
before reaching it (ray parity), along each of the three axes, and keeps the majority vote (robust to a
missing face); surface voxels are added (triangles subdivided below half a voxel) so that parts thinner than
a voxel survive. The mesh is centred and scaled so that its longest side spans the grid (as
``binvox -cb``); a cube gives a filled cube.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError, read_file_bytes
from .limits import budgeted, charge, refuse_if_too_large, size_limit


@budgeted
def read_off(path: str | Path):
    """Read an OFF mesh; return ``(vertices float64 (V, 3), faces int64 (F, 3))``, polygons fan-triangulated.

    Accepts ModelNet's quirk of a first line ``OFF<nv> <nf> <ne>`` with no newline after ``OFF``, ``#``
    comments, and per-vertex or per-face colours. The vertex and face blocks are parsed by numpy's C reader
    (``np.loadtxt``): a 100k-face mesh in about 0.06 s, where trimesh's OFF loader (a Python list per line)
    takes 0.3 s (figures in the README's library table).
    """
    path = Path(path)
    raw = read_file_bytes(path)
    # The text, its lines (a Python string each) and the parsed blocks: about 7x the file for ModelNet's meshes.
    charge(path, "the mesh text", 3 * len(raw) + 100 * raw.count(b"\n"))
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.splitlines()
    if "#" in text:
        lines = [ln.split("#", 1)[0] for ln in lines]
    lines = [ln for ln in lines if ln.strip()]
    if not lines or not lines[0].lstrip().upper().startswith("OFF"):
        raise DataError(f"{path}: not an OFF file (missing 'OFF' header)")
    counts = lines[0].lstrip()[3:].split()
    body = 1
    if not counts:
        if len(lines) < 2:
            raise DataError(f"{path}: truncated OFF file (no counts line)")
        counts, body = lines[1].split(), 2
    try:
        n_vertices, n_faces = int(counts[0]), int(counts[1])
    except (ValueError, IndexError):
        raise DataError(f"{path}: bad OFF counts line {' '.join(counts)!r}") from None
    if n_vertices < 3 or n_faces < 1:
        raise DataError(f"{path}: OFF mesh has {n_vertices} vertices and {n_faces} faces (nothing to voxelize)")
    refuse_if_too_large(path, f"a mesh of {n_vertices:,} vertices and {n_faces:,} faces", n_vertices + n_faces,
                        "vertices + faces")
    if len(lines) < body + n_vertices + n_faces:
        raise DataError(
            f"{path}: truncated OFF file: header promises {n_vertices} vertices and {n_faces} faces, "
            f"found {len(lines) - body} data lines"
        )
    try:
        vertices = _parse_vertices(lines[body:body + n_vertices])
        faces = _triangulate(lines[body + n_vertices:body + n_vertices + n_faces])
    except ValueError as err:
        raise DataError(f"{path}: malformed OFF data ({' '.join(str(err).split())})") from None
    except OverflowError:  # an integer beyond int64, e.g. a vertex index of 10^23
        raise DataError(f"{path}: malformed OFF data (a face holds a number beyond the int64 range)") from None
    if vertices.shape != (n_vertices, 3) or not np.isfinite(vertices).all():
        raise DataError(f"{path}: malformed OFF vertices (each needs 3 finite coordinates)")
    bad = faces[(faces < 0) | (faces >= n_vertices)]
    if bad.size:
        what = "a negative vertex index" if bad[0] < 0 else "vertex"
        raise DataError(f"{path}: face refers to {what} {bad[0]}; the mesh has {n_vertices} vertices "
                        f"(indices 0..{n_vertices - 1})")
    return vertices, faces


def _parse_vertices(vertex_lines) -> np.ndarray:
    """(V, 3) float64 from ``x y z [...]`` lines."""
    try:
        return np.loadtxt(vertex_lines, dtype=np.float64, usecols=(0, 1, 2), ndmin=2)
    except ValueError:  # lines of different lengths: one at a time
        return np.array([ln.split()[:3] for ln in vertex_lines], dtype=np.float64)


def _triangulate(face_lines) -> np.ndarray:
    """Fan-triangulate OFF face lines ``n i1 .. in [colour]``: all at once when every face has the same
    ``n`` (the common case: all triangles), else line by line."""
    try:
        table = np.loadtxt(face_lines, dtype=np.int64, ndmin=2)
    except ValueError:  # polygons of different sizes, or float colours
        table = None
    if table is not None and len(table):
        n = int(table[0, 0])
        if n >= 3 and table.shape[1] >= n + 1 and (table[:, 0] == n).all():
            idx = table[:, 1:n + 1]
            fans = [idx[:, [0, k, k + 1]] for k in range(1, n - 1)]
            return np.stack(fans, axis=1).reshape(-1, 3)
    triangles = []
    for line in face_lines:
        values = line.split()
        n = int(values[0])
        if n < 3 or len(values) < n + 1:
            raise ValueError(f"bad face line {line!r}")
        idx = [int(v) for v in values[1:n + 1]]
        triangles += [(idx[0], idx[k], idx[k + 1]) for k in range(1, n - 1)]
    return np.array(triangles, dtype=np.int64).reshape(-1, 3)


def fit_to_grid(vertices: np.ndarray, size: int) -> np.ndarray:
    """Centre the bounding box in the grid and scale its longest side to ``size`` voxels."""
    # Divided by the largest coordinate first: coordinates near 1e308 (finite) would overflow the extent.
    magnitude = float(np.abs(vertices).max(initial=0.0))
    vertices = vertices / magnitude if magnitude > 0 else vertices
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    extent = float((high - low).max())
    if extent <= 0:
        raise ValueError("mesh has zero extent")
    fitted = (vertices - (low + high) / 2) * (size / extent) + size / 2
    if not np.isfinite(fitted).all():  # an extent of 1e-300 of the largest coordinate
        raise ValueError("mesh coordinates span too many orders of magnitude to fit a grid")
    return fitted


_WORK_PER_CHUNK = 2 ** 20  # (triangle, column) pairs or surface pieces held at once


def _chunks(costs: np.ndarray):
    """Slices of consecutive triangles whose costs add up to about ``_WORK_PER_CHUNK`` (one triangle at least):
    a mesh of many large triangles is voxelized a part at a time, in bounded memory."""
    ends = np.cumsum(costs)
    start = 0
    while start < len(costs):
        done = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, done + _WORK_PER_CHUNK, side="right")))
        yield slice(start, stop)
        start = stop


def _column_boxes(tri: np.ndarray, size: int, axis: int):
    """``(p, h, lo, nu, nv)``: the triangles that cross a column along ``axis``, in the column plane (F, 3, 2),
    their heights (F, 3), and the first column and the number of columns of each one's bounding box."""
    u_ax, v_ax = [a for a in range(3) if a != axis]
    # A tiny irrational offset keeps rays off shared edges and vertices (no double counting).
    eps = 1e-7 * np.array([np.sqrt(2), np.sqrt(3)])
    p = tri[:, :, [u_ax, v_ax]] - eps
    h = tri[:, :, axis]
    lo = np.clip(np.ceil(p.min(axis=1) - 0.5), 0, size).astype(np.int64)
    hi = np.clip(np.floor(p.max(axis=1) - 0.5), -1, size - 1).astype(np.int64)
    nu, nv = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
    keep = (nu > 0) & (nv > 0)
    return p[keep], h[keep], lo[keep], nu[keep], nv[keep]


def _surface_costs(tri: np.ndarray, step: float = 0.5) -> np.ndarray:
    """At most how many pieces ``_surface`` cuts each triangle into (edges halved down to ``step``)."""
    longest = np.linalg.norm(tri - np.roll(tri, -1, axis=1), axis=2).max(axis=1, initial=0.0)
    return 2 * np.ceil(longest / step) ** 2 + 1


def _parity_work(tri: np.ndarray, size: int) -> int:
    """About how many (triangle, column) pairs the three parity fills of ``tri`` (F, 3, 3) enumerate."""
    lo = np.clip(np.ceil(tri.min(axis=1) - 0.5), 0, size)
    hi = np.clip(np.floor(tri.max(axis=1) - 0.5), -1, size - 1)
    n = np.maximum(hi - lo + 1, 0)  # columns of the bounding box along each axis
    return int((n[:, 0] * n[:, 1] + n[:, 1] * n[:, 2] + n[:, 2] * n[:, 0]).sum())


def voxelizer_work(tri: np.ndarray, size: int, limit: float = np.inf) -> int:
    """The work of voxelizing triangles ``tri`` (F, 3, 3, in voxel units) into a size^3 grid: the (triangle,
    column) pairs of the three parity fills plus the surface pieces (about 1 microsecond each on a 2-core CPU);
    the pairs alone when they are over ``limit`` already."""
    pairs = _parity_work(tri, size)
    return pairs if pairs > limit else pairs + int(_surface_costs(_unique_triangles(tri)).sum())


def _unique_triangles(tri: np.ndarray) -> np.ndarray:
    """``tri`` without repeated triangles (compared as their 72 bytes: a 1D sort, fast for millions)."""
    rows = np.ascontiguousarray(tri, dtype=np.float64).reshape(len(tri), 9)
    _, first = np.unique(rows.view(np.dtype((np.void, rows.itemsize * 9))).ravel(), return_index=True)
    return tri[np.sort(first)]


def _parity_fill(tri: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Inside test by ray parity along ``axis`` through voxel centres; tri is (F, 3, 3) in voxel units."""
    u_ax, v_ax = [a for a in range(3) if a != axis]
    p, h, lo, nu, nv = _column_boxes(tri, size, axis)
    counts = np.zeros((size, size, size + 1), dtype=np.int32)
    if len(p) == 0:
        return np.zeros((size,) * 3, dtype=bool)
    for part in _chunks(nu * nv):
        _add_crossings(counts, p[part], h[part], lo[part], nu[part], nv[part])
    inside = (np.cumsum(counts[:, :, :size], axis=2) % 2).astype(bool)
    order = [0, 0, 0]
    order[u_ax], order[v_ax], order[axis] = 0, 1, 2
    return inside.transpose(order)


def _add_crossings(counts: np.ndarray, p, h, lo, nu, nv) -> None:
    """Add to ``counts`` [u, v, first voxel above] each crossing of a column by a triangle: ``p`` (F, 3, 2) the
    triangles in the column plane, ``h`` (F, 3) their heights, ``lo``/``nu``/``nv`` their column boxes."""
    size = counts.shape[0]
    # Enumerate (triangle, column) pairs inside each triangle's 2D bounding box.
    per_tri = nu * nv
    tri_id = np.repeat(np.arange(len(p)), per_tri)
    local = np.arange(per_tri.sum()) - np.repeat(np.cumsum(per_tri) - per_tri, per_tri)
    cu = lo[tri_id, 0] + local // nv[tri_id]
    cv = lo[tri_id, 1] + local % nv[tri_id]
    a, b, c = p[tri_id, 0], p[tri_id, 1], p[tri_id, 2]
    x, y = cu + 0.5, cv + 0.5
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    ok = np.abs(det) > 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        w1 = ((x - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (y - a[:, 1])) / det
        w2 = ((b[:, 0] - a[:, 0]) * (y - a[:, 1]) - (x - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
        w0 = 1 - w1 - w2
        hit = ok & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    t = tri_id[hit]
    height = w0[hit] * h[t, 0] + w1[hit] * h[t, 1] + w2[hit] * h[t, 2]
    # A crossing at height z flips the state of every voxel whose centre lies above z.
    first = np.clip(np.ceil(height - 0.5), 0, size).astype(np.int64)
    np.add.at(counts, (cu[hit], cv[hit], first), 1)


def _surface(tri: np.ndarray, size: int, step: float = 0.5) -> np.ndarray:
    """Voxels touched by the surface: triangles bisected on their longest edge until every edge is at most
    ``step`` voxels (slivers stay cheap), then their corners and centroids marked. A repeated triangle is
    subdivided once, and large triangles a chunk at a time (about ``2 (edge / step)^2`` pieces each)."""
    grid = np.zeros((size,) * 3, dtype=bool)
    tri = _unique_triangles(tri)
    for part in _chunks(_surface_costs(tri, step)):
        _mark_surface(grid, tri[part], step)
    return grid


def _mark_surface(grid: np.ndarray, tri: np.ndarray, step: float) -> None:
    """Mark in ``grid`` the corners and centroids of ``tri`` bisected down to edges of at most ``step``."""
    size = grid.shape[0]
    while len(tri):
        lengths = np.linalg.norm(tri - np.roll(tri, -1, axis=1), axis=2)  # edge k joins corners k, k+1
        small = lengths.max(axis=1) <= step
        points = np.concatenate([tri[small].reshape(-1, 3), tri[small].mean(axis=1)])
        # Points exactly on a voxel face go to the voxel nearer the grid centre (a face lying on a grid
        # plane only touches the outer voxel).
        points = points - 1e-6 * np.sign(points - size / 2)
        idx = np.clip(np.floor(points), 0, size - 1).astype(np.int64)
        grid[idx[:, 0], idx[:, 1], idx[:, 2]] = True
        big = tri[~small]
        k = lengths[~small].argmax(axis=1)
        rows = np.arange(len(big))
        a, b, c = big[rows, k], big[rows, (k + 1) % 3], big[rows, (k + 2) % 3]
        mid = (a + b) / 2
        tri = np.concatenate([np.stack([a, mid, c], 1), np.stack([mid, b, c], 1)])


# Bytes the voxelizer holds: per voxel (the crossing counts, their running sum and parity, the votes, the
# surface), per triangle (its corners, their fitted copy, the unique ones) and per chunk of work.
_BYTES_PER_VOXEL, _BYTES_PER_TRIANGLE, _BYTES_PER_WORK = 32, 240, 160


def voxelize_mesh(vertices: np.ndarray, faces: np.ndarray, size: int = 32, surface: bool = True,
                  name: str = "mesh") -> np.ndarray:
    """Solid uint8 occupancy grid (size^3) of a triangle mesh, centred and scaled to fit (axes kept).

    Its memory is charged to the read budget and its work (``voxelizer_work``) is capped by
    ``TF3DGAN_MAX_VOXELIZER_WORK`` before any of it is done: DataErrors naming ``name``."""
    faces = np.asarray(faces)
    charge(name, f"voxelizing {len(faces):,} triangles into a {size}^3 grid",
           _BYTES_PER_VOXEL * size ** 3 + _BYTES_PER_TRIANGLE * len(faces) + _BYTES_PER_WORK * _WORK_PER_CHUNK)
    tri = fit_to_grid(np.asarray(vertices, dtype=np.float64), size)[faces]
    limit = size_limit("units of voxelizer work")
    refuse_if_too_large(name, f"a mesh of {len(faces):,} triangles at {size}^3", voxelizer_work(tri, size, limit),
                        "units of voxelizer work")
    votes = sum(_parity_fill(tri, size, axis).astype(np.uint8) for axis in range(3))
    solid = votes >= 2
    if surface:
        solid |= _surface(tri, size)
    return solid.astype(np.uint8)


@budgeted
def read_off_voxels(path: str | Path, size: int = 32) -> np.ndarray:
    """Read an .off mesh and voxelize it into a solid size^3 uint8 grid."""
    vertices, faces = read_off(path)
    try:
        return voxelize_mesh(vertices, faces, size, name=str(path))
    except DataError:
        raise
    except ValueError as err:
        raise DataError(f"{path}: cannot voxelize ({err})") from None
