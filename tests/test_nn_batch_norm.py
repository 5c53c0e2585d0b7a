"""The fused BatchNorm equals Keras' own layer: outputs, gradients and moving statistics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf3dgan.nn.batch_norm import FusedBatchNormalization


def _pair(shape, rng):
    ours, ref = FusedBatchNormalization(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    ours.build(shape), ref.build(shape)
    weights = [rng.uniform(0.5, 1.5, size=w.shape).astype("float32") for w in ref.weights]
    ours.set_weights(weights), ref.set_weights(weights)
    return ours, ref


def _train_pass(layer, x, dy):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    return [y, *tape.gradient(y, [x, layer.gamma, layer.beta], output_gradients=dy)]


def test_training_pass_matches_keras():
    rng = np.random.default_rng(0)
    shape = (3, 4, 5, 6, 7)
    x = tf.constant(rng.normal(2.0, 3.0, size=shape).astype("float32"))
    dy = tf.constant(rng.normal(size=shape).astype("float32"))
    ours, ref = _pair(shape, rng)
    for _ in range(2):  # twice: the moving statistics compound
        for a, b in zip(_train_pass(ours, x, dy), _train_pass(ref, x, dy)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.non_trainable_weights, ref.non_trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    # A batch of 3*4*5*6 = 360 values per channel: Bessel's factor 360/359 would show at this tolerance.
    assert not np.allclose(ours.moving_variance.numpy(), ref.moving_variance.numpy() * 360 / 359, rtol=1e-6, atol=0)


@pytest.mark.parametrize("training", [False, True])
def test_inference_and_other_ranks_run_keras_code(training):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6)).astype("float32")
    ours, ref = _pair(x.shape, rng)
    np.testing.assert_allclose(ours(x, training=training), ref(x, training=training), rtol=1e-6)


def test_bfloat16_policy_keeps_statistics_in_float32():
    layer = FusedBatchNormalization(dtype="mixed_bfloat16")
    x = tf.cast(tf.random.normal((2, 4, 4, 4, 3)), "bfloat16")
    y = layer(x, training=True)
    assert y.dtype == tf.bfloat16 and layer.moving_mean.dtype == "float32"
    assert np.all(np.isfinite(layer.moving_variance.numpy()))
