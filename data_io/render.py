"""An orthographic voxel renderer in numpy: silhouettes, depth maps and shaded grey views of occupancy grids.

Conventions (the grid's axis 2 is up, as in ``data_io.synthetic``; furniture faces +y there):

- World coordinates are grid units: voxel ``(i, j, k)`` fills the unit cube ``[i, i+1] x [j, j+1] x [k, k+1]``.
- ``azimuth`` (degrees) turns the camera counter-clockwise about the up axis, seen from above, starting on
  the +y side: azimuth 0 looks along -y (at the front of a synthetic chair), azimuth 90 looks along +x.
  Rendering at azimuth ``a`` equals rendering the grid turned by ``-a`` about the up axis at azimuth 0.
- ``elevation`` (degrees, -90..90) raises the camera above the horizontal plane; it looks down at the grid.
- Images are seen as by a real camera (not mirrored): row 0 at the top, up is up, and at azimuth 0 the
  image's right is the grid's -x.
- Scale: the whole ``D^3`` cube (not the shape's bounds, so scale is comparable across shapes) fits the
  image at every azimuth, for the view's elevation, with a margin of ``MARGIN`` of the size on each side:
  ``pixels per voxel = size * (1 - 2 * MARGIN) / (D * max(sqrt 2, cos e + sqrt 2 * |sin e|))``. The grid's
  centre projects to the image centre.
- Depth: distance along the viewing direction from the camera plane, the plane that touches the grid's
  bounding sphere on the camera side, in grid units: ``0 <= depth <= D * sqrt 3``; nearer is smaller;
  background is ``+inf``.

How: every exposed voxel face that faces the camera (at most three face orientations per view) is
projected to a parallelogram; the pixel centres inside it are found in a small window around it, and a
z-buffer (``np.minimum.at`` on a key holding the depth and the face orientation) keeps the nearest face
per pixel. Pixels are exact ray hits of their centres, so a solid renders with no holes at any image size.
"""

from __future__ import annotations

import math
import sys
from typing import Optional, Sequence

import numpy as np

from .errors import DataError
from .voxel_geometry import OCCUPANCY_THRESHOLD

MARGIN = 0.05  # free space on each side of the image, as a fraction of its size
KINDS = ("silhouette", "depth", "shaded")
AZIMUTH, ELEVATION = 30.0, 25.0  # the default camera, degrees: around the vertical axis, above the horizon
AMBIENT = 0.3  # shaded: the brightness of a face turned away from the light
DEPTH_CUE = 0.25  # shaded: nearer faces brighter, +-25% over the grid's bounding sphere
# Shaded: the light comes from the camera's upper left (right, up, towards-camera components); fixed relative
# to the camera, so every view of a shape is lit alike.
LIGHT = np.array([-0.45, 0.65, 0.6]) / np.linalg.norm([-0.45, 0.65, 0.6])
BACKGROUND_DEPTH = np.inf
_DEPTH_BITS = 20  # the z-buffer key: depth quantised to 2**-20 grid units, then 3 bits of face orientation
_KEY_EMPTY = np.iinfo(np.int64).max
_MAX_CANDIDATES = 1 << 20  # pixel candidates per vectorised batch (bounds the work arrays, ~0.1 GB)


def camera_axes(azimuths, elevations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(right, up, forward)`` unit vectors in grid coordinates, each (V, 3), for views in degrees."""
    a = np.radians(np.asarray(azimuths, dtype=np.float64))
    e = np.radians(np.asarray(elevations, dtype=np.float64))
    forward = -np.stack([-np.sin(a) * np.cos(e), np.cos(a) * np.cos(e), np.sin(e)], axis=-1)
    right = np.stack([-np.cos(a), -np.sin(a), np.zeros_like(a)], axis=-1)  # forward x z, normalised
    up = np.cross(right, forward)
    return right, up, forward


def pixels_per_voxel(grid_size: int, size: int, elevation: float) -> float:
    """The scale of a view: the whole grid cube fits the image at every azimuth (see the module notes)."""
    e = math.radians(elevation)
    extent = max(math.sqrt(2.0), math.cos(e) + math.sqrt(2.0) * abs(math.sin(e)))
    return size * (1 - 2 * MARGIN) / (grid_size * extent)


def _check(grids: np.ndarray, azimuths, elevations, size: int, kind: str):
    grids = np.asarray(grids)
    if grids.ndim != 4 or len(set(grids.shape[1:])) != 1 or grids.shape[1] < 1:
        raise DataError(f"render: expected cubic grids (N, D, D, D), got shape {grids.shape}")
    if kind not in KINDS:
        raise DataError(f"render: unknown kind '{kind}' (available: {', '.join(KINDS)})")
    if int(size) != size or size < 8:
        raise DataError(f"render: image size must be an integer >= 8, got {size}")
    az = np.atleast_1d(np.asarray(azimuths, dtype=np.float64))
    el = np.atleast_1d(np.asarray(elevations, dtype=np.float64))
    if az.ndim != 1 or el.ndim != 1 or len(az) < 1:
        raise DataError("render: azimuths and elevations must be numbers or 1-D sequences")
    if len(el) == 1:
        el = np.repeat(el, len(az))
    if len(az) == 1 and len(el) > 1:
        az = np.repeat(az, len(el))
    if len(az) != len(el):
        raise DataError(f"render: {len(az)} azimuths but {len(el)} elevations")
    if not (np.isfinite(az).all() and np.isfinite(el).all()) or np.abs(el).max() > 90:
        raise DataError("render: azimuths must be finite and elevations within -90..90 degrees")
    return grids, az, el, int(size)


def _exposed_faces(occupied: np.ndarray, axis: int, sign: int) -> np.ndarray:
    """(F, 4) int64 rows ``(shape, i, j, k)`` of the voxels whose face (axis, sign) borders empty space."""
    neighbour = np.zeros_like(occupied)
    src = [slice(None)] * 4
    dst = [slice(None)] * 4
    if sign > 0:
        dst[axis + 1], src[axis + 1] = slice(0, -1), slice(1, None)
    else:
        dst[axis + 1], src[axis + 1] = slice(1, None), slice(0, -1)
    neighbour[tuple(dst)] = occupied[tuple(src)]
    return np.argwhere(occupied & ~neighbour)


def _zbuffer(occupied: np.ndarray, az: np.ndarray, el: np.ndarray, size: int) -> np.ndarray:
    """int64 keys (N, V, S, S): ``quantised depth << 3 | face orientation``, ``_KEY_EMPTY`` where no hit."""
    n, d = occupied.shape[0], occupied.shape[1]
    views = len(az)
    right, up, forward = camera_axes(az, el)
    scale = np.array([pixels_per_voxel(d, size, e) for e in el])
    centre = np.full(3, d / 2.0)
    radius = d * math.sqrt(3.0) / 2.0
    keys = np.full(n * views * size * size, _KEY_EMPTY, dtype=np.int64)
    for orientation in range(6):
        axis, sign = orientation // 2, (1 if orientation % 2 == 0 else -1)
        normal = np.zeros(3)
        normal[axis] = sign
        visible = np.flatnonzero(forward @ normal < -1e-9)  # faces turned towards the camera
        if len(visible) == 0:
            continue
        faces = _exposed_faces(occupied, axis, sign)
        if len(faces) == 0:
            continue
        e1, e2 = np.eye(3)[(axis + 1) % 3], np.eye(3)[(axis + 2) % 3]
        r, u, f, s = right[visible], up[visible], forward[visible], scale[visible]
        # The face's parallelogram in pixels: corner + p * (ax, ay) + q * (bx, by), 0 <= p, q <= 1.
        ax, ay = (r @ e1) * s, -(u @ e1) * s
        bx, by = (r @ e2) * s, -(u @ e2) * s
        det = ax * by - bx * ay
        width = int(np.floor((np.abs(ax) + np.abs(bx)).max())) + 1  # most pixel centres a face spans
        height = int(np.floor((np.abs(ay) + np.abs(by)).max())) + 1
        offset = np.zeros(3)
        offset[axis] = 1.0 if sign > 0 else 0.0
        per_face = len(visible) * width * height
        step = max(1, _MAX_CANDIDATES // per_face)
        for start in range(0, len(faces), step):
            chunk = faces[start:start + step]
            corner = chunk[:, 1:].astype(np.float64) + offset - centre  # (F, 3), relative to the centre
            x0 = (corner @ r.T) * s + size / 2.0  # (F, V')
            y0 = size / 2.0 - (corner @ u.T) * s
            d0 = corner @ f.T + radius
            col0 = np.ceil(x0 + np.minimum(ax, 0) + np.minimum(bx, 0) - 0.5 - 1e-9).astype(np.int64)
            row0 = np.ceil(y0 + np.minimum(ay, 0) + np.minimum(by, 0) - 0.5 - 1e-9).astype(np.int64)
            cols = col0[:, :, None, None] + np.arange(width)[None, None, None, :]  # (F, V', 1, W)
            rows = row0[:, :, None, None] + np.arange(height)[None, None, :, None]  # (F, V', H, 1)
            dx = cols + 0.5 - x0[:, :, None, None]
            dy = rows + 0.5 - y0[:, :, None, None]
            p = (by[:, None, None] * dx - bx[:, None, None] * dy) / det[:, None, None]
            q = (ax[:, None, None] * dy - ay[:, None, None] * dx) / det[:, None, None]
            eps = 1e-7  # closed faces: a pixel centre on an edge shared by two faces is in both
            inside = ((p >= -eps) & (p <= 1 + eps) & (q >= -eps) & (q <= 1 + eps)
                      & (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size))
            depth = (d0[:, :, None, None] + np.clip(p, 0, 1) * (f @ e1)[:, None, None]
                     + np.clip(q, 0, 1) * (f @ e2)[:, None, None])
            image = chunk[:, 0, None] * views + visible[None, :]  # (F, V') index of (shape, view)
            pixel = (image[:, :, None, None] * size + rows) * size + cols
            pixel, depth = np.broadcast_arrays(pixel, depth)
            key = (np.maximum(depth[inside], 0) * (1 << _DEPTH_BITS)).astype(np.int64) << 3 | orientation
            np.minimum.at(keys, pixel[inside], key)
    return keys.reshape(n, views, size, size)


def _shade(keys: np.ndarray, az: np.ndarray, el: np.ndarray, grid_size: int) -> np.ndarray:
    """uint8 grey views from z-buffer keys: Lambertian on the voxel faces, background 0.

    Voxel-face normals (not depth-gradient ones): a voxel shape is made of axis-aligned faces, so its
    exact normals are known per pixel from the winning face, with no noise from differentiating depth.
    Flat faces of one orientation would all get the same grey, so a depth cue brightens nearer faces to
    keep overlapping parts apart.
    """
    right, up, forward = camera_axes(az, el)
    light = LIGHT[0] * right + LIGHT[1] * up - LIGHT[2] * forward  # (V, 3) in grid coordinates
    normals = np.repeat(np.eye(3), 2, axis=0) * np.array([1, -1] * 3)[:, None]  # orientation -> normal
    lambert = np.clip(light @ normals.T, 0, None)  # (V, 6)
    hit = keys != _KEY_EMPTY
    orientation = np.where(hit, keys & 7, 0).astype(np.intp)
    depth = (keys >> 3).astype(np.float64) / (1 << _DEPTH_BITS)
    radius = grid_size * math.sqrt(3.0) / 2.0
    views = np.arange(keys.shape[1])[None, :, None, None]
    value = (AMBIENT + (1 - AMBIENT) * lambert[views, orientation]) * (1 + DEPTH_CUE * (radius - depth) / radius)
    return np.where(hit, np.clip(np.rint(255 * value), 1, 255), 0).astype(np.uint8)


def render_views(
    grids,
    azimuths: Sequence[float] | float,
    elevations: Sequence[float] | float = ELEVATION,
    size: int = 128,
    kind: str = "shaded",
    threshold: float = OCCUPANCY_THRESHOLD,
    batch: Optional[int] = None,
) -> np.ndarray:
    """Render ``grids`` (N, D, D, D) (or one (D, D, D) grid) from V views: an array (N, V, size, size).

    ``azimuths`` / ``elevations``: degrees, numbers or sequences of one length (a number is repeated).
    ``kind``: ``silhouette`` (bool), ``depth`` (float32, grid units from the camera plane, +inf background)
    or ``shaded`` (uint8 grey, background 0, foreground 1..255). A voxel is occupied where the grid value
    is above ``threshold`` (probabilities or {0, 1} occupancy). ``batch``: shapes per vectorised pass
    (default: as many as keep the work arrays small). A single grid gives (V, size, size).
    """
    grids = np.asarray(grids)
    single = grids.ndim == 3
    grids, az, el, size = _check(grids[None] if single else grids, azimuths, elevations, size, kind)
    n, d = grids.shape[0], grids.shape[1]
    if batch is None:  # about 2**20 pixels per pass
        batch = max(1, (1 << 20) // (len(az) * size * size))
    dtype = {"silhouette": bool, "depth": np.float32, "shaded": np.uint8}[kind]
    out = np.empty((n, len(az), size, size), dtype=dtype)
    for start in range(0, n, batch):
        occupied = grids[start:start + batch] > threshold
        keys = _zbuffer(occupied, az, el, size)
        if kind == "silhouette":
            out[start:start + batch] = keys != _KEY_EMPTY
        elif kind == "depth":
            depth = (keys >> 3).astype(np.float64) / (1 << _DEPTH_BITS)
            out[start:start + batch] = np.where(keys != _KEY_EMPTY, depth, BACKGROUND_DEPTH)
        else:
            out[start:start + batch] = _shade(keys, az, el, d)
    return out[0] if single else out


def render_view(grid, azimuth: float = AZIMUTH, elevation: float = ELEVATION, size: int = 128, kind: str = "shaded",
           threshold: float = OCCUPANCY_THRESHOLD) -> np.ndarray:
    """One view of one (D, D, D) grid: (size, size) (see ``render_views``)."""
    grid = np.asarray(grid)
    if grid.ndim != 3:
        raise DataError(f"render: expected one grid (D, D, D), got shape {grid.shape}")
    return render_views(grid[None], [azimuth], [elevation], size, kind, threshold)[0, 0]


def depth_to_uint8(depth: np.ndarray, grid_size: int) -> np.ndarray:
    """Depth maps as uint8: ``round(254 * depth / (D sqrt 3))`` (nearer is smaller), background 255."""
    depth = np.asarray(depth, dtype=np.float64)
    scaled = np.clip(np.rint(254 * depth / (grid_size * math.sqrt(3.0))), 0, 254)
    return np.where(np.isfinite(depth), scaled, 255).astype(np.uint8)


def even_azimuths(views: int, start: float = 0.0) -> np.ndarray:
    """``views`` azimuths evenly spaced over 360 degrees from ``start``: start + 360 * i / views."""
    if views < 1:
        raise DataError(f"render: need at least one view, got {views}")
    return (start + 360.0 * np.arange(views) / views) % 360.0


def check_render_args(views: int, size: int, elevation: float) -> None:
    """DataError for a view count < 1, an image size < 8 or an elevation outside -90..90."""
    if views < 1:
        raise DataError(f"render: --views must be >= 1, got {views}")
    if size < 8:
        raise DataError(f"render: --size must be >= 8, got {size}")
    if not -90 <= elevation <= 90:
        raise DataError(f"render: --elevation must be within -90..90 degrees, got {elevation}")


def render_dataset(voxels, views: int, size: int, elevation: float = ELEVATION, kind: str = "shaded",
                   progress: bool = False, start: float = 0.0) -> dict:
    """The arrays of a paired (images, shapes) set for a ``VoxelSet``, rendered at ``views`` azimuths.

    Keys: ``images`` uint8 (N, V, S, S) (``depth``: see ``depth_to_uint8``; ``silhouette``: 0 / 255),
    ``voxels`` uint8 (N, D, D, D), ``azimuths`` / ``elevations`` float32 (V,) in degrees, ``labels`` int64
    (N,) and ``class_names`` (only for a labelled source, so the file reads back as the package reads any
    .npz), ``names``, ``kind``, ``grid_size``.
    """
    check_render_args(views, size, elevation)
    grids = voxels.voxels
    n, d = len(grids), voxels.grid_size
    az = even_azimuths(views, start)
    el = np.full(views, float(elevation))
    images = np.empty((n, views, size, size), dtype=np.uint8)
    batch = max(1, (1 << 20) // (views * size * size))
    from tqdm.auto import tqdm

    with tqdm(total=n, desc=f"rendering {kind}", unit="shape", disable=not progress,
              mininterval=0.5 if sys.stderr.isatty() else 30.0) as bar:
        for i in range(0, n, batch):
            part = render_views(grids[i:i + batch], az, el, size, kind, batch=batch)
            if kind == "depth":
                part = depth_to_uint8(part, d)
            elif kind == "silhouette":
                part = part.astype(np.uint8) * 255
            images[i:i + batch] = part
            bar.update(len(part))
    arrays = {
        "images": images,
        "voxels": grids.astype(np.uint8),
        "azimuths": az.astype(np.float32),
        "elevations": el.astype(np.float32),
        "names": np.array(voxels.names, dtype=str),
        "kind": np.array(kind),
        "grid_size": np.array(d),
    }
    if voxels.labels is not None:
        arrays["labels"] = np.asarray(voxels.labels, dtype=np.int64)
        arrays["class_names"] = np.array(voxels.class_names, dtype=str)
    return arrays


def write_render_npz(path, arrays: dict):
    """Write ``render_dataset``'s arrays as one compressed .npz, atomically."""
    from .atomic import atomic_write_bytes

    return atomic_write_bytes(path, lambda f: np.savez_compressed(f, **arrays))


def read_render_source(source: str, *, split: str = "train", classes=None, rotations: str = "first",
                       cube_len: Optional[int] = None, count: int = 512, seed: int = 0, array_key=None,
                       progress: bool = False):
    """The shapes to render: any source ``read_source`` reads, or ``synthetic`` (the embedded furniture).

    ``synthetic``: ``count`` shapes at ``cube_len`` (default 32) from ``seed`` for the train split and
    ``split_seed(seed, "test")`` for the test split (the held-out seed of ``tf3dgan evaluate``). Other sources are read
    as by ``tf3dgan data convert`` and resized to ``cube_len`` when given (max-pool down, nearest up).
    """
    from .resample import resize
    from .sources import read_source
    from .synthetic import generate_synthetic, split_seed
    from .voxelset import VoxelSet

    if cube_len is not None and cube_len < 8:
        raise DataError(f"render: --cube-len must be >= 8, got {cube_len}")
    if source == "synthetic":
        if count < 1:
            raise DataError(f"render: --count must be >= 1, got {count}")
        return generate_synthetic(count, cube_len or 32, split_seed(seed, split), classes)
    data = read_source(source, classes=classes, split=split, rotations=rotations, array_key=array_key,
                       size=cube_len, progress=progress)
    if cube_len and data.grid_size != cube_len:
        try:
            data = VoxelSet(resize(data.voxels, cube_len), data.labels, data.names, data.class_names)
        except ValueError as err:
            raise DataError(f"{source}: {err}") from None
    return data


def shape_sheet(grids, azimuth: float = AZIMUTH, elevation: float = ELEVATION, size: int = 128,
                columns: Optional[int] = None, labels: Optional[Sequence[str]] = None,
                threshold: float = OCCUPANCY_THRESHOLD, pad: int = 2) -> np.ndarray:
    """A contact sheet (uint8 grey) of one shaded view per grid, ``columns`` per row (default ceil sqrt n)."""
    from .png import contact_sheet

    images = render_views(np.asarray(grids), [azimuth], [elevation], size, "shaded", threshold)[:, 0]
    return contact_sheet(list(images), columns, pad, labels)
