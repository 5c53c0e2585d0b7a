"""Each variant's options, the keys of a config's ``variant`` section: a dataclass with their types and defaults
(checked by ``tf3dgan.config`` like the other sections) and its own range checks. Data, not networks: this
module imports no TensorFlow, so validating a config does not load Keras. ``OPTIONS`` maps each ``model.variant``
name to its dataclass, in the order the variants are listed; the Variant classes (``variants.VARIANTS``) say
which they take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from data_io.render import ELEVATION
from data_io.voxel_geometry import is_power_of_two
from tf3dgan.errors import ConfigError


@dataclass
class NoOptions:
    """The options of a variant that has none; the base of every variant's options."""

    def check(self, where: str) -> None:
        """Range checks of the options; ConfigError naming ``where`` and the key."""

    def check_config(self, config, where: str) -> None:
        """Checks across sections (a whole ``Config`` whose ``variant`` is these options); ConfigError."""


@dataclass
class FeatureMatchingOptions(NoOptions):
    weight: float = 1.0  # of the feature-matching term
    norm: Literal["l1", "l2"] = "l2"
    layers: Literal["all", "last"] = "all"  # the D feature maps matched
    adversarial_weight: float = 1.0

    def check(self, where):
        if self.weight < 0 or self.adversarial_weight < 0:
            raise ConfigError(f"{where}: variant.weight and variant.adversarial_weight must be >= 0")


@dataclass
class AutoencoderOptions(NoOptions):
    pretrain_steps: int = 1000  # reconstruction-only steps before the GAN starts
    recon_loss: Literal["bce", "mse"] = "bce"
    recon_weight: float = 1.0  # weight of the reconstruction loss while pre-training
    recon_weight_after: float = 0.0  # ... and afterwards, beside the adversarial loss
    weight_l2: float = 0.0  # L2 penalty on G's and E's kernels while pre-training (sum of squares x this)
    optimizer: Literal["adam", "rmsprop"] = "adam"  # G's (and E's) optimizer
    binarize: bool = False  # reconstruction rounded to 0/1 at 0.5 in the loss (straight-through gradient)

    def check(self, where):
        if self.pretrain_steps < 0:
            raise ConfigError(f"{where}: variant.pretrain_steps must be >= 0, got {self.pretrain_steps}")
        if self.weight_l2 < 0:
            raise ConfigError(f"{where}: variant.weight_l2 must be >= 0, got {self.weight_l2}")
        if self.binarize and self.recon_loss != "mse":
            raise ConfigError(f"{where}: variant.binarize needs variant.recon_loss=mse (cross-entropy of outputs "
                              "at exactly 0 or 1 has no gradient)")


@dataclass
class VaeGanOptions(NoOptions):
    image_size: int = 256  # square grey pictures (a power of two >= 8); the paper: 256 (RGB)
    render_views: int = 8  # azimuths rendered per training shape (evenly spaced); each example shows one at random
    elevation: float = ELEVATION  # degrees above the horizon of the rendered views
    kl_weight: float = 0.0001  # weight of KL(q(z|y) || N(0, latent.std^2)), summed over z's dimensions
    recon_weight: float = 100.0  # weight of the reconstruction loss (mean per voxel)
    recon_loss: Literal["bce", "mse"] = "bce"
    e_lr: float = 0.001  # learning rate of E's own Adam optimizer (beta1, beta2: train.beta1, train.beta2)
    e_weight_decay: float = 0.0  # decoupled weight decay of E's conv kernels (each step: w -= lr x decay x w)
    encoder_width: Optional[int] = None  # E's first hidden width (None: model.base_width; the paper: 64)
    encoder_extra_convs: int = 0  # k3 stride-1 conv layers after each of E's hidden layers (the paper: 0)
    adversarial_weight: float = 1.0  # weight of G's adversarial term (beside recon_weight x reconstruction)

    def check(self, where):
        if not is_power_of_two(self.image_size, 8):
            raise ConfigError(
                f"{where}: variant.image_size must be a power of two >= 8 (e.g. 64 or 256), got {self.image_size}"
            )
        self._check_positive(where, "render_views", "e_lr", "encoder_width")
        for key in ("kl_weight", "recon_weight", "adversarial_weight", "e_weight_decay"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{where}: variant.{key} must be >= 0, got {getattr(self, key)!r}")
        if not -90 <= self.elevation <= 90:
            raise ConfigError(f"{where}: variant.elevation must be within -90..90 degrees, got {self.elevation}")
        if self.encoder_extra_convs < 0:
            raise ConfigError(f"{where}: variant.encoder_extra_convs must be >= 0, got {self.encoder_extra_convs!r}")

    def check_config(self, config, where):
        if config.latent.distribution != "normal":
            raise ConfigError(
                f"{where}: model.variant {config.model.variant} needs latent.distribution normal (E's Gaussians are "
                f"pulled towards the latent prior N(0, latent.std^2)), got {config.latent.distribution!r}"
            )

    def _check_positive(self, where, *keys):
        for key in keys:
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ConfigError(f"{where}: variant.{key} must be > 0, got {value!r}")


@dataclass
class MvVaeGanOptions(VaeGanOptions):
    views: int = 4  # pictures per object, encoded in one batched call, their z pooled
    min_views: int = 4  # fewest distinct views per training object (the other slots repeat them); 1..views
    pooling: Literal["max", "mean"] = "max"  # how the per-view z are pooled into one z

    def check(self, where):
        super().check(where)
        self._check_positive(where, "views")
        if not 1 <= self.min_views <= self.views:
            raise ConfigError(
                f"{where}: variant.min_views must be within 1..variant.views ({self.views}), got {self.min_views}"
            )
        if self.views > self.render_views:
            raise ConfigError(
                f"{where}: variant.views ({self.views}) must not exceed variant.render_views ({self.render_views})"
            )


OPTIONS = {
    "mit_biasfree": NoOptions,
    "mit": NoOptions,
    "baseline_fc": NoOptions,
    "feature_matching": FeatureMatchingOptions,
    "autoencoder": AutoencoderOptions,
    "vae_gan": VaeGanOptions,
    "mv_vae_gan": MvVaeGanOptions,
}
