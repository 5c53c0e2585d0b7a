"""The Keras classes that tf3dgan saves in ``.keras`` files, registered with Keras as soon as Keras is loaded.

``keras.saving.load_model("gan.keras")`` finds a class of the file by its registered name (``tf3dgan>GAN``): Keras
imports a module a file names only for its own classes. Importing the modules below registers the classes, and
``register_when_keras_loads`` (run by ``import tf3dgan``) does so at once where Keras is loaded, else right after
Keras's own import, so that ``import tf3dgan`` itself stays light: no Keras, no TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import warnings

# The modules whose import registers the classes (``@keras.saving.register_keras_serializable``).
MODULES = ("tf3dgan.nn.batch_norm", "tf3dgan.nn.minibatch_std", "tf3dgan.nn.one_channel_convs",
           "tf3dgan.training.gan")


def register() -> None:
    for name in MODULES:
        importlib.import_module(name)


def register_when_keras_loads() -> None:
    """``register()`` now if Keras is loaded, else once, right after the first import of Keras executes."""
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(finder, _AfterKerasImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())


class _AfterKerasImport:
    """A ``sys.meta_path`` finder that leaves every import to the others, except that it wraps the loader of the
    top-level ``keras`` module so that ``register()`` follows its execution; then it removes itself.

    It stays until Keras is really imported: TensorFlow also asks for Keras's spec (``importlib.util.find_spec``)
    without importing it. TensorFlow's own import imports Keras near its end; ``register()`` then runs with
    TensorFlow's API already in place."""

    def __init__(self):
        self._finding = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" or getattr(self._finding, "active", False):
            return None
        self._finding.active = True  # the finders after this one answer the same question
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.active = False
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisteringLoader(spec.loader, self)
        return spec


class _RegisteringLoader:
    """Keras's own loader, followed by ``register()``; any other attribute is the wrapped loader's."""

    def __init__(self, loader, finder: _AfterKerasImport):
        self._loader, self._finder = loader, finder

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        try:
            register()
        except Exception as err:  # Keras itself loaded: its import does not fail for tf3dgan's sake
            warnings.warn(f"tf3dgan could not register its Keras classes, so keras.saving.load_model cannot read "
                          f"its .keras files: {type(err).__name__}: {err}", RuntimeWarning, stacklevel=2)
