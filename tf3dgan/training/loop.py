"""Run a training job in a run folder: resolve config, load data, resume, fit, checkpoint, log.

A run folder holds ``config.yaml`` (the resolved config), ``metrics.jsonl``, ``checkpoints/``,
``samples/`` and ``fixed_z.npy`` (the latent vectors of the sample snapshots). Running again on the same
folder resumes from the newest checkpoint; the batches, latent draws and optimizer state continue exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import warnings
from pathlib import Path

import keras
import numpy as np

from data_io.atomic import atomic_write_bytes, remove_stale_temporaries
from tf3dgan.config import Config, from_dict, read_yaml, save_config
from tf3dgan.errors import ConfigError, RunFolderError, RunFolderWarning, UsageError
from tf3dgan.training.builder import build_gan
from tf3dgan.training.run_callbacks import (
    Checkpointer, MetricsLogger, ProgressBar, SampleSnapshot, StopOnNonFinite, constant_learning_rates, read_metrics,
    truncate_metrics,
)
from tf3dgan.training.checkpoint import checkpoint_config, restore_newest, save_checkpoint
from tf3dgan.training.distribute import barrier, distribute_batches, is_chief
from tf3dgan.training.interrupt import StopOnSignal, TrainingAborted, TrainingStopped, stop_on_signals
from tf3dgan.training.monitor import monitor_callbacks
from tf3dgan.training.run_folder import (
    CHECKPOINT_DIR, CONFIG_FILE, FIXED_Z_FILE, LOCK_FILE, UNREADABLE_SUFFIX, latest_checkpoint, list_samples,
)
from tf3dgan.training.run_lock import run_folder_lock
from tf3dgan.training.training_input import load_voxels, make_dataset

# Keys that may differ between the config of a run folder and the one resuming it: they do not change what
# the steps compute.
RESUMABLE_DIFFERENCES = {
    ("train", "steps"), ("train", "log_every"), ("train", "checkpoint_every"), ("train", "sample_every"),
    ("monitor",),
}


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
    """Refuse to resume a run folder trained with a different config (other than steps, the log, checkpoint
    and sample intervals, and monitoring). ``train`` calls it only when the folder holds a checkpoint: a
    first start that failed before saving anything may be re-run with a corrected config. Without config.yaml,
    the config stored in the newest checkpoint is compared."""
    saved_path = run_dir / CONFIG_FILE
    if saved_path.exists():
        saved = from_dict(read_yaml(saved_path), str(saved_path)).to_dict()
    else:
        saved_path = latest_checkpoint(run_dir)
        stored = checkpoint_config(saved_path)
        if stored is None:
            return
        saved = from_dict(stored, str(saved_path)).to_dict()
    diffs = _differences(saved, config.to_dict())
    if diffs:
        raise ConfigError(
            f"{run_dir} holds a run with a different config; resume it with the same settings or use "
            "another --out. Differences: " + "; ".join(diffs)
        )


def fixed_latents(run_dir: Path, gan, config: Config, fresh: bool = False) -> np.ndarray:
    """The latent vectors of the sample snapshots: made once per run, kept in ``fixed_z.npy``.

    They are a function of the seed, so a missing or unreadable file (or ``fresh``: a run with no checkpoint)
    is simply made again.
    """
    path = run_dir / FIXED_Z_FILE
    shape = (config.train.num_samples, config.model.z_dim)
    if path.exists() and not fresh:
        try:
            z = np.load(path, allow_pickle=False)
            if z.shape == shape:
                return z
            problem = f"holds shape {z.shape}, expected {shape}"
        except (OSError, ValueError, EOFError) as err:
            problem = f"cannot be read ({err})"
        warnings.warn(RunFolderWarning(f"{path} {problem}; made again from the seed"), stacklevel=2)
    z = np.asarray(gan.sample_latent(config.train.num_samples, seed=config.train.seed + 1), dtype="float32")
    atomic_write_bytes(path, lambda f: np.save(f, z))
    return z


def _prepare_folder(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: is a file, not a run folder; give a folder for --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunFolderError(f"{run_dir}: cannot create the run folder ({err.strerror or err})") from None


def check_no_lost_history(run_dir: Path, config: Config) -> None:
    """Refuse to start a run folder afresh (it has no readable checkpoint) when that would drop trained steps:
    checkpoints kept aside as unreadable, or metrics past the first checkpoint step (``train.checkpoint_every``
    of the run's config.yaml). A run stopped before its first checkpoint is simply trained again (the same steps).
    Without config.yaml either, nothing says which run wrote the history: any metrics line or sample snapshot
    is kept (refused)."""
    unreadable = list((run_dir / CHECKPOINT_DIR).glob(f"*{UNREADABLE_SUFFIX}"))
    steps = [r["step"] for r in read_metrics(run_dir)]
    has_config = (run_dir / CONFIG_FILE).is_file()
    first = config.train.checkpoint_every
    if has_config:
        first = from_dict(read_yaml(run_dir / CONFIG_FILE), str(run_dir / CONFIG_FILE)).train.checkpoint_every
    samples = [] if has_config else list_samples(run_dir)
    if unreadable or samples or (steps and (max(steps) > first or not has_config)):
        found = ([f"metrics.jsonl up to step {max(steps)}"] if steps else []) + (
            [f"{len(samples)} sample snapshot(s) ({samples[-1].name}...)"] if samples else []) + (
            [f"{len(unreadable)} unreadable checkpoint(s) ({unreadable[0].name}...)"] if unreadable else [])
        missing = "no readable checkpoint" if has_config else f"neither {CONFIG_FILE} nor a checkpoint"
        raise RunFolderError(f"{run_dir}: holds a run's history ({', '.join(found)}) but {missing} to resume from; "
                             "to start it over on purpose run train with --restart (the old files are kept in a "
                             "previous-* subfolder), or use another --out")


def set_aside(run_dir: Path) -> Path | None:
    """Move the files of the run in ``run_dir`` (all but the lock and earlier ``previous-*`` folders) into a new
    ``run_dir/previous-<time>/``; return it (None when there was nothing to move)."""
    import time

    moved = [p for p in run_dir.iterdir() if p.name != LOCK_FILE and not p.name.startswith("previous-")]
    if not moved:
        return None
    aside = run_dir / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
    aside.mkdir()
    for path in moved:
        path.rename(aside / path.name)
    return aside


def _keep_aside(path: Path) -> None:
    """Rename an unreadable checkpoint out of the way (never delete it)."""
    path.replace(path.with_name(path.name + UNREADABLE_SUFFIX))


def _full_disk(err: OSError, run_dir: Path) -> RunFolderError:
    last = latest_checkpoint(run_dir)
    return RunFolderError(
        f"no space left on device while writing {err.filename or run_dir}; the last good checkpoint is "
        f"{last if last is not None else 'none (nothing saved yet)'}; free some space and run the same "
        "command again to resume"
    )


def train(
    config: Config,
    run_dir: str | Path,
    steps: int | None = None,
    voxels: np.ndarray | None = None,
    extra_callbacks=(),
    snapshot_listeners=(),
    progress: bool = True,
    restart: bool = False,
    lock_held: bool = False,
):
    """Train (or resume) the run in ``run_dir`` up to ``steps`` (default ``config.train.steps``).

    ``voxels`` overrides ``config.data`` (uint8 grids). Returns the trained GAN. The run folder is locked for
    the whole call (a second trainer gets a RunFolderError naming this process). SIGTERM or SIGINT (Ctrl-C)
    finish the current step, write its metrics line and a checkpoint, then raise ``TrainingStopped`` (a
    KeyboardInterrupt); a second signal raises ``TrainingAborted`` at once, without that checkpoint. A full
    disk is a RunFolderError naming the file and the last good checkpoint. ``restart``: move the files of an
    earlier run in ``run_dir`` into ``run_dir/previous-<time>/`` (``set_aside``) and start at step 0; without it,
    a folder with trained steps but no readable checkpoint is a RunFolderError (``check_no_lost_history``).
    ``lock_held``: the caller holds the run folder's lock already (``ablate`` takes it before writing anything).
    """
    run_dir = Path(run_dir)
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise UsageError(f"steps must be an integer >= 0, got {steps!r}")
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))
    args = (config, run_dir, voxels, extra_callbacks, snapshot_listeners, progress)
    if not is_chief(config.train.distribute):  # a multi-worker run: only the chief writes (and locks) the folder
        return _train_locked(*args, chief=False)
    _prepare_folder(run_dir)
    with contextlib.nullcontext() if lock_held else run_folder_lock(run_dir):
        try:
            if restart and (aside := set_aside(run_dir)) is not None:
                warnings.warn(RunFolderWarning(f"--restart: the earlier run's files are kept in {aside}"), stacklevel=2)
            return _train_locked(*args, chief=True)
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise _full_disk(err, run_dir) from None
            raise


def _train_locked(config, run_dir, voxels, extra_callbacks, snapshot_listeners, progress, chief):
    if chief:
        remove_stale_temporaries(run_dir)
        if latest_checkpoint(run_dir) is not None:
            check_resumable(run_dir, config)
        else:
            check_no_lost_history(run_dir, config)
    if voxels is None:
        voxels = load_voxels(config)
    t = config.train
    if len(voxels) < t.batch_size:
        raise ConfigError(f"data.source {config.data.source}: {len(voxels)} grids, fewer than train.batch_size "
                          f"({t.batch_size}); lower train.batch_size or use more data")

    keras.utils.set_random_seed(t.seed)  # the initial weights are a function of the seed
    gan = build_gan(config)
    checkpoint, start = restore_newest(gan, run_dir, on_unreadable=_keep_aside if chief else None)
    if chief:
        truncate_metrics(run_dir, start)
        save_config(config, run_dir / CONFIG_FILE)
    if start >= t.steps:
        return gan

    dataset = distribute_batches(lambda: make_dataset(config, voxels, start, gan.variant, progress), t.distribute,
                                 t.batch_size)
    monitors, monitor_listeners = monitor_callbacks(config, run_dir, voxels) if chief else ([], [])
    logger = MetricsLogger(run_dir if chief else None, t.log_every, constant_learning_rates(t), t.checkpoint_every)
    if chief:
        snapshot = SampleSnapshot(
            run_dir, t.sample_every, fixed_latents(run_dir, gan, config, fresh=checkpoint is None),
            [*monitor_listeners, *snapshot_listeners],
        )
    else:
        snapshot = SampleSnapshot(None, 0, fixed_z=1)
    stopper = StopOnSignal()
    callbacks = [
        StopOnNonFinite(run_dir),
        logger,
        *([Checkpointer(run_dir, t.checkpoint_every, config=config)] if chief else []),
        snapshot,
        *monitors,
        *extra_callbacks,
        ProgressBar(start, t.steps, logger, disable=not progress),
        stopper,
    ]
    try:
        with stop_on_signals(stopper, lambda: latest_checkpoint(run_dir)):
            gan.fit(dataset, shuffle=False, epochs=1, steps_per_epoch=t.steps - start, callbacks=callbacks,
                    verbose=0)
    except TrainingAborted:
        raise
    except KeyboardInterrupt:  # raised by other code than our signal handler (e.g. outside the main thread)
        if chief:
            logger.flush()
            save_checkpoint(gan, run_dir, config=config)
        raise
    step = int(gan.step_counter.numpy())
    if stopper.signum is not None:
        raise TrainingStopped(stopper.signum, step, latest_checkpoint(run_dir))
    if chief and t.sample_every and t.steps % t.sample_every:
        snapshot.snapshot(t.steps)
    barrier(t.distribute)
    return gan
