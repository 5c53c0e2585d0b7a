"""tf3dgan: volumetric 3D-GANs (Wu et al. 2016) in Keras 3 / TensorFlow, after tf-3dgan."""

from tf3dgan import cpu as _cpu

_cpu.enable_onednn()  # first: TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it is imported

__version__ = "0.1.0"

# The public API. The Keras classes are imported here, so that ``keras.saving.load_model("gan.keras")``
# works after ``import tf3dgan``; that loads Keras and TensorFlow, whose C++ start-up lines are muted.
# The rest is imported on first use (PEP 562): the variants import tf3dgan.cpu and tf3dgan.errors, which run
# this file, so importing them from here would be circular.
from tf3dgan.quiet import exit_if_command_interrupted as _exit_if_command_interrupted  # noqa: E402
from tf3dgan.quiet import hold_import_for_tests as _hold_import_for_tests  # noqa: E402
from tf3dgan.quiet import quiet_tensorflow_import as _quiet_tensorflow_import  # noqa: E402

try:
    _hold_import_for_tests()
    with _quiet_tensorflow_import():
        from tf3dgan.nn.batch_norm import FusedBatchNormalization  # noqa: E402
        from tf3dgan.nn.one_channel_convs import OneChannelConv3D, OneChannelConv3DTranspose  # noqa: E402
        from tf3dgan.training.gan import GAN  # noqa: E402
except KeyboardInterrupt:
    _exit_if_command_interrupted()  # Ctrl-C while the `tf3dgan` command loads TensorFlow: one line, exit 130
    raise

_LAZY = {
    "Config": "tf3dgan.config",
    "load_config": "tf3dgan.config",
    "build_gan": "tf3dgan.training.builder",
    "train": "tf3dgan.training.loop",
    "make_dataset": "tf3dgan.training.training_input",
    "load_run": "tf3dgan.training.checkpoint",
    "load_preset": "tf3dgan.presets",
    "save_preset": "tf3dgan.presets",
    "VARIANTS": "variants",
    "get_variant": "variants",
}

_SUBMODULES = ("callbacks",)  # ``tf3dgan.callbacks.TensorBoardMonitor`` works after a bare ``import tf3dgan``

__all__ = ["GAN", "FusedBatchNormalization", "OneChannelConv3D", "OneChannelConv3DTranspose", *_LAZY, *_SUBMODULES, "__version__"]


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"tf3dgan.{name}")
    raise AttributeError(f"module 'tf3dgan' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
