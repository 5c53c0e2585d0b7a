"""``tf3dgan sample``: draw shapes from a trained run's newest checkpoint, clean them up, write them out."""

from __future__ import annotations

import numpy as np

from tf3dgan.commands import add_model_arguments, add_postprocess_arguments, check_threshold_argument, load_model
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sample", help="draw shapes from a trained run (inference mode)")
    add_model_arguments(p, "run folder written by `tf3dgan train`")
    p.add_argument("--n", type=int, default=16, help="number of shapes (default 16)")
    p.add_argument("--out", required=True,
                   help="a .npz/.mat archive (npz: voxels uint8, probabilities, z), a .zip or a folder "
                        "(one file per shape), or one .binvox/.obj/.stl/.ply file (--n 1)")
    p.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="shapes generated and written at a time (default 32): memory does not grow with --n, "
                        "except for a .mat archive, which is written in one go")
    p.add_argument("--checkpoint", default=None, help="a checkpoint .npz of the run (default: the newest that reads)")
    add_postprocess_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm.auto import tqdm

    from data_io import grid_occupancy
    from tf3dgan.generation.postprocess import postprocess
    from tf3dgan.generation.shape_files import ShapeWriter, resolve_layout

    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    check_threshold_argument(args)
    layout, fmt = resolve_layout(args.out, args.format, args.n)  # fail before loading the model
    config, gan, step, _ = load_model(args, args.checkpoint)
    # All latent vectors at once (z_dim floats a shape): the same vectors as before and as the SavedModel's
    # `sample` signature for this seed. The grids are generated, post-processed and written a batch at a time.
    z_all = np.asarray(gan.sample_latent(args.n, seed=args.seed), dtype="float32")
    occupancy = np.empty(args.n)
    batches = range(0, args.n, args.batch_size)
    with ShapeWriter(args.out, args.n, args.format, args.threshold, args.mesh_scale,
                     ply_binary=not args.ply_ascii) as writer:
        for start in tqdm(batches, desc="sampling", unit="batch", disable=len(batches) < 2):
            z = z_all[start:start + args.batch_size]
            probabilities = gan.generate(z)
            voxels = postprocess(probabilities, args.threshold, args.largest_component, args.connectivity,
                                 args.fill_holes)
            writer.add(voxels, probabilities, z)
            occupancy[start:start + len(z)] = grid_occupancy(voxels)
            size = voxels.shape[1]
    files = writer.files
    where = files[0] if len(files) == 1 else f"{args.out} ({len(files)} .{fmt} files)"
    print(
        f"{where}: {args.n} shapes of {size}^3 from step {step}; "
        f"mean occupancy {occupancy.mean():.4f} (min {occupancy.min():.4f}, max {occupancy.max():.4f})"
    )
    return 0
