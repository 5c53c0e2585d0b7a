"""The package as users import it: the public API of ``import tf3dgan`` and ``.keras`` files that load in a
fresh process after it, including one saved by tf3dgan 0.1.0 before the sub-package move."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY = ["model.cube_len=16", "model.base_width=2", "model.z_dim=4", "train.batch_size=4"]

# Load each .keras file given on the command line and compare G's outputs with the saved ones.
LOAD_IN_FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tf3dgan  # registers the Keras classes when Keras loads
import keras

report = {}
for keras_file, expected_file in zip(sys.argv[1::2], sys.argv[2::2]):
    gan = keras.saving.load_model(keras_file)
    expected = np.load(expected_file)
    report[keras_file] = {"variant": gan.variant.name, "type": type(gan).__name__,
                          "max_diff": float(np.abs(gan.generate(expected["z"]) - expected["probabilities"]).max())}
print(json.dumps(report))
"""


def _load_in_fresh_process(pairs) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [str(p) for pair in pairs for p in pair]
    result = subprocess.run([sys.executable, "-c", LOAD_IN_FRESH_PROCESS, *args], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_public_api():
    import tf3dgan
    from tf3dgan.config import load_config
    from tf3dgan.training.builder import build_gan
    from tf3dgan.training.gan import GAN
    from tf3dgan.training.loop import train
    from variants import VARIANTS

    assert tf3dgan.GAN is GAN and tf3dgan.build_gan is build_gan and tf3dgan.train is train
    assert tf3dgan.load_config is load_config and tf3dgan.VARIANTS is VARIANTS
    from tf3dgan.training.training_input import make_dataset
    from tf3dgan.training.tensorboard_monitor import TensorBoardMonitor

    assert tf3dgan.make_dataset is make_dataset and tf3dgan.callbacks.TensorBoardMonitor is TensorBoardMonitor
    assert {"MetricsLogger", "SampleSnapshot", "Checkpointer", "VisdomMonitor"} <= set(tf3dgan.callbacks.__all__)
    assert set(tf3dgan.__all__) <= set(dir(tf3dgan))
    with pytest.raises(AttributeError):
        tf3dgan.no_such_name  # noqa: B018


@pytest.mark.parametrize("imports", ["import tf3dgan; import tensorflow",
                                     "from tf3dgan.nn.latent import LatentSampler"])
def test_keras_classes_are_registered_when_keras_loads(imports):
    """``import tf3dgan`` loads no Keras; its Keras classes are registered as soon as Keras has loaded: inside
    TensorFlow's import (which also looks Keras up without importing it), or once the module of tf3dgan that imports
    Keras (one the classes' modules need whole) is imported. Keras keeps its own loader; the import hook is gone."""
    script = imports + r"""
import sys, keras
names = ("GAN", "FusedBatchNormalization", "OneChannelConv3D", "OneChannelConv3DTranspose")
missing = [n for n in names if keras.saving.get_registered_object(f"tf3dgan>{n}") is None]
hooks = [f for f in sys.meta_path if type(f).__module__ == "tf3dgan.keras_classes"]
assert not missing and not hooks, (missing, hooks)
assert type(keras.__loader__).__name__ == type(keras.__spec__.loader).__name__ == "SourceFileLoader"
"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", script], capture_output=True,
                            text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_keras_file_saved_before_the_move_loads_after_import_tf3dgan():
    """``gan_v0.1.0.keras`` was saved by tf3dgan 0.1.0 (module tf3dgan.gan); see fixtures/make_gan_fixture.py."""
    keras_file, expected = FIXTURES / "gan_v0.1.0.keras", FIXTURES / "gan_v0.1.0_expected.npz"
    report = _load_in_fresh_process([(keras_file, expected)])[str(keras_file)]
    assert report == {"variant": "mit_biasfree", "type": "GAN", "max_diff": report["max_diff"]}
    assert report["max_diff"] <= 1e-6


@pytest.mark.slow
def test_keras_file_of_every_variant_round_trips_in_a_fresh_process(tmp_path):
    import keras

    from tf3dgan.config import load_config
    from tf3dgan.training.builder import build_gan
    from tf3dgan.training.gan import GAN
    from variants import VARIANTS

    pairs = []
    for name in VARIANTS:
        gan = build_gan(load_config(None, TINY + [f"model.variant={name}"]))
        copy = GAN.from_config(gan.get_config())  # the config round-trips, options included
        assert copy.variant.name == name and copy.variant.options == gan.variant.options
        z = np.asarray(gan.sample_latent(3, seed=1), np.float32)
        gan.save(tmp_path / f"{name}.keras")
        np.savez(tmp_path / f"{name}.npz", z=z, probabilities=gan.generate(z))
        pairs.append((tmp_path / f"{name}.keras", tmp_path / f"{name}.npz"))
        keras.backend.clear_session()
    report = _load_in_fresh_process(pairs)
    for name in VARIANTS:
        entry = report[str(tmp_path / f"{name}.keras")]
        assert entry["variant"] == name and entry["type"] == "GAN" and entry["max_diff"] <= 1e-6, entry
