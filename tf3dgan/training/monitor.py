"""The monitors of a training run, chosen by ``config.monitor``: ``monitor_callbacks(config, run_dir)`` returns
the Keras callbacks and the sample-snapshot listeners that ``tf3dgan.training.loop.train`` adds.

The monitors themselves: ``TensorBoardMonitor`` (``tensorboard_monitor.py``), ``HtmlRecorder`` and the offline
pages (``html_monitor.py``), ``VisdomMonitor`` (``visdom_monitor.py``). Nothing here can stop training: visdom
posts run on a background thread.
"""

from __future__ import annotations

from pathlib import Path

from tf3dgan.training.html_monitor import PANEL_MAX_SHAPES, HtmlRecorder
from tf3dgan.training.run_callbacks import constant_learning_rates
from tf3dgan.training.visdom_monitor import VisdomMonitor


def tensorboard_monitor(config, run_dir, voxels=None):
    """The ``TensorBoardMonitor`` of a run: ``RUN/tensorboard/``, scalars at ``train.log_every``, histograms of
    D's logits every ``monitor.tensorboard_every`` steps on the run's first training batch (the same every
    time, also after a resume) and on G of fixed latent vectors."""
    from tf3dgan.training.run_folder import TENSORBOARD_DIR
    from tf3dgan.training.tensorboard_monitor import TensorBoardMonitor

    t = config.train
    real = None
    if voxels is not None and config.monitor.tensorboard_every:
        from tf3dgan.training.training_input import shape_batches

        real = next(iter(shape_batches(config, voxels).take(1))).numpy()
    return TensorBoardMonitor(Path(run_dir) / TENSORBOARD_DIR, t.log_every, config.monitor.tensorboard_every, real,
                              max_meshes=min(PANEL_MAX_SHAPES, 4), checkpoint_every=t.checkpoint_every,
                              learning_rates=constant_learning_rates(t))


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
        live = VisdomMonitor(client, t.log_every, mon.plot_every, constant_learning_rates(t), run_dir,
                             checkpoint_every=t.checkpoint_every)
        callbacks.append(live)
        listeners.append(live.on_snapshot)
    return callbacks, listeners
