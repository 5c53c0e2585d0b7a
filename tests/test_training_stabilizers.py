"""The optional training tricks (``train.ema_decay``, ``instance_noise``, ``r1_gamma`` and ``r1_every``,
``soft_labels``, ``lr_schedule``, ``model.minibatch_std``): their formulas, and each one through the one train_step."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf3dgan.config import load_config
from tf3dgan.errors import ConfigError
from tf3dgan.nn.minibatch_std import MinibatchStandardDeviation
from tf3dgan.training import stabilizers
from tf3dgan.training.builder import build_gan
from tf3dgan.training.loop import train

from harness import random_grids, tiny_gan

ALL_TRICKS = ["train.ema_decay=0.9", "train.instance_noise=0.2", "train.r1_gamma=2.0", "train.soft_labels=true",
              "train.lr_schedule=cosine", "train.lr_decay_start=0.25", "model.minibatch_std=true"]


@pytest.mark.parametrize("step, expected", [(0, 1.0), (5, 1.0), (6, 0.8), (8, 0.4), (10, 0.0), (12, 0.0)])
def test_linear_schedule_holds_then_decays_to_zero(step, expected):
    assert float(stabilizers.learning_rate_factor(step, "linear", 0.5, 10)) == pytest.approx(expected)


def test_cosine_schedule_is_half_way_at_the_middle_of_its_decay():
    assert float(stabilizers.learning_rate_factor(0, "cosine", 0.0, 8)) == pytest.approx(1.0)
    assert float(stabilizers.learning_rate_factor(4, "cosine", 0.0, 8)) == pytest.approx(0.5)
    assert float(stabilizers.learning_rate_factor(2, "cosine", 0.0, 8)) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert float(stabilizers.learning_rate_factor(3, "constant", 0.0, 8)) == 1.0


def test_ema_decay_warms_up_then_holds():
    assert float(stabilizers.ema_decay_at(0, 0.999)) == pytest.approx(0.1)
    assert float(stabilizers.ema_decay_at(90, 0.999)) == pytest.approx(91 / 100)
    assert float(stabilizers.ema_decay_at(10**6, 0.999)) == pytest.approx(0.999)


def test_instance_noise_anneals_linearly():
    assert [float(stabilizers.remaining_fraction(s, 4)) for s in (0, 1, 3, 4, 9)] == [1.0, 0.75, 0.25, 0.0, 0.0]


def test_r1_penalty_of_a_linear_discriminator_is_half_the_squared_weight_norm():
    w = np.arange(1, 9, dtype="float32").reshape(8, 1) / 10
    x_in = keras.Input((2, 2, 2, 1))
    flat = keras.layers.Flatten()(x_in)
    logit = keras.layers.Reshape(())(keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(w))(flat))
    d = keras.Model(x_in, [logit, [flat]])
    real = tf.constant(np.random.default_rng(0).random((3, 2, 2, 2, 1)), tf.float32)
    logits, penalty = stabilizers.logits_with_r1_penalty(d, real)
    np.testing.assert_allclose(logits.numpy(), real.numpy().reshape(3, 8) @ w[:, 0], rtol=1e-6)
    assert float(penalty) == pytest.approx(0.5 * float(np.sum(w**2)), rel=1e-6)


def test_minibatch_std_appends_the_mean_spread_of_the_batch():
    x = np.random.default_rng(1).random((4, 2, 2, 2, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(MinibatchStandardDeviation()(x))
    assert out.shape == (4, 2, 2, 2, 4)
    np.testing.assert_array_equal(out[..., :3], x)
    np.testing.assert_allclose(out[..., 3], np.mean(np.sqrt(x.var(axis=0) + 1e-8)), rtol=1e-5)


def test_soft_labels_are_random_and_clipped(tiny_overrides):
    gan = build_gan(load_config(None, tiny_overrides + ["train.soft_labels=true"]))
    real, fake = (t.numpy() for t in gan._discriminator_targets(256))
    assert 0.7 <= real.min() and real.max() == 1.0 and (real == 1.0).mean() > 0.2  # U(0.7, 1.2) above 1 is clipped
    assert 0.0 <= fake.min() and fake.max() <= 0.3 and len(np.unique(fake)) == 256


def test_weight_average_after_one_step_is_a_tenth_of_the_new_weights(tiny_overrides, tiny_voxels, tmp_path):
    config = load_config(None, tiny_overrides + ["train.ema_decay=0.999"])
    gan = build_gan(config)
    before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    np.testing.assert_array_equal(before[0], gan.generator_ema.trainable_variables[0].numpy())
    batch = tf.constant(tiny_voxels[:4].repeat(2, 1).repeat(2, 2).repeat(2, 3)[..., None], tf.float32)
    gan.train_on_batch(batch)
    for old, new, average in zip(before, gan.generator.trainable_variables, gan.generator_ema.trainable_variables):
        np.testing.assert_allclose(average.numpy(), 0.1 * old + 0.9 * new.numpy(), rtol=1e-5, atol=1e-7)
    for moving, average in zip(gan.generator.non_trainable_variables, gan.generator_ema.non_trainable_variables):
        np.testing.assert_array_equal(moving.numpy(), average.numpy())
    z = gan.sample_latent(2, seed=0)
    np.testing.assert_allclose(gan.generate(z), keras.ops.convert_to_numpy(gan.generator_ema(z))[..., 0], rtol=1e-6)


def test_logged_learning_rates_follow_the_schedule(tiny_overrides, tiny_voxels, tmp_path):
    config = load_config(None, tiny_overrides + ["train.lr_schedule=linear", "train.lr_decay_start=0.0",
                                                 "train.g_lr=0.01", "train.d_lr=0.002"])
    train(config, tmp_path, steps=8, voxels=tiny_voxels, progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for r in records:  # the rate the step just logged used: that of step index r["step"] - 1
        factor = 1 - (r["step"] - 1) / 8
        assert r["g_lr"] == pytest.approx(0.01 * factor, rel=1e-6)
        assert r["d_lr"] == pytest.approx(0.002 * factor, rel=1e-6)


class _InterruptAt(keras.callbacks.Callback):
    """Sends this process a real SIGINT (Ctrl-C) after step ``at_step``."""

    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step_counter.numpy()) == self.at_step:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGINT)


def test_every_trick_at_once_trains_and_resumes_exactly(tmp_path, tiny_overrides, tiny_voxels):
    from tf3dgan.training.interrupt import TrainingStopped

    # The schedules run over train.steps, so the interrupted run is given the same steps and cut by Ctrl-C.
    config = load_config(None, tiny_overrides + ALL_TRICKS + ["train.d_thresh=1.0", "train.steps=8"])
    whole = train(config, tmp_path / "whole", voxels=tiny_voxels, progress=False)
    with pytest.raises(TrainingStopped):
        train(config, tmp_path / "cut", voxels=tiny_voxels, extra_callbacks=[_InterruptAt(3)], progress=False)
    resumed = train(config, tmp_path / "cut", voxels=tiny_voxels, progress=False)
    assert len(whole.weights) == len(resumed.weights)
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(whole.generator.get_weights()[0], whole.generator_ema.get_weights()[0])
    records = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in records)
    assert records[-1]["g_lr"] < records[0]["g_lr"]  # the cosine schedule decayed


def test_a_saved_gan_keeps_its_tricks_and_samples_from_the_average(tmp_path, tiny_overrides):
    gan = build_gan(load_config(None, tiny_overrides + ALL_TRICKS))
    gan.generator_ema.set_weights([w * 0.5 for w in gan.generator_ema.get_weights()])
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert loaded.train_config == gan.train_config and loaded.latent_config == gan.latent_config
    t = loaded.train_config
    assert (t.ema_decay, t.r1_gamma, t.lr_schedule) == (0.9, 2.0, "cosine")
    assert loaded.base_learning_rates == gan.base_learning_rates
    z = gan.sample_latent(3, seed=1)
    np.testing.assert_allclose(loaded.generate(z), gan.generate(z), rtol=1e-5, atol=1e-6)
    assert not np.allclose(gan.generate(z), keras.ops.convert_to_numpy(gan.generator(z))[..., 0])


@pytest.mark.parametrize("override, message", [
    ("train.ema_decay=1.0", "train.ema_decay must be in [0, 1)"),
    ("train.r1_gamma=-1", "train.r1_gamma must be >= 0"),
    ("train.lr_schedule=step", "train.lr_schedule must be one of"),
    ("train.lr_decay_start=1.0", "train.lr_decay_start must be in [0, 1)"),
])
def test_bad_trick_settings_are_refused(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        load_config(None, [override])


def test_soft_labels_and_label_smoothing_are_exclusive():
    with pytest.raises(ConfigError, match="train.soft_labels must be false when train.label_smoothing"):
        load_config(None, ["train.soft_labels=true", "train.label_smoothing=0.1"])


def test_flip_labels_swaps_the_targets_of_the_drawn_rows(tiny_overrides):
    gan = build_gan(load_config(None, tiny_overrides + ["train.flip_labels=0.3", "train.label_smoothing=0.1"]))
    state = tf.identity(gan.seed_generator.state)
    real, fake = (np.asarray(t) for t in gan._discriminator_targets(400))
    gan.seed_generator.state.assign(state)  # the same draw, made here independently
    flipped = np.asarray(keras.random.uniform([400], 0.0, 1.0, seed=gan.seed_generator)) < 0.3
    np.testing.assert_allclose(real, np.where(flipped, 0.0, 0.9))
    np.testing.assert_allclose(fake, np.where(flipped, 0.9, 0.0))
    assert 0.2 < flipped.mean() < 0.4
    with pytest.raises(ConfigError, match=r"train.flip_labels must be in \[0, 0.5\) \(0: off\), got 0.5"):
        load_config(None, tiny_overrides + ["train.flip_labels=0.5"])


def _discriminator_after_one_step(step: int, *overrides: str) -> list[np.ndarray]:
    """D's weights and BatchNorm statistics after one train step, taken as step ``step`` by a fresh tiny GAN
    (same seeds, same batch), with D always updated."""
    keras.utils.set_random_seed(0)  # the same initial weights
    gan = tiny_gan("train.d_gate=always", *overrides)
    gan.step_counter.assign(step)
    gan.train_on_batch(tf.constant(random_grids(4)[..., None], tf.float32))
    return [np.asarray(w) for w in gan.discriminator.weights]


def _assert_close_weights(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-8)  # equal bit for bit here; other CPUs may fuse ops


def test_lazy_r1_skips_the_penalty_between_its_steps():
    """With ``train.r1_every=4`` a step not divisible by 4 updates D as without R1."""
    _assert_close_weights(_discriminator_after_one_step(3, "train.r1_gamma=10.0", "train.r1_every=4"),
                          _discriminator_after_one_step(3, "train.r1_gamma=0.0"))


def test_lazy_r1_weights_the_penalty_k_times_on_its_steps():
    """At a step divisible by ``train.r1_every`` (k=4), D's update is that of R1 at every step with gamma * k."""
    lazy = _discriminator_after_one_step(8, "train.r1_gamma=2.5", "train.r1_every=4")
    _assert_close_weights(lazy, _discriminator_after_one_step(8, "train.r1_gamma=10.0"))
    without_r1 = _discriminator_after_one_step(8, "train.r1_gamma=0.0")
    assert any(not np.allclose(x, y, rtol=1e-3) for x, y in zip(lazy, without_r1))  # the penalty did move D


def _branches_of_the_traced_step(*overrides: str) -> int:
    """How many ``tf.cond`` ops the traced train step holds, in its branches too (the D gate is one)."""
    gan = tiny_gan(*overrides)
    spec = tf.TensorSpec([4, 16, 16, 16, 1], tf.float32)
    graph = tf.function(gan.train_step).get_concrete_function(spec).graph.as_graph_def()
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    return sum(node.op in ("If", "StatelessIf") for node in nodes)


def test_r1_at_every_step_traces_no_extra_branch():
    """``train.r1_every=1`` (the default) traces today's step: the D gate's branch only; k > 1 branches around it
    (the gate's branch then sits in both of its branches)."""
    gate_only = _branches_of_the_traced_step("train.r1_gamma=0.0")
    assert _branches_of_the_traced_step("train.r1_gamma=1.0", "train.r1_every=1") == gate_only == 1
    assert _branches_of_the_traced_step("train.r1_gamma=1.0", "train.r1_every=2") == 3


@pytest.mark.parametrize("value, shown", [("0", "0"), ("-1", "-1"), ("1.5", "1.5"), ("true", "True")])
def test_bad_r1_every_is_refused(value, shown):
    with pytest.raises(ConfigError, match=f"train.r1_every must be an integer.*, got {shown}$"):
        load_config(None, [f"train.r1_every={value}"])
