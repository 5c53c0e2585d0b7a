"""The CPU fast paths (phase-split one-channel convolutions, the fused 4D BatchNorm) train as Keras' own layers:
the same losses and weights after a few steps, within float rounding. The golden traces pin the fast paths bit
for bit; this test pins them to the plain layers, so a faster kernel can replace a fast path and keep its numbers."""

import numpy as np
import pytest

import golden_traces


def _train(run_dir):
    from tf3dgan.training.loop import train
    from tf3dgan.training.run_callbacks import read_metrics

    # Not with R1: Keras' BatchNorm has an inexact second derivative (tests/test_nn_batch_norm.py checks R1).
    gan = train(golden_traces.config_of("base"), run_dir, steps=4, voxels=golden_traces.training_voxels(),
                progress=False)
    weights = {net.name: net.get_weights() for net in (gan.generator, gan.discriminator)}
    return read_metrics(run_dir), weights


def test_the_fast_paths_train_as_keras_own_layers(tmp_path, monkeypatch):
    from tf3dgan.nn import one_channel_convs
    from tf3dgan.nn.batch_norm import FusedBatchNormalization

    fast_metrics, fast_weights = _train(tmp_path / "fast")
    monkeypatch.setattr(one_channel_convs, "fast_path_applies", lambda layer: False)
    monkeypatch.setattr(FusedBatchNormalization, "_fused_applies", lambda self, inputs, training, mask: False)
    plain_metrics, plain_weights = _train(tmp_path / "plain")

    assert [m["step"] for m in fast_metrics] == [m["step"] for m in plain_metrics] == [1, 2, 3, 4]
    for fast, plain in zip(fast_metrics, plain_metrics):
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert fast[key] == pytest.approx(plain[key], rel=1e-4), (fast["step"], key)
    for name, weights in fast_weights.items():
        for a, b in zip(weights, plain_weights[name]):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5, err_msg=name)


R1_TRAINING = """
import sys
sys.path.insert(0, {tests!r})
import golden_traces
from tf3dgan.config import load_config
from tf3dgan.training.loop import train
config = load_config(None, golden_traces.BASE + ["train.r1_gamma=1.0"])
train(config, {run_dir!r}, steps=2, voxels=golden_traces.training_voxels(), progress=False)
"""


def test_r1_with_the_d_gate_leaves_grapplers_remapper_working(tmp_path):
    # R1's second backward pass feeds the one-channel conv's padded input into the D gate's cond; with a plain
    # Pad op, the remapper's pad-into-conv fusion failed on the whole train step at every training start.
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = R1_TRAINING.format(tests=str(Path(golden_traces.__file__).parent), run_dir=str(tmp_path / "run"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "remapper failed" not in done.stderr
