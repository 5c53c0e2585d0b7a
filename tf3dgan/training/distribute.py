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

from tf3dgan.config import TrainConfig, choices

DISTRIBUTE = choices(TrainConfig, "distribute")
_STRATEGIES: dict = {}


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` accepts scalars with ``axis=0``.

    Keras 3's ``fit`` reduces the metrics of a multi-worker step with ``strategy.reduce("MEAN", v, axis=0)``,
    which fails on scalar metrics ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388); for a scalar per replica the mean over the replicas is what is meant.
    """

    def reduce(self, reduce_op, value, axis=None):
        if axis is not None:
            local = self.experimental_local_results(value)
            if local and getattr(local[0], "shape", None) is not None and local[0].shape.rank == 0:
                axis = None
        return super().reduce(reduce_op, value, axis)


# -- inside the train step: the replicas of a strategy ----------------------------------------------
def replica_mean(value):
    """Mean of ``value`` over the replicas of a tf.distribute strategy (the value itself on one device)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, value)


def replica_slice(global_batch, local_size):
    """This replica's ``local_size`` rows of a tensor drawn for the global batch (all of it on one device).

    Every replica draws the same global latent batch (the seed generator is mirrored) and keeps its own
    slice, so the replicas together see exactly the latents one device would draw for the global batch.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return global_batch
    parts = tf.reshape(global_batch, tf.concat([[ctx.num_replicas_in_sync, local_size], tf.shape(global_batch)[1:]], 0))
    return tf.gather(parts, ctx.replica_id_in_sync_group)


def gradient_loss(loss, optimizer):
    """The loss to differentiate: divided by the replica count (Keras sums replica gradients, so they add up
    to the gradient of the global-batch mean) and multiplied by the optimizer's loss scale (mixed_float16)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        loss = loss * (1.0 / ctx.num_replicas_in_sync)
    return optimizer.scale_loss(loss)


def apply_where(condition, optimizer, gradients, variables):
    """``optimizer.apply(gradients(), variables)`` where ``condition`` holds; weights and optimizer state
    untouched otherwise. On one replica the gradient is computed only in the branch that uses it (the D gate
    skips most D steps in practice). Across replicas the gradient (an all-reduce, with synchronized BatchNorm)
    cannot sit in a branch: it is computed first, and the branch runs in cross-replica context (a ``tf.cond``
    around a synchronization point in replica context is not allowed); ``condition`` must agree on all
    replicas (the gate is computed on the global batch)."""

    def apply(grads):
        optimizer.apply(grads, variables)
        return tf.constant(True)

    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tf.cond(condition, lambda: apply(gradients()), lambda: tf.constant(False))

    def cross_replica(distribution, condition, grads):
        decide = distribution.experimental_local_results(condition)[0]

        def apply_each_replica():
            distribution.extended.call_for_each_replica(optimizer.apply, args=(grads, variables))
            return tf.constant(True)

        return tf.cond(decide, apply_each_replica, lambda: tf.constant(False))

    return ctx.merge_call(cross_replica, args=(condition, gradients()))


# -- building and fitting under a strategy --------------------------------------------------------------
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
            _STRATEGIES[distribute] = MultiWorkerStrategy()
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


def distribute_batches(make_dataset, distribute: str, global_batch: int):
    """The training input under ``distribute``: ``make_dataset()`` (global batches) itself, except for
    ``multi_worker``, where each worker builds the same global batches and keeps its own replicas' rows (replica
    r gets rows r * per_replica .. (r + 1) * per_replica), as ``MirroredStrategy`` splits a batch on one
    machine. Together the workers train on exactly the batches of one process (no tf.data auto-sharding)."""
    if distribute != "multi_worker":
        return make_dataset()
    strategy = get_strategy(distribute)

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(global_batch)
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def rows(batch):
            mine = batch[first * per_replica:(first + local) * per_replica]
            return tf.data.Dataset.from_tensor_slices(tf.reshape(mine, [local, per_replica, *batch.shape[1:]]))

        return make_dataset().flat_map(rows)

    return strategy.distribute_datasets_from_function(dataset_fn)


def barrier(distribute: str) -> None:
    """Wait until every worker of a ``multi_worker`` run gets here (a no-op otherwise): after the chief's last
    checkpoint of a ``train`` call, so that no worker can start the next call from an older one."""
    if distribute != "multi_worker":
        return
    strategy = get_strategy(distribute)
    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)
