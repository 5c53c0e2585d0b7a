"""Presets: trained GANs shipped inside the package, loaded by name (``tf3dgan.load_preset("furniture_32")``).

A preset is a folder of three files; a folder that holds them works wherever a name does::

    config.yaml   the run's config (train.mixed_precision none: it samples in float32 on every machine)
    weights.npz   the networks' weights in the checkpoint layout (tf3dgan.training.checkpoint), no optimizer
                  state, floats stored as float16 when that leaves the card's scores unchanged
    card.md       the model card: a YAML front matter (summary, scores, occupancy range, ...) and its text

The shipped presets sit beside this file (``tf3dgan/presets/NAME/``). ``registry.yaml`` is the one place each
preset's recipe is stated (config, overrides, seed, steps, data and licence, the commands that score it);
``tf3dgan presets build NAME --out DIR`` follows it (``build_preset``), and a registry entry without a folder is
listed as not built yet.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import shlex
import time
from pathlib import Path

import numpy as np

from tf3dgan.errors import UserError

PRESETS_DIR = Path(__file__).resolve().parent
REGISTRY_FILE = PRESETS_DIR / "registry.yaml"
CONFIG_FILE = "config.yaml"  # the same name as a run folder's, so tf3dgan.training.run_folder reads it
WEIGHTS_FILE = "weights.npz"
CARD_FILE = "card.md"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)
STORAGE_DTYPES = ("float16", "float32")
MODEL_PLACEHOLDER = "{model}"  # in a registry score command: --run RUN or --preset DIR/NAME
DATA_PLACEHOLDER = "{data}"  # in a registry entry: the shared data folder (presets build --data)
DEFAULT_DATA = "../shared/data"
# How far float16 storage may move each score of a preset (by its key in a score command's JSON, at any depth)
# and still count as unchanged: a tenth of the seed noise (a rebuild's MMD is expected within 0.01 of the card,
# COV within 0.05), components within 0.1; SVM accuracy and reconstruction IoU within 0.005.
STORAGE_TOLERANCE = {"mmd": 0.001, "cov": 0.005, "nna": 0.005, "jsd": 0.001, "components": 0.1, "occupancy": 0.0005,
                     "accuracy": 0.005, "reconstruction": 0.005, "refined": 0.005}
BUILD_TIME_FILE = "preset_build.json"  # in the run folder: the training seconds of every build call, summed


class PresetError(UserError):
    """A preset name or folder is unknown, not built, or incomplete."""


# -- the registry ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Recipe:
    """One registry entry: how preset ``name`` is trained and scored."""
    name: str
    summary: str
    config: str  # a shipped config's name or a path
    seed: int
    steps: int
    data: str
    licence: str
    scores: dict  # score name -> command (without the leading `tf3dgan`; {model}: the preset), in card order
    overrides: list = dataclasses.field(default_factory=list)

    def with_data(self, data: str) -> "Recipe":
        """The recipe with ``{data}`` replaced by ``data`` in its overrides and score commands."""
        fill = lambda text: text.replace(DATA_PLACEHOLDER, data)  # noqa: E731
        return dataclasses.replace(self, overrides=[fill(o) for o in self.overrides],
                                   scores={k: fill(v) for k, v in self.scores.items()})


RECIPE_KEYS = {f.name for f in dataclasses.fields(Recipe)} - {"name", "overrides"} | {"set"}


def registry() -> dict[str, Recipe]:
    """The recipes of ``registry.yaml`` by preset name, in file order."""
    from tf3dgan.config import read_yaml

    recipes = {}
    for name, entry in (read_yaml(REGISTRY_FILE) or {}).items():
        where = f"{REGISTRY_FILE}: {name}"
        if not isinstance(entry, dict) or RECIPE_KEYS - {"set"} - set(entry) or set(entry) - RECIPE_KEYS:
            raise PresetError(f"{where}: expected the keys {', '.join(sorted(RECIPE_KEYS))} (set optional)")
        fields = {k: v for k, v in entry.items() if k != "set"}
        recipes[name] = Recipe(name=name, overrides=list(entry.get("set") or []), **fields)
    return recipes


def shipped_folder(name: str) -> Path:
    return PRESETS_DIR / name


def is_preset_folder(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in PRESET_FILES)


def built_names() -> list[str]:
    """The registry's presets whose folder ships in this installation."""
    return [name for name in registry() if is_preset_folder(shipped_folder(name))]


def _known() -> str:
    names = list(registry())
    built = set(built_names())
    waiting = [n for n in names if n not in built]
    return (", ".join(n for n in names if n in built) or "none") + (
        f" (not built yet: {', '.join(waiting)})" if waiting else "")


def resolve_preset(name_or_dir: str | Path) -> Path:
    """The folder ``name_or_dir`` means: a folder holding a preset's files, else the shipped preset of that name.
    PresetError (one line) for an unknown name, a registered preset that is not built, or an incomplete folder."""
    path = Path(name_or_dir)
    if is_preset_folder(path):
        return path
    text = str(name_or_dir)
    if re.fullmatch(r"[A-Za-z0-9_.-]+", text) and text in registry():
        if is_preset_folder(shipped_folder(text)):
            return shipped_folder(text)
        raise PresetError(f"preset {text!r} is registered but not built yet (tf3dgan presets build {text} "
                          f"--out DIR builds it); built presets: {_known()}")
    if path.is_dir():
        missing = [f for f in PRESET_FILES if not (path / f).is_file()]
        raise PresetError(f"{path}: not a preset folder (missing {', '.join(missing)}; `tf3dgan presets save` "
                          f"writes one)")
    raise PresetError(f"unknown preset {text!r} (not a folder; shipped presets: {_known()})")


def read_card(folder: Path) -> tuple[dict, str]:
    """``(front matter, whole text)`` of a preset folder's card."""
    import yaml

    path = Path(folder) / CARD_FILE
    text = path.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    try:
        front = yaml.safe_load(match.group(1)) if match else {}
    except yaml.YAMLError as err:
        raise PresetError(f"{path}: its front matter is not valid YAML ({err})".splitlines()[0]) from None
    return (front if isinstance(front, dict) else {}), text


# -- loading and saving ---------------------------------------------------------------------------------------

def preset_owners(gan) -> tuple[str, ...]:
    """The checkpoint owners a preset stores: the networks that sample and score (G's weight average instead of G
    when there is one: it is the G that samples), D, the encoder, and the step."""
    generator = "generator_ema" if gan.generator_ema is not None else "generator"
    return (generator, "discriminator", *(("encoder",) if gan.encoder is not None else ()), "step")


def open_preset(name_or_dir: str | Path):
    """``(config, gan, step)`` of a preset, as ``tf3dgan.load_run`` gives them for a run folder."""
    from tf3dgan.training.builder import build_gan
    from tf3dgan.training.checkpoint import restore_checkpoint
    from tf3dgan.training.run_folder import load_run_config

    folder = resolve_preset(name_or_dir)
    config = load_run_config(folder)
    gan = build_gan(config)
    step = restore_checkpoint(gan, folder / WEIGHTS_FILE, owners=preset_owners(gan))
    if gan.generator_ema is not None:  # G starts from its weight average, as a run's sampling G would
        gan.generator.set_weights(gan.generator_ema.get_weights())
    return config, gan, step


def load_preset(name_or_dir: str | Path):
    """A ready GAN (compiled, weights restored) from a shipped preset's name or a preset folder."""
    return open_preset(name_or_dir)[1]


def _preset_config(config):
    """The config a preset ships: float32 sampling on every machine, one device."""
    return dataclasses.replace(config, train=dataclasses.replace(config.train, mixed_precision="none",
                                                                 distribute="none"))


def write_weights(gan, path: Path, dtype: str = "float16") -> None:
    """The preset's variables of ``gan`` in the checkpoint layout, floats stored as ``dtype``."""
    from data_io.atomic import atomic_write_bytes
    from tf3dgan.training.checkpoint import KEYS, state_variables

    if dtype not in STORAGE_DTYPES:
        raise PresetError(f"weights dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    owners = preset_owners(gan)
    variables = {k: v for k, v in state_variables(gan).items() if k.split("/", 1)[0] in owners}
    arrays = {}
    for i, v in enumerate(variables.values()):
        value = np.asarray(v.numpy())
        arrays[f"v{i:04d}"] = value.astype(dtype) if value.dtype.kind == "f" else value
    arrays[KEYS] = np.array(list(variables))
    atomic_write_bytes(path, lambda f: np.savez_compressed(f, **arrays))


def write_preset(gan, config, out_dir: str | Path, card_text: str, dtype: str = "float16") -> Path:
    """Write a preset folder (config.yaml, weights.npz, card.md) for ``gan`` trained with ``config``."""
    from tf3dgan.config import save_config

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(_preset_config(config), out_dir / CONFIG_FILE)
    write_weights(gan, out_dir / WEIGHTS_FILE, dtype)
    (out_dir / CARD_FILE).write_text(card_text, encoding="utf-8")
    return out_dir


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise PresetError(f"--out {out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (overwrite or is_preset_folder(out_dir)):
        raise PresetError(f"--out {out_dir}: a folder that holds other files; give an empty or new folder")


def save_preset(run_dir: str | Path, out_dir: str | Path, checkpoint=None, dtype: str = "float16",
                summary: str | None = None) -> Path:
    """A preset folder from a run folder's newest checkpoint (or ``checkpoint``), with a short card naming its
    source; ``tf3dgan presets build`` writes the full card of a registry preset."""
    from tf3dgan.training.checkpoint import load_run

    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite=False)
    config, gan, step = load_run(run_dir, checkpoint)
    occupancy = sample_occupancy(gan)
    front = {"name": out_dir.name, "summary": summary or f"{config.model.variant} at {config.model.cube_len}^3 from "
             f"the run {Path(run_dir).name}, step {step}", "variant": config.model.variant,
             "cube_len": config.model.cube_len, "steps": step, "storage": dtype, "occupancy": occupancy}
    body = (f"Saved from the run folder `{run_dir}` at step {step} by `tf3dgan presets save` (weights stored as "
            f"{dtype}). Data: `{config.data.source}`.\n")
    return write_preset(gan, config, out_dir, card(front, body), dtype)


# -- the card -------------------------------------------------------------------------------------------------

OCCUPANCY_SAMPLES = 100  # shapes drawn (seed 0) for a card's occupancy range


def sample_occupancy(gan, n: int = OCCUPANCY_SAMPLES, seed: int = 0) -> dict:
    """Mean, min and max fraction of occupied voxels (> 0.5) of ``n`` samples at ``seed``."""
    from tf3dgan.evaluation.ablation import sample_shapes

    _, voxels = sample_shapes(gan, n, seed)
    per_shape = voxels.reshape(len(voxels), -1).mean(axis=1)
    return {"n": n, "seed": seed, "mean": round(float(per_shape.mean()), 4),
            "min": round(float(per_shape.min()), 4), "max": round(float(per_shape.max()), 4)}


def card(front: dict, body: str) -> str:
    """A card's text: the YAML front matter, then the Markdown body."""
    import yaml

    return "---\n" + yaml.safe_dump(front, sort_keys=False, width=110, allow_unicode=True) + "---\n" + body


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


# -- building a registry preset -------------------------------------------------------------------------------

def _cli(command: str, out_json: Path | None = None) -> dict | None:
    """Run ``tf3dgan COMMAND`` in this process (the very command a card states); its ``--out`` JSON."""
    from tf3dgan.cli import main

    argv = shlex.split(command) + (["--out", str(out_json)] if out_json is not None else [])
    print(f"$ tf3dgan {' '.join(argv)}", flush=True)
    status = main(argv)
    if status != 0:
        raise PresetError(f"`tf3dgan {command}` failed (exit status {status})")
    return json.loads(out_json.read_text()) if out_json is not None else None


def checked_scores(result, prefix: str = "") -> dict:
    """``{dotted key: value}`` of the scores in a score command's JSON that STORAGE_TOLERANCE names (a value may
    be a list: one per view count)."""
    found = {}
    for key, value in result.items():
        if isinstance(value, dict):
            found.update(checked_scores(value, f"{prefix}{key}."))
        elif key in STORAGE_TOLERANCE:
            found[prefix + key] = _rounded(value)
    return found


def _storage_unchanged(a: dict, b: dict) -> bool:
    """Whether scores ``b`` (``checked_scores``) are ``a`` within STORAGE_TOLERANCE."""
    return a.keys() == b.keys() and all(
        np.all(np.abs(np.subtract(a[k], b[k])) <= STORAGE_TOLERANCE[k.rsplit(".", 1)[-1]]) for k in a)


def _training_seconds(run_dir: Path, seconds: float, trained: bool) -> float:
    """The run's training time over every build call (kept in the run folder, so a card rebuilt from a finished
    run still states it)."""
    path = run_dir / BUILD_TIME_FILE
    total = json.loads(path.read_text())["seconds"] if path.is_file() else 0.0
    if trained:
        total += seconds
        path.write_text(json.dumps({"seconds": round(total, 1)}) + "\n")
    return total


def _named(results: dict, out_dir: Path, name: str) -> dict:
    """``results`` with the build's folder named as the card's commands name it (``preset NAME``)."""
    return json.loads(json.dumps(results).replace(json.dumps(str(out_dir))[1:-1], name))


def build_preset(name: str, out_dir: str | Path, run_dir: str | Path | None = None, data: str = DEFAULT_DATA,
                 steps: int | None = None) -> Path:
    """Train registry preset ``name`` (resuming ``run_dir``, default ``runs/preset_<name>``), score it with its
    registry commands, and write the preset folder with its card into ``out_dir``."""
    import tempfile

    from tf3dgan import cpu
    from tf3dgan.training.checkpoint import load_run
    from tf3dgan.training.run_folder import latest_step

    recipes = registry()
    if name not in recipes:
        raise PresetError(f"unknown preset {name!r} (registered presets: {', '.join(recipes)})")
    recipe = recipes[name].with_data(data)
    steps = recipe.steps if steps is None else steps
    out_dir, run_dir = Path(out_dir), Path(run_dir or f"runs/preset_{name}")
    _check_out_dir(out_dir, overwrite=False)
    start_step = latest_step(run_dir)
    sets = " ".join(f"--set {shlex.quote(o)}" for o in [*recipe.overrides, f"train.seed={recipe.seed}"])
    train_command = f"train --config {recipe.config} {sets} --steps {steps} --out {run_dir} --quiet"
    started = time.monotonic()
    _cli(train_command)
    config, gan, step = load_run(run_dir)
    seconds = _training_seconds(run_dir, time.monotonic() - started, trained=step > start_step)

    of_model = {k: v for k, v in recipe.scores.items() if MODEL_PLACEHOLDER in v}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def score(key: str, model: str) -> dict:
            return _cli(recipe.scores[key].replace(MODEL_PLACEHOLDER, model), tmp / f"{key}.json")

        float32 = {k: checked_scores(score(k, f"--run {run_dir}")) for k in of_model}
        for dtype in STORAGE_DTYPES:  # float16 unless it moves a score
            write_preset(gan, config, out_dir, "---\n---\n(being built)\n", dtype)
            results = {k: score(k, f"--preset {out_dir}") for k in recipe.scores}
            if all(_storage_unchanged(float32[k], checked_scores(results[k])) for k in of_model):
                break
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
    storage_note = (f"stored as {dtype}: " + ("no score moves from the float32 weights' (`float32_scores` above) by "
                    "more than a tenth of seed noise" if dtype == "float16" else "float16 moved a score by more than "
                    "a tenth of seed noise") + " (tf3dgan.presets.STORAGE_TOLERANCE)")
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
    write_preset(gan, config, out_dir, card(front, body), dtype)
    return out_dir
