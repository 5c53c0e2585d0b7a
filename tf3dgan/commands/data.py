"""``tf3dgan data info``, ``convert`` and ``render``: inspect, pack and render voxel datasets."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``data`` with its ``info``, ``convert`` and ``render`` subcommands."""
    from data_io.render import ELEVATION
    from data_io.volumetric import ROTATIONS, SPLITS

    parser = subparsers.add_parser("data", help="inspect and convert voxel datasets")
    parser.set_defaults(func=run, data_command=None)
    commands = parser.add_subparsers(dest="data_command", metavar="{info,convert,render}")

    info = commands.add_parser("info", help="counts per class, grid shape, occupancy, empty grids")
    info.add_argument("path", help="a .mat/.binvox/.off/.npy/.npz file, a volumetric_data folder or a folder")
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    info.add_argument("--array-key", default=None, help="array name inside an .npz")
    info.set_defaults(func=run_info)

    convert = commands.add_parser("convert", help="pack any supported source into one compressed .npz")
    convert.add_argument("path", help="the source file or folder")
    convert.add_argument("--out", required=True,
                         help="output .npz (keys voxels, names; labels, class_names for a labelled set); a folder "
                              "(an existing one, or a name ending in /) receives <source name>.npz")
    convert.add_argument("--cube-len", type=int, default=None, choices=[32, 64],
                         help="resize grids to this size (max-pool down, nearest up); default: keep")
    convert.add_argument("--classes", nargs="+", default=None, help="class names to keep")
    convert.add_argument("--split", choices=SPLITS, default="train",
                         help="split of a volumetric_data tree, a <class>/<split>/ folder or an X_<split> .npz")
    convert.add_argument("--rotations", choices=ROTATIONS, default="all",
                         help="3D ShapeNets .mat: all 12 rotations or only _1")
    convert.add_argument("--array-key", default=None, help="array name inside an .npz")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    convert.set_defaults(func=run_convert)

    render = commands.add_parser("render", help="render shapes from several azimuths: a paired (images, shapes) .npz")
    render.add_argument("path", help="the source file or folder, or 'synthetic' (the embedded furniture)")
    render.add_argument("--out", required=True, help="output .npz (keys images, voxels, azimuths, elevations, "
                        "labels, names, class_names, kind; see docs/rendering.md)")
    render.add_argument("--views", type=int, default=8,
                        help="azimuths evenly spaced over 360 degrees from 0 (default 8)")
    render.add_argument("--size", type=int, default=64, help="image size in pixels (default 64)")
    render.add_argument("--elevation", type=float, default=ELEVATION, help="camera elevation in degrees (default 25)")
    render.add_argument("--kind", choices=["shaded", "silhouette", "depth"], default="shaded")
    render.add_argument("--split", choices=SPLITS, default="train")
    render.add_argument("--cube-len", type=int, default=None,
                        help="resize grids to this size (synthetic: its size, default 32); default: keep")
    render.add_argument("--classes", nargs="+", default=None, help="class names to keep")
    render.add_argument("--rotations", choices=ROTATIONS, default="first",
                        help="3D ShapeNets .mat: only _1 (default: the views turn the shape already) or all 12")
    render.add_argument("--count", type=int, default=512, help="synthetic: number of shapes (default 512)")
    render.add_argument("--seed", type=int, default=0, help="synthetic: seed (the test split adds 1000)")
    render.add_argument("--array-key", default=None, help="array name inside an .npz")
    render.set_defaults(func=run_render)
    return parser


def run(args) -> int:
    """``tf3dgan data`` without a subcommand: show usage."""
    print("usage: tf3dgan data {info,convert,render} ...  (see tf3dgan data --help)", file=sys.stderr)
    return 2


def _splits_of(path: Path) -> list:
    """The splits a source holds: ['train', 'test'] for split-aware sources, else [None]."""
    from data_io.arrays import npz_keys
    from data_io.volumetric import SPLITS, RESOLUTION_DIR, is_volumetric_layout, locate

    if path.is_dir() and is_volumetric_layout(path):
        root, classes, split = locate(path)
        if path.name in SPLITS:
            return [split]
        names = classes or [d.name for d in root.iterdir() if (d / RESOLUTION_DIR).is_dir()]
        return [s for s in SPLITS if any((root / c / RESOLUTION_DIR / s).is_dir() for c in names)]
    if path.is_dir():
        from data_io.folders import folder_splits

        return folder_splits(path) or [None]
    if path.is_file() and path.suffix.lower() == ".npz":
        keys = npz_keys(path)
        found = [s for s in SPLITS if f"X_{s}" in keys or f"x_{s}" in keys]
        return found or [None]
    return [None]


def collect_info(path: str | Path, array_key=None, progress: bool = True) -> dict:
    """The report of ``data info`` as a dict (one entry per split)."""
    from data_io import occupancy_stats, read_source

    path = Path(path)
    if not path.exists():
        from data_io import DataError

        raise DataError(f"{path}: no such file or folder")
    report = {"source": str(path), "splits": {}}
    for split in _splits_of(path):
        data = read_source(path, split=split or "train", array_key=array_key, progress=progress,
                           drop_empty=False)
        empty = data.empty_mask()
        report["splits"][split or "all"] = {
            "count": len(data),
            "grid_shape": list(data.voxels.shape[1:]),
            "dtype": str(data.voxels.dtype),
            "class_counts": data.class_counts(),
            "occupancy": occupancy_stats(data.voxels[~empty]),  # of the non-empty grids
            "empty": int(empty.sum()),
            "empty_names": [data.names[i] for i in empty.nonzero()[0]],
        }
    return report


def format_info(report: dict) -> str:
    lines = [f"source: {report['source']}"]
    total_empty = 0
    for split, r in report["splits"].items():
        shape = "x".join(str(s) for s in r["grid_shape"])
        lines.append(f"[{split}] {r['count']} grids of {shape} ({r['dtype']})")
        if list(r["class_counts"]) != ["all"]:
            lines.append(f"  classes ({len(r['class_counts'])}): "
                         + ", ".join(f"{k} {v}" for k, v in r["class_counts"].items()))
        occ = r["occupancy"]
        lines.append(f"  occupancy of non-empty grids: min {occ['min']:.4g}  mean {occ['mean']:.4f}  "
                     f"max {occ['max']:.4f}")
        shown = ", ".join(r["empty_names"][:5]) + (", ..." if r["empty"] > 5 else "")
        lines.append(f"  empty grids: {r['empty']}" + (f" ({shown})" if r["empty"] else ""))
        total_empty += r["empty"]
    if len(report["splits"]) > 1:
        lines.append(f"total empty grids: {total_empty} (dropped when training)")
    return "\n".join(lines)


def run_info(args) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty grids are part of the report
        report = collect_info(args.path, args.array_key, progress=not args.json)
    print(json.dumps(report, indent=2) if args.json else format_info(report))
    return 0


def convert_output(out: str, source: str, overwrite: bool = False) -> Path:
    """The .npz that ``--out`` names: ``DIR/<source name>.npz`` for a folder (existing, or ending in /),
    else the name with ``.npz`` added where it lacks it. Refused: the source itself, a file inside a source
    folder (the next convert would read it back), an existing file without ``overwrite``."""
    import os

    from tf3dgan.errors import UsageError

    path = Path(out)
    if path.is_dir() or out.endswith((os.sep, "/")):
        path = path / f"{Path(source).resolve().stem or 'voxels'}.npz"
    elif path.suffix.lower() != ".npz":
        path = path.with_name(path.name + ".npz")
    src = Path(source).resolve()
    if path.exists() and path.resolve() == src:
        raise UsageError(f"--out {out}: would overwrite the source {source}; give another name")
    if src.is_dir() and path.resolve().is_relative_to(src):
        raise UsageError(f"--out {path} is inside the source folder {source} (the next convert would read it "
                         "back); write it outside")
    if path.exists() and not overwrite:
        raise UsageError(f"--out {path} exists; give another name or --overwrite")
    return path


def run_convert(args) -> int:
    from data_io import DataError, EmptyGridWarning, occupancy_stats, read_source, resize, write_npz
    from data_io.sources import require_cubic
    from data_io.voxelset import VoxelSet

    out = convert_output(args.out, args.path, args.overwrite)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmptyGridWarning)
        data = read_source(args.path, classes=args.classes, split=args.split, rotations=args.rotations,
                           array_key=args.array_key, size=args.cube_len, progress=True)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    require_cubic(data, args.path)
    if args.cube_len and data.grid_size != args.cube_len:
        try:
            grids = resize(data.voxels, args.cube_len)
        except ValueError as err:
            raise DataError(f"{args.path}: {err}") from None
        data = VoxelSet(grids, data.labels, data.names, data.class_names)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_npz(out, data)
    occ = occupancy_stats(data.voxels)
    size_kib = out.stat().st_size / 1024
    print(f"wrote {out}: {len(data)} grids of {data.grid_size}^3, classes {data.class_counts()}, "
          f"mean occupancy {occ['mean']:.4f}, {size_kib:,.0f} KiB")
    return 0


def run_render(args) -> int:
    from data_io import EmptyGridWarning
    from data_io.render import check_render_args, read_render_source, render_dataset, write_render_npz

    check_render_args(args.views, args.size, args.elevation)
    out = Path(args.out)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmptyGridWarning)
        data = read_render_source(args.path, split=args.split, classes=args.classes, rotations=args.rotations,
                                  cube_len=args.cube_len, count=args.count, seed=args.seed,
                                  array_key=args.array_key, progress=True)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    arrays = render_dataset(data, args.views, args.size, args.elevation, args.kind, progress=True)
    write_render_npz(out, arrays)
    size_kib = out.stat().st_size / 1024
    print(f"wrote {out}: {len(data)} shapes of {data.grid_size}^3 x {args.views} {args.kind} views of "
          f"{args.size}x{args.size} (elevation {args.elevation:g}), {size_kib:,.0f} KiB")
    return 0
