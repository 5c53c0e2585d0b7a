"""Presets: trained GANs shipped inside the package, loaded by name (``tf3dgan.load_preset("furniture_32")``).

A preset is a folder of three files; a folder that holds them works wherever a name does::

    config.yaml   the run's config (train.mixed_precision none: it samples in float32 on every machine)
    weights.npz   the networks' weights in the checkpoint layout (tf3dgan.training.checkpoint), no optimizer
                  state, floats stored as float16 when that leaves the card's scores unchanged
    card.md       the model card: a YAML front matter (summary, scores, occupancy range, ...) and its text

The shipped presets sit beside this file (``tf3dgan/presets/NAME/``). ``registry.yaml`` is the one place each
preset's recipe is stated (config, overrides, seed, steps, data and licence, the commands that score it);
``tf3dgan presets build NAME --out DIR`` follows it (``tf3dgan.commands.presets``), and a registry entry
without a folder is listed as not built yet.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from tf3dgan.errors import UserError
from tf3dgan.training.gan import GAN

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


def check_out_dir(out_dir: Path, overwrite: bool) -> None:
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
    check_out_dir(out_dir, overwrite=False)
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


def _from_preset(cls, preset: str):
    """A trained GAN shipped with tf3dgan, by name (``tf3dgan presets`` lists them), or a preset folder: the
    keras-hub spelling of ``tf3dgan.load_preset``."""
    return load_preset(preset)


# ``GAN.from_preset`` as keras-hub spells it, set here: the presets sit above the training layer that defines GAN
# (``tf3dgan.GAN`` is this module's, so the method is there whenever the public name is used).
GAN.from_preset = classmethod(_from_preset)
