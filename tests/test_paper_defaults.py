"""The paper's settings, pinned: the config defaults and the shipped paper configs (D gate ``accuracy <= 0.8``,
z ~ N(0, 0.33), the non-saturating G loss, Adam with beta1 0.5 at the paper's rates), and what the GAN built from
the defaults does with them, each checked against a closed-form value computed here rather than by the package."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness import TINY, tiny_gan
from tf3dgan.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPER_CONFIGS = ["mit_biasfree", "mit", "baseline_fc", "feature_matching", "autoencoder", "vae_gan", "mv_vae_gan"]
STD = 0.33  # the blog's latent N(0, 0.33)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def _core(config) -> dict:
    t, lat = config.train, config.latent
    return {"d_gate": t.d_gate, "d_thresh": t.d_thresh, "g_loss": t.g_loss, "beta1": t.beta1,
            "latent": (lat.distribution, lat.std)}


PAPER_CORE = {"d_gate": "le", "d_thresh": 0.8, "g_loss": "non_saturating", "beta1": 0.5, "latent": ("normal", STD)}
TRICKS_OFF = {"label_smoothing": 0.0, "fake_label_smoothing": 0.0, "ema_decay": 0.0, "instance_noise": 0.0,
              "r1_gamma": 0.0, "soft_labels": False, "flip_labels": 0.0, "lr_schedule": "constant"}


def test_the_config_defaults_are_the_papers():
    config = load_config(None)
    assert _core(config) == PAPER_CORE
    m, t = config.model, config.train
    assert (m.variant, m.cube_len, m.z_dim, m.base_width, m.leak, m.minibatch_std) == (
        "mit_biasfree", 64, 200, 64, 0.2, False)
    assert (t.g_lr, t.d_lr, t.beta2, t.batch_size) == (0.0025, 1e-5, 0.999, 32)
    assert {k: getattr(t, k) for k in TRICKS_OFF} == TRICKS_OFF


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_the_paper_configs_keep_the_papers_settings(name):
    config = load_config(CONFIGS / f"{name}.yaml")  # keys a file leaves out come from the defaults
    assert config.model.variant == name
    assert _core(config) == PAPER_CORE
    t = config.train
    assert (t.g_lr, t.d_lr, t.beta2, t.batch_size, config.model.z_dim) == (0.0025, 1e-5, 0.999, 32, 200)
    assert {k: getattr(t, k) for k in TRICKS_OFF} == TRICKS_OFF and config.model.minibatch_std is False


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_keeps_the_papers_gate_latent_loss_and_beta1(path):
    assert _core(load_config(path)) == PAPER_CORE


# -- the built GAN: D's logit fixed at a known value, so every number of a step has a closed form -----------


def _gan_with_constant_d(logit: float, *overrides: str):
    """The tiny ``mit`` GAN (D has a bias) with D's last kernel zeroed and its bias set to ``logit``: D(x) = logit
    for every input, real or generated."""
    gan = tiny_gan("model.variant=mit", *overrides)
    *_, kernel, bias = gan.discriminator.trainable_weights
    assert kernel.path.endswith("kernel") and bias.path.endswith("bias") and tuple(bias.shape) == (1,)
    kernel.assign(np.zeros(kernel.shape, "float32"))
    bias.assign(np.full((1,), logit, "float32"))
    return gan


def _one_step(gan) -> dict:
    import tensorflow as tf

    real = (np.random.default_rng(0).random((4, 16, 16, 16, 1)) > 0.6).astype("float32")
    return {k: float(v) for k, v in gan.train_step(tf.constant(real)).items()}


@pytest.mark.parametrize("overrides, updated", [
    ((), 1.0),  # the default gate: accuracy 0.5 <= 0.5 updates D
    (("train.d_gate=lt",), 0.0),  # tf-3dgan's < does not
    (("train.d_gate=le",), 1.0),
])
def test_the_default_gate_is_less_or_equal_at_the_boundary(overrides, updated):
    # D(x) = sigmoid(2) for every x: all real shapes right, all generated ones wrong, so accuracy is exactly 0.5.
    gan = _gan_with_constant_d(2.0, "train.d_thresh=0.5", *overrides)
    logs = _one_step(gan)
    assert logs["d_acc"] == 0.5
    assert logs["d_updated"] == updated
    assert int(gan.d_optimizer.iterations.numpy()) == updated


@pytest.mark.parametrize("g_loss, expected", [
    (None, _softplus(-2.0)),  # the default: -log D(G(z)) = softplus(-logit)
    ("non_saturating", _softplus(-2.0)),
    ("saturating", -_softplus(2.0)),  # log(1 - D(G(z))) = -softplus(logit)
])
def test_each_g_loss_on_a_known_logit(g_loss, expected):
    """D closed (accuracy 0.5 > threshold 0), so G's step sees D(G(z)) = sigmoid(2) exactly; an asymmetric logit
    tells -log D from -log(1 - D), which a logit of 0 does not."""
    gan = _gan_with_constant_d(2.0, "train.d_thresh=0.0", *([f"train.g_loss={g_loss}"] if g_loss else []))
    logs = _one_step(gan)
    assert logs["d_updated"] == 0.0
    assert logs["g_loss"] == pytest.approx(expected, rel=1e-5)
    # D's loss: BCE of real at target 1 plus generated at target 0, both at logit 2.
    assert logs["d_loss"] == pytest.approx(_softplus(-2.0) + _softplus(2.0), rel=1e-5)
    sigmoid = 1 / (1 + math.exp(-2.0))
    assert logs["d_real"] == pytest.approx(sigmoid, rel=1e-6) and logs["d_fake"] == pytest.approx(sigmoid, rel=1e-6)


# -- the latent, against scipy's distributions ---------------------------------------------------------------


def test_the_default_latent_is_normal_with_std_0_33():
    from scipy import stats

    gan = tiny_gan("model.z_dim=200")
    z = np.asarray(gan.sample_latent(5000, seed=11), np.float64).ravel()  # 10^6 draws
    # Standard error of the std: 0.33 / sqrt(2 x 10^6) = 0.00023; 0.0012 is five of them (0.323 is 30 away).
    assert abs(z.std() - STD) < 0.0012 and abs(z.mean()) < 0.0012
    assert stats.kstest(z, stats.norm(0, STD).cdf).pvalue > 1e-3
    assert stats.kstest(z, stats.norm(0, 0.323).cdf).pvalue < 1e-6  # the test can tell a 2 % error


def test_the_latent_scales_with_latent_std_and_the_uniform_is_u01():
    from scipy import stats

    unit = np.asarray(tiny_gan("latent.std=1.0").sample_latent(64, seed=5))
    default = np.asarray(tiny_gan().sample_latent(64, seed=5))
    np.testing.assert_allclose(default, STD * unit, rtol=1e-6, atol=1e-7)  # the same draws, scaled by 0.33
    uniform = np.asarray(tiny_gan("model.z_dim=200", "latent.distribution=uniform").sample_latent(5000, seed=3))
    assert stats.kstest(uniform.ravel(), stats.uniform(0, 1).cdf).pvalue > 1e-3


@pytest.mark.parametrize("overrides", [(), ("latent.distribution=uniform",)])
def test_the_latent_mean_and_spread_are_those_of_its_draws(overrides):
    gan = tiny_gan("model.z_dim=200", *overrides)
    z = np.asarray(gan.sample_latent(5000, seed=7), np.float64).ravel()  # 10^6 draws: standard errors < 0.0003
    assert abs(z.mean() - gan.latent.mean) < 0.0015 and abs(z.std() - gan.latent.spread) < 0.0015


def test_tiny_is_only_sizes():
    """The harness's TINY shrinks the nets and the logging intervals, never a setting of the paper's step."""
    assert all(o.split("=")[0] in {"model.cube_len", "model.base_width", "model.z_dim", "train.batch_size",
                                   "train.log_every", "train.checkpoint_every", "train.sample_every",
                                   "train.num_samples"} for o in TINY)
    assert _core(load_config(None, TINY)) == PAPER_CORE
