"""The Keras classes that tf3dgan saves in ``.keras`` files, registered with Keras as soon as Keras is loaded.

``keras.saving.load_model("gan.keras")`` finds a class of the file by its registered name (``tf3dgan>GAN``): Keras
imports a module a file names only for its own classes. Importing the modules below registers the classes, and
``register_when_keras_loads`` (run by ``import tf3dgan``) does so at once where Keras is loaded, else as soon as
Keras has loaded, so that ``import tf3dgan`` itself stays light: no Keras, no TensorFlow.
"""

from __future__ import annotations

import importlib
import sys
import warnings

# The modules whose import registers the classes (``@keras.saving.register_keras_serializable``).
MODULES = ("tf3dgan.nn.batch_norm", "tf3dgan.nn.minibatch_std", "tf3dgan.nn.one_channel_convs",
           "tf3dgan.training.gan")
_OWN_PACKAGES = ("tf3dgan", "variants")


def register() -> None:
    for name in MODULES:
        importlib.import_module(name)


def register_when_keras_loads() -> None:
    """``register()`` now if Keras is loaded, else once, as soon as Keras has loaded (see ``_RegisterAfterKeras``)."""
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterKeras())


class _RegisterAfterKeras:
    """A ``sys.meta_path`` finder that finds nothing itself: it wraps the loaders that the other finders return
    for ``keras`` and for the modules of tf3dgan and variants, and runs ``register()`` after the first of those
    executions that leaves Keras loaded and none of tf3dgan's modules half-imported (Keras is often imported by
    one of them, e.g. ``tf3dgan.nn.latent``, which ``register()`` needs whole); then it removes itself.

    It stays until then, whatever else asks: TensorFlow, for one, looks Keras up without importing it."""

    def __init__(self):
        self._keras_loaded = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and fullname.split(".")[0] not in _OWN_PACKAGES:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenRegister(spec.loader, self)
                return spec
        return None

    def executed(self, module) -> None:
        """After ``module`` executed: register if Keras is loaded and no other module of ours is half-imported."""
        self._keras_loaded = self._keras_loaded or module.__name__ == "keras"
        if not self._keras_loaded or any(_half_imported(m) for m in list(sys.modules.values()) if m is not module):
            return
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        try:
            register()
        except Exception as err:  # Keras and the module being imported are loaded: their import does not fail
            warnings.warn(f"tf3dgan could not register its Keras classes, so keras.saving.load_model cannot read "
                          f"its .keras files: {type(err).__name__}: {err}", RuntimeWarning, stacklevel=2)


def _half_imported(module) -> bool:
    spec = getattr(module, "__spec__", None)
    return spec is not None and spec.name.split(".")[0] in _OWN_PACKAGES and getattr(spec, "_initializing", False)


class _ThenRegister:
    """A module's own loader, then ``_RegisterAfterKeras.executed``; the module keeps its own loader."""

    def __init__(self, loader, finder: _RegisterAfterKeras):
        self._loader, self._finder = loader, finder

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._finder.executed(module)
