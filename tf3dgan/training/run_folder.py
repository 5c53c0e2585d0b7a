"""The layout of a run folder: its file names, and the functions that build and parse their paths.

```
RUN/config.yaml                 the resolved config                       CONFIG_FILE
RUN/metrics.jsonl               one line of metric means per log step     METRICS_FILE
RUN/checkpoints/ckpt-<step>.npz every variable of the next step           checkpoint_path, checkpoint_step
RUN/samples/step_<step>.npz     the fixed-latent sample snapshots (.html) sample_path, sample_step
RUN/fixed_z.npy                 the latent vectors of those snapshots     FIXED_Z_FILE
RUN/loss_curves.html            the offline training curves              LOSS_PAGE
RUN/.lock                       held by the one process training the run  LOCK_FILE
RUN/tensorboard/                TensorBoard event files (monitor.tensorboard) TENSORBOARD_DIR
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
LOCK_FILE = ".lock"
UNREADABLE_SUFFIX = ".unreadable"  # a checkpoint that could not be read is renamed ckpt-<step>.npz.unreadable
TENSORBOARD_DIR = "tensorboard"

_CHECKPOINT = ("ckpt-", ".npz")  # (prefix, suffix) around the step
_SAMPLE = ("step_", ".npz")


def _stepped(folder: Path, name: tuple, step: int, suffix: str | None = None) -> Path:
    return folder / f"{name[0]}{step:08d}{suffix or name[1]}"


def _step_of(path: str | Path, name: tuple, suffixes=()) -> int:
    """The step in a file name of the form ``name`` (or with one of ``suffixes``); ValueError for others."""
    match = re.fullmatch(rf"{re.escape(name[0])}(\d+)({'|'.join(map(re.escape, (name[1], *suffixes)))})",
                         Path(path).name)
    if not match:
        raise ValueError(f"{path}: not a {name[0]}<step>{name[1]} file name")
    return int(match.group(1))


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return _stepped(Path(run_dir) / CHECKPOINT_DIR, _CHECKPOINT, step)


def checkpoint_step(path: str | Path) -> int:
    """The step in a checkpoint's file name; ValueError for other names."""
    return _step_of(path, _CHECKPOINT)


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob(f"{_CHECKPOINT[0]}*{_CHECKPOINT[1]}") if _is_named(p, checkpoint_step)),
                  key=checkpoint_step)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def latest_step(run_dir: str | Path) -> int:
    """The step of the newest checkpoint (0 when there is none)."""
    path = latest_checkpoint(run_dir)
    return checkpoint_step(path) if path is not None else 0


def sample_path(run_dir: str | Path, step: int, suffix: str = ".npz") -> Path:
    """``samples/step_<step>.npz`` (the snapshot) or, with ``suffix=".html"``, its page."""
    return _stepped(Path(run_dir) / SAMPLES_DIR, _SAMPLE, step, suffix)


def sample_step(path: str | Path) -> int:
    """The step in a sample snapshot's (or its page's) file name; ValueError for other names."""
    return _step_of(path, _SAMPLE, (".html",))


def list_samples(run_dir: str | Path) -> list[Path]:
    """The sample snapshots (``.npz``) of a run, oldest first."""
    folder = Path(run_dir) / SAMPLES_DIR
    return sorted((p for p in folder.glob(f"{_SAMPLE[0]}*{_SAMPLE[1]}") if _is_named(p, sample_step)),
                  key=sample_step)


def _is_named(path: Path, step_of) -> bool:
    try:
        step_of(path)
        return True
    except ValueError:
        return False


def load_run_config(run_dir: str | Path) -> Config:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: run folder not found")
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise RunFolderError(f"{run_dir}: no {CONFIG_FILE}; is this a folder written by `tf3dgan train`?")
    return from_dict(read_yaml(path), str(path))
