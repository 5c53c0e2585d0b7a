"""``tf3dgan arithmetic``: the shape of a latent expression such as "a - b + c" (the paper's Figure 8)."""

from __future__ import annotations

import numpy as np

from tf3dgan.commands import (
    SPEC_HELP, add_model_arguments, add_postprocess_arguments, add_strip_arguments, check_threshold_argument,
    load_model, write_outputs, write_strip_for,
)
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("arithmetic", help="generate the shape of a latent expression like 'a - b + c'")
    add_model_arguments(p, "run folder written by `tf3dgan train`")
    p.add_argument("--expr", required=True, help="expression over names: + - unary - and * by a number")
    p.add_argument("--latents", nargs="+", required=True, metavar="NAME=SPEC",
                   help=f"the named vectors; SPEC is {SPEC_HELP}")
    p.add_argument("--out", required=True,
                   help="output (.npz default): the operands in order of appearance, then the result")
    add_strip_arguments(p)
    add_postprocess_arguments(p)
    p.set_defaults(func=run)


def parse_bindings(items) -> dict:
    bindings = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or not name.isidentifier() or not spec:
            raise UsageError(f"--latents {item!r}: expected NAME=SPEC, e.g. a=samples.npz#3")
        if name in bindings:
            raise UsageError(f"--latents: {name!r} given twice")
        bindings[name] = spec
    return bindings


def run(args) -> int:
    from data_io import grid_occupancy
    from tf3dgan.generation.latent_space import evaluate_expression, expression_names, resolve_latent
    from tf3dgan.generation.shape_files import resolve_layout

    check_threshold_argument(args)
    bindings = parse_bindings(args.latents)
    names = expression_names(args.expr)
    missing = [n for n in names if n not in bindings]
    if missing:
        raise UsageError(f"--expr uses {', '.join(missing)}, not given in --latents")
    resolve_layout(args.out, args.format, len(names) + 1)
    config, gan, step, _ = load_model(args)
    latents = {name: resolve_latent(bindings[name], gan.z_dim, gan) for name in names}
    result = evaluate_expression(args.expr, latents)
    z = np.stack([latents[n] for n in names] + [result])
    probabilities = gan.generate(z)
    voxels, files = write_outputs(args, probabilities, z)
    html = write_strip_for(args, voxels, probabilities, names + [args.expr], args.expr)
    occupancy = grid_occupancy(voxels)
    print(f"{args.out}: {', '.join(names)} and {args.expr!r} (last) from step {step}; occupancy "
          + " ".join(f"{o:.3f}" for o in occupancy) + (f"; strip {html}" if html else ""))
    return 0
