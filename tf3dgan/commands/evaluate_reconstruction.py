"""``tf3dgan evaluate-reconstruction``: mean voxel IoU of shapes reconstructed from 1, 2, 4 ... rendered views
of held-out shapes, beside two baselines (the best-thresholded mean training shape; the training shape whose
rendering is nearest in pixels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tf3dgan.commands import add_model_arguments, add_refine_arguments, check_refine_arguments, load_model, model_label
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    from data_io.volumetric import SPLITS

    p = subparsers.add_parser(
        "evaluate-reconstruction",
        help="mean IoU of shapes reconstructed from their rendered views (vae_gan / mv_vae_gan runs), with baselines",
    )
    add_model_arguments(p, "run folder of a vae_gan or mv_vae_gan run")
    p.add_argument("--reference", required=True,
                   help="held-out shapes: 'synthetic' (seed + 1000, as `tf3dgan evaluate`) or any data source")
    p.add_argument("--split", default="test", choices=SPLITS, help="split of --reference (default test)")
    p.add_argument("--rotations", default="first", choices=("first", "all"),
                   help="3D ShapeNets .mat rotations of --reference (default first)")
    p.add_argument("--classes", nargs="+", help="keep only these classes of --reference")
    p.add_argument("--views", type=int, nargs="+", default=[1, 2, 4], help="view counts to score (default 1 2 4)")
    p.add_argument("--n", type=int, default=200, help="at most this many held-out shapes (default 200)")
    p.add_argument("--seed", type=int, default=0, help="held-out subset / view order seed (default 0)")
    add_refine_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.add_argument("--out", help="also write the result to this .json file")
    p.set_defaults(func=run)


def _held_out(args, cube_len: int) -> tuple[np.ndarray, str]:
    import data_io

    if args.reference == "synthetic":
        seed = data_io.split_seed(args.seed, "test")
        voxels = data_io.generate_synthetic(args.n, cube_len, seed, args.classes).voxels
        return voxels, f"synthetic (held-out seed {seed})"
    voxels = data_io.read_source(args.reference, split=args.split, rotations=args.rotations, classes=args.classes,
                                 size=cube_len, progress=True).voxels
    if len(voxels) > args.n:
        voxels = voxels[np.sort(np.random.default_rng(args.seed).choice(len(voxels), args.n, replace=False))]
    return voxels, f"{args.reference} (split {args.split})"


def run(args) -> int:
    import data_io
    from tf3dgan.evaluation.reconstruction_scores import evaluate_reconstruction, format_table
    from tf3dgan.generation.image_encoder import check_image_run

    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    if args.out and Path(args.out).suffix != ".json":
        raise UsageError(f"--out {args.out}: expected a .json file name")
    check_refine_arguments(args)
    config, gan, step, _ = load_model(args)
    check_image_run(gan, "evaluate-reconstruction")
    rendered = gan.variant.image_input().rendered_views
    if min(args.views) < 1 or max(args.views) > rendered:
        raise UsageError(f"--views must be within 1..{rendered} (the run renders {rendered} views per shape)")
    cube_len = config.model.cube_len
    test, label = _held_out(args, cube_len)
    try:
        test = data_io.resize(test, cube_len)
        train = data_io.resize(data_io.load_training_voxels(config.data, cube_len).voxels, cube_len)
    except ValueError as err:
        raise UsageError(str(err)) from None
    result = evaluate_reconstruction(gan, test, train, args.views, args.seed, progress=not args.json,
                                     refine_rounds=args.refine, refine_candidates=args.refine_candidates)
    result = {"run": f"{model_label(args)} (step {step}, {config.model.variant})", "reference": label, **result}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"run: {result['run']}\nheld-out: {label}, {result['n_test']} shapes at {cube_len}^3; "
              f"pictures {result['image_size']}^2, elevation {result['elevation']:g}, views drawn from "
              f"{result['rendered_views']} azimuths; pooling {result['pooling']}")
        print(format_table(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        if not args.json:
            print(f"wrote {args.out}")
    return 0
