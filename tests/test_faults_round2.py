"""Issue 32, "nothing lost, second round": a run folder whose checkpoints are gone, the run lock for every
writer, every step logged once after a kill, non-finite numbers and diverging runs, a full or read-only disk,
Ctrl-C early, and one-line errors for odd arguments and YAML."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import keras
import numpy as np
import pytest

from conftest import TINY
from harness import mounted_tmpfs, one_line_error
from test_faults import _steps, _train_args
from tf3dgan.cli import main
from tf3dgan.config import load_config
from tf3dgan.training.run_folder import checkpoint_step, latest_checkpoint, list_checkpoints


# -- 1: no readable checkpoint, but history -----------------------------------------------------------------


def test_a_run_without_its_checkpoints_is_not_restarted_silently(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(run, 7)) == 0
    shutil.rmtree(run / "checkpoints")
    assert main(_train_args(run, 7)) == 2
    one_line_error(capsys, f"{run}: holds a run's history (metrics.jsonl up to step 7)", "--restart")
    assert _steps(run) == list(range(1, 8))  # nothing overwritten
    with pytest.warns(UserWarning, match="--restart: the earlier run's files are kept in"):
        assert main(_train_args(run, 2, "--restart")) == 0
    (aside,) = run.glob("previous-*")
    assert [json.loads(line)["step"] for line in (aside / "metrics.jsonl").read_text().splitlines()] == list(range(1, 8))
    assert _steps(run) == [1, 2] and checkpoint_step(latest_checkpoint(run)) == 2


def test_when_no_checkpoint_can_be_read_the_second_run_is_refused_too(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(run, 7)) == 0
    for path in list_checkpoints(run):
        path.write_bytes(b"damaged")
    assert main(_train_args(run, 9)) == 2  # renames them .unreadable and stops
    one_line_error(capsys, "none of the 3 checkpoints can be read", "--restart")
    assert main(_train_args(run, 9)) == 2  # the same command again: still refused, nothing overwritten
    one_line_error(capsys, "3 unreadable checkpoint(s)", "--restart")
    assert _steps(run) == list(range(1, 8))
    assert len(list((run / "checkpoints").glob("*.unreadable"))) == 3


# -- 2: every writer takes the run lock ------------------------------------------------------------------------


def test_import_release_and_plot_respect_the_run_lock(tmp_path, capsys):
    from tf3dgan.training.run_lock import run_folder_lock

    run = tmp_path / "run"
    assert main(_train_args(run, 2)) == 0
    config = (run / "config.yaml").read_bytes()
    with run_folder_lock(run):  # a trainer holds the folder
        assert main(["import-release", str(tmp_path / "chair_G_cpu.t7"), "--out", str(run), "--overwrite"]) == 2
        one_line_error(capsys, f"{run} is being trained by process")
        assert main(["plot", "--run", str(run)]) == 2
        one_line_error(capsys, f"{run} is being trained by process")
    assert (run / "config.yaml").read_bytes() == config
    with run_folder_lock(run, "plot"):  # a trainer names the other command
        assert main(_train_args(run, 3)) == 2
        one_line_error(capsys, f"{run} is being written by process", "(tf3dgan plot, started")


# -- 4: every step logged exactly once after a kill -----------------------------------------------------------


def test_a_resume_after_a_kill_logs_every_step_once_with_the_values_of_an_uninterrupted_run(tmp_path, tiny_voxels):
    from tf3dgan.training.loop import train

    config = load_config(None, TINY)  # log every 2 steps, checkpoint every 3
    train(config, tmp_path / "whole", steps=8, voxels=tiny_voxels, progress=False)
    cut = tmp_path / "cut"
    train(config, cut, steps=5, voxels=tiny_voxels, progress=False)
    latest_checkpoint(cut).unlink()  # killed after step 5's line, before its checkpoint: resumes from 3
    train(config, cut, steps=8, voxels=tiny_voxels, progress=False)
    whole = (tmp_path / "whole" / "metrics.jsonl").read_text()
    assert [json.loads(line)["step"] for line in whole.splitlines()] == [2, 3, 4, 6, 8]  # 3: a checkpoint's line
    assert (cut / "metrics.jsonl").read_text() == whole  # step 3 is in line 3, not lost from line 4's mean


# -- 13: non-finite numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["train.g_lr=.inf", "train.d_lr=.nan", "latent.std=-.inf", "train.g_lr=nan"])
def test_non_finite_config_numbers_are_refused(tmp_path, capsys, setting):
    assert main(_train_args(tmp_path / "run", 2, "--set", setting)) == 2
    one_line_error(capsys, f"{setting.split('=')[0]} must be a finite number")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_huge_learning_rate_stops_the_run_with_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(run, 6, "--set", "train.g_lr=1e30", "--set", "train.d_lr=1e30")) == 2
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
    from tf3dgan.training.loop import train

    config = load_config(None, TINY)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 5 \(.*loss.* not finite\).*ckpt-00000003\.npz"):
        train(config, tmp_path, steps=8, voxels=tiny_voxels, extra_callbacks=[_PoisonG(4)], progress=False)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-00000003.npz"]
    assert _steps(tmp_path) == [2, 3, 4]  # no line for the NaN step
    # A NaN state is never written as a checkpoint.
    gan = train(config, tmp_path / "other", steps=1, voxels=tiny_voxels, progress=False)
    gan.generator.weights[0].assign(np.full(gan.generator.weights[0].shape, np.inf, dtype="float32"))
    with pytest.raises(TrainingDiverged, match="generator/"):
        save_checkpoint(gan, tmp_path / "other")
    assert [p.name for p in list_checkpoints(tmp_path / "other")] == ["ckpt-00000001.npz"]


# -- 7, 8: a full disk, a read-only file system -------------------------------------------------------------


def test_a_full_disk_while_writing_fixed_z_is_one_line(tmp_path, capsys, monkeypatch):
    def short_write(file, array, *args, **kwargs):  # what numpy's tofile raises on a full disk
        raise OSError(f"{array.nbytes} requested and 0 written")

    monkeypatch.setattr(np, "save", short_write)
    run = tmp_path / "run"
    assert main(_train_args(run, 2)) == 2
    one_line_error(capsys, f"no space left on device while writing {run / 'fixed_z.npy'}", "free some space")
    assert not [p for p in run.rglob("*.tmp")]


@pytest.fixture
def read_only_folder(tmp_path):
    """A 4 MiB tmpfs, and a function that remounts it read-only (skipped where mounting fails)."""
    with mounted_tmpfs(tmp_path / "ro", "4m") as folder:
        yield folder, lambda: subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def test_a_read_only_file_system_is_one_line(read_only_folder, tmp_path, capsys):
    folder, read_only = read_only_folder
    run = folder / "run"
    assert main(_train_args(run, 4)) == 0
    read_only()
    capsys.readouterr()
    assert main(_train_args(run, 6)) == 2
    one_line_error(capsys, "Read-only file system")
    assert main(["plot", "--run", str(run)]) == 2
    one_line_error(capsys, "Read-only file system")
    assert main(["sample", "--run", str(run), "--n", "2", "--out", str(folder / "s.npz")]) == 2
    one_line_error(capsys, "s.npz", "Read-only file system")


# -- 9: Ctrl-C early ---------------------------------------------------------------------------------------


def test_ctrl_c_before_the_first_checkpoint_does_not_claim_one(tmp_path, capsys, monkeypatch):
    import tf3dgan.training.loop as loop

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "load_voxels", interrupted)
    assert main(_train_args(tmp_path / "run", 4)) == 130
    err = one_line_error(capsys, "interrupted", "no checkpoint was written yet")
    assert "checkpoint saved" not in err


def test_ctrl_c_while_the_modules_load_is_one_line(capsys, monkeypatch):
    import tf3dgan.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_start_tensorflow_quietly", interrupted)
    assert main(["describe"]) == 130
    one_line_error(capsys, "tf3dgan describe: interrupted")


def test_ctrl_c_while_the_command_imports_tensorflow_is_one_line(tmp_path):
    """The real console script, interrupted by a real SIGINT inside ``import tf3dgan``'s guarded import: the package's
    test hook (``TF3DGAN_TEST_HOLD_IMPORT``) says when the process is there and holds it there, so the signal cannot
    arrive before or after; SIGINT's disposition is set to its default, whatever this suite inherited."""
    import signal
    import sys
    from pathlib import Path

    from harness import default_signal_dispositions, wait_for
    from tf3dgan.quiet import HOLD_IMPORT_VARIABLE

    script = Path(sys.executable).parent / "tf3dgan"
    if not script.exists():
        pytest.skip(f"no tf3dgan console script beside {sys.executable}")
    holding = tmp_path / "holding"
    process = subprocess.Popen([str(script), "env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, HOLD_IMPORT_VARIABLE: str(holding)},
                               preexec_fn=default_signal_dispositions)
    try:
        wait_for(holding.exists, process, "the import's hold")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert "Traceback" not in err and process.returncode == 130, (process.returncode, err)
    assert err.strip().splitlines()[-1] == "tf3dgan: interrupted while loading", err


# -- 11, 14: one-line usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--n-reference", "--cube-len"])
def test_evaluate_refuses_a_zero_size(tmp_path, capsys, option):
    assert main(["evaluate", "--samples", "synthetic", "--reference", "synthetic", option, "0"]) == 2
    one_line_error(capsys, f"{option} must be >= 2, got 0")


def test_a_yaml_syntax_error_is_one_line_naming_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  g_lr: 0.001\n  d_lr: [0.1,\n  steps: 4\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "run")]) == 2
    one_line_error(capsys, f"{bad}: line ", ", column ", "not valid YAML")


# -- 15: the checkpoint carries the config ---------------------------------------------------------------------


def test_a_changed_config_is_named_even_without_config_yaml(tmp_path, capsys):
    from tf3dgan.training.checkpoint import checkpoint_config

    run = tmp_path / "run"
    assert main(_train_args(run, 3)) == 0
    assert checkpoint_config(latest_checkpoint(run))["train"]["g_lr"] == 0.0025
    (run / "config.yaml").unlink()
    assert main(_train_args(run, 5, "--set", "train.g_lr=0.1")) == 2
    one_line_error(capsys, "holds a run with a different config", "train.g_lr: 0.0025 in the run, 0.1 now")
    assert main(_train_args(run, 5)) == 0  # the same settings resume


# -- 3: data convert never reads back or overwrites its own output -------------------------------------------


def test_convert_refuses_an_output_inside_its_source_and_overwrites_only_when_asked(tmp_path, capsys):
    from data_io import write_binvox

    source = tmp_path / "shapes"
    source.mkdir()
    for i, grid in enumerate((np.random.default_rng(0).random((2, 8, 8, 8)) > 0.6).astype(np.uint8)):
        write_binvox(source / f"s{i}.binvox", grid)
    assert main(["data", "convert", str(source), "--out", str(source)]) == 2
    one_line_error(capsys, f"--out {source / 'shapes.npz'} is inside the source folder")
    assert main(["data", "convert", str(source), "--out", str(source / "sub") + "/"]) == 2
    one_line_error(capsys, "inside the source folder")
    assert sorted(p.name for p in source.iterdir()) == ["s0.binvox", "s1.binvox"]
    out = tmp_path / "packed.npz"
    assert main(["data", "convert", str(source), "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["data", "convert", str(source), "--out", str(out)]) == 2
    one_line_error(capsys, f"{out} exists", "--overwrite")
    assert out.read_bytes() == before
    assert main(["data", "convert", str(source), "--out", str(out), "--overwrite"]) == 0
