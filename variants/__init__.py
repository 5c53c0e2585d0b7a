"""Registry of the tf-3dgan variants: ``model.variant`` name -> Variant subclass."""

import tf3dgan.cpu  # noqa: F401  (first: running tf3dgan/__init__.py switches oneDNN on before TensorFlow loads)
from variants.autoencoder import Autoencoder
from variants.base import GeneratorStepTensors, Variant
from variants.baseline_fc import BaselineFC
from variants.feature_matching import FeatureMatching
from variants.mit import Mit
from variants.mit_biasfree import MitBiasFree
from variants.vae_gan import MvVaeGan, VaeGan

VARIANTS = {cls.name: cls for cls in (MitBiasFree, Mit, BaselineFC, FeatureMatching, Autoencoder, VaeGan, MvVaeGan)}


def get_variant(name: str) -> type[Variant]:
    """The Variant class registered as ``name``; KeyError with the known names otherwise."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"'{name}' is not a known variant (known: {', '.join(VARIANTS)})") from None


__all__ = ["VARIANTS", "Variant", "GeneratorStepTensors", "get_variant"]
