"""``tf3dgan sample``: draw shapes from a trained run's newest checkpoint, clean them up, write them out."""

from __future__ import annotations

import numpy as np

from tf3dgan.errors import UsageError


def add_postprocess_arguments(p) -> None:
    """The post-processing and output options shared by the commands that write shapes."""
    from data_io.mesh_io import MESH_SCALES
    from tf3dgan.generation.shape_files import FORMATS

    p.add_argument("--threshold", type=float, default=0.5,
                   help="occupancy threshold in [0, 1] (default 0.5; the authors' viewer used 0.1)")
    p.add_argument("--largest-component", action="store_true",
                   help="keep only the largest connected component of each shape")
    p.add_argument("--connectivity", type=int, choices=(6, 18, 26), default=26,
                   help="voxel neighbourhood for --largest-component (default 26)")
    p.add_argument("--fill-holes", action="store_true", help="fill enclosed cavities")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from the --out suffix; npz for a folder or .zip)")
    p.add_argument("--mesh-scale", choices=MESH_SCALES, default="unit",
                   help="mesh coordinates: 'unit' (the grid spans [0,1]^3, default) or 'voxel' (voxel units)")
    p.add_argument("--ply-ascii", action="store_true", help="write .ply as ascii (default binary little-endian)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sample", help="draw shapes from a trained run (inference mode)")
    p.add_argument("--run", required=True, help="run folder written by `tf3dgan train`")
    p.add_argument("--n", type=int, default=16, help="number of shapes (default 16)")
    p.add_argument("--out", required=True,
                   help="a .npz/.mat archive (npz: voxels uint8, probabilities, z), a .zip or a folder "
                        "(one file per shape), or one .binvox/.obj/.stl/.ply file (--n 1)")
    p.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    add_postprocess_arguments(p)
    p.set_defaults(func=run)


def check_postprocess_arguments(args) -> None:
    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError(f"--threshold must be in [0, 1], got {args.threshold}")


def write_outputs(args, probabilities, z) -> tuple[np.ndarray, list]:
    """Post-process ``probabilities`` as ``args`` says and write them to ``args.out``; return (voxels, files)."""
    from tf3dgan.generation.postprocess import postprocess
    from tf3dgan.generation.shape_files import write_shapes

    voxels = postprocess(probabilities, args.threshold, args.largest_component, args.connectivity, args.fill_holes)
    files = write_shapes(args.out, voxels, probabilities, z, args.format, args.threshold, args.mesh_scale,
                         ply_binary=not args.ply_ascii, progress=len(voxels) > 1)
    return voxels, files


def run(args) -> int:
    from tf3dgan.training.checkpoint import load_run
    from tf3dgan.generation.shape_files import resolve_layout

    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    check_postprocess_arguments(args)
    layout, fmt = resolve_layout(args.out, args.format, args.n)  # fail before loading the model
    config, gan, step = load_run(args.run)
    z = np.asarray(gan.sample_latent(args.n, seed=args.seed), dtype="float32")
    probabilities = gan.generate(z)
    voxels, files = write_outputs(args, probabilities, z)
    occupancy = voxels.reshape(len(voxels), -1).mean(1)
    where = files[0] if len(files) == 1 else f"{args.out} ({len(files)} .{fmt} files)"
    print(
        f"{where}: {args.n} shapes of {voxels.shape[1]}^3 from step {step}; "
        f"mean occupancy {occupancy.mean():.4f} (min {occupancy.min():.4f}, max {occupancy.max():.4f})"
    )
    return 0
