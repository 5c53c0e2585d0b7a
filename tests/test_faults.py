"""Faults a run folder must survive: a second trainer or another writer (the run lock), SIGTERM / SIGINT / SIGKILL
(also in the middle of a checkpoint), Ctrl-C before the first checkpoint and while the modules load, a full disk
(simulated, and a real small tmpfs where one can be mounted), a read-only file system, a corrupted newest
checkpoint, a torn metrics line, checkpoints gone or unreadable, a changed config. Each ends with a resume that
reaches the final step, every step logged once, or a one-line refusal that overwrites nothing.

The subprocess tests run ``python -m tf3dgan.cli train`` on a tiny net with ``log_every=1`` and signal it once
``metrics.jsonl`` shows progress (at a random-ish step: the seed is in the assertion messages).
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import (TINY, default_signal_dispositions, metrics_steps, mounted_tmpfs, one_line_error, train_args,
                     wait_for)
from data_io.atomic import TEMPORARY_NAME
from tf3dgan.cli import main
from tf3dgan.config import load_config
from tf3dgan.errors import RunFolderWarning
from tf3dgan.training.run_folder import LOCK_FILE, checkpoint_step, latest_checkpoint, list_checkpoints

REPO = Path(__file__).resolve().parents[1]


def _start(run: Path, steps: int, log: Path, *extra: str, checkpoint_pause: float = 0) -> subprocess.Popen:
    """A ``tf3dgan train`` in another process (its stderr in ``log``); ``checkpoint_pause``: seconds it pauses
    inside each checkpoint write (tests/slow_checkpoints.py)."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cli = ["-m", "tf3dgan.cli"]
    if checkpoint_pause:
        cli = [str(REPO / "tests" / "slow_checkpoints.py"), str(checkpoint_pause)]
    return subprocess.Popen([sys.executable, *cli, *train_args(run, steps, *extra)], env=environ,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=REPO,
                            preexec_fn=default_signal_dispositions)


def _finish(run: Path, final: int, *extra: str) -> None:
    """Resume in this process up to ``final``; every step then has exactly one metrics line."""
    assert main(train_args(run, final, *extra)) == 0
    assert metrics_steps(run) == list(range(1, final + 1))
    assert checkpoint_step(latest_checkpoint(run)) == final
    assert not [p for p in run.rglob("*.tmp") if TEMPORARY_NAME.fullmatch(p.name)]


def _pick(low: int, high: int) -> tuple[int, str]:
    seed = random.randrange(1 << 30)
    return random.Random(seed).randint(low, high), f"(random seed {seed})"


# -- one writer ------------------------------------------------------------------------------------------


def test_a_second_trainer_is_refused_while_the_lock_is_held(tmp_path, capsys):
    from tf3dgan.training.run_lock import run_folder_lock

    run = tmp_path / "run"
    run.mkdir()
    with run_folder_lock(run):
        holder = json.loads((run / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["started"]
        assert main(train_args(run, 2)) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        assert f"being trained by process {os.getpid()} on {holder['host']}" in err
        assert not (run / "config.yaml").exists() and not (run / "metrics.jsonl").exists()
    assert main(train_args(run, 2)) == 0  # released at the end of the block


def test_import_release_and_plot_respect_the_run_lock(tmp_path, capsys):
    from tf3dgan.training.run_lock import run_folder_lock

    run = tmp_path / "run"
    assert main(train_args(run, 2)) == 0
    config = (run / "config.yaml").read_bytes()
    with run_folder_lock(run):  # a trainer holds the folder
        assert main(["import-release", str(tmp_path / "chair_G_cpu.t7"), "--out", str(run), "--overwrite"]) == 2
        one_line_error(capsys, f"{run} is being trained by process")
        assert main(["plot", "--run", str(run)]) == 2
        one_line_error(capsys, f"{run} is being trained by process")
    assert (run / "config.yaml").read_bytes() == config
    with run_folder_lock(run, "plot"):  # a trainer names the other command
        assert main(train_args(run, 3)) == 2
        one_line_error(capsys, f"{run} is being written by process", "(tf3dgan plot, started")



# -- signals -----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_finishes_the_step_writes_a_checkpoint_and_exits_128_plus_n(tmp_path, capsys, signum):
    run, log = tmp_path / "run", tmp_path / "stderr.txt"
    at, why = _pick(2, 8)
    proc = _start(run, 100000, log)
    try:
        wait_for(lambda: len(metrics_steps(run)) >= at, proc, f"{at} metrics lines", log=log)
        # Another trainer on the same folder fails at once, naming this one.
        assert main(train_args(run, 100000)) == 2
        assert f"being trained by process {proc.pid}" in capsys.readouterr().err
        proc.send_signal(signum)
        assert proc.wait(timeout=120) == 128 + signum, log.read_text()
    finally:
        proc.kill()
    stopped = metrics_steps(run)[-1]
    assert checkpoint_step(latest_checkpoint(run)) == stopped, why
    assert metrics_steps(run) == list(range(1, stopped + 1)), why
    message = log.read_text()
    assert f"{signal.Signals(signum).name}: stopped at step {stopped}; checkpoint" in message
    _finish(run, stopped + 2)


@pytest.mark.slow
def test_a_second_signal_during_the_checkpoint_exits_at_once_and_says_so(tmp_path, capsys):
    run, log = tmp_path / "run", tmp_path / "stderr.txt"
    every = ["--set", "train.checkpoint_every=100000"]  # after ckpt-3 only the one written at the signal
    assert main(train_args(run, 3, *every)) == 0
    proc = _start(run, 100000, log, *every, checkpoint_pause=20)
    try:
        wait_for(lambda: len(metrics_steps(run)) >= 5, proc, "5 metrics lines", log=log)
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: list((run / "checkpoints").glob(".ckpt-*.tmp")), proc, "the checkpoint write", log=log)
        wait_for(lambda: "finishing the current step" in log.read_text(), proc, "the first signal's message", log=log)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 130  # well before the 20 s pause ends
    finally:
        proc.kill()
    message = log.read_text()
    assert "SIGINT again: stopped at once; no checkpoint was written for the steps since" in message
    assert "ckpt-00000003.npz" in message and "checkpoint saved" not in message
    assert [p.name for p in list_checkpoints(run)] == ["ckpt-00000003.npz"]
    assert not list(run.rglob("*.tmp"))  # the interrupted write removed its temporary file
    _finish(run, metrics_steps(run)[-1] + 1, *every)


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_checkpoint_leaves_the_run_resumable(tmp_path):
    run, log = tmp_path / "run", tmp_path / "stderr.txt"
    every, why = _pick(2, 6)  # killed while writing the first checkpoint, at this step
    (run / "samples").mkdir(parents=True)
    own_tmp = run / "samples" / ".step_00000004.npz.0a1b2c3d.tmp"  # left by an earlier kill -9
    own_tmp.write_bytes(b"partial")
    other_tmp = run / "notes.tmp"  # not the package's: kept
    other_tmp.write_text("mine")
    extra = ["--set", f"train.checkpoint_every={every}"]
    proc = _start(run, 100000, log, *extra, checkpoint_pause=30)
    try:
        temporary = wait_for(lambda: list((run / "checkpoints").glob(".ckpt-*.tmp")), proc, "a checkpoint write",
                             log=log)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
    assert temporary[0].name.startswith(f".ckpt-{every:08d}.npz."), why  # what kill -9 leaves behind
    assert temporary[0].exists() and latest_checkpoint(run) is None, why
    assert not own_tmp.exists()  # removed when the trainer started
    assert metrics_steps(run) == list(range(1, every + 1)), why  # logged before the checkpoint
    _finish(run, every + 2, *extra)
    assert other_tmp.read_text() == "mine"


def test_ctrl_c_before_the_first_checkpoint_does_not_claim_one(tmp_path, capsys, monkeypatch):
    import tf3dgan.training.loop as loop

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "load_voxels", interrupted)
    assert main(train_args(tmp_path / "run", 4)) == 130
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
    """The real console script, interrupted by a real SIGINT as it starts to import TensorFlow: the package's test
    hook (``TF3DGAN_TEST_HOLD_IMPORT``) says when the process is there and holds it there, so the signal cannot
    arrive before or after; SIGINT's disposition is set to its default, whatever this suite inherited."""
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
    assert err.strip().splitlines()[-1] == "tf3dgan env: interrupted", err



# -- full disk ---------------------------------------------------------------------------------------------


def _full_disk_after(monkeypatch, name_part: str, torn: bool = False) -> None:
    """Make data_io.atomic's writes to files whose name contains ``name_part`` fail with ENOSPC (``torn``: after
    writing half the bytes), as a full disk does; other files and modules are not affected."""
    import types

    import data_io.atomic as atomic

    names: dict = {}

    def full(fd, data):
        if torn:
            os.write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(path, flags, mode=0o777):
        fd = os.open(path, flags, mode)
        names[fd] = str(path)
        return fd

    def fake_write(fd, data):
        return full(fd, data) if name_part in names.get(fd, "") else os.write(fd, data)

    def fake_fdopen(fd, *args, **kwargs):
        f = os.fdopen(fd, *args, **kwargs)
        if name_part not in names.get(fd, ""):
            return f

        f.close()
        g = open(os.open(names[fd], os.O_WRONLY), *args, **kwargs)
        g.write = lambda data: full(g.fileno(), data)
        return g

    fake_os = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
    fake_os.open, fake_os.write, fake_os.fdopen = fake_open, fake_write, fake_fdopen
    monkeypatch.setattr(atomic, "os", fake_os)


def test_a_full_disk_while_checkpointing_is_one_line_and_resumable(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(train_args(run, 4)) == 0  # ckpt-3, ckpt-4
    _full_disk_after(monkeypatch, "ckpt-00000006")
    assert main(train_args(run, 8)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "no space left on device while writing" in err[0] and "ckpt-00000006.npz" in err[0]
    assert f"the last good checkpoint is {run / 'checkpoints' / 'ckpt-00000004.npz'}" in err[0]
    assert not list(run.rglob("*.tmp"))
    monkeypatch.undo()
    assert metrics_steps(run) == [1, 2, 3, 4, 5, 6]  # 6's line was written before its checkpoint failed
    _finish(run, 8)


def test_a_full_disk_while_logging_leaves_no_torn_line(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(train_args(run, 3)) == 0
    _full_disk_after(monkeypatch, "metrics.jsonl", torn=True)
    assert main(train_args(run, 6)) == 2
    assert "no space left on device while writing" in capsys.readouterr().err
    monkeypatch.undo()
    assert (run / "metrics.jsonl").read_text().endswith("\n")  # the half line was taken back
    assert metrics_steps(run) == [1, 2, 3]
    _finish(run, 6)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted on a folder (skipped where mounting fails)."""
    with mounted_tmpfs(tmp_path / "tmpfs", "1m") as folder:
        yield folder


def test_a_real_full_filesystem_is_one_line_and_resumable(small_tmpfs, tmp_path, capsys):
    run = small_tmpfs / "run"
    # Fill the tmpfs so that the run folder soon has no room left.
    (small_tmpfs / "filler").write_bytes(b"\0" * (1024 * 1024 - 600 * 1024))
    assert main(train_args(run, 60, "--set", "train.checkpoint_every=1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on device while writing" in err[0], err
    assert "the last good checkpoint is" in err[0]
    (small_tmpfs / "filler").unlink()  # free the space; the run resumes
    stopped = checkpoint_step(latest_checkpoint(run)) if latest_checkpoint(run) else 0
    assert metrics_steps(run)[:stopped] == list(range(1, stopped + 1))
    assert main(train_args(run, stopped + 2)) == 0
    assert metrics_steps(run) == list(range(1, stopped + 3))
    assert not list(run.rglob("*.tmp"))


def test_a_full_disk_while_writing_fixed_z_is_one_line(tmp_path, capsys, monkeypatch):
    def short_write(file, array, *args, **kwargs):  # what numpy's tofile raises on a full disk
        raise OSError(f"{array.nbytes} requested and 0 written")

    monkeypatch.setattr(np, "save", short_write)
    run = tmp_path / "run"
    assert main(train_args(run, 2)) == 2
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
    assert main(train_args(run, 4)) == 0
    read_only()
    capsys.readouterr()
    assert main(train_args(run, 6)) == 2
    one_line_error(capsys, "Read-only file system")
    assert main(["plot", "--run", str(run)]) == 2
    one_line_error(capsys, "Read-only file system")
    assert main(["sample", "--run", str(run), "--n", "2", "--out", str(folder / "s.npz")]) == 2
    one_line_error(capsys, "s.npz", "Read-only file system")



# -- damaged files -----------------------------------------------------------------------------------------


def test_a_corrupted_newest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(run, 7)) == 0  # ckpt 3, 6, 7
    newest = latest_checkpoint(run)
    newest.write_bytes(newest.read_bytes()[:1000])
    # sample and export use the newest that reads, with a warning naming the bad one.
    bad = "ckpt-00000007.npz cannot be read; using the older ckpt-00000006.npz"
    with pytest.warns(RunFolderWarning, match=bad):
        assert main(["sample", "--run", str(run), "--n", "2", "--out", str(tmp_path / "s.npz")]) == 0
    assert "from step 6" in capsys.readouterr().out
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "e"), "--checkpoint",
                 str(run / "missing.npz")]) == 2
    assert "--checkpoint" in capsys.readouterr().err and not (tmp_path / "e").exists()
    # train resumes from ckpt-6, keeps the bad file aside, and logs steps 7.. again.
    with pytest.warns(RunFolderWarning, match=bad + r" \(step 6\); ckpt-00000007.npz is kept as"):
        assert main(train_args(run, 9)) == 0
    assert (run / "checkpoints" / "ckpt-00000007.npz.unreadable").stat().st_size == 1000
    assert metrics_steps(run) == list(range(1, 10))


def test_a_torn_metrics_line_is_skipped_with_a_warning_and_dropped_on_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(run, 3)) == 0
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 4, "d_lo')  # what kill -9 in the middle of a write leaves
    with pytest.warns(RunFolderWarning, match="ignoring an incomplete last line"):
        assert main(["plot", "--run", str(run)]) == 0
    z = np.load(run / "fixed_z.npy")
    (run / "fixed_z.npy").write_bytes((run / "fixed_z.npy").read_bytes()[:40])  # a truncated fixed_z.npy
    with pytest.warns(RunFolderWarning, match="fixed_z.npy cannot be read"):
        _finish(run, 5)
    np.testing.assert_array_equal(np.load(run / "fixed_z.npy"), z)  # made again: the same vectors


# -- a run folder whose checkpoints are gone or unreadable, or whose config changed ----------------------


def test_a_run_without_its_checkpoints_is_not_restarted_silently(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(run, 7)) == 0
    shutil.rmtree(run / "checkpoints")
    assert main(train_args(run, 7)) == 2
    one_line_error(capsys, f"{run}: holds a run's history (metrics.jsonl up to step 7)", "--restart")
    assert metrics_steps(run) == list(range(1, 8))  # nothing overwritten
    with pytest.warns(UserWarning, match="--restart: the earlier run's files are kept in"):
        assert main(train_args(run, 2, "--restart")) == 0
    (aside,) = run.glob("previous-*")
    assert [json.loads(line)["step"] for line in (aside / "metrics.jsonl").read_text().splitlines()] == list(range(1, 8))
    assert metrics_steps(run) == [1, 2] and checkpoint_step(latest_checkpoint(run)) == 2


def test_when_no_checkpoint_can_be_read_the_second_run_is_refused_too(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(run, 7)) == 0
    for path in list_checkpoints(run):
        path.write_bytes(b"damaged")
    assert main(train_args(run, 9)) == 2  # renames them .unreadable and stops
    one_line_error(capsys, "none of the 3 checkpoints can be read", "--restart")
    assert main(train_args(run, 9)) == 2  # the same command again: still refused, nothing overwritten
    one_line_error(capsys, "3 unreadable checkpoint(s)", "--restart")
    assert metrics_steps(run) == list(range(1, 8))
    assert len(list((run / "checkpoints").glob("*.unreadable"))) == 3


def test_a_changed_config_is_named_even_without_config_yaml(tmp_path, capsys):
    from tf3dgan.training.checkpoint import checkpoint_config

    run = tmp_path / "run"
    assert main(train_args(run, 3)) == 0
    assert checkpoint_config(latest_checkpoint(run))["train"]["g_lr"] == 0.0025
    (run / "config.yaml").unlink()
    assert main(train_args(run, 5, "--set", "train.g_lr=0.1")) == 2
    one_line_error(capsys, "holds a run with a different config", "train.g_lr: 0.0025 in the run, 0.1 now")
    assert main(train_args(run, 5)) == 0  # the same settings resume


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

