"""Monitoring of a training run: offline HTML pages in the run folder, and live plots on a visdom server.

``monitor_callbacks(config, run_dir)`` returns the Keras callbacks and the sample-snapshot listeners that
``tf3dgan.training.loop.train`` adds. The drawing itself lives in ``data_io.plotting``; posting in
``data_io.visdom_client``. Nothing here can stop training: visdom posts run on a background thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

from tf3dgan.training.callbacks import is_line_step, read_metrics
from tf3dgan.training.metrics import LOG_SCALE_GROUPS, METRIC_GROUPS
from tf3dgan.training.run_folder import LOSS_PAGE, sample_path

# Shapes drawn in a panel (the fixed latent set may be larger); data_io.plotting caps the faces per panel.
PANEL_MAX_SHAPES = 16

logger = logging.getLogger(__name__)


def write_sample_page(run_dir, step: int, probabilities, threshold: float = 0.5) -> Path:
    """The interactive sample panel of one snapshot as a self-contained HTML page."""
    from data_io.plotting import panel_figure, write_html

    grids = np.asarray(probabilities, dtype=np.float32)[:PANEL_MAX_SHAPES]
    fig = panel_figure(grids, threshold, title=f"{Path(run_dir).name}: step {step}")
    return write_html(fig, sample_path(run_dir, step, ".html"), title=f"samples at step {step}", shared_plotlyjs=True)


def write_loss_page(run_dir) -> Path | None:
    """``loss_curves.html`` from the run's ``metrics.jsonl`` (None when nothing is logged yet)."""
    from data_io.plotting import loss_figure, write_html

    records = read_metrics(run_dir)
    if not records:
        return None
    fig = loss_figure(records, METRIC_GROUPS, f"{Path(run_dir).name}: training curves", LOG_SCALE_GROUPS)
    return write_html(fig, Path(run_dir) / LOSS_PAGE, title="training curves", shared_plotlyjs=True)


class HtmlRecorder(keras.callbacks.Callback):
    """Offline records: ``samples/step_<step>.html`` at sample snapshots and ``loss_curves.html``.

    ``every`` = 0: a sample page at every snapshot; otherwise at snapshots whose step is a multiple of
    ``every``, and the loss page also every ``every`` steps. The loss page is rewritten with each sample
    page and at the end of training.
    """

    def __init__(self, run_dir, every: int = 0, threshold: float = 0.5):
        super().__init__()
        self.run_dir, self.every, self.threshold = Path(run_dir), every, threshold
        self.written: list[Path] = []

    def on_snapshot(self, step: int, probabilities, z) -> None:
        if self.every and step % self.every:
            return
        self.written.append(write_sample_page(self.run_dir, step, probabilities, self.threshold))
        write_loss_page(self.run_dir)

    def on_train_batch_end(self, batch, logs=None):
        if self.every and int(self.model.step_counter.numpy()) % self.every == 0:
            write_loss_page(self.run_dir)

    def on_train_end(self, logs=None):
        write_loss_page(self.run_dir)


class VisdomMonitor(keras.callbacks.Callback):
    """Live plots on a visdom server: metric curves and the fixed-latent sample panel.

    A point per metric is recorded every ``log_every`` steps and every ``checkpoint_every`` step (the running
    means the MetricsLogger writes to ``metrics.jsonl`` at the same steps) and posted every ``plot_every``
    steps; the panel is posted at
    each sample snapshot. Posting happens on the client's background thread.
    """

    def __init__(self, client=None, log_every: int = 10, plot_every: int = 50, learning_rates: dict | None = None,
                 run_dir=None, threshold: float = 0.5, checkpoint_every: int = 0):
        """``client``: a ``data_io.visdom_client.VisdomClient`` (None: one for 127.0.0.1:8097, env tf3dgan);
        ``learning_rates``: shown where the optimizers' cannot be read; ``run_dir``: a run folder whose
        earlier curves are shown again on resume (None: none)."""
        super().__init__()
        if client is None:
            from data_io.visdom_client import VisdomClient

            client = VisdomClient(env="tf3dgan")
        self.client, self.log_every, self.plot_every = client, log_every, plot_every
        self.checkpoint_every = checkpoint_every
        self.learning_rates = dict(learning_rates or {})
        self.run_dir, self.threshold = run_dir, threshold
        self.pending: list[tuple[int, dict]] = []

    def _learning_rates(self) -> dict:
        rates = {}
        for key, attr in (("g_lr", "g_optimizer"), ("d_lr", "d_optimizer")):
            optimizer = getattr(self.model, attr, None)
            try:
                rates[key] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            except (AttributeError, TypeError, ValueError):
                if key in self.learning_rates:
                    rates[key] = self.learning_rates[key]
        return rates

    def on_train_begin(self, logs=None):
        if self.run_dir is not None:  # a resumed run: show the curves logged before
            for record in read_metrics(self.run_dir):
                self.pending.append((record["step"], record))
            self._post()

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step_counter.numpy())
        if is_line_step(step, self.log_every, self.checkpoint_every) and logs:
            values = {k: float(v) for k, v in logs.items()}
            values.update(self._learning_rates())
            self.pending.append((step, values))
        if step % self.plot_every == 0:
            self._post()

    def on_train_end(self, logs=None):
        self._post()
        self.client.flush(timeout=max(2.0, self.client.timeout))

    def _post(self) -> None:
        from data_io.plotting import grouped_metrics

        for step, values in self.pending:
            for window, (title, keys) in grouped_metrics(values, METRIC_GROUPS).items():
                self.client.line(window, step, {k: values[k] for k in keys}, title=title)
        self.pending.clear()

    def on_snapshot(self, step: int, probabilities, z) -> None:
        from data_io.plotting import panel_data

        grids = np.asarray(probabilities, dtype=np.float32)[:PANEL_MAX_SHAPES]
        try:
            traces, layout = panel_data(grids, self.threshold, title=f"step {step}", cell_px=220)
        except Exception as err:  # noqa: BLE001 - a drawing problem must not stop training
            logger.warning("could not draw the sample panel of step %d: %s", step, err)
            return
        self.client.figure("samples", traces, layout, title="samples (fixed latent vectors)")


def tensorboard_monitor(config, run_dir, voxels=None):
    """The ``TensorBoardMonitor`` of a run: ``RUN/tensorboard/``, scalars at ``train.log_every``, histograms of
    D's logits every ``monitor.tensorboard_every`` steps on the run's first training batch (the same every
    time, also after a resume) and on G of fixed latent vectors."""
    from tf3dgan.training.run_folder import TENSORBOARD_DIR
    from tf3dgan.training.tensorboard_monitor import TensorBoardMonitor

    t, m = config.train, config.model
    real = None
    if voxels is not None and config.monitor.tensorboard_every:
        from data_io.pipeline import make_training_dataset

        dataset = make_training_dataset(voxels, batch_size=t.batch_size, cube_len=m.cube_len, seed=t.seed,
                                        start_step=0, upsample=config.data.upsample)
        real = next(iter(dataset.take(1))).numpy()
    return TensorBoardMonitor(Path(run_dir) / TENSORBOARD_DIR, t.log_every, config.monitor.tensorboard_every, real,
                              max_meshes=min(PANEL_MAX_SHAPES, 4), checkpoint_every=t.checkpoint_every)


def monitor_callbacks(config, run_dir, voxels=None):
    """Return ``(callbacks, snapshot_listeners)`` for ``config.monitor`` (``voxels``: the training grids, for
    the real batch of the TensorBoard histograms)."""
    mon, t = config.monitor, config.train
    callbacks, listeners = [], []
    if mon.tensorboard:
        board = tensorboard_monitor(config, run_dir, voxels)
        callbacks.append(board)
        listeners.append(board.on_snapshot)
    if mon.html:
        html = HtmlRecorder(run_dir, mon.html_every)
        callbacks.append(html)
        listeners.append(html.on_snapshot)
    if mon.visdom:
        from data_io.visdom_client import VisdomClient

        client = VisdomClient(mon.visdom_host, mon.visdom_port, mon.visdom_env)
        live = VisdomMonitor(client, t.log_every, mon.plot_every, {"g_lr": t.g_lr, "d_lr": t.d_lr}, run_dir,
                             checkpoint_every=t.checkpoint_every)
        callbacks.append(live)
        listeners.append(live.on_snapshot)
    return callbacks, listeners
