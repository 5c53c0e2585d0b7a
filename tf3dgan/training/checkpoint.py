"""Atomic training checkpoints: every variable that determines the next step, in one ``.npz``.

A checkpoint holds the GAN's weights (G, D, encoder, BatchNorm statistics, the step counter), both
optimizers' state and the latent sampler's RNG state. Together with the data pipeline, whose batches are a
function of the step, that makes a resumed run continue exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from data_io.atomic import atomic_write_bytes
from tf3dgan.errors import RunFolderError, RunFolderWarning
from tf3dgan.training.run_folder import (
    UNREADABLE_SUFFIX, checkpoint_path, latest_checkpoint, list_checkpoints, load_run_config,
)

class UnreadableCheckpoint(RunFolderError):
    """A checkpoint file cannot be read (missing, truncated, corrupt); older ones may still be good."""


class TrainingDiverged(RunFolderError):
    """The losses or the weights became NaN or infinite: training stopped without saving that state."""

    def __init__(self, run_dir, step: int, what: str):
        last = latest_checkpoint(run_dir) if run_dir is not None else None
        super().__init__(
            f"{run_dir}: training diverged at step {step} ({what} not finite); stopped without saving it; the last "
            f"finite checkpoint is {last or 'none'}; lower train.g_lr / train.d_lr in a new run (train --restart "
            "or another --out)")
        self.step = step


KEYS = "keys"  # the array of variable keys in a checkpoint; v0000, v0001, ... hold the values in that order
CONFIG_KEY = "config"  # the run's config as JSON text (a resume without config.yaml still names a change)


def state_variables(gan) -> dict:
    """The variables saved in a checkpoint, by a key that names their owner and is the same in every process.

    Keys are ``<owner>/<path>``: the networks' variables under ``generator/``, ``generator_ema/`` (G's weight
    average, when ``train.ema_decay`` is on), ``discriminator/``,
    ``encoder/``, the optimizers' under ``g_optimizer/``, ``d_optimizer/`` and ``e_optimizer/`` (an encoder's
    own; without the optimizer's own name, which Keras numbers per process), then ``step`` and ``latent_seed``.
    """
    found: dict = {}

    def add(owner: str, variables, drop_first: bool = False) -> None:
        for v in variables:
            path = v.path.split("/", 1)[-1] if drop_first else v.path
            key = f"{owner}/{path}"
            n = 1
            while key in found:  # identical paths within one owner: numbered in their (fixed) order
                n += 1
                key = f"{owner}/{path}#{n}"
            found[key] = v

    add("generator", gan.generator.weights)
    if gan.generator_ema is not None:
        add("generator_ema", gan.generator_ema.weights)
    add("discriminator", gan.discriminator.weights)
    if gan.encoder is not None:
        add("encoder", gan.encoder.weights)
    add("g_optimizer", gan.g_optimizer.variables, drop_first=True)
    add("d_optimizer", gan.d_optimizer.variables, drop_first=True)
    if getattr(gan, "e_optimizer", None) is not None:  # an encoder with its own optimizer (vae_gan)
        add("e_optimizer", gan.e_optimizer.variables, drop_first=True)
    found["step"] = gan.step_counter
    found["latent_seed"] = gan.seed_generator.state
    return found


KEEP_CHECKPOINTS = 3  # the newest checkpoints a run folder keeps


def save_checkpoint(gan, run_dir: str | Path, keep: int = KEEP_CHECKPOINTS, config=None) -> Path:
    """Write ``run_dir/checkpoints/ckpt-<step>.npz`` (with ``config``, the run's Config, when given) atomically;
    keep the newest ``keep``. A state with a NaN or infinite value is never saved: TrainingDiverged."""
    variables = state_variables(gan)
    arrays = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(variables.values())}
    step = int(gan.step_counter.numpy())
    for key, value in zip(variables, arrays.values()):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise TrainingDiverged(run_dir, step, key)
    arrays[KEYS] = np.array(list(variables))
    if config is not None:
        arrays[CONFIG_KEY] = np.array(json.dumps(config.to_dict()))
    path = checkpoint_path(run_dir, step)
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def checkpoint_config(path: str | Path) -> dict | None:
    """The config stored in checkpoint ``path``; None for one without (older, or imported) or unreadable."""
    try:
        with np.load(path) as data:
            return json.loads(data[CONFIG_KEY].item()) if CONFIG_KEY in data.files else None
    except Exception:  # an unreadable checkpoint is reported where it is restored
        return None


def _legacy_keys(gan, variables: dict, count: int) -> list:
    """The keys of a checkpoint written by tf3dgan 0.1.0, which stored the variables in this order."""
    order = [*gan.weights, *gan.g_optimizer.variables, *gan.d_optimizer.variables, gan.seed_generator.state]
    if count != len(order):
        return [f"(variable {i} of a 0.1.0 checkpoint)" for i in range(count)]
    key_of = {id(v): k for k, v in variables.items()}
    return [key_of[id(v)] for v in order]


def _read(path: Path, gan, variables: dict) -> dict:
    """``{key: array}`` stored in ``path``."""
    try:
        with np.load(path) as data:
            if KEYS in data.files:
                keys = [str(k) for k in data[KEYS]]
            else:
                keys = _legacy_keys(gan, variables, len(data["paths"]))
            return {key: data[f"v{i:04d}"] for i, key in enumerate(keys)}
    except FileNotFoundError:
        raise UnreadableCheckpoint(f"{path}: checkpoint not found") from None
    except Exception as err:  # numpy and zipfile raise many types for a truncated or corrupt file
        raise UnreadableCheckpoint(f"{path}: not a readable tf3dgan checkpoint ({type(err).__name__}: {err})") from None


def _listed(keys) -> str:
    keys = list(keys)
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def restore_checkpoint(gan, path: str | Path, owners: tuple | None = None) -> int:
    """Load ``path`` into ``gan`` (compiled, same architecture), each variable by its key; return the step.

    ``owners``: restore only the variables whose key starts with one of these owners (``state_variables``), e.g. a
    preset's networks without optimizer state; stored values are cast to the variable's dtype (a preset's float16).
    A checkpoint that lacks some of those variables, holds others, or a value of another shape is refused with a
    RunFolderError that names them (before any variable is changed).
    """
    path = Path(path)
    variables = state_variables(gan)
    saved = _read(path, gan, variables)
    if owners is not None:
        variables = {k: v for k, v in variables.items() if k.split("/", 1)[0] in owners}
    problems = []
    missing = [k for k in variables if k not in saved]
    extra = [k for k in saved if k not in variables]
    if missing:
        problems.append(f"missing {_listed(missing)}")
    if extra:
        problems.append(f"not in the model: {_listed(extra)}")
    shapes = [f"{k} {saved[k].shape} vs {tuple(v.shape)}" for k, v in variables.items()
              if k in saved and tuple(saved[k].shape) != tuple(v.shape)]
    if shapes:
        problems.append(f"other shapes (checkpoint vs model): {_listed(shapes)}")
    if problems:
        raise RunFolderError(
            f"{path} does not fit the model; was it written with a different config? " + "; ".join(problems)
        )
    for key, variable in variables.items():
        variable.assign(saved[key].astype(variable.dtype, copy=False))
    return int(gan.step_counter.numpy())


def restore_newest(gan, run_dir: str | Path, on_unreadable=None) -> tuple[Path | None, int]:
    """Restore the newest checkpoint of ``run_dir`` that can be read; return ``(path, step)``, ``(None, 0)``
    when there is none.

    A newer checkpoint that cannot be read (truncated, corrupt) is skipped with a RunFolderWarning naming it
    and the one used instead, then passed to ``on_unreadable`` (``train`` renames it aside); it is never
    deleted. When checkpoints exist but none can be read, RunFolderError. A checkpoint that reads but does
    not fit the model (another config) is an error, not skipped.
    """
    found = list_checkpoints(run_dir)
    bad = []
    for path in reversed(found):
        try:
            step = restore_checkpoint(gan, path)
        except UnreadableCheckpoint as err:
            bad.append(path)
            if on_unreadable is not None:
                on_unreadable(path)
            last_error = err
            continue
        for skipped in bad:
            warnings.warn(RunFolderWarning(f"{skipped} cannot be read; using the older {path.name} (step {step})"
                                           + (f"; {skipped.name} is kept as {skipped.name}{UNREADABLE_SUFFIX}"
                                              if on_unreadable is not None else "")), stacklevel=2)
        return path, step
    if found:
        raise RunFolderError(f"{run_dir}: none of the {len(found)} checkpoints can be read ({last_error})"
                             + ("; they are kept as *.unreadable; to start the run over run train with --restart"
                                if on_unreadable is not None else ""))
    return None, 0


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None):
    """Return ``(config, gan, step)`` for the run in ``run_dir`` (compiled GAN, weights restored from the newest
    checkpoint that can be read, or from ``checkpoint``)."""
    from tf3dgan.training.builder import build_gan

    config = load_run_config(run_dir)
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise RunFolderError(f"--checkpoint {checkpoint}: no such file"
                             + (f" (the run has: {', '.join(p.name for p in list_checkpoints(run_dir))})"
                                if list_checkpoints(run_dir) else ""))
    if checkpoint is None and latest_checkpoint(run_dir) is None:
        raise RunFolderError(f"{run_dir}: no checkpoint under checkpoints/; train first (tf3dgan train ...)")
    gan = build_gan(config)
    if checkpoint is not None:
        step = restore_checkpoint(gan, checkpoint)
    else:
        _, step = restore_newest(gan, run_dir)
    return config, gan, step
