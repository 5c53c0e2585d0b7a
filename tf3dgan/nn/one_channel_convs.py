"""Faster exact versions of the two single-channel 3D convolutions of the 3D-GAN (k4, stride 2, "same").

On CPU, oneDNN runs G's last layer (a transposed conv to ONE channel, e.g. 32^3x64 -> 64^3x1) and the input
gradient of D's first conv (the same operation) at a few GFLOP/s, several times slower per FLOP than the
wide layers. Split by output phase (the parity of the output index along each axis), every output voxel of
that transposed conv sums a 2^3 window of its neighbouring inputs, each phase with its own 2^3 slice of the
kernel. So the whole layer is ONE stride-1 2^3 convolution of the input padded by a voxel, to 8 channels
(one per phase), then a depth-to-space and a one-voxel crop (the "sub-pixel convolution" identity): a conv
shape oneDNN runs fast on every ISA. The layers below use it where oneDNN is slow and keep TensorFlow's own
kernels where they are fast; weights, shapes and results are those of the Keras layers. It is a CPU measure:
``fast_path_applies`` keeps Keras' own kernels on a GPU (cuDNN; not measured here).
"""

from __future__ import annotations

import keras
import tensorflow as tf

STRIDES = [1, 2, 2, 2, 1]
_SHELL = [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]]  # one voxel on each side of each spatial axis
# Window j of the input padded by one voxel holds inputs j-1 and j, the two that output voxels 2j-1 and 2j read.
# Slot q of the window is output voxel 2j - 1 + q; its kernel taps at window offsets 0, 1 are _SLOT_TAPS[q]
# (2j - 1 is an odd, phase-1 voxel: taps 2, 0; 2j an even, phase-0 voxel: taps 3, 1).
_SLOT_TAPS = ((2, 0), (3, 1))


def phase_kernel(kernel):
    """The (2, 2, 2, C, 8) stride-1 kernel whose output channel qa*4 + qb*2 + qc is window slot (qa, qb, qc)
    of the k4 stride-2 transposed conv with ``kernel`` (4, 4, 4, 1, C)."""
    k = kernel[:, :, :, 0, :]
    for axis in (0, 2, 4):  # each gather turns one tap axis into (slot, window offset)
        k = tf.gather(k, _SLOT_TAPS, axis=axis)
    k = tf.transpose(k, (1, 3, 5, 6, 0, 2, 4))  # (da, db, dc, C, qa, qb, qc)
    return tf.reshape(k, (2, 2, 2, k.shape[3], 8))


def transpose_conv_to_one_channel(x, kernel):
    """``conv3d_transpose(x, kernel)``, k4 stride 2 "same": x (B, n, n, n, C), kernel (4, 4, 4, 1, C) ->
    (B, 2n, 2n, 2n, 1)."""
    n = x.shape[1]
    batch = tf.shape(x)[0]
    # A tensor fill value makes this a PadV2: grappler's remapper folds a plain Pad into the conv and, in R1's
    # second backward pass, where the padded input also feeds the D gate's cond, fails on the whole graph
    # ("remapper failed: ... fanout ... for missing node 'Pad'", logged at every training start).
    padded = tf.pad(x, _SHELL, constant_values=tf.zeros((), x.dtype))
    windows = tf.nn.conv3d(padded, tf.cast(phase_kernel(kernel), x.dtype), [1, 1, 1, 1, 1], "VALID")
    # Depth-to-space: slot q of window j lands on voxel 2j + q of a (2n + 2)^3 grid, output voxel 2j - 1 + q
    # one voxel further in, so the output is that grid without its outer shell.
    grid = tf.reshape(windows, (batch, n + 1, n + 1, n + 1, 2, 2, 2))
    grid = tf.reshape(tf.transpose(grid, (0, 1, 4, 2, 5, 3, 6)), (batch, 2 * n + 2, 2 * n + 2, 2 * n + 2, 1))
    return _without_outer_shell(grid)


@tf.custom_gradient
def _without_outer_shell(grid):
    """``grid[:, 1:-1, 1:-1, 1:-1]``, whose gradient is a pad: TensorFlow's ``StridedSliceGrad`` took 5% of the
    recipe's R1 step here (D's input gradient is cropped so, and R1 differentiates it again)."""

    def grad(dy):
        return tf.pad(dy, _SHELL, constant_values=tf.zeros((), dy.dtype))  # PadV2: see transpose_conv_to_one_channel

    return grid[:, 1:-1, 1:-1, 1:-1], grad


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


def fast_path_applies(layer) -> bool:
    """Whether ``layer`` uses the phase-split kernels: a k4 stride-2 "same" layer, on TensorFlow, with no GPU.

    The one place that decides between them and Keras' own kernels.
    """
    return (
        tuple(layer.kernel_size) == (4, 4, 4)
        and tuple(layer.strides) == (2, 2, 2)
        and layer.padding == "same"
        and tuple(layer.dilation_rate) == (1, 1, 1)
        and layer.data_format == "channels_last"
        and keras.backend.backend() == "tensorflow"
        and not tf.config.list_logical_devices("GPU")
    )


def _finish(layer, outputs):
    if layer.use_bias:
        outputs = outputs + tf.cast(layer.bias, outputs.dtype)
    return layer.activation(outputs) if layer.activation is not None else outputs


@keras.saving.register_keras_serializable(package="tf3dgan")
class OneChannelConv3DTranspose(keras.layers.Conv3DTranspose):
    """``Conv3DTranspose`` (k4, stride 2, "same") to one channel with a fast forward pass (see module)."""

    def call(self, inputs):
        if self.filters != 1 or not fast_path_applies(self):
            return super().call(inputs)
        return _finish(self, _fast_transpose_conv(inputs, tf.convert_to_tensor(self.kernel)))


@keras.saving.register_keras_serializable(package="tf3dgan")
class OneChannelConv3D(keras.layers.Conv3D):
    """``Conv3D`` (k4, stride 2, "same") from one channel with a fast input gradient (see module)."""

    def call(self, inputs):
        if inputs.shape[-1] != 1 or self.groups != 1 or not fast_path_applies(self):
            return super().call(inputs)
        return _finish(self, _fast_input_gradient_conv(inputs, tf.convert_to_tensor(self.kernel)))
