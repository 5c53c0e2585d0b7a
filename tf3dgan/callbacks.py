"""The Keras callbacks of a tf3dgan training run, for ``gan.fit(dataset, callbacks=[...])``.

Each works on its own with any ``tf3dgan.GAN``; ``tf3dgan.train`` combines them in a run folder.

| callback | what it does |
|---|---|
| ``MetricsLogger(path, every)`` | appends the metric means of each ``every`` steps to a ``.jsonl`` file (or a run folder's ``metrics.jsonl``) |
| ``SampleSnapshot(run_dir=None, every, fixed_z, listeners)`` | generates shapes from fixed latent vectors every ``every`` steps; ``.npz`` files in a run folder, and/or listeners |
| ``Checkpointer(run_dir, every)`` | atomic ``.npz`` checkpoints of every variable (``tf3dgan.load_run`` reads them) |
| ``ProgressBar(start, total)`` | a tqdm bar over the steps |
| ``TensorBoardMonitor(log_dir, log_every, histogram_every, real_batch)`` | TensorBoard scalars, D-logit histograms, sample meshes (``on_snapshot``) |
| ``VisdomMonitor(client=None, log_every, plot_every)`` | live curves and sample panels on a visdom server (``on_snapshot``) |
| ``HtmlRecorder(run_dir, every)`` | offline HTML sample pages and loss curves in a folder (``on_snapshot``) |

The step of a callback is the GAN's ``step_counter`` (it continues across ``fit`` calls and resumes).

This is the one public home of the callbacks; their code lives in ``tf3dgan/training/``, a module each:
``run_callbacks.py`` (the first four, ``read_metrics``), ``tensorboard_monitor.py``, ``visdom_monitor.py`` and
``html_monitor.py``; ``monitor.py`` picks the monitors of a run from ``config.monitor``.
"""

from tf3dgan.training.html_monitor import HtmlRecorder
from tf3dgan.training.run_callbacks import Checkpointer, MetricsLogger, ProgressBar, SampleSnapshot, read_metrics
from tf3dgan.training.tensorboard_monitor import TensorBoardMonitor
from tf3dgan.training.visdom_monitor import VisdomMonitor

__all__ = ["Checkpointer", "HtmlRecorder", "MetricsLogger", "ProgressBar", "SampleSnapshot", "TensorBoardMonitor",
           "VisdomMonitor", "read_metrics"]
