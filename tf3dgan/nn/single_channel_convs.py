"""Faster exact versions of the two single-channel 3D convolutions of the 3D-GAN (k4, stride 2, "same").

On CPU, oneDNN runs G's last layer (a transposed conv to ONE channel, 32^3x64 -> 64^3x1) and the input
gradient of D's first conv (the same operation) at a few GFLOP/s, ~4x slower per FLOP than the wide layers.
Both are the same linear map: a matmul of each input voxel's channels with the 64 kernel taps, then an
overlap-add of the 4^3 taps into the 2x-finer grid. Split by output phase (the parity of the output index
along each axis), every output voxel sums exactly 2^3 taps of its neighbouring inputs, so the overlap-add is
8 phases x 8 shifted slices and a depth-to-space. The layers below use it where oneDNN is slow and keep
TensorFlow's own kernels where they are fast; weights, shapes and results are those of the Keras layers.
"""

from __future__ import annotations

import keras
import tensorflow as tf

STRIDES = [1, 2, 2, 2, 1]
# For an output phase p along one axis: (start in the input padded by one voxel, kernel tap) of its 2 terms.
_PHASE_TERMS = {0: ((1, 1), (0, 3)), 1: ((2, 0), (1, 2))}


def transpose_conv_to_one_channel(x, kernel):
    """``conv3d_transpose(x, kernel)``, k4 stride 2 "same": x (B, n, n, n, C), kernel (4, 4, 4, 1, C) ->
    (B, 2n, 2n, 2n, 1)."""
    n, channels = x.shape[1], x.shape[-1]
    batch = tf.shape(x)[0]
    kernel = tf.cast(kernel, x.dtype)
    taps_by_channel = tf.reshape(tf.transpose(kernel[:, :, :, 0, :], (3, 0, 1, 2)), (channels, 64))
    taps = tf.matmul(tf.reshape(x, (-1, channels)), taps_by_channel)  # (B n^3, 64)
    taps = tf.transpose(tf.reshape(taps, (batch, n, n, n, 64)), (4, 0, 1, 2, 3))
    taps = tf.unstack(tf.pad(taps, [[0, 0], [0, 0], [1, 1], [1, 1], [1, 1]]), 64)
    phases = []
    for pa in (0, 1):
        for pb in (0, 1):
            for pc in (0, 1):
                terms = [
                    taps[ta * 16 + tb * 4 + tc][:, sa : sa + n, sb : sb + n, sc : sc + n]
                    for sa, ta in _PHASE_TERMS[pa]
                    for sb, tb in _PHASE_TERMS[pb]
                    for sc, tc in _PHASE_TERMS[pc]
                ]
                phases.append(tf.add_n(terms))
    out = tf.reshape(tf.stack(phases, -1), (batch, n, n, n, 2, 2, 2))
    out = tf.transpose(out, (0, 1, 4, 2, 5, 3, 6))
    return tf.reshape(out, (batch, 2 * n, 2 * n, 2 * n, 1))


def _filter_gradient(inputs, kernel, out_backprop):
    return tf.raw_ops.Conv3DBackpropFilterV2(
        input=inputs, filter_sizes=tf.shape(kernel), out_backprop=out_backprop, strides=STRIDES, padding="SAME"
    )


@tf.custom_gradient
def _fast_transpose_conv(x, kernel):
    def grad(dy):
        kernel_c = tf.cast(kernel, dy.dtype)
        dx = tf.nn.conv3d(dy, kernel_c, strides=STRIDES, padding="SAME")
        dk = _filter_gradient(dy, kernel_c, tf.cast(x, dy.dtype))
        return dx, tf.cast(dk, kernel.dtype)

    return transpose_conv_to_one_channel(x, kernel), grad


@tf.custom_gradient
def _fast_input_gradient_conv(x, kernel):
    kernel_c = tf.cast(kernel, x.dtype)

    def grad(dy):
        dx = transpose_conv_to_one_channel(dy, kernel_c)  # the same kernel read as (k, k, k, 1 out, C in)
        dk = _filter_gradient(x, kernel_c, dy)
        return tf.cast(dx, x.dtype), tf.cast(dk, kernel.dtype)

    return tf.nn.conv3d(x, kernel_c, strides=STRIDES, padding="SAME"), grad


def _is_k4_s2_same(layer) -> bool:
    return (
        tuple(layer.kernel_size) == (4, 4, 4)
        and tuple(layer.strides) == (2, 2, 2)
        and layer.padding == "same"
        and tuple(layer.dilation_rate) == (1, 1, 1)
        and layer.data_format == "channels_last"
        and keras.backend.backend() == "tensorflow"
    )


def _finish(layer, outputs):
    if layer.use_bias:
        outputs = outputs + tf.cast(layer.bias, outputs.dtype)
    return layer.activation(outputs) if layer.activation is not None else outputs


@keras.saving.register_keras_serializable(package="tf3dgan")
class OneChannelConv3DTranspose(keras.layers.Conv3DTranspose):
    """``Conv3DTranspose`` (k4, stride 2, "same") to one channel with a fast forward pass (see module)."""

    def call(self, inputs):
        if self.filters != 1 or not _is_k4_s2_same(self):
            return super().call(inputs)
        return _finish(self, _fast_transpose_conv(inputs, tf.convert_to_tensor(self.kernel)))


@keras.saving.register_keras_serializable(package="tf3dgan")
class OneChannelConv3D(keras.layers.Conv3D):
    """``Conv3D`` (k4, stride 2, "same") from one channel with a fast input gradient (see module)."""

    def call(self, inputs):
        if inputs.shape[-1] != 1 or self.groups != 1 or not _is_k4_s2_same(self):
            return super().call(inputs)
        return _finish(self, _fast_input_gradient_conv(inputs, tf.convert_to_tensor(self.kernel)))
