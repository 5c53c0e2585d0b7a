"""The Keras callbacks every training run uses: the metric log (``MetricsLogger``; ``read_metrics`` and
``truncate_metrics`` read and trim its ``metrics.jsonl``), ``StopOnNonFinite``, ``Checkpointer``,
``SampleSnapshot`` and ``ProgressBar``. The monitors are in ``tensorboard_monitor.py``, ``visdom_monitor.py``
and ``html_monitor.py``; ``tf3dgan.callbacks`` is the public home of them all."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import keras
import numpy as np

from data_io.atomic import append_line, atomic_write_bytes
from tf3dgan.errors import RunFolderError, RunFolderWarning
from tf3dgan.training.checkpoint import KEEP_CHECKPOINTS, TrainingDiverged, save_checkpoint
from tf3dgan.training.metrics import LEARNING_RATES, PROGRESS_METRICS
from tf3dgan.training.run_folder import METRICS_FILE, sample_path


def _step(model) -> int:
    return int(model.step_counter.numpy())


def is_line_step(step: int, log_every: int, checkpoint_every: int = 0) -> bool:
    """Whether ``metrics.jsonl`` (and the monitors' curves) get a point at ``step``: every ``log_every`` steps
    and every ``checkpoint_every`` step (0: none)."""
    return step % log_every == 0 or bool(checkpoint_every and step % checkpoint_every == 0)


def learning_rates(model, fixed: dict | None = None) -> dict:
    """The ``g_lr`` / ``d_lr`` of a metrics line: ``fixed`` (a constant schedule's configured values, exactly),
    or the rates the GAN's optimizers hold now."""
    if fixed is not None:
        return dict(fixed)
    attributes = zip(LEARNING_RATES, ("g_optimizer", "d_optimizer"), strict=True)
    optimizers = {key: getattr(model, attr, None) for key, attr in attributes}
    return {key: float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            for key, optimizer in optimizers.items() if optimizer is not None}


def constant_learning_rates(train) -> dict | None:
    """The rates of a ``TrainConfig`` whose schedule keeps them constant (None: read them from the optimizers).
    The metric names are the config's keys."""
    return {key: getattr(train, key) for key in LEARNING_RATES} if train.lr_schedule == "constant" else None


class MetricsLogger(keras.callbacks.Callback):
    """Every ``every`` steps, append the metrics averaged since the last line to ``metrics.jsonl``.

    The GAN's trackers are reset after each line, so a line holds the means over its own steps. When
    training ends (or stops at a signal) between two log steps, ``on_train_end`` writes a line for the steps
    since the last one, so that the newest checkpoint's step always has its line; so does every
    ``checkpoint_every`` step (a resume drops the lines after its checkpoint: the steps up to it must all be
    logged already). Lines are appended whole
    (``data_io.atomic.append_line``). ``path``: a run folder (its ``metrics.jsonl``), a ``.jsonl`` file, or
    None (no file: the records are kept in ``last`` and the trackers still reset). ``learning_rates``: the
    values written as ``g_lr`` / ``d_lr`` (None: read from the GAN's optimizers).
    """

    def __init__(self, path=None, every: int = 10, learning_rates: dict | None = None, checkpoint_every: int = 0):
        super().__init__()
        self.checkpoint_every = checkpoint_every
        path = Path(path) if path is not None else None
        self.path = path if path is None or path.suffix == ".jsonl" else path / METRICS_FILE
        self.every = every
        self.learning_rates = learning_rates
        self.last: dict = {}
        self.logged_step: int | None = None
        self._logs: dict = {}

    def on_train_begin(self, logs=None):
        self.logged_step = _step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        self._logs = logs or {}
        if is_line_step(_step(self.model), self.every, self.checkpoint_every):
            self.flush()

    def on_train_end(self, logs=None):
        self.flush()

    def flush(self) -> None:
        """Write the line of the steps since the last one (if any)."""
        step = _step(self.model)
        if self.logged_step is not None and step <= self.logged_step:
            return
        record = {"step": step, **{k: float(v) for k, v in self._logs.items()},
                  **learning_rates(self.model, self.learning_rates)}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_line(self.path, json.dumps(record))
        self.last, self.logged_step = record, step
        self.model.reset_metrics()


def _metric_lines(path: Path) -> tuple[list[str], list[dict]]:
    """``(lines, records)`` of the complete, valid lines of ``metrics.jsonl``.

    A torn or invalid last line (a kill -9 or a full disk while appending) is left out with a warning; an
    invalid line before the last is a RunFolderError naming it.
    """
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    complete, torn = lines[:-1], lines[-1]  # text after the last newline was never finished
    kept, records = [], []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("no integer 'step'")
        except ValueError as err:
            if number == len(complete) and not torn.strip():
                torn = line
                break
            raise RunFolderError(f"{path}: line {number} is not a metrics record ({err}); remove or fix it") from None
        kept.append(line)
        records.append(record)
    if torn.strip():
        warnings.warn(f"{path}: ignoring an incomplete last line (training was cut off while writing it): "
                      f"{torn[:60]!r}", RunFolderWarning, stacklevel=3)
    return kept, records


def truncate_metrics(run_dir, after_step: int) -> None:
    """Drop lines logged after ``after_step`` (written before an interruption, to be logged again), and an
    incomplete last line."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return
    lines, records = _metric_lines(path)
    text = "".join(line + "\n" for line, r in zip(lines, records) if r["step"] <= after_step)
    if text.encode("utf-8") != path.read_bytes():
        atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def read_metrics(run_dir) -> list[dict]:
    """The records of a run's ``metrics.jsonl`` (an incomplete last line is skipped with a warning)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    return _metric_lines(path)[1]


class StopOnNonFinite(keras.callbacks.Callback):
    """Raise TrainingDiverged at the first step whose logged losses are NaN or infinite (before that step's
    metrics line or checkpoint is written: put it first)."""

    def __init__(self, run_dir=None):
        super().__init__()
        self.run_dir = run_dir

    def on_train_batch_end(self, batch, logs=None):
        bad = [key for key, value in (logs or {}).items() if not np.isfinite(float(value))]
        if bad:
            raise TrainingDiverged(self.run_dir, _step(self.model), ", ".join(bad))


class Checkpointer(keras.callbacks.Callback):
    """Atomic checkpoint every ``every`` steps and at the end of training (holding ``config`` when given)."""

    def __init__(self, run_dir, every: int, keep: int = KEEP_CHECKPOINTS, config=None):
        super().__init__()
        self.run_dir, self.every, self.keep, self.config = run_dir, every, keep, config

    def on_train_batch_end(self, batch, logs=None):
        if _step(self.model) % self.every == 0:
            save_checkpoint(self.model, self.run_dir, self.keep, self.config)

    def on_train_end(self, logs=None):
        save_checkpoint(self.model, self.run_dir, self.keep, self.config)


class SampleSnapshot(keras.callbacks.Callback):
    """Every ``every`` steps, generate shapes from a fixed set of latent vectors (frames comparable over time).

    Writes ``samples/step_<step>.npz`` (``probabilities`` float16, ``z``) under ``run_dir`` (None: no file)
    and calls each ``listeners`` function with ``(step, probabilities, z)`` (e.g. an HTML page writer, a
    visdom panel, ``TensorBoardMonitor.on_snapshot``). ``fixed_z``: the latent vectors, or a count of them
    drawn from the GAN's latent distribution with ``seed`` when training starts.
    """

    def __init__(self, run_dir=None, every: int = 500, fixed_z=8, listeners=(), seed: int = 1):
        super().__init__()
        self.run_dir = run_dir
        self.every = every
        self.count = fixed_z if isinstance(fixed_z, int) else None
        self.fixed_z = None if self.count is not None else np.asarray(fixed_z, dtype="float32")
        self.seed = seed
        self.listeners = list(listeners)

    def on_train_begin(self, logs=None):
        if self.fixed_z is None:
            self.fixed_z = np.asarray(self.model.sample_latent(self.count, seed=self.seed), dtype="float32")

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if self.every and step % self.every == 0:
            self.snapshot(step)

    def snapshot(self, step: int) -> Path | None:
        """Generate the snapshot of ``step``; return its file (None without a run folder)."""
        probabilities = self.model.generate(self.fixed_z)
        path = None
        if self.run_dir is not None:
            path = sample_path(self.run_dir, step)
            atomic_write_bytes(
                path,
                lambda f: np.savez_compressed(f, probabilities=probabilities.astype("float16"), z=self.fixed_z),
            )
        for listener in self.listeners:
            listener(step, probabilities, self.fixed_z)
        return path


class ProgressBar(keras.callbacks.Callback):
    """A tqdm bar over the training steps, showing the latest logged losses."""

    def __init__(self, start: int, total: int, logger: MetricsLogger | None = None, disable: bool = False):
        super().__init__()
        self.start, self.total, self.logger, self.disable = start, total, logger, disable
        self.bar = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        # In a log file (not a terminal) a line every 30 s instead of ten a second.
        interval = 0.5 if sys.stderr.isatty() else 30.0
        self.bar = tqdm(
            total=self.total, initial=self.start, unit="step", desc="train", disable=self.disable, mininterval=interval
        )

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        if self.logger is not None and self.logger.last:
            last = self.logger.last
            self.bar.set_postfix({k: f"{last[k]:.3f}" for k in PROGRESS_METRICS if k in last}, refresh=False)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
