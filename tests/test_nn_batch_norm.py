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


def test_the_r1_penalty_gradient_is_right_through_batch_norm(monkeypatch):
    """TensorFlow's fused kernel has a wrong second derivative; R1 (which needs it) runs Keras' ops instead.
    Reference: the same D in float64 with Keras' own ops throughout."""
    from tf3dgan.nn import one_channel_convs
    from tf3dgan.nn.batch_norm import twice_differentiable
    from tf3dgan.nn.networks import build_discriminator
    from tf3dgan.training.stabilizers import logits_with_r1_penalty

    keras.utils.set_random_seed(0)
    real = (np.random.default_rng(0).random((4, 16, 16, 16, 1)) > 0.6).astype("float32")
    d = build_discriminator(cube_len=16, base_width=4)
    with tf.GradientTape() as tape:
        _, r1 = logits_with_r1_penalty(d, tf.constant(real))
    ours = tape.gradient(r1, d.trainable_variables)

    keras.config.set_floatx("float64")
    try:
        d64 = build_discriminator(cube_len=16, base_width=4)
    finally:
        keras.config.set_floatx("float32")
    assert isinstance(d.get_layer("bn1"), FusedBatchNormalization)
    assert one_channel_convs.fast_path_applies(d.get_layer("conv1"))
    d64.set_weights([w.astype("float64") for w in d.get_weights()])
    x = tf.constant(real.astype("float64"))
    monkeypatch.setattr(one_channel_convs, "fast_path_applies", lambda layer: False)
    with tf.GradientTape() as outer, twice_differentiable():
        with tf.GradientTape() as inner:
            inner.watch(x)
            total = tf.reduce_sum(d64(x, training=True)[0])
        squared = tf.reduce_sum(tf.square(inner.gradient(total, x)), axis=[1, 2, 3, 4])
        r1_64 = 0.5 * tf.reduce_mean(squared)
    reference = outer.gradient(r1_64, d64.trainable_variables)
    assert float(r1) == pytest.approx(float(r1_64), rel=1e-5)
    for variable, a, b in zip(d.trainable_variables, ours, reference):
        scale = np.abs(b.numpy()).max() + 1e-12
        assert np.abs(a.numpy() - b.numpy()).max() / scale < 1e-4, variable.path
