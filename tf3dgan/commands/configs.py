"""``tf3dgan configs``: list the shipped configs and ablation suites; ``tf3dgan configs show NAME`` prints one."""

from __future__ import annotations

from tf3dgan.commands import text_table


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "configs", help="list the shipped configs and ablation suites (usable by name: --config NAME, --suite NAME)",
        description="List the configs and ablation suites shipped with tf3dgan. `tf3dgan configs show NAME` prints "
                    "one; redirect it to a file to edit a copy (a copied suite's base: is relative to its file).",
    )
    actions = p.add_subparsers(dest="configs_action", metavar="ACTION")
    show = actions.add_parser("show", help="print a shipped config or suite")
    show.add_argument("name", help="a name from `tf3dgan configs` (configs first, then suites)")
    p.set_defaults(func=run, needs_tensorflow=False)


def config_rows() -> list[tuple]:
    """(name, variant, cube_len, description) of each shipped config; unset keys show the defaults."""
    from tf3dgan.config import ModelConfig, read_yaml
    from tf3dgan.config_library import describe, shipped_names, shipped_path

    rows = []
    for name in shipped_names("config"):
        path = shipped_path(name, "config")
        model = read_yaml(path).get("model") or {}
        rows.append((name, model.get("variant", ModelConfig.variant), f"{model.get('cube_len', ModelConfig.cube_len)}^3",
                     describe(path)))
    return rows


def suite_rows() -> list[tuple]:
    """(name, base, runs, description) of each shipped ablation suite."""
    from pathlib import Path

    from tf3dgan.config import read_yaml
    from tf3dgan.config_library import describe, shipped_names, shipped_path

    rows = []
    for name in shipped_names("suite"):
        path = shipped_path(name, "suite")
        raw = read_yaml(path)
        base = Path(raw["base"]).stem if isinstance(raw.get("base"), str) else "(defaults)"
        runs = raw.get("runs") if isinstance(raw.get("runs"), list) else []
        rows.append((name, base, len(runs), describe(path)))
    return rows


def run(args) -> int:
    from tf3dgan.config_library import shipped_names, shipped_path
    from tf3dgan.errors import ConfigError

    if args.configs_action == "show":
        path = shipped_path(args.name, "config") or shipped_path(args.name, "suite")
        if path is None:
            raise ConfigError(f"unknown config {args.name!r} (shipped configs: {', '.join(shipped_names('config'))}; "
                              f"ablation suites: {', '.join(shipped_names('suite'))})")
        print(path.read_text(encoding="utf-8"), end="")
        return 0
    print("configs (tf3dgan train --config NAME; tf3dgan configs show NAME prints one):")
    print("\n".join(text_table([("NAME", "VARIANT", "SIZE", "WHAT IT IS"), *config_rows()])))
    print("\nablation suites (tf3dgan ablate --suite NAME):")
    print("\n".join(text_table([("NAME", "BASE", "RUNS", "WHAT IT IS"), *suite_rows()])))
    return 0
