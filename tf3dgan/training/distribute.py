"""Distribution (``train.distribute``): the tf.distribute strategy a GAN is built, compiled and fitted under.

``mirrored``: ``tf.distribute.MirroredStrategy`` over this machine's GPUs (or its logical CPU devices);
``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy``, its cluster read from ``TF_CONFIG``.
``fit`` splits each global batch (``train.batch_size``) across the replicas; ``GAN.train_step`` scales the
losses so that the summed replica gradients are those of the global batch, computes the D gate and the
metrics on the global batch and uses synchronized BatchNorm (statistics of the global batch).
"""

from __future__ import annotations

import contextlib

import tensorflow as tf

DISTRIBUTE = ("none", "mirrored", "multi_worker")
_STRATEGIES: dict = {}


def get_strategy(distribute: str):
    """The strategy for a ``train.distribute`` value (one instance per kind and process); None for ``none``."""
    if distribute not in DISTRIBUTE:
        raise ValueError(f"train.distribute must be one of {DISTRIBUTE}, got {distribute!r}")
    if distribute == "none":
        return None
    if distribute not in _STRATEGIES:
        if distribute == "mirrored":
            _STRATEGIES[distribute] = tf.distribute.MirroredStrategy()
        else:
            _STRATEGIES[distribute] = tf.distribute.MultiWorkerMirroredStrategy()
    return _STRATEGIES[distribute]


def strategy_scope(distribute: str):
    """``strategy.scope()`` for ``distribute``, a no-op context for ``none``."""
    strategy = get_strategy(distribute)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def check_global_batch(batch_size: int, distribute: str) -> None:
    """Raise ValueError unless ``batch_size`` splits evenly across the replicas of ``distribute``."""
    strategy = get_strategy(distribute)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if batch_size % replicas:
        raise ValueError(
            f"train.batch_size={batch_size} must be a multiple of the {replicas} replicas of "
            f"train.distribute={distribute!r} (the global batch is split evenly across them)"
        )


def is_chief(distribute: str) -> bool:
    """Whether this process writes the run folder: always, except on the non-chief workers of a
    ``multi_worker`` run (the chief is task ``chief`` 0, or ``worker`` 0 when the cluster has no chief)."""
    if distribute != "multi_worker":
        return True
    resolver = getattr(get_strategy(distribute), "cluster_resolver", None)
    task_type, task_id = getattr(resolver, "task_type", None), getattr(resolver, "task_id", None)
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() if resolver is not None else {})
    return task_type == "worker" and not has_chief and (task_id or 0) == 0
