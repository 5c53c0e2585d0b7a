"""``tf3dgan interpolate``: shapes along a path between two latent vectors (linear or spherical)."""

from __future__ import annotations

import numpy as np

from tf3dgan.commands import (
    SPEC_HELP, add_model_arguments, add_postprocess_arguments, add_strip_arguments, check_threshold_argument,
    load_model, write_outputs, write_strip_for,
)
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    from tf3dgan.generation.latent_space import INTERPOLATIONS

    p = subparsers.add_parser("interpolate", help="shapes interpolated between two latent vectors")
    add_model_arguments(p, "run folder written by `tf3dgan train`")
    p.add_argument("--from", dest="start", required=True, help=f"start latent: {SPEC_HELP}")
    p.add_argument("--to", dest="end", required=True, help="end latent (same forms as --from)")
    p.add_argument("--steps", type=int, default=8, help="shapes along the path, endpoints included (default 8)")
    p.add_argument("--method", choices=INTERPOLATIONS, default="slerp", help="slerp (default) or linear")
    p.add_argument("--out", required=True, help="output: .npz (default layout), .mat, .zip or a folder")
    add_strip_arguments(p)
    add_postprocess_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from data_io import grid_occupancy
    from tf3dgan.generation.latent_space import interpolate, resolve_latent
    from tf3dgan.generation.shape_files import resolve_layout

    if args.steps < 2:
        raise UsageError(f"--steps must be >= 2 (both endpoints are included), got {args.steps}")
    check_threshold_argument(args)
    resolve_layout(args.out, args.format, args.steps)
    config, gan, step, _ = load_model(args)
    a = resolve_latent(args.start, gan.z_dim, gan)
    b = resolve_latent(args.end, gan.z_dim, gan)
    z = interpolate(a, b, args.steps, args.method)
    probabilities = gan.generate(z)
    voxels, files = write_outputs(args, probabilities, z)
    t = np.linspace(0.0, 1.0, args.steps)
    titles = [f"t={x:.2f}" for x in t]
    html = write_strip_for(args, voxels, probabilities, titles, f"{args.method}: {args.start} -> {args.end}")
    occupancy = grid_occupancy(voxels)
    print(f"{args.out}: {args.steps} shapes ({args.method}) from step {step}; occupancy "
          + " ".join(f"{o:.3f}" for o in occupancy) + (f"; strip {html}" if html else ""))
    return 0
