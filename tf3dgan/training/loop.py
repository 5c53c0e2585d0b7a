"""Run a training job in a run folder: resolve config, load data, resume, fit, checkpoint, log.

A run folder holds ``config.yaml`` (the resolved config), ``metrics.jsonl``, ``checkpoints/``,
``samples/`` and ``fixed_z.npy`` (the latent vectors of the sample snapshots). Running again on the same
folder resumes from the newest checkpoint; the batches, latent draws and optimizer state continue exactly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np

from tf3dgan.training.builder import build_gan
from tf3dgan.training.callbacks import Checkpointer, MetricsLogger, ProgressBar, SampleSnapshot, truncate_metrics
from tf3dgan.training.checkpoint import restore_checkpoint, save_checkpoint
from tf3dgan.config import Config, from_dict, read_yaml, save_config
from tf3dgan.errors import ConfigError
from tf3dgan.training.distribute import barrier, distribute_batches, is_chief
from tf3dgan.training.monitor import monitor_callbacks
from tf3dgan.training.run_folder import CONFIG_FILE, FIXED_Z_FILE, latest_checkpoint

# Keys that may differ between the config of a run folder and the one resuming it.
RESUMABLE_DIFFERENCES = {("train", "steps"), ("monitor",)}


def _differences(saved: dict, wanted: dict, prefix=()) -> list[str]:
    out = []
    for key in sorted(set(saved) | set(wanted)):
        path = prefix + (key,)
        if path[:1] in RESUMABLE_DIFFERENCES or path in RESUMABLE_DIFFERENCES:
            continue
        a, b = saved.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, path)
        elif a != b:
            out.append(f"{'.'.join(path)}: {a!r} in the run, {b!r} now")
    return out


def check_resumable(run_dir: Path, config: Config) -> None:
    """Refuse to resume a run folder trained with a different config (other than steps and monitoring)."""
    saved_path = run_dir / CONFIG_FILE
    if not saved_path.exists():
        return
    saved = from_dict(read_yaml(saved_path), str(saved_path)).to_dict()
    diffs = _differences(saved, config.to_dict())
    if diffs:
        raise ConfigError(
            f"{run_dir} holds a run with a different config; resume it with the same settings or use "
            "another --out. Differences: " + "; ".join(diffs)
        )


def fixed_latents(run_dir: Path, gan, config: Config) -> np.ndarray:
    """The latent vectors of the sample snapshots: made once per run, kept in ``fixed_z.npy``."""
    path = run_dir / FIXED_Z_FILE
    if path.exists():
        return np.load(path)
    z = np.asarray(gan.sample_latent(config.train.num_samples, seed=config.train.seed + 1), dtype="float32")
    np.save(path, z)
    return z


def load_voxels(config: Config):
    """Training grids as uint8 (N, s, s, s), s <= cube_len, from ``config.data``."""
    import data_io

    return data_io.load_training_voxels(config.data, config.model.cube_len).voxels


def make_dataset(config: Config, voxels: np.ndarray | None = None, start_step: int = 0):
    """The training input of ``config`` as ``train`` feeds it: an infinite ``tf.data.Dataset`` of float32
    batches (train.batch_size, D, D, D, 1), batch k a function of (train.seed, k), from ``start_step`` on.
    ``voxels`` (uint8 grids) override ``config.data``."""
    from data_io.pipeline import make_training_dataset

    if voxels is None:
        voxels = load_voxels(config)
    t = config.train
    return make_training_dataset(voxels, batch_size=t.batch_size, cube_len=config.model.cube_len, seed=t.seed,
                                 start_step=start_step, upsample=config.data.upsample)


def train(
    config: Config,
    run_dir: str | Path,
    steps: int | None = None,
    voxels: np.ndarray | None = None,
    extra_callbacks=(),
    snapshot_listeners=(),
    progress: bool = True,
):
    """Train (or resume) the run in ``run_dir`` up to ``steps`` (default ``config.train.steps``).

    ``voxels`` overrides ``config.data`` (uint8 grids). Returns the trained GAN. On Ctrl-C a checkpoint
    of the last finished step is written and KeyboardInterrupt re-raised.
    """
    run_dir = Path(run_dir)
    if steps is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))
    chief = is_chief(config.train.distribute)  # in a multi-worker run only the chief writes the run folder
    if chief:
        check_resumable(run_dir, config)
        run_dir.mkdir(parents=True, exist_ok=True)
    if voxels is None:
        voxels = load_voxels(config)

    t = config.train
    keras.utils.set_random_seed(t.seed)  # the initial weights are a function of the seed
    gan = build_gan(config)
    start = 0
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None:
        start = restore_checkpoint(gan, checkpoint)
    if chief:
        truncate_metrics(run_dir, start)
        save_config(config, run_dir / CONFIG_FILE)
    if start >= t.steps:
        return gan

    dataset = distribute_batches(lambda: make_dataset(config, voxels, start), t.distribute, t.batch_size)
    monitors, monitor_listeners = monitor_callbacks(config, run_dir, voxels) if chief else ([], [])
    logger = MetricsLogger(run_dir if chief else None, t.log_every, {"g_lr": t.g_lr, "d_lr": t.d_lr})
    if chief:
        snapshot = SampleSnapshot(
            run_dir, t.sample_every, fixed_latents(run_dir, gan, config), [*monitor_listeners, *snapshot_listeners]
        )
    else:
        snapshot = SampleSnapshot(None, 0, fixed_z=1)
    callbacks = [
        logger,
        *([Checkpointer(run_dir, t.checkpoint_every)] if chief else []),
        snapshot,
        *monitors,
        *extra_callbacks,
        ProgressBar(start, t.steps, logger, disable=not progress),
    ]
    try:
        gan.fit(dataset, shuffle=False, epochs=1, steps_per_epoch=t.steps - start, callbacks=callbacks, verbose=0)
    except KeyboardInterrupt:
        if chief:
            save_checkpoint(gan, run_dir)
        raise
    if chief and t.sample_every and t.steps % t.sample_every:
        snapshot.snapshot(t.steps)
    barrier(t.distribute)
    return gan
