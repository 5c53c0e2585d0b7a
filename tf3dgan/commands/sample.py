"""``tf3dgan sample``: draw shapes from a trained run's newest checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf3dgan.cli import CLIError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sample", help="draw shapes from a trained run (inference mode)")
    p.add_argument("--run", required=True, help="run folder written by `tf3dgan train`")
    p.add_argument("--n", type=int, default=16, help="number of shapes (default 16)")
    p.add_argument("--out", required=True, help="output .npz (voxels uint8, probabilities, z)")
    p.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    p.add_argument("--threshold", type=float, default=0.5, help="occupancy threshold in [0, 1] (default 0.5)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tf3dgan.run_folder import load_run

    if args.n < 1:
        raise CLIError(f"--n must be >= 1, got {args.n}")
    if not 0.0 <= args.threshold <= 1.0:
        raise CLIError(f"--threshold must be in [0, 1], got {args.threshold}")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise CLIError(f"--out {out}: expected a .npz file name")
    config, gan, step = load_run(args.run)
    z = np.asarray(gan.sample_latent(args.n, seed=args.seed), dtype="float32")
    probabilities = gan.generate(z)
    voxels = (probabilities > args.threshold).astype("uint8")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, voxels=voxels, probabilities=probabilities, z=z)
    occupancy = voxels.reshape(len(voxels), -1).mean(1)
    print(
        f"{out}: {args.n} shapes of {voxels.shape[1]}^3 from step {step}; "
        f"mean occupancy {occupancy.mean():.4f} (min {occupancy.min():.4f}, max {occupancy.max():.4f})"
    )
    return 0
