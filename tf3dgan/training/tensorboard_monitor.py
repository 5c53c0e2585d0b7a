"""TensorBoard event files of a training run: the metrics.jsonl scalars, learning rates, histograms of D's
logits, and the sample snapshots as 3D meshes (TensorBoard's mesh plugin).

``TensorBoardMonitor`` is a Keras callback usable on its own (any ``tf3dgan.GAN``, any folder); the training
loop adds it, writing to ``RUN/tensorboard/``, when ``monitor.tensorboard`` is true.

Resuming: steps written after the checkpoint a run resumes from (by a process that died before its next
checkpoint) would be written again. At the start of training the callback therefore rewrites the folder's
event files into one new file that keeps only the records up to the resumed step (only when some record lies
beyond it), so every step is in the folder once.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from data_io.render import AZIMUTH, ELEVATION, render_views
from tf3dgan.training.run_callbacks import is_line_step, learning_rates

logger = logging.getLogger(__name__)

EVENT_PATTERN = "events.out.tfevents.*"


def event_files(log_dir) -> list[Path]:
    """The TensorBoard event files in ``log_dir``, oldest first (by name: TensorFlow puts the time in it)."""
    folder = Path(log_dir)
    return sorted(folder.glob(EVENT_PATTERN)) if folder.is_dir() else []


def _event_records(path: Path):
    """``(serialized Event, Event)`` for each record of an event file (a truncated tail is ignored)."""
    from tensorboard.compat.proto import event_pb2

    try:
        for raw in tf.data.TFRecordDataset(str(path)):
            data = raw.numpy()
            event = event_pb2.Event()
            event.ParseFromString(data)
            yield data, event
    except tf.errors.DataLossError:  # the writer died mid-record: the records before it are kept
        return


def trim_events(log_dir, last_step: int) -> int:
    """Keep only the summaries of steps <= ``last_step`` (each (tag, step) once) in ``log_dir``.

    When some record lies beyond ``last_step``, or a (tag, step) appears twice, all event files are rewritten
    into one new event file (written under a temporary name, renamed, then the old files removed).
    Returns the number of records dropped.
    """
    files = event_files(log_dir)
    if not files:
        return 0
    kept, seen, dropped = [], set(), 0
    for path in files:
        for data, event in _event_records(path):
            if event.HasField("summary"):
                tags = tuple(v.tag for v in event.summary.value)
                if event.step > last_step or (tags, event.step) in seen:
                    dropped += 1
                    continue
                seen.add((tags, event.step))
            elif event.HasField("file_version") and kept:
                continue  # one header is enough
            kept.append(data)
    if not dropped:
        return 0
    folder = Path(log_dir)
    name = f"events.out.tfevents.{time.time():.6f}.tf3dgan-trimmed.{os.getpid()}.v2"
    temporary = folder / f".{name}.tmp"  # not matched by EVENT_PATTERN nor read by TensorBoard
    with tf.io.TFRecordWriter(str(temporary)) as writer:
        for data in kept:
            writer.write(data)
    os.replace(temporary, folder / name)
    for path in files:
        path.unlink(missing_ok=True)
    return dropped


class TensorBoardMonitor(keras.callbacks.Callback):
    """Writes a GAN's training to TensorBoard event files in ``log_dir``.

    - every ``log_every`` steps and every ``checkpoint_every`` step: the step's logs (the running means
      ``MetricsLogger`` writes to
      ``metrics.jsonl`` at the same steps, under the same names) and the learning rates ``g_lr``, ``d_lr``
      (``learning_rates``: their fixed values; None: read from the optimizers);
    - every ``histogram_every`` steps (0: never): histograms ``d_logits/real`` and ``d_logits/generated`` of
      D's logits on ``real_batch`` and on G(``histogram_z``), both as the training step computes them
      (batch statistics) without changing any weight or statistic;
    - at each sample snapshot (pass ``on_snapshot`` to ``SampleSnapshot`` as a listener, or call it): the
      first ``max_meshes`` shapes as meshes ``samples/<i>`` (marching cubes at ``threshold``; empty shapes are
      skipped), and rendered images ``samples/rendered``.

    At the start of training the folder is trimmed to the steps up to the model's current step (see
    ``trim_events``), so a resumed run appends without duplicate steps.
    """

    def __init__(self, log_dir, log_every: int = 10, histogram_every: int = 0, real_batch=None,
                 histogram_z=None, max_meshes: int = 4, threshold: float = 0.5, enabled: bool = True,
                 checkpoint_every: int = 0, learning_rates: dict | None = None):
        super().__init__()
        self.learning_rates = learning_rates
        self.log_dir = Path(log_dir)
        self.log_every, self.histogram_every = int(log_every), int(histogram_every)
        self.checkpoint_every = int(checkpoint_every)
        self.real_batch = None if real_batch is None else np.asarray(real_batch, dtype="float32")
        if self.real_batch is not None and self.real_batch.ndim == 4:
            self.real_batch = self.real_batch[..., None]
        self.histogram_z = None if histogram_z is None else np.asarray(histogram_z, dtype="float32")
        self.max_meshes, self.threshold = int(max_meshes), float(threshold)
        self.enabled = enabled  # False on the non-chief workers of a multi-worker run
        self.writer = None

    # -- Keras hooks ----------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if not self.enabled:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        dropped = trim_events(self.log_dir, self._step())
        if dropped:
            logger.info("%s: dropped %d TensorBoard records after step %d", self.log_dir, dropped, self._step())
        self.writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_train_batch_end(self, batch, logs=None):
        if self.writer is None:
            return
        step = self._step()
        if is_line_step(step, self.log_every, self.checkpoint_every) and logs:
            self.write_scalars(step, {k: float(v) for k, v in logs.items()})
        if self.histogram_every and step % self.histogram_every == 0:
            self.write_histograms(step)

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def on_snapshot(self, step: int, probabilities, z=None) -> None:
        """A listener of ``SampleSnapshot``: the snapshot's shapes as meshes (and rendered images)."""
        if not self.enabled:
            return
        if self.writer is None:  # a snapshot outside fit (the loop's last one): the writer is reopened
            self.writer = tf.summary.create_file_writer(str(self.log_dir))
        try:
            self.write_meshes(step, probabilities)
            self.write_images(step, probabilities)
        except Exception as err:  # noqa: BLE001 - a drawing problem must not stop training
            logger.warning("could not write the TensorBoard samples of step %d: %s", step, err)
        self.writer.flush()

    # -- writing --------------------------------------------------------------------------------------
    def _step(self) -> int:
        return int(self.model.step_counter.numpy())

    def write_scalars(self, step: int, values: dict) -> None:
        with self.writer.as_default(step=step):
            for name, value in {**values, **learning_rates(self.model, self.learning_rates)}.items():
                tf.summary.scalar(name, value)

    def d_logits(self) -> dict:
        """D's logits on the real batch and on G(histogram_z), with batch statistics and no state change."""
        gan, out = self.model, {}
        if self.real_batch is not None:
            out["real"] = gan.discriminate_without_updates(tf.convert_to_tensor(self.real_batch))[0]
        z = self.histogram_z
        if z is None and self.real_batch is not None:
            z = np.asarray(gan.sample_latent(len(self.real_batch), seed=gan.seed + 2), dtype="float32")
        if z is not None:
            g = gan.generator
            fake, _ = g.stateless_call([v.value for v in g.trainable_variables],
                                       [v.value for v in g.non_trainable_variables], tf.convert_to_tensor(z),
                                       training=True)
            out["generated"] = gan.discriminate_without_updates(fake)[0]
        return {k: tf.reshape(tf.cast(v, tf.float32), [-1]) for k, v in out.items()}

    def write_histograms(self, step: int) -> None:
        with self.writer.as_default(step=step):
            for name, logits in self.d_logits().items():
                tf.summary.histogram(f"d_logits/{name}", logits)

    def write_meshes(self, step: int, probabilities) -> None:
        from tensorboard.plugins.mesh import summary_v2 as mesh_summary

        from data_io.errors import DataError
        from data_io.meshes import voxels_to_mesh

        grids = np.asarray(probabilities, dtype=np.float32)[: self.max_meshes]
        with self.writer.as_default(step=step):
            for i, grid in enumerate(grids):
                try:
                    mesh = voxels_to_mesh(grid, self.threshold, name=f"sample {i}")
                except DataError:  # an empty shape has no surface
                    continue
                centred = mesh.vertices - (grid.shape[0] - 1) / 2.0
                colors = np.tile(np.array([[90, 140, 200]], np.uint8), (len(centred), 1))
                mesh_summary.mesh(f"samples/{i}", vertices=centred[None], faces=mesh.faces[None],
                                  colors=colors[None], step=step,
                                  description=f"sample {i} at step {step} (iso-surface {self.threshold})")

    def write_images(self, step: int, probabilities) -> None:
        grids = np.asarray(probabilities, dtype=np.float32)[: self.max_meshes]
        # (N, 1, size, size) uint8 grey, one view per shape
        images = np.asarray(render_views(grids, azimuths=[AZIMUTH], elevations=[ELEVATION], size=128, kind="shaded",
                                         threshold=self.threshold))
        images = images.reshape((-1,) + images.shape[-2:] + (1,)).astype(np.uint8)
        with self.writer.as_default(step=step):
            tf.summary.image("samples/rendered", images, max_outputs=len(images))
