"""Open a trained run folder: its config and its GAN restored from the newest (or a given) checkpoint."""

from __future__ import annotations

from pathlib import Path

from tf3dgan.training.builder import build_gan
from tf3dgan.training.checkpoint import latest_checkpoint, restore_checkpoint
from tf3dgan.config import Config, from_dict, read_yaml
from tf3dgan.errors import RunFolderError

CONFIG_FILE = "config.yaml"


def load_run_config(run_dir: str | Path) -> Config:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: run folder not found")
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise RunFolderError(f"{run_dir}: no {CONFIG_FILE}; is this a folder written by `tf3dgan train`?")
    return from_dict(read_yaml(path), str(path))


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None):
    """Return ``(config, gan, step)`` for the run in ``run_dir`` (compiled GAN, weights restored)."""
    config = load_run_config(run_dir)
    checkpoint = checkpoint or latest_checkpoint(run_dir)
    if checkpoint is None:
        raise RunFolderError(f"{run_dir}: no checkpoint under checkpoints/; train first (tf3dgan train ...)")
    gan = build_gan(config)
    step = restore_checkpoint(gan, checkpoint)
    return config, gan, step
