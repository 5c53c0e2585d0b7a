"""``BatchNormalization`` whose training-mode pass over 5D grids is TensorFlow's fused 4D kernel.

Keras' own layer computes the batch moments, normalises and updates the moving statistics in several
elementwise passes, and as many again in the backward pass; at 32^3 x 64 channels these passes cost as much
as a convolution on a CPU. ``FusedBatchNormV3`` does the same work in one pass each way. Results, moving
statistics (Keras' biased batch variance, momentum) and weights are those of the Keras layer; other cases
(inference, masks, synchronized or renormalised BatchNorm, other ranks) run Keras' own code.

Its second derivative is exact too (R1 differentiates D's input gradient again): within 1e-5 of a float64
reference, where Keras' own layer is off by up to 1.4%, since ``tf.nn.moments`` stops the gradient of the mean
inside the variance (right to first order only; tested). TensorFlow's own second derivative of the fused kernel
recomputes the backward pass in elementwise ops and differentiates them: about 50 passes over the grid, a fifth
of the recipe's R1 step on a CPU. ``fused_batch_norm_training`` gives it in closed form instead (about 20).
"""

from __future__ import annotations

import keras
import tensorflow as tf


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
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        # Statistics in float32 under mixed precision, as Keras. On a CPU the kernel reads a bfloat16 grid itself
        # and accumulates in float32, which saves a cast of the grid each way (and each way again in R1's pass);
        # elsewhere (not measured: no GPU was at hand) the grid is cast, as Keras does.
        reads_bfloat16 = inputs.dtype == tf.bfloat16 and not tf.config.list_logical_devices("GPU")
        x = inputs if reads_bfloat16 else tf.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = tf.convert_to_tensor(self.gamma) if self.scale else tf.ones(channels)
        beta = tf.convert_to_tensor(self.beta) if self.center else tf.zeros(channels)
        # Per-channel statistics do not care how the other axes are grouped, and the 4D (NHWC) kernel is oneDNN's,
        # about twice as fast forward and backward as the 5D one on CPU (docs/performance.md).
        y, mean, variance = fused_batch_norm_training(
            tf.reshape(x, (-1, x.shape[1], x.shape[2] * x.shape[3], channels)), gamma, beta, self.epsilon
        )
        y = tf.reshape(y, tf.shape(x))
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(y, self.compute_dtype)


def fused_batch_norm_training(x, gamma, beta, epsilon: float):
    """Training-mode ``FusedBatchNormV3`` over the channels of an NHWC ``x`` (float32 or bfloat16; statistics,
    ``gamma`` and ``beta`` in float32): ``(y, batch mean, biased batch variance)`` (the one ``x`` is normalised by,
    and the one Keras' moving variance averages). Gradients flow to ``x``,
    ``gamma`` and ``beta`` through ``y`` only (the statistics feed the moving averages, as in TensorFlow's own
    gradient); the backward pass is the fused gradient kernel, and its own gradient (R1's second derivative) is
    ``_backward_gradient``."""

    @tf.custom_gradient
    def normalize(x, gamma, beta):
        y, mean, variance, *reserve = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=tf.zeros([0]), variance=tf.zeros([0]), epsilon=epsilon,
            data_format="NHWC", is_training=True,
        )
        count = tf.cast(tf.size(x, out_type=tf.int64) // x.shape[-1], variance.dtype)
        variance = variance * ((count - 1.0) / count)  # the kernel returns Bessel's variance
        inv_sigma = tf.math.rsqrt(variance + epsilon)

        def grad(dy, _dmean=None, _dvariance=None):
            return _backward(dy, x, gamma, reserve, epsilon, mean, inv_sigma, count)

        return (y, mean, variance), grad

    return normalize(x, gamma, beta)


def _backward(dy, x, gamma, reserve, epsilon, mean, inv_sigma, count):
    """``(dx, dgamma, dbeta)`` of training-mode BatchNorm by the fused kernel, with a closed-form gradient."""

    @tf.custom_gradient
    def backward(dy, x, gamma):
        dx, dgamma, dbeta, *_ = tf.raw_ops.FusedBatchNormGradV3(
            y_backprop=dy, x=x, scale=gamma, reserve_space_1=reserve[0], reserve_space_2=reserve[1],
            reserve_space_3=reserve[2], epsilon=epsilon, data_format="NHWC", is_training=True,
        )

        def grad(u, u_gamma=None, u_beta=None):
            return _backward_gradient(dy, x, gamma, mean, inv_sigma, count, dgamma, dbeta, u, u_gamma, u_beta)

        return (dx, dgamma, dbeta), grad

    return backward(dy, x, gamma)


def _backward_gradient(dy, x, gamma, mean, inv_sigma, count, dgamma, dbeta, u, u_gamma, u_beta):
    """The gradient of ``L = <u, dx> + <u_gamma, dgamma> + <u_beta, dbeta>`` with respect to ``(dy, x, gamma)``,
    where, per channel over its M values, x_hat = (x - mean) / sigma, sigma = sqrt(biased variance + epsilon),
    a = mean(dy), b = mean(dy x_hat), dx = s (dy - a - b x_hat) with s = gamma / sigma, dgamma = M b, dbeta = M a.

    With u_mean = mean(u), u_x = mean(u x_hat), u_dy = mean(u dy) and T = u_dy - a u_mean - b u_x:
    dL/d dy = s (u - u_mean - u_x x_hat) + u_beta + u_gamma x_hat; dL/d gamma = M T / sigma; and, through x_hat
    and sigma, dL/dx = (-s b (u - u_mean) + (u_gamma - s u_x)(dy - a) + K x_hat) / sigma with
    K = s (3 b u_x - u_dy + a u_mean) - b u_gamma. (Derived by hand; tests/test_nn_batch_norm.py checks it
    against automatic differentiation of BatchNorm written out in float64.) ``mean``, ``inv_sigma`` and the count
    M come from the forward pass and a, b from the fused backward pass (its dbeta, dgamma): fewer passes over the
    grid."""
    axes = [0, 1, 2]
    zero = tf.zeros_like(gamma)
    u_gamma = zero if u_gamma is None else u_gamma
    u_beta = zero if u_beta is None else u_beta
    x_dtype, dy_dtype = x.dtype, dy.dtype
    x, dy, u = (tf.cast(t, gamma.dtype) for t in (x, dy, u))  # bfloat16 grids: the arithmetic in float32
    x_hat = (x - mean) * inv_sigma
    a, b = dbeta / count, dgamma / count
    u_mean, u_x, u_dy = tf.reduce_mean(u, axes), tf.reduce_mean(u * x_hat, axes), tf.reduce_mean(u * dy, axes)
    s = gamma * inv_sigma
    slope = u_gamma - s * u_x
    d_dy = s * u + slope * x_hat + (u_beta - s * u_mean)
    d_gamma = count * (u_dy - a * u_mean - b * u_x) * inv_sigma
    k = s * (3.0 * b * u_x - u_dy + a * u_mean) - b * u_gamma
    d_x = ((-s * b * inv_sigma) * u + (slope * inv_sigma) * dy + (k * inv_sigma) * x_hat
           + (s * b * u_mean - slope * a) * inv_sigma)
    return tf.cast(d_dy, dy_dtype), tf.cast(d_x, x_dtype), d_gamma
