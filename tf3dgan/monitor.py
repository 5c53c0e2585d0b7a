"""Monitoring of a training run (visdom, offline HTML pages): the callbacks ``train`` adds for a config."""

from __future__ import annotations


def monitor_callbacks(config, run_dir):
    """Return ``(callbacks, snapshot_listeners)`` for ``config.monitor``; filled in by the monitoring work."""
    return [], []
