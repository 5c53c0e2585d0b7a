"""The names of the metrics a training step reports, and how the pages, the dashboard and reports group them.

``GAN.train_step`` returns ``BASE_METRICS`` plus its variant's ``extra_metrics``; ``MetricsLogger`` writes
them, with the ``LEARNING_RATES``, to ``metrics.jsonl``. Everything that reads or draws them takes the names
from here (``data_io.plotting`` gets the groups passed in: it knows no metric names).
"""

BASE_METRICS = ("d_loss", "g_loss", "d_acc", "d_real", "d_fake", "d_updated")
LEARNING_RATES = ("g_lr", "d_lr")
PROGRESS_METRICS = ("d_loss", "g_loss", "d_acc")  # on the progress bar
CURVES = ("d_loss", "g_loss", "d_acc", "d_updated")  # the per-run curves of an ablation report

# The curve groups of the loss page and of the visdom windows: window name -> (title, metric names).
METRIC_GROUPS = {
    "losses": ("Losses", ("d_loss", "g_loss")),
    "discriminator": ("D(x), D(G(z)), D accuracy", ("d_real", "d_fake", "d_acc")),
    "d_updated": ("Fraction of steps that updated D", ("d_updated",)),
    "learning_rates": ("Learning rates", LEARNING_RATES),
}
LOG_SCALE_GROUPS = ("learning_rates",)  # drawn with a logarithmic y axis
