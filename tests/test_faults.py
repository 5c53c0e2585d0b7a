"""Faults a run folder must survive: a second trainer, SIGTERM / SIGINT / SIGKILL (also in the middle of a
checkpoint), a full disk (simulated, and a real small tmpfs where one can be mounted), a corrupted newest
checkpoint, a torn metrics line. Each ends with a resume that reaches the final step, every step logged once.

The subprocess tests run ``python -m tf3dgan.cli train`` on a tiny net with ``log_every=1`` and signal it once
``metrics.jsonl`` shows progress (at a random-ish step: the seed is in the assertion messages).
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY
from harness import default_signal_dispositions, mounted_tmpfs
from data_io.atomic import TEMPORARY_NAME
from tf3dgan.cli import main
from tf3dgan.errors import RunFolderWarning
from tf3dgan.training.run_folder import LOCK_FILE, checkpoint_step, latest_checkpoint, list_checkpoints

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = TINY + ["data.synthetic_count=12", "train.log_every=1", "monitor.html=false"]
SETS = [a for o in OVERRIDES for a in ("--set", o)]


def _train_args(run: Path, steps: int, *extra: str) -> list[str]:
    return ["train", "--out", str(run), "--steps", str(steps), "--quiet", *SETS, *extra]


def _start(run: Path, steps: int, log: Path, *extra: str, checkpoint_pause: float = 0) -> subprocess.Popen:
    """A ``tf3dgan train`` in another process (its stderr in ``log``); ``checkpoint_pause``: seconds it pauses
    inside each checkpoint write (tests/slow_checkpoints.py)."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cli = ["-m", "tf3dgan.cli"]
    if checkpoint_pause:
        cli = [str(REPO / "tests" / "slow_checkpoints.py"), str(checkpoint_pause)]
    return subprocess.Popen([sys.executable, *cli, *_train_args(run, steps, *extra)], env=environ,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=REPO,
                            preexec_fn=default_signal_dispositions)


def _steps(run: Path) -> list[int]:
    """The steps of the complete lines of metrics.jsonl."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]  # the text after the last newline is not a line yet
    return [json.loads(line)["step"] for line in lines if line.strip()]


def _wait(condition, proc: subprocess.Popen, log: Path, what: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the trainer exited ({proc.returncode}) before {what}: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"timed out waiting for {what}")


def _finish(run: Path, final: int, *extra: str) -> None:
    """Resume in this process up to ``final``; every step then has exactly one metrics line."""
    assert main(_train_args(run, final, *extra)) == 0
    assert _steps(run) == list(range(1, final + 1))
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
        assert main(_train_args(run, 2)) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        assert f"being trained by process {os.getpid()} on {holder['host']}" in err
        assert not (run / "config.yaml").exists() and not (run / "metrics.jsonl").exists()
    assert main(_train_args(run, 2)) == 0  # released at the end of the block


# -- signals -----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_finishes_the_step_writes_a_checkpoint_and_exits_128_plus_n(tmp_path, capsys, signum):
    run, log = tmp_path / "run", tmp_path / "stderr.txt"
    at, why = _pick(2, 8)
    proc = _start(run, 100000, log)
    try:
        _wait(lambda: len(_steps(run)) >= at, proc, log, f"{at} metrics lines")
        # Another trainer on the same folder fails at once, naming this one.
        assert main(_train_args(run, 100000)) == 2
        assert f"being trained by process {proc.pid}" in capsys.readouterr().err
        proc.send_signal(signum)
        assert proc.wait(timeout=120) == 128 + signum, log.read_text()
    finally:
        proc.kill()
    stopped = _steps(run)[-1]
    assert checkpoint_step(latest_checkpoint(run)) == stopped, why
    assert _steps(run) == list(range(1, stopped + 1)), why
    message = log.read_text()
    assert f"{signal.Signals(signum).name}: stopped at step {stopped}; checkpoint" in message
    _finish(run, stopped + 2)


@pytest.mark.slow
def test_a_second_signal_during_the_checkpoint_exits_at_once_and_says_so(tmp_path, capsys):
    run, log = tmp_path / "run", tmp_path / "stderr.txt"
    every = ["--set", "train.checkpoint_every=100000"]  # after ckpt-3 only the one written at the signal
    assert main(_train_args(run, 3, *every)) == 0
    proc = _start(run, 100000, log, *every, checkpoint_pause=20)
    try:
        _wait(lambda: len(_steps(run)) >= 5, proc, log, "5 metrics lines")
        proc.send_signal(signal.SIGINT)
        _wait(lambda: list((run / "checkpoints").glob(".ckpt-*.tmp")), proc, log, "the checkpoint write")
        _wait(lambda: "finishing the current step" in log.read_text(), proc, log, "the first signal's message")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 130  # well before the 20 s pause ends
    finally:
        proc.kill()
    message = log.read_text()
    assert "SIGINT again: stopped at once; no checkpoint was written for the steps since" in message
    assert "ckpt-00000003.npz" in message and "checkpoint saved" not in message
    assert [p.name for p in list_checkpoints(run)] == ["ckpt-00000003.npz"]
    assert not list(run.rglob("*.tmp"))  # the interrupted write removed its temporary file
    _finish(run, _steps(run)[-1] + 1, *every)


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
        temporary = _wait(lambda: list((run / "checkpoints").glob(".ckpt-*.tmp")), proc, log, "a checkpoint write")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
    assert temporary[0].name.startswith(f".ckpt-{every:08d}.npz."), why  # what kill -9 leaves behind
    assert temporary[0].exists() and latest_checkpoint(run) is None, why
    assert not own_tmp.exists()  # removed when the trainer started
    assert _steps(run) == list(range(1, every + 1)), why  # logged before the checkpoint
    _finish(run, every + 2, *extra)
    assert other_tmp.read_text() == "mine"


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
    assert main(_train_args(run, 4)) == 0  # ckpt-3, ckpt-4
    _full_disk_after(monkeypatch, "ckpt-00000006")
    assert main(_train_args(run, 8)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "no space left on device while writing" in err[0] and "ckpt-00000006.npz" in err[0]
    assert f"the last good checkpoint is {run / 'checkpoints' / 'ckpt-00000004.npz'}" in err[0]
    assert not list(run.rglob("*.tmp"))
    monkeypatch.undo()
    assert _steps(run) == [1, 2, 3, 4, 5, 6]  # 6's line was written before its checkpoint failed
    _finish(run, 8)


def test_a_full_disk_while_logging_leaves_no_torn_line(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(_train_args(run, 3)) == 0
    _full_disk_after(monkeypatch, "metrics.jsonl", torn=True)
    assert main(_train_args(run, 6)) == 2
    assert "no space left on device while writing" in capsys.readouterr().err
    monkeypatch.undo()
    assert (run / "metrics.jsonl").read_text().endswith("\n")  # the half line was taken back
    assert _steps(run) == [1, 2, 3]
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
    assert main(_train_args(run, 60, "--set", "train.checkpoint_every=1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on device while writing" in err[0], err
    assert "the last good checkpoint is" in err[0]
    (small_tmpfs / "filler").unlink()  # free the space; the run resumes
    stopped = checkpoint_step(latest_checkpoint(run)) if latest_checkpoint(run) else 0
    assert _steps(run)[:stopped] == list(range(1, stopped + 1))
    assert main(_train_args(run, stopped + 2)) == 0
    assert _steps(run) == list(range(1, stopped + 3))
    assert not list(run.rglob("*.tmp"))


# -- damaged files -----------------------------------------------------------------------------------------


def test_a_corrupted_newest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(run, 7)) == 0  # ckpt 3, 6, 7
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
        assert main(_train_args(run, 9)) == 0
    assert (run / "checkpoints" / "ckpt-00000007.npz.unreadable").stat().st_size == 1000
    assert _steps(run) == list(range(1, 10))


def test_a_torn_metrics_line_is_skipped_with_a_warning_and_dropped_on_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(run, 3)) == 0
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 4, "d_lo')  # what kill -9 in the middle of a write leaves
    with pytest.warns(RunFolderWarning, match="ignoring an incomplete last line"):
        assert main(["plot", "--run", str(run)]) == 0
    z = np.load(run / "fixed_z.npy")
    (run / "fixed_z.npy").write_bytes((run / "fixed_z.npy").read_bytes()[:40])  # a truncated fixed_z.npy
    with pytest.warns(RunFolderWarning, match="fixed_z.npy cannot be read"):
        _finish(run, 5)
    np.testing.assert_array_equal(np.load(run / "fixed_z.npy"), z)  # made again: the same vectors
