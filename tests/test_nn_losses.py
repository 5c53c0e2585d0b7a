"""Loss and accuracy values on known logits."""

import math

import numpy as np
import pytest

from tf3dgan.nn import losses

LN2 = math.log(2.0)


def test_losses_at_zero_logits():
    zero = np.zeros(4, "float32")
    assert float(losses.discriminator_loss(zero, zero)) == pytest.approx(2 * LN2, rel=1e-6)
    assert float(losses.generator_loss_non_saturating(zero)) == pytest.approx(LN2, rel=1e-6)
    assert float(losses.generator_loss_saturating(zero)) == pytest.approx(-LN2, rel=1e-6)


def test_label_smoothing_changes_targets():
    logits = np.full(3, 2.0, "float32")
    # real target 0.9: BCE = -(0.9 log s(2) + 0.1 log(1 - s(2))); fake target 0 at logit -2: -log(1 - s(-2))
    s = 1 / (1 + math.exp(-2))
    expected = -(0.9 * math.log(s) + 0.1 * math.log(1 - s)) - math.log(1 - 1 / (1 + math.exp(2)))
    assert float(losses.discriminator_loss(logits, -logits, real_targets=0.9)) == pytest.approx(expected, rel=1e-5)


def test_per_example_targets_are_the_mean_of_per_example_losses():
    real, fake = np.array([1.0, -0.5], "float32"), np.array([0.25, 2.0], "float32")
    real_targets, fake_targets = np.array([1.0, 0.8], "float32"), np.array([0.1, 0.0], "float32")

    def bce(t, x):
        p = 1 / (1 + math.exp(-x))
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    expected = (bce(1.0, 1.0) + bce(0.8, -0.5)) / 2 + (bce(0.1, 0.25) + bce(0.0, 2.0)) / 2
    got = losses.discriminator_loss(real, fake, real_targets, fake_targets)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_non_saturating_gradient_is_strong_where_saturating_vanishes():
    import tensorflow as tf

    logits = tf.constant([-8.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        ns = losses.generator_loss_non_saturating(logits)
        sat = losses.generator_loss_saturating(logits)
    assert abs(float(tape.gradient(ns, logits)[0])) > 0.99
    assert abs(float(tape.gradient(sat, logits)[0])) < 1e-3


def test_accuracy():
    real = np.array([1.0, -1.0, 2.0, 3.0], "float32")  # 3 of 4 right
    fake = np.array([-1.0, -2.0, 1.0, -3.0], "float32")  # 3 of 4 right
    assert float(losses.discriminator_accuracy(real, fake)) == 0.75


def test_feature_matching_and_reconstruction():
    a = [np.ones((2, 3), "float32"), np.zeros((2, 2), "float32")]
    b = [np.zeros((2, 3), "float32"), np.full((2, 2), 2.0, "float32")]
    assert float(losses.feature_matching_loss(a, b, "l2")) == pytest.approx(1.0 + 4.0)
    assert float(losses.feature_matching_loss(a, b, "l1")) == pytest.approx(1.0 + 2.0)
    target = np.array([1.0, 0.0], "float32")
    assert float(losses.reconstruction_loss(target, np.array([0.5, 0.5], "float32"))) == pytest.approx(LN2, rel=1e-5)
    assert float(losses.reconstruction_loss(target, np.array([1.0, 0.0], "float32"), "mse")) == 0.0


LOGITS = np.array([2.0, -1.0, 0.5, -3.0], "float32")  # asymmetric: -log D and -log(1 - D) differ at each


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def test_generator_losses_equal_their_formulas_at_asymmetric_logits():
    d = _sigmoid(LOGITS)
    assert float(losses.generator_loss_non_saturating(LOGITS)) == pytest.approx(np.mean(-np.log(d)), rel=1e-6)
    assert float(losses.generator_loss_saturating(LOGITS)) == pytest.approx(np.mean(np.log(1 - d)), rel=1e-6)
    # The two name different functions: -log D(G(z)) is not -log(1 - D(G(z))) away from logit 0.
    assert np.mean(-np.log(d)) != pytest.approx(np.mean(-np.log(1 - d)), rel=1e-2)


def test_the_config_names_map_to_the_right_generator_loss():
    d = _sigmoid(LOGITS)
    by_value = {name: float(fn(LOGITS)) for name, fn in losses.GENERATOR_LOSSES.items()}
    assert set(by_value) == {"non_saturating", "saturating"}
    assert by_value["non_saturating"] == pytest.approx(np.mean(-np.log(d)), rel=1e-6)
    assert by_value["saturating"] == pytest.approx(np.mean(np.log(1 - d)), rel=1e-6)


def test_discriminator_loss_and_accuracy_equal_their_formulas():
    real, fake = LOGITS, -LOGITS[::-1] + 0.25
    expected = np.mean(-np.log(_sigmoid(real))) + np.mean(-np.log(1 - _sigmoid(fake)))
    assert float(losses.discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-6)
    right = np.r_[_sigmoid(real) > 0.5, _sigmoid(fake) < 0.5]
    assert float(losses.discriminator_accuracy(real, fake)) == pytest.approx(right.mean())
