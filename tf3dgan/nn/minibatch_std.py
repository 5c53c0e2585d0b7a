"""Minibatch standard deviation (Karras et al. 2018, "Progressive growing of GANs", section 3)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tf3dgan")
class MinibatchStandardDeviation(keras.layers.Layer):
    """Appends one channel holding the batch's spread: the standard deviation over the batch of every feature
    at every position, averaged to one number. A D that sees it can tell a collapsed batch from a varied one."""

    def call(self, x):
        spread = ops.mean(ops.sqrt(ops.var(ops.cast(x, "float32"), axis=0) + 1e-8))
        channel = ops.ones_like(x[..., :1]) * ops.cast(spread, x.dtype)
        return ops.concatenate([x, channel], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)
