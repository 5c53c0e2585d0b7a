"""``tf3dgan import-release``: a Torch7 file with the 3dgan-release generator layout (written here, a 16^3 net)
becomes a run folder whose generator equals a numpy reference of the Torch layers; sample and export read it."""

from __future__ import annotations

import numpy as np
import pytest

from data_io.torch7 import TorchObject, lua_list, read_torch7
from torch7_writer import release_net, write_torch7


def torch_full_convolution(x, weight, stride, pad):
    """nn.VolumetricFullConvolution (no bias): x (N, Cin, T, H, W), weight (Cin, Cout, kT, kH, kW);
    out[n, o, y] += x[n, i, x] * weight[i, o, k] at y = x * stride - pad + k."""
    n, _, *size = x.shape
    k = weight.shape[2:]
    full = np.zeros((n, weight.shape[1], *[(s - 1) * stride + kk for s, kk in zip(size, k)]))
    for a in range(k[0]):
        for b in range(k[1]):
            for c in range(k[2]):
                full[:, :, a:a + (size[0] - 1) * stride + 1:stride, b:b + (size[1] - 1) * stride + 1:stride,
                     c:c + (size[2] - 1) * stride + 1:stride] += np.einsum("nithw,io->nothw", x, weight[:, :, a, b, c])
    out = [(s - 1) * stride - 2 * pad + kk for s, kk in zip(size, k)]
    return full[:, :, pad:pad + out[0], pad:pad + out[1], pad:pad + out[2]]


def torch_reference(z, layers):
    """The release net in evaluation mode (biases zeroed as main.lua does): (N, nz) -> (N, T, H, W)."""
    x = z.reshape(len(z), -1, 1, 1, 1).astype(np.float64)
    for layer in layers:
        kind = layer.class_name.split(".")[-1]
        if kind == "VolumetricFullConvolution":
            x = torch_full_convolution(x, layer["weight"], int(layer["dT"]), int(layer["padT"]))
        elif kind == "VolumetricBatchNormalization":
            eps = layer["eps"]
            var = layer["running_var"] if "running_var" in layer.fields else layer["running_std"] ** -2.0 - eps
            shape = (1, -1, 1, 1, 1)
            x = (x - layer["running_mean"].reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
            x = x * layer["weight"].reshape(shape) + layer["bias"].reshape(shape)
        elif kind == "ReLU":
            x = np.maximum(x, 0)
        elif kind == "Sigmoid":
            x = 1 / (1 + np.exp(-x))
    return x[:, 0]


def test_torch7_round_trip(tmp_path):
    value = {"a": 1.5, "b": "text", "c": True, "list": [1.0, 2.0],
             "t": np.arange(24, dtype=np.float32).reshape(2, 3, 4).transpose(2, 0, 1),
             "obj": TorchObject("nn.ReLU", {"inplace": False})}
    write_torch7(tmp_path / "v.t7", value)
    back = read_torch7(tmp_path / "v.t7")
    assert back["a"] == 1.5 and back["b"] == "text" and back["c"] is True and lua_list(back["list"]) == [1.0, 2.0]
    np.testing.assert_array_equal(back["t"], value["t"])
    assert back["obj"].class_name == "nn.ReLU" and back["obj"]["inplace"] is False


def test_import_release_matches_the_torch_layers_and_sample_and_export_work(tmp_path, capsys):
    from data_io import DataError
    from tf3dgan.cli import main
    from tf3dgan.training.checkpoint import load_run

    net = release_net(np.random.default_rng(0))
    write_torch7(tmp_path / "chair_G_cpu.t7", net)
    run = tmp_path / "run"
    assert main(["import-release", str(tmp_path / "chair_G_cpu.t7"), "--out", str(run)]) == 0
    config, gan, step = load_run(run)
    assert (config.model.cube_len, config.model.z_dim, config.model.base_width, step) == (16, 5, 4, 0)
    assert config.latent.distribution == "uniform" and config.model.variant == "mit_biasfree"
    z = np.asarray(gan.sample_latent(3, seed=0), np.float32)
    assert (z >= 0).all() and (z < 1).all()
    np.testing.assert_allclose(gan.generate(z), torch_reference(z, lua_list(net["modules"])), atol=2e-5)

    assert main(["sample", "--run", str(run), "--n", "2", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["voxels"].shape == (2, 16, 16, 16)
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "export")]) == 0
    assert (tmp_path / "export" / "gan.keras").exists()
    assert main(["import-release", str(tmp_path / "chair_G_cpu.t7"), "--out", str(run)]) == 2  # refuses to overwrite

    (tmp_path / "bad.t7").write_bytes(b"\x07\x00\x00\x00")
    with pytest.raises(DataError, match="bad.t7"):
        read_torch7(tmp_path / "bad.t7")
    capsys.readouterr()


def _release_file(tmp_path):
    """A 16^3 release generator file (z_dim 5) and its layers."""
    net = release_net(np.random.default_rng(0))
    write_torch7(tmp_path / "chair_G_cpu.t7", net)
    return tmp_path / "chair_G_cpu.t7", lua_list(net["modules"])


def test_import_release_overwrite_leaves_exactly_the_imported_generator(tmp_path, capsys):
    """A run trained past step 0 (three newer checkpoints of the same architecture, metrics, samples): after
    --overwrite, the imported step-0 generator is the run's only checkpoint and the old files are gone."""
    from harness import one_line_error
    from tf3dgan.cli import main
    from tf3dgan.training.checkpoint import load_run, save_checkpoint
    from tf3dgan.training.run_folder import list_checkpoints

    release, layers = _release_file(tmp_path)
    run = tmp_path / "run"
    assert main(["import-release", str(release), "--out", str(run)]) == 0
    _, gan, _ = load_run(run)
    for step in (10, 20, 30):  # "trained" on: other weights at later steps
        for weight in gan.generator.weights:
            weight.assign(weight.numpy() + 0.5)
        gan.step_counter.assign(step)
        save_checkpoint(gan, run)
    (run / "metrics.jsonl").write_text('{"step": 30}\n')
    (run / "samples").mkdir()

    assert main(["import-release", str(release), "--out", str(run), "--overwrite"]) == 0
    assert [p.name for p in list_checkpoints(run)] == ["ckpt-00000000.npz"]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.yaml"]
    _, gan, step = load_run(run)
    z = np.asarray(gan.sample_latent(2, seed=0), np.float32)
    assert step == 0
    np.testing.assert_allclose(gan.generate(z), torch_reference(z, layers), atol=2e-5)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left

    (run / "notes.txt").write_text("mine")  # a folder that holds more than a run is never replaced
    assert main(["import-release", str(release), "--out", str(run), "--overwrite"]) == 2
    one_line_error(capsys, f"{run}: holds files that are not part of a run (notes.txt)")
    assert (run / "notes.txt").read_text() == "mine" and (run / "config.yaml").exists()


def test_import_release_on_a_full_disk_leaves_nothing_and_the_retry_works(tmp_path, capsys, monkeypatch):
    import errno
    import os

    from harness import one_line_error
    from tf3dgan.cli import main
    from tf3dgan.training import checkpoint

    release, _ = _release_file(tmp_path)
    run = tmp_path / "runs" / "chair"

    def full_disk(path, write):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", full_disk)
    assert main(["import-release", str(release), "--out", str(run)]) == 2
    one_line_error(capsys, f"{run}: cannot write the run folder (No space left on device)")
    assert list((tmp_path / "runs").iterdir()) == []  # no config.yaml without a checkpoint, no temporary folder
    monkeypatch.undo()
    assert main(["import-release", str(release), "--out", str(run)]) == 0
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.yaml"]

    from harness import mounted_tmpfs

    with mounted_tmpfs(tmp_path / "disk", "24k") as disk:  # a real full disk: config.yaml fits, the checkpoint not
        assert main(["import-release", str(release), "--out", str(disk / "chair")]) == 2
        one_line_error(capsys, f"{disk / 'chair'}: cannot write the run folder (No space left on device)")
        assert list(disk.iterdir()) == []
