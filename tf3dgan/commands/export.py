"""``tf3dgan export``: a TensorFlow SavedModel of the generator plus the whole GAN as ``gan.keras``."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a run as a TensorFlow SavedModel and a .keras file")
    p.add_argument("--run", required=True, help="run folder written by `tf3dgan train`")
    p.add_argument("--out", required=True, help="export folder (SavedModel, gan.keras, export.json)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint .npz of the run (default: the newest)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty export folder")
    p.set_defaults(func=run)


def run(args) -> int:
    from tf3dgan.generation.export import export_run

    info = export_run(args.run, args.out, args.checkpoint, args.overwrite)
    d = info["cube_len"]
    print(f"{args.out}: SavedModel (serving_default: z [None, {info['z_dim']}] -> probabilities "
          f"[None, {d}, {d}, {d}]; sample: count, seed -> z, probabilities) and gan.keras, step {info['step']}")
    return 0
