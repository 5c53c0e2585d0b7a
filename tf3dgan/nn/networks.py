"""The 3D-GAN generator and discriminator (Wu et al. 2016), for any power-of-two cube size.

At ``cube_len=64`` and ``base_width=64`` these are the paper's nets: G maps z to 4^3x512 with a valid k4
transposed convolution, then doubles the size four times (256, 128, 64 channels, then 1) with k4 stride-2
transposed convolutions; D mirrors it with k4 stride-2 convolutions 64-128-256-512 and a valid k4 convolution
to one logit. BatchNorm follows every layer but the last of each net; G uses ReLU, D LeakyReLU(0.2).

The discriminator returns ``(logit, features)``: the logit has shape (B,), ``features`` is the list of the
post-activation outputs of its stride-2 conv layers (used by feature matching and the SVM evaluation).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from data_io.voxel_geometry import is_power_of_two
from tf3dgan.nn.batch_norm import FusedBatchNormalization
from tf3dgan.nn.minibatch_std import MinibatchStandardDeviation
from tf3dgan.nn.one_channel_convs import OneChannelConv3D, OneChannelConv3DTranspose


def num_resolution_doublings(cube_len: int) -> int:
    """Stride-2 layers between the 4^3 core and a ``cube_len``^3 grid (4 for 64^3, 3 for 32^3)."""
    if not is_power_of_two(cube_len, 8):
        raise ValueError(f"cube_len must be a power of two >= 8, got {cube_len}")
    return int(math.log2(cube_len)) - 2


def hidden_widths(cube_len: int, base_width: int) -> list[int]:
    """Channel widths of the hidden layers from the 4^3 core outwards: [512, 256, 128, 64] at 64^3, base 64."""
    n = num_resolution_doublings(cube_len)
    return [base_width * 2 ** (n - 1 - i) for i in range(n)]


def build_generator(
    cube_len: int = 64,
    z_dim: int = 200,
    base_width: int = 64,
    use_bias: bool = False,
    dense_stem: bool = False,
    name: str = "generator",
) -> keras.Model:
    """G: z (B, z_dim) -> occupancy probabilities (B, cube_len, cube_len, cube_len, 1), sigmoid output.

    ``dense_stem`` replaces the first transposed convolution by a fully connected layer to 4^3 x width
    (tf-3dgan's 3dgan.py baseline).
    """
    widths = hidden_widths(cube_len, base_width)
    z = keras.Input((z_dim,), name="z")
    if dense_stem:
        x = layers.Dense(4 * 4 * 4 * widths[0], use_bias=use_bias, name="stem_dense")(z)
        x = layers.Reshape((4, 4, 4, widths[0]), name="stem_reshape")(x)
    else:
        x = layers.Reshape((1, 1, 1, z_dim), name="z_to_volume")(z)
        x = layers.Conv3DTranspose(
            widths[0], 4, strides=1, padding="valid", use_bias=use_bias, name="deconv1"
        )(x)
    x = FusedBatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    for i, width in enumerate(widths[1:], start=2):
        x = layers.Conv3DTranspose(
            width, 4, strides=2, padding="same", use_bias=use_bias, name=f"deconv{i}"
        )(x)
        x = FusedBatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    last = len(widths) + 1
    x = OneChannelConv3DTranspose(1, 4, strides=2, padding="same", use_bias=use_bias, name=f"deconv{last}")(x)
    # float32 output even under a mixed-precision policy: probabilities feed losses and thresholds.
    out = layers.Activation("sigmoid", dtype="float32", name="occupancy")(x)
    return keras.Model(z, out, name=name)


def build_discriminator(
    cube_len: int = 64,
    base_width: int = 64,
    use_bias: bool = False,
    leak: float = 0.2,
    dense_head: bool = False,
    minibatch_std: bool = False,
    name: str = "discriminator",
) -> keras.Model:
    """D: grid (B, cube_len, cube_len, cube_len, 1) -> (logit (B,), [features of each stride-2 conv]).

    Every stride-2 conv is followed by BatchNorm and LeakyReLU(leak), as in the paper. The head is a
    valid k4 convolution to one channel, or (``dense_head``, tf-3dgan's baseline) a fully connected layer;
    with ``minibatch_std`` it sees one more channel, the batch's spread (``MinibatchStandardDeviation``).
    """
    widths = list(reversed(hidden_widths(cube_len, base_width)))
    x_in = keras.Input((cube_len, cube_len, cube_len, 1), name="voxels")
    x = x_in
    features = []
    for i, width in enumerate(widths, start=1):
        conv = OneChannelConv3D if i == 1 else layers.Conv3D
        x = conv(width, 4, strides=2, padding="same", use_bias=use_bias, name=f"conv{i}")(x)
        x = FusedBatchNormalization(name=f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=leak, name=f"lrelu{i}")(x)
        features.append(x)
    last = len(widths) + 1
    if minibatch_std:
        x = MinibatchStandardDeviation(name="minibatch_std")(x)
    if dense_head:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(1, use_bias=use_bias, dtype="float32", name="head_dense")(x)
    else:
        x = layers.Conv3D(1, 4, strides=1, padding="valid", use_bias=use_bias, dtype="float32", name=f"conv{last}")(x)
    logit = layers.Reshape((), dtype="float32", name="logit")(x)
    return keras.Model(x_in, [logit, features], name=name)


def build_encoder(
    cube_len: int = 64,
    z_dim: int = 200,
    base_width: int = 64,
    use_bias: bool = False,
    leak: float = 0.2,
    name: str = "encoder",
) -> keras.Model:
    """E: grid -> z, mirroring D (its own weights, unlike tf-3dgan's which shared D's); linear output."""
    widths = list(reversed(hidden_widths(cube_len, base_width)))
    x_in = keras.Input((cube_len, cube_len, cube_len, 1), name="voxels")
    x = x_in
    for i, width in enumerate(widths, start=1):
        x = layers.Conv3D(width, 4, strides=2, padding="same", use_bias=use_bias, name=f"conv{i}")(x)
        x = FusedBatchNormalization(name=f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=leak, name=f"lrelu{i}")(x)
    x = layers.Conv3D(z_dim, 4, strides=1, padding="valid", use_bias=True, name=f"conv{len(widths) + 1}")(x)
    z = layers.Reshape((z_dim,), dtype="float32", name="z")(x)
    return keras.Model(x_in, z, name=name)


def image_encoder_layers(image_size: int) -> list[tuple[int, int]]:
    """(kernel, stride) of the image encoder's hidden conv layers, from ``image_size`` down to 8x8.

    256^2 (and up): the paper's k11 stride-4 layer, then k5 stride-2 layers (256: 64, 32, 16, 8). Below 256
    only k5 stride-2 layers (128: 4 of them, 64: 3, 32: 2, 16: 1, 8: none). A k8 valid conv follows.
    """
    if not is_power_of_two(image_size, 8):
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    halvings = int(math.log2(image_size // 8))
    if halvings >= 5:
        return [(11, 4)] + [(5, 2)] * (halvings - 2)
    return [(5, 2)] * halvings


def build_image_encoder(
    image_size: int = 256,
    z_dim: int = 200,
    base_width: int = 64,
    use_bias: bool = False,
    channels: int = 1,
    name: str = "image_encoder",
    extra_convs: int = 0,
) -> keras.Model:
    """E of 3D-VAE-GAN: pictures (B, S, S, channels), values 0..255, -> (B, 2 z_dim): mean, then log-variance.

    At 256^2 and ``base_width`` 64 this is the paper's (supplementary) encoder: 5 conv layers, channels
    64-128-256-512-400 (400 = 2 x 200), kernels 11-5-5-5-8, strides 4-2-2-2-1, BatchNorm + ReLU after each
    hidden layer. Smaller pictures use fewer stride-2 layers (``image_encoder_layers``); hidden widths are
    ``base_width`` x 1, 2, 4, 8, 8, ...; the last layer (k8 valid, with bias) is linear. ``extra_convs``
    k3 stride-1 layers (same width, BatchNorm + ReLU) follow each hidden layer: a deeper E at the same
    resolutions (0, the paper's, by default).
    """
    spec = image_encoder_layers(image_size)
    x_in = keras.Input((image_size, image_size, channels), name="images")
    x = layers.Rescaling(1.0 / 255.0, name="to_unit")(x_in)

    def conv_bn_relu(x, width, kernel, stride, suffix):
        x = layers.Conv2D(width, kernel, strides=stride, padding="same", use_bias=use_bias, name=f"conv{suffix}")(x)
        return layers.ReLU(name=f"relu{suffix}")(layers.BatchNormalization(name=f"bn{suffix}")(x))

    for i, (kernel, stride) in enumerate(spec, start=1):
        width = base_width * 2 ** min(i - 1, 3)
        x = conv_bn_relu(x, width, kernel, stride, i)
        for j in range(1, extra_convs + 1):
            x = conv_bn_relu(x, width, 3, 1, f"{i}_{j}")
    x = layers.Conv2D(2 * z_dim, 8, strides=1, padding="valid", use_bias=True, name=f"conv{len(spec) + 1}")(x)
    out = layers.Reshape((2 * z_dim,), dtype="float32", name="mean_logvar")(x)
    return keras.Model(x_in, out, name=name)
