"""Architecture facts of the paper's networks (Wu et al. 2016; the counts of the README's variant table), checked exactly."""

import pytest

from tf3dgan.nn import networks
from tf3dgan.nn.model_stats import network_stats


@pytest.mark.parametrize("use_bias", [False, True])
def test_paper_parameter_counts_at_64(use_bias):
    g = networks.build_generator(64, 200, 64, use_bias)
    d = networks.build_discriminator(64, 64, use_bias)
    gs, ds = network_stats(g)["params"], network_stats(d)["params"]
    assert gs["conv_weights"] == 17_567_744
    assert ds["conv_weights"] == 11_046_912
    assert gs["biases"] == (961 if use_bias else 0)
    assert ds["biases"] == (961 if use_bias else 0)
    # BatchNorm gamma, beta, moving mean and variance over 512 + 256 + 128 + 64 channels.
    assert gs["batchnorm"] == ds["batchnorm"] == 4 * 960
    assert gs["total"] == 17_567_744 + 3840 + gs["biases"]


def test_paper_flops_at_64():
    g = network_stats(networks.build_generator(64, 200, 64))
    d = network_stats(networks.build_discriminator(64, 64))
    assert g["macs_per_sample"] == 6_553_600 + 536_870_912 + 1_073_741_824 + 2_147_483_648 + 134_217_728
    assert d["macs_per_sample"] == 134_217_728 + 2_147_483_648 + 1_073_741_824 + 536_870_912 + 32_768
    assert g["flops_per_sample"] == 2 * g["macs_per_sample"]


@pytest.mark.parametrize("cube_len, widths", [(16, [8, 4]), (32, [16, 8, 4]), (64, [32, 16, 8, 4])])
def test_shapes_and_feature_maps(cube_len, widths):
    import numpy as np

    g = networks.build_generator(cube_len, 8, 4)
    d = networks.build_discriminator(cube_len, 4)
    z = np.zeros((2, 8), "float32")
    x = g(z)
    assert tuple(x.shape) == (2, cube_len, cube_len, cube_len, 1)
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 1.0  # sigmoid occupancy
    logit, features = d(x)
    assert tuple(logit.shape) == (2,)
    assert [int(f.shape[-1]) for f in features] == widths[::-1]
    assert [int(f.shape[1]) for f in features] == [cube_len // 2 ** (i + 1) for i in range(len(widths))]


def test_dense_variants_and_encoder():
    g = networks.build_generator(32, 8, 4, dense_stem=True)
    d = networks.build_discriminator(32, 4, dense_head=True)
    e = networks.build_encoder(32, 8, 4)
    assert "stem_dense" in [layer.name for layer in g.layers]
    assert network_stats(d)["params"]["dense_weights"] == 4 * 4 * 4 * 16
    assert tuple(e.output_shape) == (None, 8)


@pytest.mark.parametrize("cube_len", [4, 48, 0])
def test_bad_cube_len(cube_len):
    with pytest.raises(ValueError, match="power of two"):
        networks.build_generator(cube_len, 8, 4)
