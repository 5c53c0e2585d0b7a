"""``tf3dgan dimension``: vary one latent dimension and show which voxels change (the paper's Figure 5)."""

from __future__ import annotations

import numpy as np

from tf3dgan.commands import (
    SPEC_HELP, add_model_arguments, add_threshold_argument, check_threshold_argument, load_model,
)
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("dimension", help="effect of one latent dimension on a shape")
    add_model_arguments(p, "run folder written by `tf3dgan train`")
    p.add_argument("--z", default="0", help=f"the latent vector to vary: {SPEC_HELP} (default seed 0)")
    p.add_argument("--dim", type=int, default=None,
                   help="the dimension (default: the one that flips most voxels when shifted by --delta)")
    p.add_argument("--values", default=None,
                   help="comma-separated values for z[dim] (default: 5 values z[dim] + delta*(-1..1))")
    p.add_argument("--delta", type=float, default=None,
                   help="shift used to rank dimensions and for the default values "
                        "(default 3 x std for a normal latent, 0.5 for uniform)")
    add_threshold_argument(p)
    p.add_argument("--out", required=True, help="output .npz (z, values, probabilities, voxels, added, removed)")
    p.add_argument("--html", default=None, help="HTML strip (default: beside --out, .html)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from tf3dgan.generation.latent_space import dimension_effect, dimension_sensitivity, resolve_latent
    from tf3dgan.generation.shape_strip import default_html_path, write_strip

    check_threshold_argument(args)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out {out}: expected a .npz file name")
    config, gan, step, _ = load_model(args)
    z = resolve_latent(args.z, gan.z_dim, gan)
    delta = args.delta if args.delta is not None else (
        3 * gan.latent.std if gan.latent.distribution == "normal" else 0.5)
    ranking = None
    dim = args.dim
    if dim is None:
        ranking = dimension_sensitivity(gan, z, delta, args.threshold)
        dim = int(np.argmax(ranking))
    if not 0 <= dim < gan.z_dim:
        raise UsageError(f"--dim must be in [0, {gan.z_dim}), got {dim}")
    if args.values:
        try:
            values = [float(v) for v in args.values.split(",")]
        except ValueError:
            raise UsageError(f"--values {args.values!r}: expected comma-separated numbers") from None
    else:
        values = list(z[dim] + delta * np.linspace(-1.0, 1.0, 5))
    effect = dimension_effect(gan, z, dim, values, args.threshold)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, z=effect.z, values=effect.values, probabilities=effect.probabilities,
                        voxels=effect.voxels, base_voxels=effect.base_voxels, added=effect.added,
                        removed=effect.removed, dim=dim,
                        **({"sensitivity": ranking} if ranking is not None else {}))
    titles = [f"z[{dim}]={v:.2f}: +{a.sum()} -{r.sum()}" for v, a, r in zip(values, effect.added, effect.removed)]
    html = write_strip(args.html or default_html_path(out), effect.probabilities, titles, args.threshold,
                       f"latent dimension {dim} (z[{dim}] = {z[dim]:.3f} in the base shape)",
                       added=effect.added, removed=effect.removed)
    print(f"{out}: dimension {dim} at step {step}; voxels changed per value: "
          + ", ".join(f"{v:.2f}: {c}" for v, c in zip(values, effect.changed_counts)) + f"; strip {html}")
    if ranking is not None:
        top = np.argsort(-ranking)[:5]
        print("most sensitive dimensions (voxels flipped by +delta): "
              + ", ".join(f"{d}: {ranking[d]}" for d in top))
    return 0
