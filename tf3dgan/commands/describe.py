"""``tf3dgan describe``: layer tables, parameter counts and FLOPs of a config's networks."""

from __future__ import annotations

import json

from tf3dgan.commands import add_config_arguments


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("describe", help="layer table, parameter counts and FLOPs of a config's networks")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true", help="print a JSON object instead of tables")
    p.set_defaults(func=run)


def run(args) -> int:
    from tf3dgan.training.builder import build_gan
    from tf3dgan.config import load_config
    from tf3dgan.nn.model_stats import describe_gan, format_description

    config = load_config(args.config, args.overrides)
    description = describe_gan(build_gan(config, compile=False))
    if args.json:
        m = config.model
        print(json.dumps({"variant": m.variant, "cube_len": m.cube_len, "z_dim": m.z_dim, **description}, indent=2))
    else:
        print(format_description(description))
    return 0
