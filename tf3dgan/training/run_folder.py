"""The layout of a run folder: its file names, and the functions that build and parse their paths.

```
RUN/config.yaml                 the resolved config                       CONFIG_FILE
RUN/metrics.jsonl               one line of metric means per log step     METRICS_FILE
RUN/checkpoints/ckpt-<step>.npz every variable of the next step           checkpoint_path, checkpoint_step
RUN/samples/step_<step>.npz     the fixed-latent sample snapshots (.html) sample_path, sample_step
RUN/fixed_z.npy                 the latent vectors of those snapshots     FIXED_Z_FILE
RUN/loss_curves.html            the offline training curves              LOSS_PAGE
```
Steps are written with eight digits, so names sort in step order.
"""

from __future__ import annotations

import re
from pathlib import Path

from tf3dgan.config import Config, from_dict, read_yaml
from tf3dgan.errors import RunFolderError

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
SAMPLES_DIR = "samples"
FIXED_Z_FILE = "fixed_z.npy"
LOSS_PAGE = "loss_curves.html"

_CHECKPOINT = re.compile(r"^ckpt-(\d+)\.npz$")
_SAMPLE = re.compile(r"^step_(\d+)\.\w+$")


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"ckpt-{step:08d}.npz"


def checkpoint_step(path: str | Path) -> int:
    """The step in a checkpoint's file name; ValueError for other names."""
    match = _CHECKPOINT.match(Path(path).name)
    if not match:
        raise ValueError(f"{path}: not a checkpoint name (ckpt-<step>.npz)")
    return int(match.group(1))


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _CHECKPOINT.match(p.name)), key=checkpoint_step)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def latest_step(run_dir: str | Path) -> int:
    """The step of the newest checkpoint (0 when there is none)."""
    path = latest_checkpoint(run_dir)
    return checkpoint_step(path) if path is not None else 0


def sample_path(run_dir: str | Path, step: int, suffix: str = ".npz") -> Path:
    """``samples/step_<step>.npz`` (the snapshot) or, with ``suffix=".html"``, its page."""
    return Path(run_dir) / SAMPLES_DIR / f"step_{step:08d}{suffix}"


def sample_step(path: str | Path) -> int:
    """The step in a sample snapshot's file name; ValueError for other names."""
    match = _SAMPLE.match(Path(path).name)
    if not match:
        raise ValueError(f"{path}: not a sample snapshot name (step_<step>.npz)")
    return int(match.group(1))


def list_samples(run_dir: str | Path) -> list[Path]:
    """The sample snapshots (``.npz``) of a run, oldest first."""
    return sorted((Path(run_dir) / SAMPLES_DIR).glob("step_*.npz"), key=sample_step)


def load_run_config(run_dir: str | Path) -> Config:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: run folder not found")
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise RunFolderError(f"{run_dir}: no {CONFIG_FILE}; is this a folder written by `tf3dgan train`?")
    return from_dict(read_yaml(path), str(path))
