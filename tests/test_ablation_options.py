"""The options the blog's ablations and the fidelity rows need: the autoencoder's L2 penalty, RMSProp and
binarised outputs, mirrored training shapes and a D wider than G."""

import numpy as np
import pytest

from harness import TINY
from tf3dgan.config import from_dict
from tf3dgan.errors import ConfigError


def _config(*overrides):
    from tf3dgan.config import apply_overrides

    return from_dict(apply_overrides({}, [*TINY, "data.synthetic_count=8", *overrides]), "test")


def test_mirror_axis_appends_every_shape_flipped_along_that_axis():
    import data_io

    plain = data_io.load_training_voxels(_config().data, 16)
    mirrored = data_io.load_training_voxels(_config("data.mirror_axis=1").data, 16)
    n = len(plain.voxels)
    assert len(mirrored.voxels) == 2 * n
    np.testing.assert_array_equal(mirrored.voxels[:n], plain.voxels)
    np.testing.assert_array_equal(mirrored.voxels[n:], plain.voxels[:, :, ::-1, :])
    assert mirrored.names[n] == plain.names[0] + " (mirrored)"
    with pytest.raises(ConfigError, match=r"data.mirror_axis must be 0, 1, 2 or null, got 3"):
        _config("data.mirror_axis=3")


def test_d_base_width_widens_d_only():
    from tf3dgan.training.builder import build_gan

    gan = build_gan(_config("model.d_base_width=8"), compile=False)
    d_convs = [layer for layer in gan.discriminator.layers if "conv" in type(layer).__name__.lower()]
    g_convs = [layer for layer in gan.generator.layers if "conv" in type(layer).__name__.lower()]
    assert d_convs[0].filters == 8 and d_convs[1].filters == 16  # base 8, doubling
    assert g_convs[-2].filters == 4  # G's last hidden layer keeps model.base_width
    with pytest.raises(ConfigError, match="model.d_base_width must be >= 1 or null, got 0"):
        _config("model.d_base_width=0")


def _autoencoder_loss(*options):
    """The autoencoder's extra G loss at step 0 on a fixed batch, for the same initial weights."""
    import keras
    import tensorflow as tf

    from tf3dgan.training.builder import build_gan
    from variants.base import GeneratorStepTensors

    keras.utils.set_random_seed(0)
    gan = build_gan(_config("model.variant=autoencoder", *options))
    real = tf.constant((np.random.default_rng(1).random((4, 16, 16, 16, 1)) > 0.7).astype("float32"))
    tensors = GeneratorStepTensors(real, None, None, None, [], None, tf.constant(0, tf.int64))
    loss, metrics = gan.variant.extra_generator_loss(gan, tensors)
    return gan, float(loss), float(metrics["recon_loss"])


def test_weight_l2_adds_exactly_the_penalty_on_g_and_e_kernels():
    gan, plain, _ = _autoencoder_loss()
    _, penalised, _ = _autoencoder_loss("variant.weight_l2=0.001")
    kernels = [w for net in (gan.generator, gan.encoder) for w in net.trainable_weights if "kernel" in w.path]
    expected = 0.001 * sum(float(np.sum(np.square(np.asarray(w)))) for w in kernels)
    assert len(kernels) == 6  # three deconvolutions in G, three convolutions in E at 16^3
    assert penalised - plain == pytest.approx(expected, rel=1e-4)


def test_binarize_rounds_the_reconstruction_inside_the_loss():
    gan, _, soft = _autoencoder_loss("variant.recon_loss=mse")
    _, _, hard = _autoencoder_loss("variant.recon_loss=mse", "variant.binarize=true")
    assert hard != pytest.approx(soft)
    # the rounded loss is the fraction of voxels on the wrong side of 0.5 (a mean of 0/1 squared errors)
    assert hard * 4 * 16**3 == pytest.approx(round(hard * 4 * 16**3), abs=1e-3)
    with pytest.raises(ConfigError, match="variant.binarize needs variant.recon_loss=mse"):
        _config("model.variant=autoencoder", "variant.binarize=true")


def test_the_rmsprop_option_trains_g_with_rmsprop():
    import keras

    from tf3dgan.training.builder import build_gan

    assert isinstance(build_gan(_config("model.variant=autoencoder")).g_optimizer, keras.optimizers.Adam)
    gan = build_gan(_config("model.variant=autoencoder", "variant.optimizer=rmsprop"))
    assert isinstance(gan.g_optimizer, keras.optimizers.RMSprop)
    assert isinstance(gan.d_optimizer, keras.optimizers.Adam)  # D keeps Adam
