"""Atomic training checkpoints: every variable that determines the next step, in one ``.npz``.

A checkpoint holds the GAN's weights (G, D, encoder, BatchNorm statistics, the step counter), both
optimizers' state and the latent sampler's RNG state. Together with the data pipeline, whose batches are a
function of the step, that makes a resumed run continue exactly as an uninterrupted one.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from data_io.atomic import atomic_write_bytes

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^ckpt-(\d+)\.npz$")


def state_variables(gan) -> list:
    """The variables saved in a checkpoint, in a fixed order."""
    return (
        list(gan.weights)
        + list(gan.g_optimizer.variables)
        + list(gan.d_optimizer.variables)
        + [gan.seed_generator.state]
    )


def save_checkpoint(gan, run_dir: str | Path, keep: int = 3) -> Path:
    """Write ``run_dir/checkpoints/ckpt-<step>.npz`` atomically; keep the newest ``keep``."""
    variables = state_variables(gan)
    arrays = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    arrays["paths"] = np.array([v.path for v in variables])
    step = int(gan.step_counter.numpy())
    path = Path(run_dir) / CHECKPOINT_DIR / f"ckpt-{step:08d}.npz"
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def restore_checkpoint(gan, path: str | Path) -> int:
    """Load ``path`` into ``gan`` (compiled, same architecture); return the restored step."""
    path = Path(path)
    variables = state_variables(gan)
    try:
        with np.load(path) as data:
            paths = list(data["paths"])
            if len(paths) != len(variables):
                raise ValueError(
                    f"{path}: checkpoint holds {len(paths)} variables, the model has {len(variables)}; "
                    "was it written with a different config?"
                )
            arrays = [data[f"v{i:04d}"] for i in range(len(variables))]
    except (OSError, KeyError, EOFError, ValueError, zipfile.BadZipFile) as err:
        if isinstance(err, ValueError) and str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable tf3dgan checkpoint ({err})") from None
    for variable, saved_path, value in zip(variables, paths, arrays):
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"{path}: variable {saved_path} has shape {value.shape}, the model's {variable.path} "
                f"has {tuple(variable.shape)}; was it written with a different config?"
            )
    for variable, value in zip(variables, arrays):
        variable.assign(value)
    return int(gan.step_counter.numpy())
