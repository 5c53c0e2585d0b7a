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


def image_arguments(variant, voxels: np.ndarray, progress: bool = False) -> dict:
    """``make_training_dataset``'s picture arguments for ``variant``: the training shapes rendered once, as it
    asks (``Variant.image_input``), or nothing for a variant that trains on shapes alone."""
    spec = variant.image_input()
    if spec is None:
        return {}
    from data_io.pipeline import render_training_images

    images = render_training_images(voxels, spec.size, spec.rendered_views, spec.elevation, progress)
    return {"images": images, "views": spec.views, "min_views": spec.min_views}


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
    from data_io.pipeline import make_training_dataset

    run_dir = Path(run_dir)
    if steps is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))
    check_resumable(run_dir, config)
    run_dir.mkdir(parents=True, exist_ok=True)
    if voxels is None:
        voxels = load_voxels(config)

    t, m = config.train, config.model
    keras.utils.set_random_seed(t.seed)  # the initial weights are a function of the seed
    gan = build_gan(config)
    start = 0
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None:
        start = restore_checkpoint(gan, checkpoint)
    truncate_metrics(run_dir, start)
    save_config(config, run_dir / CONFIG_FILE)
    if start >= t.steps:
        return gan

    dataset = make_training_dataset(
        voxels, batch_size=t.batch_size, cube_len=m.cube_len, seed=t.seed, start_step=start,
        upsample=config.data.upsample, **image_arguments(gan.variant, voxels, progress),
    )
    monitors, monitor_listeners = monitor_callbacks(config, run_dir)
    logger = MetricsLogger(run_dir, t.log_every, {"g_lr": t.g_lr, "d_lr": t.d_lr})
    snapshot = SampleSnapshot(
        run_dir, t.sample_every, fixed_latents(run_dir, gan, config), [*monitor_listeners, *snapshot_listeners]
    )
    callbacks = [
        logger,
        Checkpointer(run_dir, t.checkpoint_every),
        snapshot,
        *monitors,
        *extra_callbacks,
        ProgressBar(start, t.steps, logger, disable=not progress),
    ]
    try:
        gan.fit(dataset, shuffle=False, epochs=1, steps_per_epoch=t.steps - start, callbacks=callbacks, verbose=0)
    except KeyboardInterrupt:
        save_checkpoint(gan, run_dir)
        raise
    if t.sample_every and t.steps % t.sample_every:
        snapshot.snapshot(t.steps)
    return gan
