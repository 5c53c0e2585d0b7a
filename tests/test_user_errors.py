"""What a demanding user tries with odd files and arguments: one-line errors (exit 2) naming the file or key,
and the behaviours a user expects (issue 15, findings 6-10). Run-folder faults are in test_faults.py."""

from __future__ import annotations

import errno
import os
import zipfile

import numpy as np
import pytest

from harness import TINY
from data_io import read_source, write_binvox
from tf3dgan.cli import main
from harness import one_line_error

SETS = [a for o in TINY + ["data.synthetic_count=12"] for a in ("--set", o)]


def _grids(n, size=8, seed=0):
    return (np.random.default_rng(seed).random((n, size, size, size)) > 0.6).astype(np.uint8)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run (4 steps)."""
    folder = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--out", str(folder), "--steps", "4", "--quiet", *SETS]) == 0
    return folder


# -- finding 6: data convert output reads back ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binvox", "off", "one file"])
def test_convert_of_an_unlabelled_source_reads_back_unlabelled(tmp_path, kind, capsys):
    source = tmp_path / "flat"
    source.mkdir()
    if kind == "off":
        for i in range(2):
            (source / f"t{i}.off").write_text("OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n"
                                              "3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n")
    else:
        for i, grid in enumerate(_grids(2)):
            write_binvox(source / f"s{i}.binvox", grid)
    if kind == "one file":
        source = source / "s0.binvox"
    assert main(["data", "convert", str(source), "--out", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as data:
        assert "labels" not in data.files
    back = read_source(tmp_path / "out.npz")
    assert back.labels is None and len(back) >= 1


# -- finding 7: <class>/<split>/ folders honour --split -----------------------------------------------------


def test_modelnet_style_folders_honour_the_split(tmp_path, capsys):
    root = tmp_path / "ModelNet"
    for c, cls in enumerate(("chair", "desk")):
        for split, n in (("train", 3), ("test", 1)):
            (root / cls / split).mkdir(parents=True)
            for i, grid in enumerate(_grids(n, seed=10 * c + n)):
                write_binvox(root / cls / split / f"{cls}_{split}_{i}.binvox", grid)
    train = read_source(root, split="train")
    test = read_source(root, split="test")
    assert len(train) == 6 and len(test) == 2
    assert train.class_names == test.class_names == ["chair", "desk"]
    assert all("_train_" in n for n in train.names) and all("_test_" in n for n in test.names)
    one_class = read_source(root / "chair", split="test")
    assert len(one_class) == 1 and one_class.labels is None
    assert main(["data", "convert", str(root), "--split", "test", "--out", str(tmp_path / "t.npz")]) == 0
    assert len(read_source(tmp_path / "t.npz")) == 2
    assert main(["data", "info", str(root), "--json"]) == 0
    assert '"train"' in capsys.readouterr().out


# -- finding 8: sample streams ------------------------------------------------------------------------------


@pytest.mark.parametrize("out", ["s.npz", "s.zip", "folder"])
def test_sample_holds_one_batch_at_a_time(run, tmp_path, monkeypatch, capsys, out):
    from tf3dgan.training.gan import GAN

    sizes = []
    generate = GAN.generate

    def counting(self, z, *args, **kwargs):
        sizes.append(len(z))
        return generate(self, z, *args, **kwargs)

    monkeypatch.setattr(GAN, "generate", counting)
    assert main(["sample", "--run", str(run), "--n", "11", "--batch-size", "4", "--seed", "3",
                 "--out", str(tmp_path / out)]) == 0
    assert sizes == [4, 4, 3]  # never more than a batch of grids at once
    monkeypatch.undo()
    if out == "s.npz":
        assert main(["sample", "--run", str(run), "--n", "11", "--batch-size", "11", "--seed", "3",
                     "--out", str(tmp_path / "whole.npz")]) == 0
        with np.load(tmp_path / out) as a, np.load(tmp_path / "whole.npz") as b:
            assert a["voxels"].shape == (11, 16, 16, 16) and a["voxels"].dtype == np.uint8
            np.testing.assert_array_equal(a["z"], b["z"])
            np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-5)
    elif out == "s.zip":
        assert len(zipfile.ZipFile(tmp_path / out).namelist()) == 11
    else:
        assert len(list((tmp_path / out).glob("shape_*.npz"))) == 11
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_a_failed_sample_leaves_no_partial_archive(run, tmp_path, monkeypatch, capsys):
    from tf3dgan.training.gan import GAN

    calls = []

    def failing(self, z, *args, **kwargs):
        calls.append(len(z))
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return np.zeros((len(z), 16, 16, 16), np.float32) + 0.7

    monkeypatch.setattr(GAN, "generate", failing)
    capsys.readouterr()
    assert main(["sample", "--run", str(run), "--n", "8", "--batch-size", "4", "--out", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err  # after the progress bar, one line, no traceback (issue 32)
    assert err.strip().splitlines()[-1].startswith("tf3dgan sample: error: No space left on device; free some space")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# -- finding 9: tracebacks become one line ------------------------------------------------------------------


def test_an_unreadable_folder_is_one_line(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data"
    (folder / "locked").mkdir(parents=True)
    write_binvox(folder / "a.binvox", _grids(1)[0])
    real = os.scandir

    def scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)  # root reads any folder: simulate a chmod 000 one
    assert main(["data", "info", str(folder)]) == 2
    one_line_error(capsys, "locked: cannot read this folder")


@pytest.mark.parametrize("content", ["truncated", "empty", "no shapes"])
def test_view_of_a_broken_npz_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "s.npz"
    np.savez(path, probabilities=np.zeros((0, 8, 8, 8), np.float32) if content == "no shapes" else _grids(3))
    if content == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif content == "empty":
        np.savez(path)
    assert main(["view", str(path)]) == 2
    one_line_error(capsys, "s.npz")


def test_training_errors_are_one_line(tmp_path, capsys):
    few = tmp_path / "few.npz"
    np.savez(few, voxels=_grids(2, 16))
    assert main(["train", "--out", str(tmp_path / "r1"), "--quiet", *SETS, "--set", f"data.source={few}"]) == 2
    one_line_error(capsys, "2 grids, fewer than train.batch_size (4)")
    # A failed first start leaves no config that refuses the corrected re-run.
    assert main(["train", "--out", str(tmp_path / "r1"), "--quiet", "--steps", "1", *SETS]) == 0
    capsys.readouterr()

    noncubic = tmp_path / "nc.binvox"
    write_binvox(noncubic, np.ones((16, 8, 16), np.uint8))
    assert main(["train", "--out", str(tmp_path / "r2"), "--quiet", *SETS, "--set", f"data.source={noncubic}"]) == 2
    one_line_error(capsys, "nc.binvox: grids of shape 16x8x16 are not cubic")
    assert main(["data", "convert", str(noncubic), "--out", str(tmp_path / "nc.npz")]) == 2
    one_line_error(capsys, "not cubic")

    for key, value, needle in (("train.seed", "-1", "train.seed must be in 0..4294967295"),
                               ("model.cube_len", "4096", "model.cube_len must be a power of two from 8 to 256")):
        assert main(["train", "--out", str(tmp_path / "r3"), "--quiet", *SETS, "--set", f"{key}={value}"]) == 2
        one_line_error(capsys, needle)

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["train", "--out", str(afile), "--quiet", *SETS]) == 2
    one_line_error(capsys, "afile: is a file, not a run folder")


@pytest.mark.parametrize("text,needle", [
    ("train:\n  steps: 3 # caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    (b"", "the config file is empty"),
    (b"# only a comment\n", "the config file is empty"),
    (b"train:\n  steps: 3\n  batch_size: 4\n  steps: 5\n", "key 'steps' is given twice (lines 2 and 4)"),
])
def test_config_files_a_user_gets_wrong(tmp_path, capsys, text, needle):
    path = tmp_path / "c.yaml"
    path.write_bytes(text)
    assert main(["describe", "--config", str(path)]) == 2
    one_line_error(capsys, "c.yaml", needle)


def test_export_errors_are_one_line_and_leave_nothing_partial(run, tmp_path, monkeypatch, capsys):
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "e"), "--checkpoint",
                 str(tmp_path / "nope.npz")]) == 2
    one_line_error(capsys, "--checkpoint", "nope.npz: no such file", "ckpt-00000004.npz")
    import tf3dgan.generation.export as export

    def broken(gan, out_dir, info):
        (out_dir / "saved_model.pb").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "_write_export", broken)
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "e")]) == 2
    one_line_error(capsys, "No space left on device; free some space")
    assert list(tmp_path.iterdir()) == []


# -- finding 10: what a user expects ------------------------------------------------------------------------


def test_steps_and_intervals(run, tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--steps", "-3", *SETS]) == 2
    one_line_error(capsys, "--steps must be >= 0, got -3")
    folder = tmp_path / "r"
    assert main(["train", "--out", str(folder), "--steps", "2", "--quiet", *SETS]) == 0
    # log, checkpoint and sample intervals may change on resume: they do not change the training.
    assert main(["train", "--out", str(folder), "--steps", "4", "--quiet", *SETS, "--set", "train.log_every=1",
                 "--set", "train.checkpoint_every=1", "--set", "train.sample_every=0"]) == 0
    from tf3dgan.training.run_folder import list_checkpoints

    assert [p.name for p in list_checkpoints(folder)][-2:] == ["ckpt-00000003.npz", "ckpt-00000004.npz"]


def test_convert_into_a_folder(tmp_path, capsys):
    source = tmp_path / "shapes.npz"
    np.savez(source, voxels=_grids(3))
    (tmp_path / "conv").mkdir()
    assert main(["data", "convert", str(source), "--out", str(tmp_path / "conv") + "/"]) == 0
    assert (tmp_path / "conv" / "shapes.npz").is_file() and not (tmp_path / "conv.npz").exists()
    assert main(["data", "convert", str(source), "--out", str(tmp_path) + "/"]) == 2
    one_line_error(capsys, "would overwrite the source")


def test_negative_face_index_is_named(tmp_path, capsys):
    path = tmp_path / "neg.off"
    path.write_text("OFF\n4 1 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 -5\n")
    assert main(["data", "info", str(path)]) == 2
    one_line_error(capsys, "face refers to a negative vertex index -5")


def test_sample_threshold_messages_are_consistent(run, tmp_path, capsys):
    assert main(["sample", "--run", str(run), "--n", "1", "--threshold", "1.0", "--out", str(tmp_path / "x.obj")]) == 2
    one_line_error(capsys, "--threshold must be in (0, 1), got 1.0")
    assert main(["sample", "--run", str(run), "--n", "1", "--threshold", "0.9999",
                 "--out", str(tmp_path / "x.obj")]) == 2
    err = one_line_error(capsys, "0.9999")
    assert "0.5" not in err


def test_view_names_a_non_cubic_grid(tmp_path, capsys):
    path = tmp_path / "nc.binvox"
    write_binvox(path, (np.random.default_rng(0).random((32, 64, 16)) > 0.5).astype(np.uint8))
    assert main(["view", str(path)]) == 0
    assert "shapes of 32x64x16 from" in capsys.readouterr().out


def test_svm_refuses_a_source_without_a_test_split(run, tmp_path, capsys):
    """Labelled shapes with no separate test split read whole for both splits: the SVM would be scored on its
    own training shapes, so the command refuses them."""
    data = tmp_path / "labelled.npz"
    np.savez(data, voxels=_grids(12), labels=np.arange(12) % 2)
    assert main(["svm", "--run", str(run), "--data", str(data), "--c", "0.1", "--no-untrained"]) == 2
    one_line_error(capsys, f"{data}: has no separate 'test' split", "same 12 shapes")


@pytest.mark.parametrize("out", ["s.zip", "s.mat", "s.npz", "folder"])
def test_sample_on_a_full_disk_leaves_no_partial_output(run, tmp_path, capsys, out):
    """A real full disk (a small tmpfs): an archive leaves nothing (no hidden temporary folder), a folder keeps only
    complete shape files (no truncated last one)."""
    from harness import mounted_tmpfs

    with mounted_tmpfs(tmp_path / "disk", "160k") as disk:
        assert main(["sample", "--run", str(run), "--n", "60", "--batch-size", "8", "--out", str(disk / out)]) == 2
        assert "No space left on device" in capsys.readouterr().err
        left = sorted(disk.rglob("*"))
        if out == "folder":
            assert left and left[0] == disk / "folder"
            for path in left[1:]:
                with np.load(path) as shape:  # every file left is whole
                    assert shape["voxels"].shape == (16, 16, 16)
        else:
            assert left == []


@pytest.mark.parametrize("out", ["s.mat", "folder"])
def test_sample_with_a_simulated_full_disk_removes_the_half_written_file(run, tmp_path, monkeypatch, capsys, out):
    """The same without a mount: the writer of a .mat archive or of a folder's third shape writes part of its file,
    then the disk is full."""
    import tf3dgan.generation.shape_files as shape_files

    calls, savez_compressed = [], np.savez_compressed

    def half_written(path, *args, **kwargs):
        calls.append(path)
        with open(path, "wb") as f:
            f.write(b"half")
        if out == "s.mat" or len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        savez_compressed(path, *args, **kwargs)

    if out == "s.mat":
        monkeypatch.setattr(shape_files, "write_mat", half_written)
    else:
        monkeypatch.setattr(np, "savez_compressed", half_written)
    assert main(["sample", "--run", str(run), "--n", "6", "--out", str(tmp_path / out)]) == 2
    one_line_error(capsys, "No space left on device")
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ([] if out == "s.mat" else ["folder", "folder/shape_000.npz", "folder/shape_001.npz"])


def test_export_on_a_full_disk_is_one_line(run, tmp_path, monkeypatch, capsys):
    """TensorFlow reports a full disk as a ResourceExhaustedError: the same one line as any other full disk, on a
    real one (a small tmpfs, where it can be mounted) and a simulated one."""
    import tensorflow as tf

    import tf3dgan.generation.export as export
    from harness import mounted_tmpfs

    def tensorflow_full_disk(gan, out_dir, info):
        raise tf.errors.ResourceExhaustedError(None, None, f"{out_dir}/saved_model.pb.tmp1; No space left on device")

    monkeypatch.setattr(export, "_write_export", tensorflow_full_disk)
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "e")]) == 2
    one_line_error(capsys, f"{tmp_path / 'e'}: No space left on device; free some space")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with mounted_tmpfs(tmp_path / "disk", "100k") as disk:
        assert main(["export", "--run", str(run), "--out", str(disk / "e")]) == 2
        one_line_error(capsys, "No space left on device; free some space")
        assert list(disk.iterdir()) == []


def test_export_to_a_path_that_is_not_utf8_is_one_line(run, tmp_path, capsys):
    out = os.fsdecode(os.fsencode(tmp_path) + b"/export\xff")
    assert main(["export", "--run", str(run), "--out", out]) == 2
    one_line_error(capsys, "export\\xff: not a valid UTF-8 path")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["train", "--config", "{name}", "--steps", "1", "--out", "{tmp}/r"],
                                  ["configs", "show", "{name}"], ["ablate", "--suite", "{name}"],
                                  ["view", "{path}.npz"], ["sample", "--run", "{run}", "--n", "1", "--out", "{path}.npz"]])
def test_names_and_paths_too_long_for_the_file_system_are_one_short_line(run, tmp_path, capsys, argv):
    """A 10,000-character name and a 6,000-character path (ENAMETOOLONG): one line that shows them shortened."""
    path = str(tmp_path) + "/" + "/".join(["b" * 200] * 30)
    values = {"name": "a" * 10_000, "path": path, "tmp": str(tmp_path), "run": str(run)}
    assert main([arg.format(**values) for arg in argv]) == 2
    err = one_line_error(capsys, "File name too long; use a shorter name or path", "characters)")
    assert len(err) < 400


def test_a_run_folder_without_config_and_checkpoints_keeps_its_history(tmp_path, capsys):
    """config.yaml and checkpoints/ gone, metrics.jsonl and samples left: nothing says which run wrote them, so train
    refuses instead of starting over and cutting the metrics (here all 8 steps lie before the first periodic
    checkpoint, which the rule for a folder with its config.yaml allows to train again)."""
    import shutil

    from harness import metrics_steps, train_args

    run = tmp_path / "run"
    assert main(train_args(run, 8, "--set", "train.checkpoint_every=10")) == 0
    (run / "config.yaml").unlink()
    shutil.rmtree(run / "checkpoints")
    assert main(train_args(run, 4, "--set", "train.checkpoint_every=10")) == 2
    one_line_error(capsys, f"{run}: holds a run's history (metrics.jsonl up to step 8, 2 sample snapshot(s)",
                   "neither config.yaml nor a checkpoint to resume from", "--restart")
    assert metrics_steps(run) == list(range(1, 9))


def test_an_invalid_yaml_value_in_set_is_one_line(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--steps", "1", "--set", "train.g_lr=[1, 2"]) == 2
    one_line_error(capsys, "--set 'train.g_lr=[1, 2', in the value: line 1, column 6: not valid YAML (expected")


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_trainer_stopped_by_a_signal_inside_ablate_exits_128_plus_the_signal(tmp_path, monkeypatch, capsys, signum):
    """ablate trains through the same loop: its TrainingStopped reaches the CLI, which exits 143 for SIGTERM (what a
    scheduler expects) with the trainer's line, not 130 "interrupted"."""
    import signal

    import tf3dgan.commands.ablate as ablate
    from tf3dgan.training.interrupt import TrainingStopped

    def stopped(args):
        raise TrainingStopped(getattr(signal, signum), 5, tmp_path / "ckpt-00000005.npz")

    monkeypatch.setattr(ablate, "run", stopped)
    assert main(["ablate", "--suite", "blog_cpu"]) == 128 + getattr(signal, signum)
    one_line_error(capsys, f"tf3dgan ablate: {signum}: stopped at step 5; checkpoint", "run the same command again")
