"""The fast single-channel convolutions equal Keras' own layers, forward and backward."""

import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tf3dgan.nn.one_channel_convs import OneChannelConv3D, OneChannelConv3DTranspose, fast_path_applies


def _outputs_and_grads(layer, x):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * y)
    dx, dk = tape.gradient(loss, [x, layer.kernel])
    return y.numpy(), dx.numpy(), dk.numpy()


@pytest.mark.parametrize("use_bias", [False, True])
def test_transpose_conv_to_one_channel_matches_keras(use_bias):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 5, 5, 3)).astype("float32")
    ours = OneChannelConv3DTranspose(1, 4, strides=2, padding="same", use_bias=use_bias)
    ref = layers.Conv3DTranspose(1, 4, strides=2, padding="same", use_bias=use_bias)
    ours.build(x.shape), ref.build(x.shape)
    ref.set_weights([rng.normal(size=w.shape).astype("float32") for w in ref.get_weights()])
    ours.set_weights(ref.get_weights())
    assert fast_path_applies(ours)  # on this CPU-only machine the phase-split kernels run
    for a, b in zip(_outputs_and_grads(ours, x), _outputs_and_grads(ref, x)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_conv_from_one_channel_matches_keras():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 8, 8, 1)).astype("float32")
    ours = OneChannelConv3D(4, 4, strides=2, padding="same", use_bias=False)
    ref = layers.Conv3D(4, 4, strides=2, padding="same", use_bias=False)
    ours.build(x.shape), ref.build(x.shape)
    ours.set_weights(ref.get_weights())
    assert fast_path_applies(ours)
    for a, b in zip(_outputs_and_grads(ours, x), _outputs_and_grads(ref, x)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_other_shapes_fall_back_to_keras():
    x = np.ones((1, 4, 4, 4, 2), "float32")
    ours = OneChannelConv3DTranspose(3, 3, strides=1, padding="same", use_bias=False)
    ref = layers.Conv3DTranspose(3, 3, strides=1, padding="same", use_bias=False)
    ours.build(x.shape), ref.build(x.shape)
    ours.set_weights(ref.get_weights())
    np.testing.assert_allclose(ours(x), ref(x), rtol=1e-6)


def test_the_r1_penalty_through_the_fast_input_gradient_matches_keras():
    """R1 differentiates D's input gradient again, so the phase-split transpose conv is differentiated too."""
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(2, 8, 8, 8, 1)).astype("float32"))

    def penalty_and_grad(layer):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = layer(x)
                score = tf.reduce_sum(tf.sin(y))
            dx = inner.gradient(score, x)
            penalty = tf.reduce_sum(dx * dx)
        return penalty.numpy(), outer.gradient(penalty, layer.kernel).numpy()

    ours = OneChannelConv3D(3, 4, strides=2, padding="same", use_bias=False)
    ref = layers.Conv3D(3, 4, strides=2, padding="same", use_bias=False)
    ours.build(x.shape), ref.build(x.shape)
    ours.set_weights(ref.get_weights())
    for a, b in zip(penalty_and_grad(ours), penalty_and_grad(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
