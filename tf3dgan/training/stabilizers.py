"""Optional GAN training tricks with a published basis, all off by default (the paper's configs stay the paper's).

Each is a ``train`` key of the config, applied by the GAN's one ``train_step``, and a row of an ablation:

- ``ema_decay``: an exponential moving average of G's weights, which sampling, evaluation and export use
  (Yazici et al. 2019, "The unusual effectiveness of averaging in GAN training"; Karras et al. 2018).
- ``instance_noise``: Gaussian noise of this std on every input of D, annealed linearly to 0 at the last
  step (Sonderby et al. 2017, "Amortised MAP inference for image super-resolution"; Arjovsky & Bottou 2017).
- ``r1_gamma``: the R1 penalty ``gamma / 2 * E ||grad_x D(x)||^2`` on real shapes (Mescheder et al. 2018).
- ``soft_labels``: random soft targets as in the PyTorch port (3DGAN-Pytorch): real ``U(0.7, 1.2)``, generated
  ``U(0, 0.3)``, clipped to [0, 1] (Salimans et al. 2016 for one-sided smoothing).
- ``lr_schedule``: both learning rates held until ``lr_decay_start`` of the run, then decayed to 0 at the
  last step, linearly or along a half cosine.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tf3dgan.config import TrainConfig, choices

LR_SCHEDULES = choices(TrainConfig, "lr_schedule")
SOFT_REAL_RANGE = (0.7, 1.2)
SOFT_FAKE_RANGE = (0.0, 0.3)


def ema_decay_at(step, decay: float):
    """The averaging decay at ``step`` (steps done before this update): ``decay``, lowered early in training as
    TensorFlow's ExponentialMovingAverage does with ``num_updates``, so the average forgets the random
    initialisation within the first steps."""
    step = tf.cast(step, tf.float32)
    return tf.minimum(tf.constant(decay, tf.float32), (1.0 + step) / (10.0 + step))


def update_average(average_model, model, decay) -> None:
    """``average = decay * average + (1 - decay) * weights`` for the trainable weights of two models of one
    architecture; the non-trainable ones (BatchNorm statistics) are copied."""
    for average, weight in zip(average_model.trainable_variables, model.trainable_variables):
        value = tf.cast(weight, average.dtype)
        average.assign(average * tf.cast(decay, average.dtype) + value * tf.cast(1.0 - decay, average.dtype))
    for average, weight in zip(average_model.non_trainable_variables, model.non_trainable_variables):
        average.assign(weight)


def remaining_fraction(step, steps: int):
    """``1 - step / steps`` clipped to [0, 1]: the linear annealing factor (1 at the first step, 0 at the end)."""
    if steps <= 0:
        return tf.constant(0.0)
    return tf.clip_by_value(1.0 - tf.cast(step, tf.float32) / float(steps), 0.0, 1.0)


def learning_rate_factor(step, schedule: str, decay_start: float, steps: int):
    """The multiplier of the base learning rates at ``step``: 1 until ``decay_start * steps``, then down to 0
    at ``steps``, linearly or along a half cosine."""
    if schedule == "constant":
        return tf.constant(1.0)
    start = decay_start * steps
    span = max(steps - start, 1.0)
    progress = tf.clip_by_value((tf.cast(step, tf.float32) - start) / span, 0.0, 1.0)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + tf.cos(math.pi * progress))
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")


def logits_with_r1_penalty(discriminator, real):
    """D's training-mode logits on ``real`` and the R1 penalty without its weight: the batch mean of
    ``||d logit / d x||^2 / 2``, differentiable with respect to D's weights (the caller's tape records it)."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(real)
        logits, _ = discriminator(real, training=True)
        total = tf.reduce_sum(tf.cast(logits, tf.float32))
    gradient = tf.cast(tape.gradient(total, real), tf.float32)
    squared_norms = tf.reduce_sum(tf.square(gradient), axis=list(range(1, gradient.shape.rank)))
    return logits, 0.5 * tf.reduce_mean(squared_norms)
