"""3D-VAE-GAN and MV-3D-VAE-GAN: through the one train_step, E's own optimizer, exact resume, batched views."""

import numpy as np
import pytest

from harness import assert_same_state
from tf3dgan.config import load_config
from tf3dgan.errors import ConfigError
from tf3dgan.training.builder import build_gan
from tf3dgan.training.checkpoint import state_variables
from tf3dgan.training.loop import train

IMAGE_VARIANTS = {
    "vae_gan": ["model.variant=vae_gan", "variant.image_size=16", "variant.render_views=4"],
    "mv_vae_gan": ["model.variant=mv_vae_gan", "variant.image_size=16", "variant.render_views=4", "variant.views=3",
                   "variant.min_views=1", "variant.pooling=mean"],
}


@pytest.fixture(params=sorted(IMAGE_VARIANTS))
def image_config(request, tiny_overrides):
    return load_config(None, tiny_overrides + IMAGE_VARIANTS[request.param] + ["train.d_lr=0.001"])


def test_trains_through_the_shared_step_with_its_own_encoder_optimizer(tmp_path, image_config, tiny_voxels):
    import json

    import keras

    keras.utils.set_random_seed(image_config.train.seed)  # the initial weights train() starts from
    encoder_before = [w.numpy().copy() for w in build_gan(image_config).encoder.trainable_weights]
    gan = train(image_config, tmp_path, steps=4, voxels=tiny_voxels, progress=False)
    assert gan.encoder is not None and gan.encoder.input_shape == (None, 16, 16, 1)
    assert gan.encoder.output_shape == (None, 2 * 8)
    assert int(gan.e_optimizer.iterations.numpy()) == 4
    assert int(gan.g_optimizer.iterations.numpy()) == 4
    # G's optimizer trains G alone; E's weights are E's optimizer's.
    assert len(gan.generator_variables) == len(gan.generator.trainable_variables)
    assert not any(np.array_equal(b, w.numpy())
                   for b, w in zip(encoder_before, gan.encoder.trainable_weights, strict=True))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for key in ("d_loss", "g_loss", "recon_loss", "kl_loss", "e_loss"):
        assert np.isfinite(records[-1][key]), key
    assert records[-1]["kl_loss"] > 0 and records[-1]["recon_loss"] > 0
    assert any(k.startswith("e_optimizer/") for k in state_variables(gan))
    z = np.asarray(gan.sample_latent(2, seed=0))
    assert gan.generate(z).shape == (2, 16, 16, 16)


@pytest.mark.parametrize("variant", [
    "mv_vae_gan", pytest.param("vae_gan", marks=pytest.mark.slow),  # mv's step runs every line of vae_gan's
])
def test_resume_is_exact(tmp_path, variant, tiny_overrides, tiny_voxels):
    image_config = load_config(None, tiny_overrides + IMAGE_VARIANTS[variant] + ["train.d_lr=0.001"])
    whole = train(image_config, tmp_path / "whole", steps=7, voxels=tiny_voxels, progress=False)
    train(image_config, tmp_path / "split", steps=4, voxels=tiny_voxels, progress=False)  # a log_every multiple
    resumed = train(image_config, tmp_path / "split", steps=7, voxels=tiny_voxels, progress=False)
    assert whole.e_optimizer is not None  # E's optimizer state is compared too
    assert_same_state(whole, resumed)
    assert (tmp_path / "split" / "metrics.jsonl").read_text() == (tmp_path / "whole" / "metrics.jsonl").read_text()


def test_the_learning_rate_schedule_decays_and_restores_es_rate(tmp_path, tiny_overrides, tiny_voxels):
    from tf3dgan.training.checkpoint import load_run

    schedule = ["train.steps=4", "train.lr_schedule=linear", "train.lr_decay_start=0.0", "variant.e_lr=0.002"]
    config = load_config(None, tiny_overrides + IMAGE_VARIANTS["vae_gan"] + schedule)
    train(config, tmp_path / "run", voxels=tiny_voxels, progress=False)
    _, gan, step = load_run(tmp_path / "run")
    assert step == 4 and gan.base_learning_rates["e_optimizer"] == pytest.approx(0.002)
    # The last step (index 3) ran at 1 - 3/4 of the base rate.
    assert float(gan.e_optimizer.learning_rate.numpy()) == pytest.approx(0.002 * 0.25, rel=1e-6)


def test_encoder_weight_decay_shrinks_kernels_only(tmp_path, tiny_overrides, tiny_voxels):
    import keras

    overrides = tiny_overrides + IMAGE_VARIANTS["vae_gan"] + ["variant.e_lr=0.002"]
    plain_config = load_config(None, overrides)
    decayed_config = load_config(None, overrides + ["variant.e_weight_decay=0.5"])
    keras.utils.set_random_seed(plain_config.train.seed)  # the initial weights train() starts from
    before = {w.path: w.numpy().copy() for w in build_gan(plain_config).encoder.trainable_weights}
    plain = train(plain_config, tmp_path / "plain", steps=1, voxels=tiny_voxels, progress=False)
    decayed = train(decayed_config, tmp_path / "decayed", steps=1, voxels=tiny_voxels, progress=False)
    kernels = 0
    # Keras's decoupled decay: w -= lr x decay x w before the Adam update, which the decay leaves unchanged.
    for a, b in zip(plain.encoder.trainable_weights, decayed.encoder.trainable_weights, strict=True):
        shrink = -0.002 * 0.5 * before[a.path] if a.path.endswith("kernel") else 0.0
        kernels += a.path.endswith("kernel")
        np.testing.assert_allclose(b.numpy() - a.numpy(), shrink + np.zeros_like(before[a.path]), atol=2e-7)
    assert kernels >= 2
    with pytest.raises(ConfigError, match="variant.e_weight_decay must be >= 0"):
        load_config(None, overrides + ["variant.e_weight_decay=-1"])


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_batched_views_equal_views_encoded_one_by_one(tiny_overrides, pooling):
    import tensorflow as tf

    config = load_config(None, tiny_overrides + IMAGE_VARIANTS["mv_vae_gan"] + [f"variant.pooling={pooling}"])
    gan = build_gan(config, compile=False)
    variant = gan.variant
    images = np.random.default_rng(3).integers(0, 256, (5, 3, 16, 16), dtype=np.uint8)
    mean, log_var = variant.encode(gan.encoder, images, training=False)
    assert mean.shape == (5, 3, 8) and log_var.shape == (5, 3, 8)
    for v in range(3):
        one = gan.encoder(tf.constant(images[:, v, :, :, None], tf.float32), training=False).numpy()
        np.testing.assert_allclose(mean[:, v].numpy(), one[:, :8], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(log_var[:, v].numpy(), np.clip(one[:, 8:], -12, 6), rtol=1e-5, atol=1e-5)
    pooled = variant.pool(mean).numpy()
    separate = np.stack([mean[:, v].numpy() for v in range(3)], 1)
    np.testing.assert_allclose(pooled, separate.max(1) if pooling == "max" else separate.mean(1), rtol=1e-6)


def test_kl_to_the_latent_prior():
    from variants.vae_gan import VaeGan

    std = 0.33
    zero = VaeGan.kl_to_prior(np.zeros((1, 4), "float32"), np.full((1, 4), 2 * np.log(std), "float32"), std)
    assert abs(float(zero[0])) < 1e-5  # q = p
    mean = np.array([[0.5]], "float32")
    kl = float(VaeGan.kl_to_prior(mean, np.array([[0.0]], "float32"), std)[0])
    expected = 0.5 * ((1 + 0.25) / std**2 - 1 - 0 + np.log(std**2))
    assert kl == pytest.approx(expected, rel=1e-5)


def test_image_encoder_is_the_papers_at_256():
    from tf3dgan.nn.networks import build_image_encoder, image_encoder_layers

    assert image_encoder_layers(256) == [(11, 4), (5, 2), (5, 2), (5, 2)]
    assert image_encoder_layers(64) == [(5, 2)] * 3 and image_encoder_layers(8) == []
    e = build_image_encoder(256, 200, 64)
    convs = [layer for layer in e.layers if layer.name.startswith("conv")]
    assert [c.filters for c in convs] == [64, 128, 256, 512, 400]
    assert [c.kernel_size[0] for c in convs] == [11, 5, 5, 5, 8] and [c.strides[0] for c in convs] == [4, 2, 2, 2, 1]
    assert e.output_shape == (None, 400)
    from tf3dgan.nn.model_stats import network_stats

    stats = network_stats(e)  # 11*11*64 + 5*5*64*128 + 5*5*128*256 + 5*5*256*512 + 8*8*512*400
    assert stats["params"]["conv_weights"] == 17_415_744 and stats["macs_per_sample"] == 673_972_224


def test_a_deeper_image_encoder_adds_stride_1_layers_at_each_resolution():
    from tf3dgan.nn.networks import build_image_encoder

    e = build_image_encoder(32, 8, 4, extra_convs=2)
    convs = [layer for layer in e.layers if layer.name.startswith("conv")]
    assert [c.filters for c in convs] == [4, 4, 4, 8, 8, 8, 16]
    assert [c.strides[0] for c in convs] == [2, 1, 1, 2, 1, 1, 1]
    assert [c.kernel_size[0] for c in convs] == [5, 3, 3, 5, 3, 3, 8]
    assert e.output_shape == (None, 16)


def test_the_pipeline_delivers_views_as_a_function_of_seed_and_step():
    from data_io.pipeline import batch_views, make_training_dataset

    voxels = (np.random.default_rng(0).random((10, 8, 8, 8)) > 0.6).astype("uint8")
    images = np.arange(10 * 4, dtype=np.uint8).reshape(10, 4, 1, 1) * np.ones((1, 1, 8, 8), np.uint8)
    kwargs = dict(batch_size=3, cube_len=8, seed=5, images=images, views=3, min_views=1)
    first = [b for _, b in zip(range(5), make_training_dataset(voxels, **kwargs))]
    later = next(iter(make_training_dataset(voxels, start_step=4, **kwargs)))
    for key in ("shapes", "images"):
        np.testing.assert_array_equal(first[4][key].numpy(), later[key].numpy())
    picked = first[4]["images"].numpy()[:, :, 0, 0]  # = shape index * 4 + view index
    shapes = first[4]["shapes"].numpy()[..., 0]
    np.testing.assert_array_equal(shapes, voxels[picked[:, 0] // 4])
    views = batch_views(7, 200, 8, 4, 2, seed=1)
    distinct = np.array([len(set(row)) for row in views])
    assert distinct.min() == 2 and distinct.max() == 4
    assert all(list(row) == [row[i % n] for i in range(4)] for row, n in zip(views, distinct))


def test_config_checks(tiny_overrides):
    with pytest.raises(ConfigError, match="latent.distribution normal"):
        load_config(None, tiny_overrides + ["model.variant=vae_gan", "latent.distribution=uniform"])
    with pytest.raises(ConfigError, match="min_views"):
        load_config(None, tiny_overrides + ["model.variant=mv_vae_gan", "variant.views=2", "variant.min_views=3"])
    with pytest.raises(ConfigError, match="power of two"):
        load_config(None, tiny_overrides + ["model.variant=vae_gan", "variant.image_size=48"])
    with pytest.raises(ConfigError, match="render_views"):
        load_config(None, tiny_overrides + ["model.variant=mv_vae_gan", "variant.views=9"])
    with pytest.raises(ConfigError, match="variant.encoder_extra_convs must be >= 0, got -1"):
        load_config(None, tiny_overrides + ["model.variant=vae_gan", "variant.encoder_extra_convs=-1"])
