"""``tf3dgan sample``: draw shapes from a trained run's newest checkpoint, clean them up, write them out."""

from __future__ import annotations

import numpy as np

from tf3dgan.commands import add_postprocess_arguments, check_threshold_argument, write_outputs
from tf3dgan.errors import UsageError


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


def run(args) -> int:
    from tf3dgan.training.checkpoint import load_run
    from tf3dgan.generation.shape_files import resolve_layout

    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    check_threshold_argument(args)
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
