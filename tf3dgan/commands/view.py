"""``tf3dgan view``: any voxel file data_io reads as an interactive HTML page of meshes (opens offline),
or with ``--png`` as a PNG contact sheet of shaded renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf3dgan.commands import add_threshold_argument, check_threshold_argument, shown
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    from data_io.render import AZIMUTH, ELEVATION

    p = subparsers.add_parser("view", help="write an interactive HTML page of the shapes in a voxel file")
    p.add_argument("file", help="a .npz/.npy (e.g. `tf3dgan sample` output), .binvox, .mat, .off or a folder")
    add_threshold_argument(p)
    p.add_argument("--out", default=None, help="output page (default: FILE with the suffix .html, or .png)")
    p.add_argument("--png", action="store_true", help="write a PNG contact sheet of shaded renders instead")
    p.add_argument("--azimuth", type=float, default=AZIMUTH, help="--png: camera azimuth in degrees (default 30)")
    p.add_argument("--elevation", type=float, default=ELEVATION, help="--png: camera elevation in degrees (default 25)")
    p.add_argument("--image-size", type=int, default=128, help="--png: pixels per shape (default 128)")
    p.add_argument("--columns", type=int, default=None, help="--png: shapes per row (default ceil(sqrt(n)))")
    p.add_argument("--index", type=int, nargs="+", default=None, help="which shapes to show (default: the first --max)")
    p.add_argument("--max", type=int, default=16, help="at most this many shapes (default 16)")
    p.add_argument("--size", type=int, default=None, help="voxelization size for .off meshes (default 32)")
    p.set_defaults(func=run, needs_tensorflow=False)


# Grids larger than this per side are max-pooled down to it for display (a 1024^3 grid would need 8 GiB of
# float32 copies to mesh, and no page could show its mesh).
DISPLAY_SIZE = 128


def load_grids(path: Path, size=None) -> tuple[np.ndarray, list]:
    """``(grids, names)``: the probabilities of a `tf3dgan sample`/snapshot .npz, else what data_io reads; one
    read budget (``TF3DGAN_MAX_READ_BYTES``) for all of it."""
    from data_io.limits import read_budget

    with read_budget():
        return _load_grids(path, size)


def _load_grids(path: Path, size=None) -> tuple[np.ndarray, list]:
    import math

    import data_io
    from data_io.arrays import check_npz_sizes
    from data_io.limits import charge

    if path.suffix.lower() == ".npz" and path.is_file():
        headers = check_npz_sizes(path)
        if "probabilities" in headers:  # loaded whole, then widened to float32
            shape, dtype = headers["probabilities"]
            charge(path, f"array 'probabilities' of shape {shape} as float32",
                   math.prod(shape) * (dtype.itemsize + 4))
        try:
            with np.load(path) as data:
                if "probabilities" in data.files:
                    grids = data["probabilities"].astype(np.float32)
                    if grids.ndim == 5 and grids.shape[-1] == 1:
                        grids = grids[..., 0]
                    if grids.ndim == 3:
                        grids = grids[None]
                    return grids, [f"#{i}" for i in range(len(grids))]
        except Exception as err:  # numpy and zipfile raise many types for a truncated or corrupt file
            raise data_io.DataError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
    voxels = data_io.read_source(path, size=size, drop_empty=False)
    return voxels.voxels, list(voxels.names)


def display_grids(grids: np.ndarray, chosen: list) -> np.ndarray:
    """The ``chosen`` grids as one stack, each max-pooled to at most ``DISPLAY_SIZE`` per side (thin parts
    survive), one slab at a time: a 1024^3 grid is never copied whole."""
    side = max(grids.shape[1:])
    factor = -(-side // DISPLAY_SIZE)
    if factor == 1:
        return grids[chosen]
    padded = [-(-n // factor) * factor for n in grids.shape[1:]]
    out = np.empty((len(chosen), *(n // factor for n in padded)), grids.dtype)
    for k, i in enumerate(chosen):
        for row in range(out.shape[1]):
            plane = grids[i, row * factor:(row + 1) * factor].max(axis=0)
            plane = np.pad(plane, [(0, p - n) for p, n in zip(padded[1:], plane.shape)])
            out[k, row] = plane.reshape(out.shape[2], factor, out.shape[3], factor).max(axis=(1, 3))
    return out


def run(args) -> int:
    from data_io.plotting import panel_figure, write_html

    path = Path(args.file)
    check_threshold_argument(args)
    if args.max < 1:
        raise UsageError(f"--max must be >= 1, got {args.max}")
    grids, names = load_grids(path, args.size)
    count = len(grids)
    if count == 0 or grids.ndim != 4:
        raise UsageError(f"{shown(path)}: holds no 3D grids to show (shape {grids.shape})")
    if args.index is not None:
        bad = [i for i in args.index if not 0 <= i < count]
        if bad:
            raise UsageError(f"--index {bad[0]}: {shown(path)} holds {count} shapes (valid: 0..{count - 1})")
        chosen = args.index[: args.max]
    else:
        chosen = list(range(min(count, args.max)))
    shape = grids.shape[1:]
    size = f"{shape[0]}^3" if len(set(shape)) == 1 else "x".join(map(str, shape))
    pictured = display_grids(grids, chosen)
    if pictured.shape[1:] != shape:
        size += f" (shown max-pooled to {pictured.shape[1]}^3)"
    suffix = ".png" if args.png else ".html"
    out = Path(args.out) if args.out else path.parent / (path.name.rstrip("/") + suffix if path.is_dir()
                                                        else path.with_suffix(suffix).name)
    if args.png:
        return _write_png_sheet(args, path, out, pictured, [names[i] for i in chosen], chosen, count, size)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {shown(out)}: expected an .html file name")
    titles = [f"{i}: {shown(names[i])}" if names[i] != f"#{i}" else f"#{i}" for i in chosen]
    fig = panel_figure(pictured, args.threshold, titles=titles,
                       title=f"{shown(path.name)} (threshold {args.threshold:g})")
    empty = sum(not (grid > args.threshold).any() for grid in pictured)
    write_html(fig, out, title=shown(path.name))
    note = f"; {empty} empty at this threshold" if empty else ""
    print(f"{shown(out)}: {len(chosen)} of {count} shapes of {size} from {shown(path)}{note}")
    return 0


def _write_png_sheet(args, path: Path, out: Path, pictured, names, chosen, count: int, size: str) -> int:
    """``view --png``: one shaded render per chosen shape (``pictured``, with their ``names``), tiled into a PNG
    contact sheet."""
    from data_io.png import write_png
    from data_io.render import shape_sheet

    if out.suffix.lower() != ".png":
        raise UsageError(f"--out {shown(out)}: expected a .png file name with --png")
    if args.image_size < 8 or (args.columns is not None and args.columns < 1):
        raise UsageError(f"--image-size must be >= 8 and --columns >= 1, got {args.image_size}, {args.columns}")
    if not -90 <= args.elevation <= 90:
        raise UsageError(f"--elevation must be within -90..90 degrees, got {args.elevation}")
    labels = [f"{i} {shown(name)}" if name != f"#{i}" else f"#{i}" for i, name in zip(chosen, names)]
    sheet = shape_sheet(pictured, args.azimuth, args.elevation, args.image_size, args.columns, labels,
                        args.threshold)
    write_png(out, sheet)
    empty = sum(not (grid > args.threshold).any() for grid in pictured)
    note = f"; {empty} empty at this threshold" if empty else ""
    print(f"{shown(out)}: {sheet.shape[1]}x{sheet.shape[0]} PNG, {len(chosen)} of {count} shapes of "
          f"{size} from {shown(path)}{note}")
    return 0
