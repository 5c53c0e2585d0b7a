"""``BatchNormalization`` whose training-mode pass over 5D grids is TensorFlow's fused 4D kernel.

Keras' own layer computes the batch moments, normalises and updates the moving statistics in several
elementwise passes, and as many again in the backward pass; at 32^3 x 64 channels these passes cost as much
as a convolution on a CPU. ``FusedBatchNormV3`` does the same work in one pass each way. Results, moving
statistics (Keras' biased batch variance, momentum) and weights are those of the Keras layer; other cases
(inference, masks, synchronized or renormalised BatchNorm, other ranks) run Keras' own code.

The fused kernel's SECOND derivative is wrong: the R1 penalty's gradient with respect to D's weights through
it is off by up to 1.4% against a float64 reference, where Keras' own ops are within 2e-6 (tested). So code
that differentiates a gradient again runs inside ``twice_differentiable()``, which switches to Keras' ops.
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
import tensorflow as tf

_TWICE_DIFFERENTIABLE = contextvars.ContextVar("twice_differentiable", default=False)


@contextlib.contextmanager
def twice_differentiable():
    """Within this block (while a graph is traced, or eagerly), ``FusedBatchNormalization`` runs Keras' own
    ops, whose second derivative is right (the fused kernel's is not; see the module)."""
    token = _TWICE_DIFFERENTIABLE.set(True)
    try:
        yield
    finally:
        _TWICE_DIFFERENTIABLE.reset(token)


@keras.saving.register_keras_serializable(package="tf3dgan")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with a fused training pass for (B, D, H, W, C) inputs."""

    def _fused_applies(self, inputs, training, mask) -> bool:
        return (
            bool(training)
            and self.trainable
            and mask is None
            and not self.synchronized
            and not self.renorm
            and len(inputs.shape) == 5
            and self.axis in (-1, 4)
            and keras.backend.backend() == "tensorflow"
            and not _TWICE_DIFFERENTIABLE.get()
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, "float32")  # as Keras: statistics in float32 under mixed precision
        channels = x.shape[-1]
        gamma = tf.convert_to_tensor(self.gamma) if self.scale else tf.ones(channels)
        beta = tf.convert_to_tensor(self.beta) if self.center else tf.zeros(channels)
        # Per-channel statistics do not care how the other axes are grouped, and the 4D (NHWC) kernel is oneDNN's,
        # about twice as fast forward and backward as the 5D one on CPU (docs/performance.md).
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            tf.reshape(x, (-1, x.shape[1], x.shape[2] * x.shape[3], channels)), gamma, beta,
            epsilon=self.epsilon, is_training=True, data_format="NHWC",
        )
        y = tf.reshape(y, tf.shape(x))
        count = tf.cast(tf.size(x, out_type=tf.int64) // channels, "float32")
        variance = variance * ((count - 1.0) / count)  # the kernel returns Bessel's variance; Keras keeps the biased one
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(y, self.compute_dtype)
