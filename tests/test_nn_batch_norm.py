"""The fused BatchNorm equals Keras' own layer: outputs, gradients and moving statistics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf3dgan.nn.batch_norm import FusedBatchNormalization, fused_batch_norm_training


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


def _second_derivatives(normalize, x, gamma, beta, dy, u, u_gamma, u_beta):
    """The gradient of <u, dx> + <u_gamma, dgamma> + <u_beta, dbeta> with respect to (dy, x, gamma), where
    (dx, dgamma, dbeta) is the backward pass of ``normalize`` at ``dy``."""
    with tf.GradientTape() as outer:
        outer.watch([dy, x, gamma])
        with tf.GradientTape() as inner:
            inner.watch([x, gamma, beta])
            y = normalize(x, gamma, beta)
        dx, dgamma, dbeta = inner.gradient(y, [x, gamma, beta], output_gradients=dy)
        total = tf.reduce_sum(u * dx) + tf.reduce_sum(u_gamma * dgamma) + tf.reduce_sum(u_beta * dbeta)
    return [g.numpy() for g in outer.gradient(total, [dy, x, gamma])]


def test_the_closed_form_second_derivative_equals_automatic_differentiation_in_float64():
    """``fused_batch_norm_training``'s backward pass has a hand-derived gradient (fewer passes than
    TensorFlow's); every term of it, the batch-norm weights' included, against BatchNorm written out in float64."""
    rng = np.random.default_rng(3)
    shape, epsilon = (3, 4, 10, 5), 1e-3
    values = {
        "x": rng.normal(1.0, 2.0, size=shape), "dy": rng.normal(size=shape), "u": rng.normal(size=shape),
        "gamma": rng.uniform(0.5, 1.5, size=5), "beta": rng.normal(size=5),
        "u_gamma": rng.normal(size=5), "u_beta": rng.normal(size=5),
    }

    def written_out(x, gamma, beta):
        mean = tf.reduce_mean(x, axis=[0, 1, 2])
        variance = tf.reduce_mean(tf.square(x - mean), axis=[0, 1, 2])
        return (x - mean) / tf.sqrt(variance + epsilon) * gamma + beta

    def fused(x, gamma, beta):
        return fused_batch_norm_training(x, gamma, beta, epsilon)[0]

    def args(dtype):
        t = {k: tf.constant(v, dtype) for k, v in values.items()}
        return t["x"], t["gamma"], t["beta"], t["dy"], t["u"], t["u_gamma"], t["u_beta"]

    reference = _second_derivatives(written_out, *args(tf.float64))
    ours = _second_derivatives(fused, *args(tf.float32))
    for name, a, b in zip(["dy", "x", "gamma"], ours, reference):
        assert np.abs(b).max() > 1e-3, name  # a term that is not trivially zero
        assert np.abs(a - b).max() / np.abs(b).max() < 1e-5, name


def test_a_bfloat16_grid_gives_the_float32_kernels_results_rounded_to_bfloat16():
    """Under mixed bfloat16 the kernel reads the grid itself (no cast to float32 and back): its output and
    input gradient are bit for bit those of the float32 kernel rounded to bfloat16, its statistics and weight
    gradients those of the float32 kernel."""
    rng = np.random.default_rng(4)
    shape = (4, 6, 30, 8)
    x16 = tf.cast(rng.normal(0.3, 2.0, size=shape), tf.bfloat16)
    dy16 = tf.cast(rng.normal(size=shape), tf.bfloat16)
    gamma, beta = tf.constant(rng.uniform(0.5, 1.5, 8), tf.float32), tf.constant(rng.normal(size=8), tf.float32)

    def results(x, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, gamma, beta])
            y, mean, variance = fused_batch_norm_training(x, gamma, beta, 1e-3)
        return [y, *tape.gradient(y, [x, gamma, beta], output_gradients=dy), mean, variance]

    ours = results(x16, dy16)
    wide = results(tf.cast(x16, tf.float32), tf.cast(dy16, tf.float32))
    assert ours[0].dtype == ours[1].dtype == tf.bfloat16
    for a, b in zip(ours[:2], wide[:2]):
        np.testing.assert_array_equal(tf.cast(a, tf.float32).numpy(), tf.cast(tf.cast(b, tf.bfloat16), tf.float32).numpy())
    for a, b in zip(ours[2:], wide[2:]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5)  # sums in another order


def _r1_weight_gradients(logits_of, x, variables):
    with tf.GradientTape() as outer:
        outer.watch(variables)
        with tf.GradientTape() as inner:
            inner.watch(x)
            total = tf.reduce_sum(logits_of(x))
        squared = tf.reduce_sum(tf.square(inner.gradient(total, x)), axis=[1, 2, 3, 4])
        r1 = 0.5 * tf.reduce_mean(squared)
    return r1.numpy(), [g.numpy() for g in outer.gradient(r1, variables)]


def test_the_r1_penalty_gradient_through_fused_batch_norm_is_exact():
    """R1 differentiates D's input gradient with respect to D's weights: a second derivative through every
    BatchNorm. The fused kernel's is exact: D written out in float64 with exact moments is the reference.
    (Keras' own layer's is not: ``tf.nn.moments`` stops the gradient of the mean inside the variance.)"""
    from tf3dgan.nn.networks import build_discriminator
    from tf3dgan.training.stabilizers import logits_with_r1_penalty

    keras.utils.set_random_seed(0)
    real = (np.random.default_rng(0).random((4, 16, 16, 16, 1)) > 0.6).astype("float32")
    d = build_discriminator(cube_len=16, base_width=4)
    assert isinstance(d.get_layer("bn1"), FusedBatchNormalization)
    with tf.GradientTape() as tape:
        _, r1 = logits_with_r1_penalty(d, tf.constant(real))
    depth = sum(layer.name.startswith("bn") for layer in d.layers)  # stride-2 convs, each with its BatchNorm
    names = [f"conv{i}" for i in range(1, depth + 1)]
    ours = tape.gradient(r1, [d.get_layer(n).kernel for n in names])

    kernels = [tf.Variable(d.get_layer(n).kernel.numpy().astype("float64")) for n in names]

    def exact_logits(x):  # the same D; its conv kernels are the variables differentiated
        h = x
        for i, variable in enumerate(kernels, start=1):
            h = tf.nn.conv3d(h, variable, [1, 2, 2, 2, 1], "SAME")
            bn = d.get_layer(f"bn{i}")
            mean = tf.reduce_mean(h, axis=[0, 1, 2, 3])
            variance = tf.reduce_mean(tf.square(h - mean), axis=[0, 1, 2, 3])  # no stop_gradient: exact
            h = tf.nn.leaky_relu((h - mean) / tf.sqrt(variance + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy(), 0.2)
        head = tf.constant(d.get_layer(f"conv{depth + 1}").kernel.numpy(), tf.float64)
        return tf.reshape(tf.nn.conv3d(h, head, [1, 1, 1, 1, 1], "VALID"), [-1])

    r1_exact, reference = _r1_weight_gradients(exact_logits, tf.constant(real.astype("float64")), kernels)
    assert float(r1) == pytest.approx(r1_exact, rel=1e-5)
    for name, a, b in zip(names, ours, reference):
        assert np.abs(a.numpy() - b).max() / np.abs(b).max() < 1e-4, name
