"""``tf3dgan export``: a TensorFlow SavedModel of the generator plus the whole GAN as ``gan.keras``."""

from __future__ import annotations

from pathlib import Path

from tf3dgan.commands import add_model_arguments, load_model
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a run as a TensorFlow SavedModel and a .keras file")
    add_model_arguments(p, "run folder written by `tf3dgan train`")
    p.add_argument("--out", required=True, help="export folder (SavedModel, gan.keras, export.json)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint .npz of the run (default: the newest)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty export folder")
    p.set_defaults(func=run)


def run(args) -> int:
    from tf3dgan.commands import shown
    from tf3dgan.generation.export import export_gan

    try:  # TensorFlow writes only file names that are valid UTF-8
        str(Path(args.out).absolute()).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"--out {shown(args.out)}: not a valid UTF-8 path, which TensorFlow cannot write; "
                         "choose another --out") from None
    config, gan, step, _ = load_model(args, args.checkpoint)
    source = {"preset": args.preset} if args.preset else {"run": str(args.run)}
    info = export_gan(gan, args.out, {**source, "step": step, "variant": config.model.variant},
                      overwrite=args.overwrite)
    d = info["cube_len"]
    print(f"{args.out}: SavedModel (serving_default: z [None, {info['z_dim']}] -> probabilities "
          f"[None, {d}, {d}, {d}]; sample: count, seed -> z, probabilities) and gan.keras, step {info['step']}")
    return 0
