"""``tf3dgan project``: real shapes into a run's latent space (optimising z against G), for interpolation,
arithmetic and neighbours on real shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf3dgan.commands import add_model_arguments, load_model
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    from data_io.volumetric import SPLITS

    p = subparsers.add_parser("project", help="real shapes into a run's latent space (z.npz for the latent specs)")
    add_model_arguments(p, "run folder written by `tf3dgan train`")
    p.add_argument("--shapes", required=True, help="the shapes: any data source (file or folder) or 'synthetic'")
    p.add_argument("--split", default="test", choices=SPLITS, help="split of --shapes (default test)")
    p.add_argument("--rotations", default="first", choices=("first", "all"), help="3D ShapeNets .mat rotations")
    p.add_argument("--classes", nargs="+", help="keep only these classes of --shapes")
    p.add_argument("--n", type=int, help="project the first N shapes (default all)")
    p.add_argument("--out", required=True, help="output .npz: z (N, z_dim), iou, names, ...")
    p.add_argument("--steps", type=int, default=300, help="Adam steps per shape (default 300)")
    p.add_argument("--restarts", type=int, default=4,
                   help="starting points per shape; the first is the encoder's guess where the run has one (default 4)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on z (default 0.05)")
    p.add_argument("--prior-weight", type=float, default=0.01,
                   help="weight of the prior term (negative log-density of the run's latent prior per dimension; "
                        "default 0.01)")
    p.add_argument("--batch-size", type=int, default=16, help="shapes per optimisation pass (default 16)")
    p.add_argument("--no-encoder", action="store_true", help="start every restart from the prior, not the encoder")
    p.add_argument("--compare-random", type=int, default=0, metavar="K",
                   help="also report each shape's best IoU over K random latent draws (e.g. 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random restarts (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    import data_io
    from data_io.atomic import atomic_write_bytes
    from tf3dgan.generation.projection import best_random_iou, project

    if Path(args.out).suffix != ".npz":
        raise UsageError(f"--out {args.out}: expected a .npz file name")
    if args.n is not None and args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    if args.steps < 0 or args.restarts < 1 or args.batch_size < 1 or args.lr <= 0 or args.prior_weight < 0:
        raise UsageError("need --steps >= 0, --restarts >= 1, --batch-size >= 1, --lr > 0 and --prior-weight >= 0")
    config, gan, step, model = load_model(args)
    cube_len = config.model.cube_len
    if args.shapes == "synthetic":
        shapes = data_io.generate_synthetic(args.n or 16, cube_len, data_io.split_seed(args.seed, args.split),
                                            args.classes)
    else:
        shapes = data_io.read_source(args.shapes, split=args.split, rotations=args.rotations, classes=args.classes,
                                     size=cube_len, progress=True)
    n = min(args.n or len(shapes.voxels), len(shapes.voxels))
    try:
        voxels = data_io.resize(shapes.voxels[:n], cube_len)
    except ValueError as err:
        raise UsageError(str(err)) from None
    names = np.array(list(shapes.names)[:n] if shapes.names is not None else [f"shape_{i}" for i in range(n)], str)
    result = project(gan, voxels, args.steps, args.restarts, args.seed, args.prior_weight, args.lr,
                     args.batch_size, use_encoder=not args.no_encoder)
    arrays = {"z": result.z, "iou": result.iou.astype(np.float32), "names": names, "loss": result.loss,
              "restart": result.restart, "start_iou": result.start_iou.astype(np.float32)}
    line = (f"{args.out}: {n} shapes into the latent space of {model} (step {step}); IoU of G(z) > 0.5 with the "
            f"shape: mean {result.iou.mean():.3f} (min {result.iou.min():.3f}); "
            f"from the {'encoder guess' if gan.encoder is not None and not args.no_encoder else 'first restart'} "
            f"{result.start_iou.mean():.3f}")
    if args.compare_random:
        random_best = best_random_iou(gan, voxels, args.compare_random, seed=args.seed + 1)
        arrays["random_best_iou"] = random_best.astype(np.float32)
        line += (f"; best of {args.compare_random} random z: mean {random_best.mean():.3f}, projection better for "
                 f"{int((result.iou > random_best).sum())}/{n}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, lambda f: np.savez(f, **arrays))
    print(line)
    return 0
