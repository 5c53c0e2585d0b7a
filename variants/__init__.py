"""The tf-3dgan variants: ``VARIANTS`` (``model.variant`` name -> Variant subclass) and ``get_variant(name)``.

A variant's options are data (``variants.options``, no TensorFlow: what validating a config needs); its networks
and train-step hooks are code that loads Keras, so the names below are imported on first use (PEP 562).
"""

import tf3dgan.cpu  # noqa: F401  (first: running tf3dgan/__init__.py switches oneDNN on before TensorFlow loads)

_LAZY = {
    "VARIANTS": "variants.registry",
    "get_variant": "variants.registry",
    "Variant": "variants.base",
    "GeneratorStepTensors": "variants.base",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'variants' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
