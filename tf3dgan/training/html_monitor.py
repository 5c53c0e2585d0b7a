"""Offline monitoring of a training run: HTML pages in the run folder (``samples/step_<step>.html`` with the
interactive sample panel, ``loss_curves.html``), written by the ``HtmlRecorder`` callback and by ``tf3dgan
plot``. The drawing itself lives in ``data_io.plotting``.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from tf3dgan.training.metrics import LOG_SCALE_GROUPS, METRIC_GROUPS
from tf3dgan.training.run_callbacks import read_metrics
from tf3dgan.training.run_folder import LOSS_PAGE, sample_path

# Shapes drawn in a panel (the fixed latent set may be larger); data_io.plotting caps the faces per panel.
PANEL_MAX_SHAPES = 16


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
