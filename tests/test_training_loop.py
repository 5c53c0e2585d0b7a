"""Run folders: logs, checkpoints, exact resume (also after Ctrl-C), and the train/describe/sample CLI."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from harness import TINY, metrics_steps, one_line_error, train_args
from harness import assert_same_state as _assert_same_state
from tf3dgan.cli import main
from tf3dgan.config import load_config
from tf3dgan.errors import ConfigError, RunFolderError
from tf3dgan.training.builder import build_gan
from tf3dgan.training.checkpoint import restore_checkpoint, state_variables
from tf3dgan.training.loop import train
from tf3dgan.training.run_folder import latest_checkpoint, list_checkpoints


@pytest.fixture
def tiny_config(tiny_overrides):
    return load_config(None, tiny_overrides + ["train.d_lr=0.001", "train.d_thresh=0.9"])


def test_run_folder_contents(tmp_path, tiny_config, tiny_voxels):
    gan = train(tiny_config, tmp_path, steps=8, voxels=tiny_voxels, progress=False)
    assert int(gan.step_counter.numpy()) == 8
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 3, 4, 6, 8]  # and at each checkpoint (3, 6, 8)
    for key in ("d_loss", "g_loss", "d_acc", "d_updated", "d_real", "d_fake", "g_lr", "d_lr"):
        assert key in records[0]
    # d_updated is a fraction of the 2 steps in each line.
    assert all(r["d_updated"] in (0.0, 0.5, 1.0) for r in records)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-00000003.npz", "ckpt-00000006.npz", "ckpt-00000008.npz"]
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.npz")) == ["step_00000004.npz", "step_00000008.npz"]
    with np.load(tmp_path / "samples" / "step_00000008.npz") as snap:
        assert snap["probabilities"].shape == (2, 16, 16, 16)
        np.testing.assert_array_equal(snap["z"], np.load(tmp_path / "fixed_z.npy"))
    assert load_config(tmp_path / "config.yaml").train.steps == 8
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files


def test_resume_is_exact(tmp_path, tiny_config, tiny_voxels):
    whole = train(tiny_config, tmp_path / "whole", steps=10, voxels=tiny_voxels, progress=False)
    train(tiny_config, tmp_path / "split", steps=4, voxels=tiny_voxels, progress=False)
    resumed = train(tiny_config, tmp_path / "split", steps=10, voxels=tiny_voxels, progress=False)
    _assert_same_state(whole, resumed)
    whole_log = (tmp_path / "whole" / "metrics.jsonl").read_text()
    assert (tmp_path / "split" / "metrics.jsonl").read_text() == whole_log


def test_a_shorter_training_is_the_start_of_a_longer_one_at_constant_rates(tmp_path, tiny_overrides, tiny_voxels):
    """What lets a suite read a shorter recipe off a longer training's scores at an earlier step (chairs_cpu at
    4,000 steps from the 7,000-step seeds): with constant learning rates and no instance noise, ``train.steps``
    decides only where training stops. A schedule spans ``train.steps``, so there it decides the steps too."""
    recipe_like = [*tiny_overrides, "train.r1_gamma=1.0", "train.ema_decay=0.9", "model.minibatch_std=true",
                   "train.checkpoint_every=2"]
    def short_and_long_at_step_4(name, *overrides):
        short = train(load_config(None, [*recipe_like, "train.steps=4", *overrides]), tmp_path / f"{name}4",
                      voxels=tiny_voxels, progress=False)
        long_config = load_config(None, [*recipe_like, "train.steps=8", *overrides])
        train(long_config, tmp_path / f"{name}8", voxels=tiny_voxels, progress=False)
        long_at_4 = build_gan(long_config)
        assert restore_checkpoint(long_at_4, tmp_path / f"{name}8" / "checkpoints" / "ckpt-00000004.npz") == 4
        return short, long_at_4

    _assert_same_state(*short_and_long_at_step_4("constant"))
    with pytest.raises(AssertionError):
        _assert_same_state(*short_and_long_at_step_4("linear", "train.lr_schedule=linear"))


class _CtrlC(keras.callbacks.Callback):
    """At ``at_step``: a real SIGINT to this process (``signal=True``) or a KeyboardInterrupt raised here."""

    def __init__(self, at_step, signal=True):
        super().__init__()
        self.at_step, self.signal = at_step, signal

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step_counter.numpy()) == self.at_step:
            if not self.signal:
                raise KeyboardInterrupt
            import os
            import signal

            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("signal", [True, False], ids=["SIGINT", "KeyboardInterrupt"])
def test_ctrl_c_leaves_a_checkpoint_and_resume_is_exact(tmp_path, tiny_config, tiny_voxels, signal):
    from tf3dgan.training.interrupt import TrainingStopped

    whole = train(tiny_config, tmp_path / "whole", steps=9, voxels=tiny_voxels, progress=False)
    with pytest.raises(TrainingStopped if signal else KeyboardInterrupt) as stopped:
        train(tiny_config, tmp_path / "cut", steps=9, voxels=tiny_voxels, extra_callbacks=[_CtrlC(5, signal)],
              progress=False)
    if signal:
        assert stopped.value.step == 5 and stopped.value.exit_status == 130
    assert latest_checkpoint(tmp_path / "cut").name == "ckpt-00000005.npz"
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 3, 4, 5]  # the line of the interrupted step (5) is written with the checkpoint
    resumed = train(tiny_config, tmp_path / "cut", steps=9, voxels=tiny_voxels, progress=False)
    _assert_same_state(whole, resumed)
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 3, 4, 5, 6, 8, 9]  # no line logged twice; the last steps (9) get their line too


def test_resume_refuses_a_different_config(tmp_path, tiny_config, tiny_overrides, tiny_voxels):
    train(tiny_config, tmp_path, steps=2, voxels=tiny_voxels, progress=False)
    other = load_config(None, tiny_overrides + ["train.g_lr=0.1"])
    with pytest.raises(ConfigError, match=r"train\.g_lr: 0\.0025 in the run, 0\.1 now"):
        train(other, tmp_path, steps=4, voxels=tiny_voxels, progress=False)


def test_checkpoint_is_restored_by_key_and_names_what_does_not_fit(tmp_path, tiny_config, tiny_overrides,
                                                                    tiny_voxels):
    gan = train(tiny_config, tmp_path, steps=3, voxels=tiny_voxels, progress=False)
    path = latest_checkpoint(tmp_path)
    with np.load(path) as data:
        assert list(data["keys"]) == list(state_variables(gan))
    fresh = build_gan(tiny_config)  # another process-wide optimizer number: keys do not depend on it
    assert restore_checkpoint(fresh, path) == 3
    for a, b in zip(gan.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = build_gan(load_config(None, tiny_overrides + ["model.variant=autoencoder"]))
    with pytest.raises(RunFolderError, match=r"does not fit the model.*missing encoder/"):
        restore_checkpoint(other, path)
    wider = build_gan(load_config(None, tiny_overrides + ["model.base_width=8"]))
    with pytest.raises(RunFolderError, match=r"other shapes \(checkpoint vs model\): generator/deconv1/kernel"):
        restore_checkpoint(wider, path)


def test_corrupt_checkpoint_is_reported(tmp_path, tiny_config, tiny_voxels):
    gan = train(tiny_config, tmp_path, steps=3, voxels=tiny_voxels, progress=False)
    path = latest_checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="ckpt-00000003.npz: not a readable tf3dgan checkpoint"):
        restore_checkpoint(gan, path)


def test_cli_train_sample_describe(tmp_path, tiny_overrides, capsys):
    sets = [a for o in tiny_overrides + ["data.synthetic_count=12", "train.steps=4"] for a in ("--set", o)]
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--quiet", *sets]) == 0
    assert "4 steps done" in capsys.readouterr().out
    assert main(["sample", "--run", str(run), "--n", "3", "--out", str(tmp_path / "s.npz"), "--seed", "1"]) == 0
    assert "3 shapes of 16^3 from step 4" in capsys.readouterr().out
    with np.load(tmp_path / "s.npz") as out:
        assert out["voxels"].shape == (3, 16, 16, 16) and out["voxels"].dtype == np.uint8
        assert out["probabilities"].shape == (3, 16, 16, 16) and out["z"].shape == (3, 8)
        np.testing.assert_array_equal(out["voxels"], (out["probabilities"] > 0.5).astype(np.uint8))
    assert main(["describe", "--json", *sets]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["generator"]["params"]["conv_weights"] == 8 * 8 * 64 + 8 * 4 * 64 + 4 * 1 * 64
    assert main(["sample", "--run", str(tmp_path / "nothing"), "--n", "1", "--out", str(tmp_path / "x.npz")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--set", "train.stepz=3"]) == 2
    assert "unknown key 'train.stepz'" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_describes_the_paper_net():
    out = subprocess.run(
        [sys.executable, "-m", "tf3dgan.cli", "describe", "--json"], capture_output=True, text=True, check=True
    ).stdout
    described = json.loads(out)
    assert described["generator"]["params"]["conv_weights"] == 17_567_744
    assert described["discriminator"]["params"]["conv_weights"] == 11_046_912
    assert described["generator"]["flops_per_sample"] == 7_797_735_424


@pytest.mark.slow
def test_resume_in_a_new_process_is_exact(tmp_path, tiny_overrides):
    """Ctrl-C and re-run = a new process: its result equals one uninterrupted run, bit for bit.

    TensorFlow's multi-threaded CPU kernels may sum in a different order from one process to the next, so
    bit-exact runs need single-threaded ops (the README says so); the resume itself adds no difference.
    """
    import os

    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    sets = [a for o in tiny_overrides + ["data.synthetic_count=12"] for a in ("--set", o)]

    def train_to(run, steps):
        cmd = [sys.executable, "-m", "tf3dgan.cli", "train", "--out", str(run), "--steps", str(steps), "--quiet", *sets]
        subprocess.run(cmd, check=True, env=env, capture_output=True)

    train_to(tmp_path / "whole", 12)
    train_to(tmp_path / "split", 5)
    train_to(tmp_path / "split", 12)
    with np.load(latest_checkpoint(tmp_path / "whole")) as a, np.load(latest_checkpoint(tmp_path / "split")) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_a_huge_learning_rate_stops_the_run_with_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(run, 6, "--set", "train.g_lr=1e30", "--set", "train.d_lr=1e30")) == 2
    one_line_error(capsys, "training diverged at step", "not finite")
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").exists() else []
    assert all(np.isfinite(v) for line in lines for v in json.loads(line).values())  # no NaN line


class _PoisonG(keras.callbacks.Callback):
    """At ``step``, put a NaN into G's first kernel."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step_counter.numpy()) == self.step:
            kernel = self.model.generator.weights[0]
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


def test_nan_losses_stop_the_run_at_that_step_and_keep_the_last_finite_checkpoint(tmp_path, tiny_voxels):
    from tf3dgan.training.checkpoint import TrainingDiverged, save_checkpoint

    config = load_config(None, TINY)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 5 \(.*loss.* not finite\).*ckpt-00000003\.npz"):
        train(config, tmp_path, steps=8, voxels=tiny_voxels, extra_callbacks=[_PoisonG(4)], progress=False)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-00000003.npz"]
    assert metrics_steps(tmp_path) == [2, 3, 4]  # no line for the NaN step
    # A NaN state is never written as a checkpoint.
    gan = train(config, tmp_path / "other", steps=1, voxels=tiny_voxels, progress=False)
    gan.generator.weights[0].assign(np.full(gan.generator.weights[0].shape, np.inf, dtype="float32"))
    with pytest.raises(TrainingDiverged, match="generator/"):
        save_checkpoint(gan, tmp_path / "other")
    assert [p.name for p in list_checkpoints(tmp_path / "other")] == ["ckpt-00000001.npz"]

