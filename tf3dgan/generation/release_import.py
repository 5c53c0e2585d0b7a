"""The authors' released generators (3dgan-release, Torch7 ``.t7``) as tf3dgan run folders.

A release file (``models_cpu/<class>_G_cpu.t7`` or ``models_gpu/<class>_G_gpu.t7``, fetched by the
release's ``download_models_cpu.sh`` / ``download_models_gpu.sh``) holds an ``nn.Sequential``:
``VolumetricFullConvolution(nz, 512, 4,4,4)``, then per doubling ``VolumetricBatchNormalization`` +
``ReLU`` + ``VolumetricFullConvolution(.., 4,4,4, 2,2,2, 1,1,1)``, and a final ``Sigmoid``: our
``mit_biasfree`` generator. The release's ``main.lua`` zeroes the convolution biases before sampling
("convolution bias is removed during training"), runs the net in evaluation mode (BatchNorm running
statistics) and samples z from U(0, 1) (``torch.rand``): the run folder gets ``latent.distribution: uniform``.

Weights: Torch stores a transposed convolution's weight as (nInputPlane, nOutputPlane, kT, kH, kW) for
inputs (N, C, T, H, W); Keras' ``Conv3DTranspose`` kernel is (kD, kH, kW, out, in) for (N, D, H, W, C), and
both compute out[y] += in[x] * w[k] at y = x * stride - pad + k (no flip): the kernel is the weight with its
axes moved, and Torch's (T, H, W) are our grid axes (0, 1, 2). BatchNorm: weight/bias -> gamma/beta, running
mean -> moving mean, running variance (or the ``running_std`` = 1/sqrt(var + eps) of older nn versions) ->
moving variance, shifted by Torch's eps minus Keras' epsilon so that var + eps is Torch's. D is not released:
the run's D is initialised as in a new run.
"""

from __future__ import annotations

import os
import shutil
import secrets
from pathlib import Path

import numpy as np

from data_io.torch7 import TorchObject, lua_list, read_torch7
from tf3dgan.config import from_dict, save_config
from tf3dgan.errors import DataError, RunFolderError
from tf3dgan.nn.networks import hidden_widths
from tf3dgan.training.run_folder import (
    CHECKPOINT_DIR, CONFIG_FILE, FIXED_Z_FILE, LOCK_FILE, LOSS_PAGE, METRICS_FILE, SAMPLES_DIR, TENSORBOARD_DIR,
)


MAX_CONVOLUTIONS = 6  # 128^3; the release's nets have 5 (64^3)
MAX_CONTAINER_NESTING = 32


def _modules(net, path, depth: int = 0) -> list:
    """The leaf modules of a (nested) nn.Sequential, in order."""
    modules = net.get("modules") if isinstance(net, TorchObject) else None
    if not isinstance(modules, (dict, list)):
        return [net]
    if depth >= MAX_CONTAINER_NESTING:
        raise DataError(f"{path}: containers nested deeper than {MAX_CONTAINER_NESTING} levels; "
                        "not a 3dgan-release generator")
    return [leaf for module in lua_list(modules) for leaf in _modules(module, path, depth + 1)]


def _kind(module) -> str:
    name = module.class_name if isinstance(module, TorchObject) else type(module).__name__
    return name.rsplit(".", 1)[-1]


def _integer(path, module, key: str, default=None) -> int:
    """``module[key]`` (``default`` when missing or nil) as an int; a DataError when it is not a whole number."""
    value = module.get(key) if isinstance(module, TorchObject) else None
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        shown = repr(value) if isinstance(value, (int, float, str, type(None))) else type(value).__name__
        raise DataError(f"{path}: {_kind(module)}.{key} is {shown[:40]}, expected a whole number")
    return int(value)


def _check_array(path, module, key: str, shape: tuple, required: bool = True) -> None:
    """A DataError unless ``module[key]`` is an array of ``shape`` (or missing when not ``required``)."""
    value = module.get(key)
    if value is None and not required:
        return
    if not isinstance(value, np.ndarray) or value.shape != shape:
        found = value.shape if isinstance(value, np.ndarray) else type(value).__name__
        raise DataError(f"{path}: {_kind(module)}.{key} is {found}, expected an array of shape {shape}")


def release_layers(path) -> tuple[list, list]:
    """``(convolutions, batch_norms)`` of a release generator file; DataError when it is not one."""
    net = read_torch7(path)
    modules = _modules(net, path)
    kinds = [_kind(m) for m in modules]
    convs = [m for m, k in zip(modules, kinds) if k == "VolumetricFullConvolution"]
    norms = [m for m, k in zip(modules, kinds) if k == "VolumetricBatchNormalization"]
    expected = []
    for i in range(len(convs)):
        expected += ["VolumetricFullConvolution"] + (["VolumetricBatchNormalization", "ReLU"] if i < len(convs) - 1
                                                     else ["Sigmoid"])
    if not 3 <= len(convs) <= MAX_CONVOLUTIONS or kinds != expected:
        raise DataError(f"{path}: not a 3dgan-release generator (layers {', '.join(kinds)}; expected "
                        "VolumetricFullConvolution, then VolumetricBatchNormalization, ReLU, "
                        "VolumetricFullConvolution ..., Sigmoid)")
    for i, conv in enumerate(convs):
        stride, pad = (1, 0) if i == 0 else (2, 1)
        got = [_integer(path, conv, k, -1) for k in ("kT", "kW", "kH", "dT", "dW", "dH", "padT", "padW", "padH")]
        adjustments = [_integer(path, conv, k, 0) for k in ("adjT", "adjW", "adjH")]
        if got != [4] * 3 + [stride] * 3 + [pad] * 3 or any(adjustments):
            raise DataError(f"{path}: convolution {i + 1} has kernel/stride/padding {got}, expected 4/{stride}/{pad}")
    return convs, norms


def release_config(path, convs) -> dict:
    """The config (as a mapping) of the tf3dgan run equivalent to the release net ``convs``."""
    z_dim = _integer(path, convs[0], "nInputPlane")
    cube_len = 2 ** (len(convs) + 1)  # 4^3 after the first layer, doubled by each further one
    widths = [_integer(path, c, "nOutputPlane") for c in convs]
    base_width = widths[-2]
    if z_dim < 1 or base_width < 1 or widths[-1] != 1 or widths[:-1] != hidden_widths(cube_len, base_width):
        raise DataError(f"{path}: channel widths {widths} are not the 3D-GAN pattern (halving to {base_width}, then 1)")
    return {
        "model": {"variant": "mit_biasfree", "cube_len": cube_len, "z_dim": z_dim, "base_width": base_width},
        "latent": {"distribution": "uniform"},
        "train": {"steps": 0},
    }


def check_release_weights(path, convs, norms) -> None:
    """A DataError unless every weight the generator takes is an array of the shape it needs (checked before
    the generator is built)."""
    planes = _integer(path, convs[0], "nInputPlane")
    for conv in convs:
        outputs = _integer(path, conv, "nOutputPlane")
        _check_array(path, conv, "weight", (planes, outputs, 4, 4, 4))
        planes = outputs
    for norm, conv in zip(norms, convs):
        channels = (_integer(path, conv, "nOutputPlane"),)
        _check_array(path, norm, "running_mean", channels)
        _check_array(path, norm, "running_var" if norm.get("running_var") is not None else "running_std", channels)
        _check_array(path, norm, "weight", channels, required=False)
        _check_array(path, norm, "bias", channels, required=False)
        eps = norm.get("eps", 1e-5)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)):
            raise DataError(f"{path}: VolumetricBatchNormalization.eps is a {type(eps).__name__}, expected a number")


def _batchnorm_variance(norm) -> np.ndarray:
    eps = float(norm.get("eps", 1e-5))
    if norm.get("running_var") is not None:
        return np.asarray(norm["running_var"], np.float64)
    return np.asarray(norm["running_std"], np.float64) ** -2 - eps  # nn before 2016: 1 / sqrt(var + eps)


def load_release_weights(gan, convs, norms) -> None:
    """Copy the release net's weights into ``gan.generator`` (built with the config of ``release_config``)."""
    g = gan.generator
    for i, conv in enumerate(convs, start=1):
        kernel = np.asarray(conv["weight"], np.float32).transpose(2, 3, 4, 1, 0)  # (in,out,t,h,w) -> (t,h,w,out,in)
        g.get_layer(f"deconv{i}").kernel.assign(kernel)
    for i, norm in enumerate(norms, start=1):
        layer = g.get_layer(f"bn{i}")
        channels = layer.moving_mean.shape[0]
        weight, bias = norm.get("weight"), norm.get("bias")
        layer.gamma.assign(np.asarray(weight, np.float32) if weight is not None else np.ones(channels, np.float32))
        layer.beta.assign(np.asarray(bias, np.float32) if bias is not None else np.zeros(channels, np.float32))
        layer.moving_mean.assign(np.asarray(norm["running_mean"], np.float32))
        variance = _batchnorm_variance(norm) + float(norm.get("eps", 1e-5)) - layer.epsilon
        layer.moving_variance.assign(variance.astype(np.float32))


# What a run folder may hold (run_folder.py's layout): ``--overwrite`` replaces a folder of these names only.
RUN_FOLDER_ENTRIES = {CONFIG_FILE, METRICS_FILE, CHECKPOINT_DIR, SAMPLES_DIR, FIXED_Z_FILE, LOSS_PAGE, LOCK_FILE,
                      TENSORBOARD_DIR}


def _check_destination(run_dir: Path, overwrite: bool) -> None:
    """A RunFolderError unless ``run_dir`` may become the imported run: absent, empty (but for its lock), or with
    ``overwrite`` a folder of run files only (never a folder that holds anything else)."""
    existing = next(folder for folder in (run_dir, *run_dir.parents) if folder.exists())
    if not existing.is_dir():
        where = "" if existing == run_dir else f" ({existing})"
        raise RunFolderError(f"{run_dir}: a file is in the way{where}, not a folder; choose another --out")
    if existing != run_dir:
        return
    entries = sorted(entry.name for entry in run_dir.iterdir() if entry.name != LOCK_FILE)
    foreign = [name for name in entries if name not in RUN_FOLDER_ENTRIES]
    if foreign:
        raise RunFolderError(f"{run_dir}: holds files that are not part of a run ({', '.join(foreign[:3])}"
                             f"{' ...' if len(foreign) > 3 else ''}); choose another --out")
    if entries and not overwrite:
        raise RunFolderError(f"{run_dir}: already holds a run; choose another --out (or --overwrite)")


def _new_hidden_folder(beside: Path, suffix: str) -> Path:
    """A new empty folder ``.<name>.<hex>.<suffix>`` beside ``beside``, with the permissions of any new folder
    (``tempfile.mkdtemp`` would make it 0o700, and this one becomes the run folder)."""
    while True:
        folder = beside.parent / f".{beside.name}.{secrets.token_hex(4)}.{suffix}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def _replace_folder(new: Path, run_dir: Path) -> None:
    """Put the finished folder ``new`` in the place of ``run_dir`` (which may exist): renames only, so a reader
    sees the old run or the new one, never a mix; the old one is then removed."""
    if not run_dir.exists():
        os.rename(new, run_dir)
        return
    old = _new_hidden_folder(run_dir, "replaced")
    os.rename(run_dir, old / run_dir.name)
    try:
        os.rename(new, run_dir)
    except BaseException:
        os.rename(old / run_dir.name, run_dir)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def import_release(t7_path, run_dir, overwrite: bool = False):
    """Write ``run_dir`` (config.yaml and a step-0 checkpoint) from a 3dgan-release generator file; return
    ``(config, gan)``.

    The run is written in a hidden temporary folder beside ``run_dir`` and renamed into place: a failure (a full
    disk) leaves ``run_dir`` as it was, and ``overwrite`` replaces the whole old run (its checkpoints, metrics
    and samples), never leaving old checkpoints beside the imported generator.
    """
    from tf3dgan.training.builder import build_gan
    from tf3dgan.training.checkpoint import save_checkpoint

    run_dir = Path(run_dir)
    _check_destination(run_dir, overwrite)
    convs, norms = release_layers(t7_path)
    config = from_dict(release_config(t7_path, convs), f"{t7_path} (imported)")
    check_release_weights(t7_path, convs, norms)
    gan = build_gan(config)
    try:
        load_release_weights(gan, convs, norms)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{t7_path}: weights do not fit the generator ({err})") from None
    work = None
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        work = _new_hidden_folder(run_dir, "partial")
        save_config(config, work / CONFIG_FILE)
        save_checkpoint(gan, work)
        _replace_folder(work, run_dir)
    except OSError as err:
        raise RunFolderError(f"{run_dir}: cannot write the run folder ({err.strerror or err}); nothing was changed; "
                             "free some space or choose another --out") from None
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return config, gan
