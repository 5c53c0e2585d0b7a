"""Write generated shapes as .npz, .binvox, .mat (the authors' release layout) or meshes (.obj/.stl/.ply/.off).

Layouts of ``--out``:
- ``shapes.npz`` / ``shapes.mat``: one archive holding every shape;
- ``shapes.zip``: one file per shape (``shape_000.<format>``) inside a zip archive;
- ``DIR`` (no suffix): one file per shape in that folder;
- ``shape.binvox`` / ``.obj`` / ``.stl`` / ``.ply`` / ``.off``: a single shape (``--n 1``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from data_io.voxel_geometry import OCCUPANCY_THRESHOLD
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
    """Write one shape (grids (D, D, D), z (z_dim,)) as ``fmt`` at ``path``; a failure (a full disk) removes the
    partly written file."""
    try:
        _write_one(path, fmt, voxels, probabilities, z, threshold, mesh_scale, ply_binary, name)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise


def _write_one(path, fmt, voxels, probabilities, z, threshold, mesh_scale, ply_binary, name) -> None:
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


def write_shapes(out, voxels, probabilities, z, fmt: str | None = None, threshold: float = OCCUPANCY_THRESHOLD,
                 mesh_scale: str = "unit", ply_binary: bool = True, progress: bool = False) -> list[Path]:
    """Write N shapes (voxels/probabilities (N, D, D, D), z (N, z_dim)); return the files written."""
    with ShapeWriter(out, len(voxels), fmt, threshold, mesh_scale, ply_binary, progress) as writer:
        writer.add(voxels, probabilities, z)
    return writer.files


class _ArrayStream:
    """One array of an .npz written batch by batch: rows go to a raw temporary file, then into the zip."""

    def __init__(self, path: Path):
        self.path, self.file = path, path.open("wb")
        self.count, self.dtype, self.row_shape = 0, None, None

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows)
        if self.dtype is None:
            self.dtype, self.row_shape = rows.dtype, rows.shape[1:]
        self.file.write(rows.tobytes())
        self.count += len(rows)

    def copy_into(self, archive: zipfile.ZipFile, name: str) -> None:
        self.file.close()
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.count, *self.row_shape)}
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            with self.path.open("rb") as rows:
                shutil.copyfileobj(rows, member, 1 << 20)


class ShapeWriter:
    """Write ``count`` shapes to ``out`` batch by batch (``add``), holding no more than a batch in memory.

    Same layouts as ``write_shapes``. An ``.npz`` archive keeps its arrays in raw temporary files beside
    ``out`` until the end, then writes them into the archive member by member; a ``.mat`` archive (scipy
    writes it in one go) holds every shape in memory. Archives appear at once when complete (written under a
    temporary name, then renamed); a failure leaves no partial archive and no temporary files.
    """

    def __init__(self, out, count: int, fmt: str | None = None, threshold: float = OCCUPANCY_THRESHOLD,
                 mesh_scale: str = "unit", ply_binary: bool = True, progress: bool = False):
        from tqdm import tqdm

        self.out = Path(out)
        self.count, self.threshold, self.mesh_scale, self.ply_binary = count, threshold, mesh_scale, ply_binary
        self.layout, self.fmt = resolve_layout(self.out, fmt, count)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.written = 0
        self.files: list[Path] = []
        self._work = None
        self._zip = None
        if self.layout in ("archive", "zip"):
            self._work = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".partial", dir=self.out.parent))
        if self.layout == "archive" and self.fmt == "npz":
            self._arrays = {name: _ArrayStream(self._work / name) for name in ("voxels", "probabilities", "z")}
        elif self.layout == "archive":
            self._held: list = []
        elif self.layout == "zip":
            self._zip = zipfile.ZipFile(self._work / "shapes.zip", "w", zipfile.ZIP_DEFLATED)
        elif self.layout == "folder":
            self.out.mkdir(parents=True, exist_ok=True)
        self._bar = tqdm(total=count, desc=f"writing .{self.fmt}", unit="shape", disable=not progress)

    def add(self, voxels, probabilities, z) -> None:
        """Write the next shapes (voxels/probabilities (B, D, D, D), z (B, z_dim))."""
        voxels = np.asarray(voxels).astype(np.uint8, copy=False)
        probabilities, z = np.asarray(probabilities, np.float32), np.asarray(z, np.float32)
        if self.written + len(voxels) > self.count:
            raise ValueError(f"ShapeWriter: more than the {self.count} shapes announced")
        if self.layout == "archive" and self.fmt == "npz":
            for name, rows in (("voxels", voxels), ("probabilities", probabilities), ("z", z)):
                self._arrays[name].append(rows)
        elif self.layout == "archive":
            self._held.append((voxels, probabilities, z))
        elif self.layout == "file":
            write_one(self.out, self.fmt, voxels[0], probabilities[0], z[0], self.threshold, self.mesh_scale,
                      self.ply_binary, f"{self.out}")
        else:
            folder = self._work if self.layout == "zip" else self.out
            for i in range(len(voxels)):
                index = self.written + i
                path = folder / f"shape_{index:03d}.{self.fmt}"
                write_one(path, self.fmt, voxels[i], probabilities[i], z[i], self.threshold, self.mesh_scale,
                          self.ply_binary, f"shape {index}")
                if self.layout == "zip":
                    self._zip.write(path, path.name)
                    path.unlink()
                else:
                    self.files.append(path)
        self.written += len(voxels)
        self._bar.update(len(voxels))

    def close(self) -> list[Path]:
        """Finish the output; return the files written. A failure (a full disk) leaves no partial archive."""
        self._bar.close()
        if self.written != self.count:
            raise ValueError(f"ShapeWriter: {self.written} shapes written, {self.count} announced")
        try:
            self._finish()
        except BaseException:
            self.abort()
            raise
        if self.layout != "folder":
            self.files = [self.out]
        self._cleanup()
        return self.files

    def _finish(self) -> None:
        if self.layout == "archive" and self.fmt == "npz":
            tmp = self._work / "shapes.npz"
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, stream in self._arrays.items():
                    stream.copy_into(archive, name)
            os.replace(tmp, self.out)
        elif self.layout == "archive":
            tmp = self._work / "shapes.mat"
            voxels, probabilities, z = (np.concatenate(parts) for parts in zip(*self._held))
            write_mat(tmp, z, probabilities)
            os.replace(tmp, self.out)
        elif self.layout == "zip":
            self._zip.close()
            os.replace(self._work / "shapes.zip", self.out)

    def abort(self) -> None:
        """Stop without an archive (folders keep the complete shapes written so far). Closing what is open can
        fail too (a zip's directory, a buffer, on a full disk): the temporary folder is removed regardless."""
        self._bar.close()
        open_files = [self._zip, *(stream.file for stream in getattr(self, "_arrays", {}).values())]
        self._zip = None
        for file in open_files:
            if file is not None:
                with contextlib.suppress(Exception):
                    file.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> "ShapeWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
