"""``tf3dgan neighbours``: the nearest training shape of each sample (1 - IoU and L1), to show that samples
are new shapes and not copies of the training set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tf3dgan.commands import (
    SPEC_HELP, add_model_arguments, add_threshold_argument, check_threshold_argument, load_model, model_label,
)
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    from data_io.volumetric import ROTATIONS, SPLITS

    p = subparsers.add_parser("neighbours", help="nearest training shape of each sample (1 - IoU, L1)")
    add_model_arguments(p, "run folder written by `tf3dgan train`")
    p.add_argument("--data", required=True, help="training data: any file or folder data_io reads")
    p.add_argument("--samples", default=None, help="a .npz written by `tf3dgan sample` (default: draw --n)")
    p.add_argument("--latents", nargs="+", default=None, metavar="SPEC",
                   help=f"generate these instead of drawing: {SPEC_HELP}; a file without '#' gives all its rows "
                        "(e.g. a `tf3dgan project` .npz: the nearest training shapes of projected real shapes)")
    p.add_argument("--n", type=int, default=16, help="shapes to draw when no --samples (default 16)")
    p.add_argument("--seed", type=int, default=0, help="latent seed when drawing (default 0)")
    add_threshold_argument(p)
    p.add_argument("--classes", nargs="+", default=None, help="class names to keep")
    p.add_argument("--split", choices=SPLITS, default="train")
    p.add_argument("--rotations", choices=ROTATIONS, default="all",
                   help="3D ShapeNets .mat rotations (default all)")
    p.add_argument("--array-key", default=None, help="array key inside an .npz")
    p.add_argument("--out", default=None, help="write the report as .json")
    p.add_argument("--html", default=None, help="write an HTML page of sample / nearest-shape pairs")
    p.set_defaults(func=run)


def load_reference(args, cube_len: int, upsample: str):
    """Training grids at the model's cube_len (max-pooled or upsampled as the training pipeline does)."""
    import data_io

    voxels = data_io.read_source(args.data, classes=args.classes, split=args.split, rotations=args.rotations,
                                 array_key=args.array_key, size=cube_len, progress=True)
    voxels = data_io.fit_to_cube_len(voxels, cube_len, str(args.data))
    return data_io.resize(voxels.voxels, cube_len, upsample), list(voxels.names)


def run(args) -> int:
    from tf3dgan.generation.latent_space import nearest_neighbours

    check_threshold_argument(args)
    if args.samples is None and args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    config, gan, step, _ = load_model(args)
    cube_len = config.model.cube_len
    if args.samples:
        with np.load(args.samples) as data:
            if "probabilities" not in data:
                raise UsageError(f"{args.samples}: no 'probabilities' array; expected a `tf3dgan sample` .npz")
            probabilities = np.asarray(data["probabilities"], np.float32)
        if probabilities.shape[1:] != (cube_len,) * 3:
            raise UsageError(f"{args.samples}: grids {probabilities.shape[1:]}, the run makes {cube_len}^3")
    elif args.latents:
        from tf3dgan.generation.latent_space import load_latent_file, resolve_latent

        z = [load_latent_file(spec) if "#" not in spec and not spec.lstrip("-").isdigit()
             else resolve_latent(spec, gan.z_dim, gan)[None] for spec in args.latents]
        z = np.concatenate(z)
        if z.shape[1] != gan.z_dim:
            raise UsageError(f"--latents: vectors of size {z.shape[1]}, the run's generator takes z_dim {gan.z_dim}")
        probabilities = gan.generate(z)
    else:
        probabilities = gan.generate(np.asarray(gan.sample_latent(args.n, seed=args.seed), np.float32))
    voxels = (probabilities > args.threshold).astype(np.uint8)
    train, names = load_reference(args, cube_len, config.data.upsample)
    found = nearest_neighbours(probabilities, voxels, train)
    rows = [
        {"sample": i, "iou_nearest": names[found.iou_index[i]], "one_minus_iou": float(found.iou_distance[i]),
         "l1_nearest": names[found.l1_index[i]], "l1": float(found.l1_distance[i])}
        for i in range(len(voxels))
    ]
    print(f"{len(voxels)} samples (step {step}) against {len(train)} shapes of {args.data} at {cube_len}^3")
    print(f"{'sample':>6}  {'1-IoU':>6}  nearest (IoU)            {'L1':>7}  nearest (L1)")
    for r in rows:
        print(f"{r['sample']:>6}  {r['one_minus_iou']:6.3f}  {r['iou_nearest'][:24]:<24} {r['l1']:7.4f}  "
              f"{r['l1_nearest'][:24]}")
    summary = {"min_one_minus_iou": float(found.iou_distance.min()),
               "mean_one_minus_iou": float(found.iou_distance.mean()),
               "min_l1": float(found.l1_distance.min()), "mean_l1": float(found.l1_distance.mean())}
    print("1 - IoU to the nearest training shape: min {min_one_minus_iou:.3f}, mean {mean_one_minus_iou:.3f}; "
          "L1: min {min_l1:.4f}, mean {mean_l1:.4f}".format(**summary))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"run": model_label(args), "step": step, "data": str(args.data),
                                              "threshold": args.threshold, "summary": summary,
                                              "samples": rows}, indent=2))
    if args.html:
        from data_io.plotting import panel_figure, write_html

        grids, titles = [], []
        for i in range(len(voxels)):
            grids += [voxels[i], train[found.iou_index[i]]]
            titles += [f"sample {i}", f"{names[found.iou_index[i]]} (1-IoU {found.iou_distance[i]:.2f})"]
        write_html(panel_figure(np.stack(grids).astype(np.float32), 0.5, titles=titles, columns=2),
                   args.html, title="nearest training shapes")
    return 0
