"""tf3dgan: volumetric 3D-GANs (Wu et al. 2016) in Keras 3 / TensorFlow, after tf-3dgan."""

from tf3dgan import cpu as _cpu

_cpu.enable_onednn()  # first: TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it is imported

__version__ = "0.1.0"

# The public API, imported on first use (PEP 562): ``import tf3dgan`` and ``tf3dgan.config`` load neither Keras nor
# TensorFlow (a first use of a name that needs them loads them, with TensorFlow's C++ start-up lines muted). The
# Keras classes of tf3dgan's ``.keras`` files are registered when Keras loads (``tf3dgan.keras_classes``), so
# ``keras.saving.load_model("gan.keras")`` works after ``import tf3dgan``.
from tf3dgan import keras_classes as _keras_classes  # noqa: E402

_keras_classes.register_when_keras_loads()

_LAZY = {
    "GAN": "tf3dgan.presets",  # the class of tf3dgan.training.gan, with from_preset attached by the presets
    "FusedBatchNormalization": "tf3dgan.nn.batch_norm",
    "OneChannelConv3D": "tf3dgan.nn.one_channel_convs",
    "OneChannelConv3DTranspose": "tf3dgan.nn.one_channel_convs",
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

__all__ = [*_LAZY, *_SUBMODULES, "__version__"]


def __getattr__(name: str):
    import importlib

    from tf3dgan.quiet import quiet_tensorflow_import

    if name in _LAZY:
        with quiet_tensorflow_import():
            value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        with quiet_tensorflow_import():
            return importlib.import_module(f"tf3dgan.{name}")
    raise AttributeError(f"module 'tf3dgan' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
