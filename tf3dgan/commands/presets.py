"""``tf3dgan presets``: list the trained GANs shipped with tf3dgan; ``show`` prints a card, ``save`` makes a preset
folder from a run, ``build`` trains and scores a registry preset (tf3dgan.presets)."""

from __future__ import annotations

from tf3dgan.commands import text_table


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "presets", help="list the trained GANs shipped with tf3dgan (usable by name: --preset NAME)",
        description="List the trained GANs shipped with tf3dgan, one line of their card each. Every command that "
                    "takes --run also takes --preset NAME (or a preset folder).",
    )
    actions = p.add_subparsers(dest="presets_action", metavar="ACTION")
    show = actions.add_parser("show", help="print a preset's model card")
    show.add_argument("name", help="a name from `tf3dgan presets`, or a preset folder")
    save = actions.add_parser("save", help="write a preset folder (config, weights, card) from a run folder")
    save.add_argument("--run", required=True, help="run folder written by `tf3dgan train`")
    save.add_argument("--out", required=True, help="the preset folder to write (new or empty)")
    save.add_argument("--checkpoint", default=None, help="a checkpoint .npz of the run (default: the newest)")
    save.add_argument("--dtype", default="float16", choices=("float16", "float32"),
                      help="how the weights are stored (default float16: half the size)")
    save.add_argument("--summary", help="the card's one-line summary")
    build = actions.add_parser("build", help="train a registered preset from its recipe, score it, write its card")
    build.add_argument("name", help="a preset of tf3dgan/presets/registry.yaml")
    build.add_argument("--out", required=True, help="the preset folder to write (new or empty)")
    build.add_argument("--run-dir", help="run folder to train in, resumed when it exists (default runs/preset_NAME)")
    build.add_argument("--data", default=None, help="the shared data folder of the recipe (default ../shared/data)")
    build.add_argument("--steps", type=int, help="train this many steps instead of the recipe's (a quick check)")
    p.set_defaults(func=run)


def rows() -> list[tuple]:
    """(name, size, state, summary) of each registered preset."""
    from tf3dgan.presets import built_names, read_card, registry, shipped_folder

    built = set(built_names())
    out = []
    for name, recipe in registry().items():
        if name in built:
            front, _ = read_card(shipped_folder(name))
            out.append((name, f"{front.get('cube_len', '?')}^3", f"{front.get('steps', '?')} steps",
                        front.get("summary", recipe.summary)))
        else:
            out.append((name, "", "not built yet", recipe.summary))
    return out


def run(args) -> int:
    from tf3dgan import presets
    from tf3dgan.errors import UsageError

    if args.presets_action == "show":
        print(presets.read_card(presets.resolve_preset(args.name))[1], end="")
        return 0
    if args.presets_action == "save":
        out = presets.save_preset(args.run, args.out, args.checkpoint, args.dtype, args.summary)
        print(f"{out}: preset saved from {args.run} (weights {args.dtype}); use it with --preset {out}")
        return 0
    if args.presets_action == "build":
        if args.steps is not None and args.steps < 1:
            raise UsageError(f"--steps must be >= 1, got {args.steps}")
        out = presets.build_preset(args.name, args.out, args.run_dir, args.data or presets.DEFAULT_DATA, args.steps)
        print(presets.read_card(out)[1], end="")
        print(f"\n{out}: preset {args.name} built; ship it as tf3dgan/presets/{args.name}/")
        return 0
    print("presets (tf3dgan sample --preset NAME ...; tf3dgan presets show NAME prints its card):")
    print("\n".join(text_table([("NAME", "SIZE", "TRAINED", "WHAT IT IS"), *rows()])))
    return 0
