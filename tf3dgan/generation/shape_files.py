"""Write generated shapes as .npz, .binvox, .mat (the authors' release layout) or meshes (.obj/.stl/.ply/.off).

Layouts of ``--out``:
- ``shapes.npz`` / ``shapes.mat``: one archive holding every shape;
- ``shapes.zip``: one file per shape (``shape_000.<format>``) inside a zip archive;
- ``DIR`` (no suffix): one file per shape in that folder;
- ``shape.binvox`` / ``.obj`` / ``.stl`` / ``.ply`` / ``.off``: a single shape (``--n 1``).
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tf3dgan.errors import UsageError

FORMATS = ("npz", "binvox", "mat", "obj", "stl", "ply", "off")
ARCHIVE_FORMATS = ("npz", "mat")  # formats that hold many shapes in one file


def resolve_layout(out: str | Path, fmt: str | None, count: int) -> tuple[str, str]:
    """Return ``(layout, format)``: layout is "archive", "zip", "folder" or "file"."""
    out = Path(out)
    suffix = out.suffix.lower().lstrip(".")
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if suffix == "zip":
        return "zip", fmt or "npz"
    if suffix in FORMATS:
        if fmt is not None and fmt != suffix:
            raise UsageError(f"{out}: the suffix .{suffix} contradicts --format {fmt}")
        if suffix in ARCHIVE_FORMATS:
            return "archive", suffix
        if count != 1:
            raise UsageError(
                f"{out}: a .{suffix} file holds one shape, got {count}; "
                f"give a folder (e.g. {out.with_suffix('')}) or a .zip for one file per shape"
            )
        return "file", suffix
    if suffix and not out.is_dir():
        raise UsageError(f"{out}: unknown output type .{suffix} (expected {', '.join(FORMATS)}, .zip or a folder)")
    return "folder", fmt or "npz"


def write_one(path: Path, fmt: str, voxels, probabilities, z, threshold: float, mesh_scale: str = "unit",
              ply_binary: bool = True, name: str = "shape") -> None:
    """Write one shape (grids (D, D, D), z (z_dim,)) as ``fmt`` at ``path``."""
    if fmt == "npz":
        np.savez_compressed(path, voxels=voxels.astype(np.uint8), probabilities=probabilities, z=z)
    elif fmt == "mat":
        write_mat(path, z[None], probabilities[None])
    elif fmt == "binvox":
        from data_io import write_binvox

        write_binvox(path, voxels.astype(np.uint8))
    elif fmt in ("obj", "stl", "ply", "off"):
        write_mesh_file(path, fmt, voxels, probabilities, threshold, mesh_scale, ply_binary, name)
    else:
        raise UsageError(f"unsupported format {fmt!r}")


def write_mat(path: Path, z, probabilities) -> None:
    """The 3D-GAN release's .mat layout: ``inputs`` (N, z_dim) latent vectors, ``voxels`` (N, D, D, D)."""
    import scipy.io

    scipy.io.savemat(path, {"inputs": np.asarray(z, np.float32), "voxels": np.asarray(probabilities, np.float32)},
                     do_compression=True)


def write_mesh_file(path, fmt, voxels, probabilities, threshold, mesh_scale="unit", ply_binary=True,
                    name="shape") -> None:
    """Mesh the boundary of the post-processed ``voxels`` (sub-voxel smooth where probabilities allow)."""
    from data_io.mesh_io import scale_mesh, write_mesh
    from data_io.meshes import voxels_to_mesh
    from tf3dgan.generation.postprocess import mesh_field

    field, level = mesh_field(probabilities, voxels, threshold)
    mesh = voxels_to_mesh(field, threshold=level, name=name)
    write_mesh(path, scale_mesh(mesh, voxels.shape[-1], mesh_scale), fmt, ply_binary=ply_binary)


def write_shapes(out, voxels, probabilities, z, fmt: str | None = None, threshold: float = 0.5,
                 mesh_scale: str = "unit", ply_binary: bool = True, progress: bool = False) -> list[Path]:
    """Write N shapes (voxels/probabilities (N, D, D, D), z (N, z_dim)); return the files written."""
    from tqdm import tqdm

    out = Path(out)
    voxels, probabilities, z = np.asarray(voxels), np.asarray(probabilities, np.float32), np.asarray(z, np.float32)
    layout, fmt = resolve_layout(out, fmt, len(voxels))
    out.parent.mkdir(parents=True, exist_ok=True)
    if layout == "archive":
        if fmt == "npz":
            np.savez_compressed(out, voxels=voxels.astype(np.uint8), probabilities=probabilities, z=z)
        else:
            write_mat(out, z, probabilities)
        return [out]
    if layout == "file":
        write_one(out, fmt, voxels[0], probabilities[0], z[0], threshold, mesh_scale, ply_binary, f"{out}")
        return [out]
    folder = Path(tempfile.mkdtemp(prefix=".shapes-", dir=out.parent)) if layout == "zip" else out
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for i in tqdm(range(len(voxels)), desc=f"writing .{fmt}", unit="shape", disable=not progress):
            path = folder / f"shape_{i:03d}.{fmt}"
            write_one(path, fmt, voxels[i], probabilities[i], z[i], threshold, mesh_scale, ply_binary,
                      f"shape {i}")
            paths.append(path)
        if layout == "folder":
            return paths
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, path.name)
        return [out]
    finally:
        if layout == "zip":
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
