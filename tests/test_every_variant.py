"""Every registered variant through the shared harness (tests/harness.py), as keras-hub's ``run_model_saving_test``
runs every model: build it tiny, train two steps, save it as ``.keras``, load it in this process, and get the same
GAN back (variant and options, every weight and optimizer variable, G's samples, D's logits), which then trains on
exactly as the original."""

import pytest

from harness import assert_round_trip, assert_same_state, batches, random_grids, state, tiny_gan
from variants import VARIANTS


def test_each_variant_takes_the_options_declared_for_its_name():
    """``variants.options.OPTIONS`` (what a config is validated against, without Keras) lists the variants in
    ``VARIANTS``' order, each with the Options its class takes."""
    from variants.options import OPTIONS

    assert list(OPTIONS) == list(VARIANTS)
    assert all(OPTIONS[name] is cls.Options for name, cls in VARIANTS.items())


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the autoencoder's E, idle after pre-training
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_builds_trains_saves_and_loads(variant, tmp_path):
    import numpy as np

    voxels = random_grids(8, 16, seed=2)
    gan = tiny_gan("train.d_gate=always", variant=variant)  # the image variants at 16x16 pictures
    before = state(gan)
    stream = iter(batches(gan, voxels))
    for _ in range(2):  # eagerly: fit's traced step is test_training_gan's (every variant too)
        logs = gan.train_step(next(stream))
    assert int(gan.step_counter.numpy()) == 2
    assert all(np.isfinite(float(logs[key])) for key in ("d_loss", "g_loss")), logs
    assert any(not np.array_equal(a, b) for a, b in zip(before, state(gan), strict=True))  # it trained
    loaded = assert_round_trip(gan, tmp_path / f"{variant}.keras", voxels)
    assert int(loaded.step_counter.numpy()) == 2
    # The file holds all the training state (optimizers, the latent RNG, the step): one more step on the same batch
    # moves both copies alike.
    batch = next(stream)
    gan.train_step(batch)
    loaded.train_step(batch)
    assert_same_state(gan, loaded)
