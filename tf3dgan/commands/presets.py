"""``tf3dgan presets``: list the trained GANs shipped with tf3dgan; ``show`` prints a card, ``save`` makes a preset
folder from a run, ``build`` trains and scores a registry preset (tf3dgan.presets)."""

from __future__ import annotations

import dataclasses
import json
import platform
import shlex
import time
from pathlib import Path

import numpy as np

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
    p.set_defaults(func=run, needs_tensorflow=lambda args: args.presets_action in ("save", "build"))


def rows() -> list[tuple]:
    """(name, size, state, summary) of each registered preset."""
    from tf3dgan.preset_cards import built_names, read_card, registry, shipped_folder

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
    from tf3dgan.errors import UsageError

    if args.presets_action is None:
        print("presets (tf3dgan sample --preset NAME ...; tf3dgan presets show NAME prints its card):")
        print("\n".join(text_table([("NAME", "SIZE", "TRAINED", "WHAT IT IS"), *rows()])))
        return 0
    if args.presets_action == "show":
        from tf3dgan.preset_cards import read_card, resolve_preset

        print(read_card(resolve_preset(args.name))[1], end="")
        return 0
    from tf3dgan import presets  # save and build: TensorFlow (the command line started it)

    if args.presets_action == "save":
        out = presets.save_preset(args.run, args.out, args.checkpoint, args.dtype, args.summary)
        print(f"{out}: preset saved from {args.run} (weights {args.dtype}); use it with --preset {out}")
        return 0
    if args.presets_action == "build":
        if args.steps is not None and args.steps < 1:
            raise UsageError(f"--steps must be >= 1, got {args.steps}")
        out = build_preset(args.name, args.out, args.run_command, args.run_dir, args.data or presets.DEFAULT_DATA,
                           args.steps)
        print(presets.read_card(out)[1], end="")
        print(f"\n{out}: preset {args.name} built; ship it as tf3dgan/presets/{args.name}/")
        return 0
    raise AssertionError(args.presets_action)  # argparse allows no other action


# -- presets build ---------------------------------------------------------------------------------------------

def _rounded(value, digits: int = 4):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def _set_scores(result: dict) -> str:
    """The scores of a `tf3dgan evaluate` result, as the card prints them."""
    return (f"MMD {result['mmd']:.4f}, COV {result['cov']:.3f}, 1-NNA {result['nna']:.3f}, JSD {result['jsd']:.4f}, "
            f"{result['components']:.2f} components, occupancy {result['occupancy']:.4f}")


def _score_line(name: str, command: str, result: dict) -> str:
    """One Markdown bullet for a score: its main numbers and the command that reproduces it."""
    if "mmd" in result:
        what = (f"{_set_scores(result)} ({result['n_samples']} vs {result['n_reference']} shapes, "
                f"{result['distance']} distance at {result['cube_len']}^3)")
    elif "trained" in result:
        t = result["trained"]
        what = (f"linear-SVM accuracy on D's features {t['accuracy']:.4f} ± {t['accuracy_se']:.4f} "
                f"({t['n_test']} test shapes)")
        if "untrained" in result:
            what += f"; an untrained D: {result['untrained']['accuracy']:.4f}"
    elif "reconstruction" in result:
        what = "reconstruction IoU " + ", ".join(
            f"{v:.3f} from {k} view{'s' if k > 1 else ''}" for k, v in zip(result["views"], result["reconstruction"]))
        what += f" (best baseline margin {', '.join(f'{m:+.3f}' for m in result['margin_over_best_baseline'])})"
        if "refined" in result:
            what += (f"; after {result['refine_rounds']} rounds of render-and-compare search: "
                     + ", ".join(f"{v:.3f}" for v in result["refined"]))
    else:
        what = json.dumps(_rounded(result))[:300]
    return f"- **{name}**: {what}\n  `tf3dgan {command}`\n"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cli(run_command, command: str, out_json: Path | None = None) -> dict | None:
    """Run ``tf3dgan COMMAND`` in this process through ``run_command`` (the command line's entry point: the very
    command a card states); its ``--out`` JSON."""
    argv = shlex.split(command) + (["--out", str(out_json)] if out_json is not None else [])
    print(f"$ tf3dgan {' '.join(argv)}", flush=True)
    status = run_command(argv)
    if status != 0:
        from tf3dgan.presets import PresetError

        raise PresetError(f"`tf3dgan {command}` failed (exit status {status})")
    return json.loads(out_json.read_text()) if out_json is not None else None


def checked_scores(result, prefix: str = "") -> dict:
    """``{dotted key: value}`` of the scores in a score command's JSON that STORAGE_TOLERANCE names (a value may
    be a list: one per view count)."""
    from tf3dgan.presets import STORAGE_TOLERANCE

    found = {}
    for key, value in result.items():
        if isinstance(value, dict):
            found.update(checked_scores(value, f"{prefix}{key}."))
        elif key in STORAGE_TOLERANCE:
            found[prefix + key] = _rounded(value)
    return found


def storage_unchanged(a: dict, b: dict) -> bool:
    """Whether scores ``b`` (``checked_scores``) are ``a`` within STORAGE_TOLERANCE. Scores on a grid sit exactly
    at a tolerance (1-NNA of 100 + 100 shapes moves in steps of 0.005), so the comparison allows for the rounding
    of the subtraction: 0.585 - 0.58 is 0.0050000000000000044 in floating point."""
    from tf3dgan.presets import STORAGE_TOLERANCE

    return a.keys() == b.keys() and all(
        np.all(np.abs(np.subtract(a[k], b[k])) <= STORAGE_TOLERANCE[k.rsplit(".", 1)[-1]] + 1e-9) for k in a)


def _training_seconds(run_dir: Path, seconds: float, trained: bool) -> float:
    """The run's training time over every build call (kept in the run folder, so a card rebuilt from a finished
    run still states it)."""
    from tf3dgan.presets import BUILD_TIME_FILE

    path = run_dir / BUILD_TIME_FILE
    total = json.loads(path.read_text())["seconds"] if path.is_file() else 0.0
    if trained:
        total += seconds
        path.write_text(json.dumps({"seconds": round(total, 1)}) + "\n")
    return total


def _named(results: dict, out_dir: Path, name: str) -> dict:
    """``results`` with the build's folder named as the card's commands name it (``preset NAME``)."""
    return json.loads(json.dumps(results).replace(json.dumps(str(out_dir))[1:-1], name))


def build_preset(name: str, out_dir: str | Path, run_command, run_dir: str | Path | None = None,
                 data: str | None = None, steps: int | None = None) -> Path:
    """Train registry preset ``name`` (resuming ``run_dir``, default ``runs/preset_<name>``), score it with its
    registry commands, and write the preset folder with its card into ``out_dir``. ``run_command(argv)`` runs a
    ``tf3dgan`` command line and returns its exit status (``tf3dgan.cli.main``; the command line hands it over,
    since commands do not import the command line)."""
    from tf3dgan.presets import (DEFAULT_DATA, MODEL_PLACEHOLDER, STORAGES, ENCODER_FLOAT16, PresetError, card,
                                 check_out_dir, load_preset, registry, sample_occupancy, write_preset)
    import tempfile

    from tf3dgan import cpu
    from tf3dgan.training.checkpoint import load_run
    from tf3dgan.training.run_folder import latest_step

    recipes = registry()
    if name not in recipes:
        raise PresetError(f"unknown preset {name!r} (registered presets: {', '.join(recipes)})")
    data = data or DEFAULT_DATA
    recipe = recipes[name].with_data(data)
    steps = recipe.steps if steps is None else steps
    out_dir, run_dir = Path(out_dir), Path(run_dir or f"runs/preset_{name}")
    check_out_dir(out_dir, overwrite=False)
    start_step = latest_step(run_dir)
    sets = " ".join(f"--set {shlex.quote(o)}" for o in [*recipe.overrides, f"train.seed={recipe.seed}"])
    train_command = f"train --config {recipe.config} {sets} --steps {steps} --out {run_dir} --quiet"
    started = time.monotonic()
    _cli(run_command, train_command)
    config, gan, step = load_run(run_dir)
    seconds = _training_seconds(run_dir, time.monotonic() - started, trained=step > start_step)

    of_model = {k: v for k, v in recipe.scores.items() if MODEL_PLACEHOLDER in v}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def score(key: str, model: str) -> dict:
            return _cli(run_command, recipe.scores[key].replace(MODEL_PLACEHOLDER, model), tmp / f"{key}.json")

        float32 = {k: checked_scores(score(k, f"--run {run_dir}")) for k in of_model}
        for dtype in [s for s in STORAGES if s != ENCODER_FLOAT16 or gan.encoder is not None]:
            write_preset(gan, config, out_dir, "---\n---\n(being built)\n", dtype)
            results = {k: score(k, f"--preset {out_dir}") for k in recipe.scores}
            if all(storage_unchanged(float32[k], checked_scores(results[k])) for k in of_model):
                break  # the most compact storage that moves no score
    stored_gan = load_preset(out_dir)
    occupancy = sample_occupancy(stored_gan)

    shown = {k: v.replace(MODEL_PLACEHOLDER, f"--preset {name}").replace(data, DEFAULT_DATA)
             for k, v in recipe.scores.items()}
    trained = {"seconds": round(seconds), "steps": step, "cpu": _cpu_name(),
               "vector_isa": cpu.vector_isa(), "precision": config.train.mixed_precision}
    front = {"name": name, "summary": recipe.summary, "variant": config.model.variant,
             "cube_len": config.model.cube_len, "config": recipe.config, "set": recipe.overrides, "seed": recipe.seed,
             "steps": step, "data": recipe.data, "licence": recipe.licence, "trained": trained, "storage": dtype,
             "float32_scores": float32,
             "occupancy": occupancy, "scores": {k: {"command": f"tf3dgan {shown[k]}", "result": _rounded(v)}
                                                for k, v in _named(results, out_dir, name).items()}}
    storage_note = {
        "float16": "stored as float16: no score moves from the float32 weights' (`float32_scores` above) by more "
                   "than a tenth of seed noise",
        ENCODER_FLOAT16: "the encoder stored as float16, G and D as float32: float16 everywhere moved a score by "
                         "more than a tenth of seed noise, float16 in the encoder alone moves none",
        "float32": "stored as float32: float16 moved a score by more than a tenth of seed noise",
    }[dtype] + " (tf3dgan.presets.STORAGE_TOLERANCE)"
    body = "\n".join([
        f"# {name}", "", recipe.summary + ".", "",
        f"- **Data**: {recipe.data}", f"- **Licence of the data**: {recipe.licence}",
        f"- **Recipe**: config `{recipe.config}`" + (f" with {', '.join(f'`{o}`' for o in recipe.overrides)}"
                                                    if recipe.overrides else "")
        + f", seed {recipe.seed}, {step:,} steps ({config.model.variant}, {config.model.cube_len}^3, "
          f"base width {config.model.base_width})",
        f"- **Trained** in {seconds / 60:.1f} minutes on {trained['cpu']} ({trained['vector_isa']}; precision "
        f"{config.train.mixed_precision}), beside other jobs",
        f"- **Weights**: {storage_note}; a preset samples in float32",
        f"- **Occupancy** of {occupancy['n']} samples (seed 0, > 0.5): mean {occupancy['mean']}, "
        f"{occupancy['min']}-{occupancy['max']}",
        f"- **Rebuild**: `tf3dgan presets build {name} --out DIR` (the recipe: tf3dgan/presets/registry.yaml)",
        "", "## Scores", "",
        *[_score_line(k, shown[k], v) for k, v in results.items()],
    ])
    if data != DEFAULT_DATA:  # the card and config name the data folder as a user's checkout has it
        front = json.loads(json.dumps(front).replace(json.dumps(data)[1:-1], DEFAULT_DATA))
        body = body.replace(data, DEFAULT_DATA)
        config = dataclasses.replace(config, data=dataclasses.replace(
            config.data, source=str(config.data.source).replace(data, DEFAULT_DATA)))
    write_preset(gan, config, out_dir, card(front, body), dtype)
    return out_dir
