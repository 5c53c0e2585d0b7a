"""The Variant classes by ``model.variant`` name (their networks and train-step hooks load Keras)."""

from variants.autoencoder import Autoencoder
from variants.base import Variant
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
