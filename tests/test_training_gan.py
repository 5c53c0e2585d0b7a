"""The one train_step: every variant trains through it; the D gate; BatchNorm statistics; the latent."""

import numpy as np
import pytest

from harness import fit_steps as _fit, tiny_gan
from variants import VARIANTS


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_trains_through_the_one_train_step(variant, real16):
    gan = tiny_gan("train.d_gate=always", variant=variant)  # with the variant's tiny options (harness.VARIANT_TINY)
    before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    history = _fit(gan, real16, 4)
    assert int(gan.step_counter.numpy()) == 4
    for key in ("d_loss", "g_loss", "d_acc", "d_real", "d_fake", "d_updated"):
        assert np.isfinite(history[key][-1]), key
    for name in VARIANTS[variant].extra_metrics:
        assert name in history
    moved = [not np.array_equal(b, w.numpy())
             for b, w in zip(before, gan.generator.trainable_weights, strict=True)]
    assert all(moved)
    if variant == "autoencoder":
        assert gan.encoder is not None
        assert int(gan.d_optimizer.iterations.numpy()) == 2  # D off during the 2 pre-training steps
    else:
        assert int(gan.d_optimizer.iterations.numpy()) == 4


def test_gate_skip_leaves_d_weights_and_optimizer_slots_untouched(real16):
    # Accuracy < 0 never holds: every D step is skipped.
    gan = tiny_gan("train.d_gate=lt", "train.d_thresh=0.0")
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    opt_before = [np.asarray(v).copy() for v in gan.d_optimizer.variables]
    history = _fit(gan, real16, 3)
    assert history["d_updated"][-1] == 0.0
    for before, w in zip(d_before, gan.discriminator.trainable_weights, strict=True):
        np.testing.assert_array_equal(before, w.numpy())
    for before, v in zip(opt_before, gan.d_optimizer.variables, strict=True):
        np.testing.assert_array_equal(before, np.asarray(v))
    assert int(gan.g_optimizer.iterations.numpy()) == 3  # G still trains


def test_gate_update_moves_d(real16):
    gan = tiny_gan("train.d_gate=le", "train.d_thresh=1.0")
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    history = _fit(gan, real16, 2)
    assert history["d_updated"][-1] == 1.0
    assert int(gan.d_optimizer.iterations.numpy()) == 2
    assert all(not np.array_equal(b, w.numpy())
               for b, w in zip(d_before, gan.discriminator.trainable_weights, strict=True))


@pytest.mark.parametrize("gate, acc, expected", [("le", 0.8, True), ("lt", 0.8, False), ("le", 0.85, False), ("always", 1.0, True)])
def test_gate_comparison(gate, acc, expected):
    import tensorflow as tf

    gan = tiny_gan(f"train.d_gate={gate}", "train.d_thresh=0.8")
    assert bool(gan._gate(tf.constant(acc))) is expected


def test_batchnorm_moving_statistics_update(real16):
    gan = tiny_gan()
    stats = [w for w in gan.generator.weights if "moving_mean" in w.path]
    assert stats and all(np.all(w.numpy() == 0) for w in stats)
    _fit(gan, real16, 2)
    assert all(np.any(w.numpy() != 0) for w in stats)
    # Inference-mode samples then differ from what mean 0 / variance 1 statistics would give.
    z = gan.sample_latent(4, seed=0)
    assert np.asarray(gan.generate(z)).shape == (4, 16, 16, 16)


def test_latent_distributions():
    normal = tiny_gan("model.z_dim=200").sample_latent(500, seed=3)
    uniform = tiny_gan("model.z_dim=200", "latent.distribution=uniform").sample_latent(500, seed=3)
    normal, uniform = np.asarray(normal), np.asarray(uniform)
    assert abs(normal.std() - 0.33) < 0.01 and abs(normal.mean()) < 0.01
    # Five standard errors of the std of 10^5 draws (0.33 / sqrt(2 x 10^5) = 0.00074): a std of 0.323 fails.
    assert abs(normal.std() - 0.33) < 0.0037
    assert uniform.min() >= 0.0 and uniform.max() <= 1.0 and abs(uniform.mean() - 0.5) < 0.01
    again = np.asarray(tiny_gan("model.z_dim=200").sample_latent(500, seed=3))
    np.testing.assert_array_equal(normal, again)


def test_feature_matching_keeps_adversarial_term(real16):
    """Unlike tf-3dgan's file, G's loss is adversarial + weight x feature distance."""
    gan = tiny_gan("model.variant=feature_matching", "variant.weight=0.0", "train.d_gate=always")
    history = _fit(gan, real16, 1)
    assert history["g_loss"][-1] > 0.0  # the adversarial term alone
    assert history["fm_loss"][-1] > 0.0


@pytest.mark.parametrize("variant", ["mit_biasfree", "feature_matching"])
def test_one_generator_forward_and_two_d_statistics_updates_per_step(real16, variant):
    """G's BatchNorm statistics see the step's one G(z) once; D's see the real and the generated batch once each
    (the G step's passes through D, feature matching's real pass included, leave them alone)."""
    import tensorflow as tf

    gan = tiny_gan(f"model.variant={variant}", "train.d_gate=lt", "train.d_thresh=0.0")
    g, d = gan.generator, gan.discriminator
    g_state = ([v.numpy() for v in g.trainable_variables], [v.numpy() for v in g.non_trainable_variables])
    d_state = ([v.numpy() for v in d.trainable_variables], [v.numpy() for v in d.non_trainable_variables])
    seed_state = gan.seed_generator.state.numpy()
    real = tf.constant(real16[:4, ..., None].astype("float32"))
    gan.train_step(real)
    assert int(gan.d_optimizer.iterations.numpy()) == 0  # gate closed: D's weights are those of d_state

    # Replay the step's forward passes from the saved state, each updating the statistics once.
    after = gan.seed_generator.state.numpy()
    gan.seed_generator.state.assign(seed_state)
    z = gan.latent.sample(4, gan.seed_generator)
    gan.seed_generator.state.assign(after)
    fake, g_stats = g.stateless_call(*g_state, z, training=True)
    _, d_stats = d.stateless_call(d_state[0], d_state[1], real, training=True)
    _, d_stats = d.stateless_call(d_state[0], d_stats, fake, training=True)
    for expected, variable in zip(g_stats, g.non_trainable_variables, strict=True):
        np.testing.assert_allclose(variable.numpy(), np.asarray(expected), rtol=1e-5, atol=1e-7)
    for expected, variable in zip(d_stats, d.non_trainable_variables, strict=True):
        np.testing.assert_allclose(variable.numpy(), np.asarray(expected), rtol=1e-5, atol=1e-7)
    _, third_update = d.stateless_call(d_state[0], d_stats, fake, training=True)
    assert any(not np.allclose(np.asarray(a), np.asarray(b)) for a, b in zip(third_update, d_stats, strict=True))
