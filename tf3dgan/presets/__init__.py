"""Presets: trained GANs shipped inside the package, loaded by name (``tf3dgan.load_preset("furniture_32")``).

A preset is a folder of three files; a folder that holds them works wherever a name does::

    config.yaml   the run's config (train.mixed_precision none: it samples in float32 on every machine)
    weights.npz   the networks' weights in the checkpoint layout (tf3dgan.training.checkpoint), no optimizer
                  state, floats stored as float16 when that leaves the card's scores unchanged
    card.md       the model card: a YAML front matter (summary, scores, occupancy range, ...) and its text

The shipped presets sit beside this file (``tf3dgan/presets/NAME/``). ``registry.yaml`` is the one place each
preset's recipe is stated (config, overrides, seed, steps, data and licence, the commands that score it);
``tf3dgan presets build NAME --out DIR`` follows it (``tf3dgan.commands.presets``), and a registry entry
without a folder is listed as not built yet. The registry and the cards are read by ``tf3dgan.preset_cards``,
without TensorFlow; this module re-exports its names and adds loading and saving.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tf3dgan.preset_cards import (  # noqa: F401  (the registry and cards, read without TensorFlow: re-exported)
    CARD_FILE, CONFIG_FILE, DATA_PLACEHOLDER, DEFAULT_DATA, MODEL_PLACEHOLDER, PRESET_FILES, PRESETS_DIR,
    RECIPE_KEYS, REGISTRY_FILE, WEIGHTS_FILE, PresetError, Recipe, built_names, card, is_preset_folder, read_card,
    registry, resolve_preset, shipped_folder,
)
from tf3dgan.training.gan import GAN

STORAGE_DTYPES = ("float16", "float32")  # `tf3dgan presets save --dtype`: every float stored as one of these
# What `presets build` tries, most compact first: every float as float16; the encoder's alone as float16 (the largest
# network of an image variant, read by no sample score; G and D stay float32); every float as float32.
ENCODER_FLOAT16 = "encoder float16"
STORAGES = ("float16", ENCODER_FLOAT16, "float32")
# How far float16 storage may move each score of a preset (by its key in a score command's JSON, at any depth)
# and still count as unchanged: a tenth of the seed noise (a rebuild's MMD is expected within 0.01 of the card,
# COV within 0.05), components within 0.1; SVM accuracy and reconstruction IoU within 0.005.
STORAGE_TOLERANCE = {"mmd": 0.001, "cov": 0.005, "nna": 0.005, "jsd": 0.001, "components": 0.1, "occupancy": 0.0005,
                     "accuracy": 0.005, "reconstruction": 0.005, "refined": 0.005}
BUILD_TIME_FILE = "preset_build.json"  # in the run folder: the training seconds of every build call, summed


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
    """The preset's variables of ``gan`` in the checkpoint layout, floats stored as ``dtype`` (one of STORAGES)."""
    from data_io.atomic import atomic_write_bytes
    from tf3dgan.training.checkpoint import KEYS, state_variables

    if dtype not in STORAGES:
        raise PresetError(f"weights storage must be one of {', '.join(STORAGES)}, got {dtype!r}")
    owners = preset_owners(gan)
    variables = {k: v for k, v in state_variables(gan).items() if k.split("/", 1)[0] in owners}
    arrays = {}
    for i, (key, v) in enumerate(variables.items()):
        value = np.asarray(v.numpy())
        stored = dtype if dtype != ENCODER_FLOAT16 else "float16" if key.startswith("encoder/") else "float32"
        arrays[f"v{i:04d}"] = value.astype(stored) if value.dtype.kind == "f" else value
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


def _from_preset(cls, preset: str):
    """A trained GAN shipped with tf3dgan, by name (``tf3dgan presets`` lists them), or a preset folder: the
    keras-hub spelling of ``tf3dgan.load_preset``."""
    return load_preset(preset)


# ``GAN.from_preset`` as keras-hub spells it, set here: the presets sit above the training layer that defines GAN
# (``tf3dgan.GAN`` is this module's, so the method is there whenever the public name is used).
GAN.from_preset = classmethod(_from_preset)
