"""Live monitoring of a training run on a visdom server: the ``VisdomMonitor`` callback (metric curves and the
fixed-latent sample panel). Posting lives in ``data_io.visdom_client`` and runs on its background thread, so
nothing here can stop training; the drawing lives in ``data_io.plotting``.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from tf3dgan.training.html_monitor import PANEL_MAX_SHAPES
from tf3dgan.training.metrics import METRIC_GROUPS
from tf3dgan.training.run_callbacks import is_line_step, learning_rates, read_metrics

logger = logging.getLogger(__name__)


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
        ``learning_rates``: the fixed values to show (None: the optimizers' current rates); ``run_dir``: a run
        folder whose earlier curves are shown again on resume (None: none)."""
        super().__init__()
        if client is None:
            from data_io.visdom_client import VisdomClient

            client = VisdomClient(env="tf3dgan")
        self.client, self.log_every, self.plot_every = client, log_every, plot_every
        self.checkpoint_every = checkpoint_every
        self.learning_rates = learning_rates
        self.run_dir, self.threshold = run_dir, threshold
        self.pending: list[tuple[int, dict]] = []

    def on_train_begin(self, logs=None):
        if self.run_dir is not None:  # a resumed run: show the curves logged before
            for record in read_metrics(self.run_dir):
                self.pending.append((record["step"], record))
            self._post()

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step_counter.numpy())
        if is_line_step(step, self.log_every, self.checkpoint_every) and logs:
            values = {k: float(v) for k, v in logs.items()}
            values.update(learning_rates(self.model, self.learning_rates))
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
