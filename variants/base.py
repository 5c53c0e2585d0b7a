"""The hooks a variant can override. The GAN's one ``train_step`` calls them; nothing else differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import tensorflow as tf

from tf3dgan.nn import networks


@dataclass
class GeneratorStepTensors:
    """What the G step has computed when it asks a variant for extra loss terms."""

    real: Any  # real batch (B, D, D, D, 1)
    z: Any  # latent batch (B, z_dim)
    fake: Any  # G(z), training mode
    fake_logits: Any
    fake_features: list
    real_features: Optional[list]  # D features of ``real``; only when the variant sets needs_real_features
    step: Any  # int64 scalar: training steps done before this one


@dataclass
class NoOptions:
    """The options of a variant that has none."""


class Variant:
    """Default behaviour: the paper's networks, adversarial losses only.

    Subclasses set ``name``, ``description`` and, where they differ, the architecture flags, ``Options``
    (a dataclass: the keys of the config's ``variant`` section with their types and defaults, checked by
    ``tf3dgan.config`` like the other sections), ``check_options`` (range checks) and the hooks below.
    """

    name = "base"
    description = ""
    use_bias = False
    dense_stem = False
    dense_head = False
    Options: type = NoOptions
    needs_real_features = False
    uses_encoder = False
    extra_metrics: tuple = ()  # names of the scalars ``extra_generator_loss`` reports

    def __init__(self, options=None):
        self.options = options if options is not None else self.Options()

    @classmethod
    def check_options(cls, options, where: str) -> None:
        """Range checks of a variant's own options (an ``Options`` instance); raise ConfigError."""

    # -- networks ----------------------------------------------------------------------------------
    def build_networks(self, model_cfg):
        """Return (generator, discriminator, encoder or None) for a ``ModelConfig``."""
        use_bias = self.use_bias if model_cfg.use_bias is None else model_cfg.use_bias
        generator = networks.build_generator(
            model_cfg.cube_len, model_cfg.z_dim, model_cfg.base_width, use_bias, dense_stem=self.dense_stem
        )
        discriminator = networks.build_discriminator(
            model_cfg.cube_len, model_cfg.base_width, use_bias, model_cfg.leak, dense_head=self.dense_head
        )
        encoder = None
        if self.uses_encoder:
            encoder = networks.build_encoder(
                model_cfg.cube_len, model_cfg.z_dim, model_cfg.base_width, use_bias, model_cfg.leak
            )
        return generator, discriminator, encoder

    # -- train_step hooks --------------------------------------------------------------------------
    def discriminator_enabled(self, step):
        """Whether D may be updated at ``step`` at all (the accuracy gate applies on top)."""
        return tf.constant(True)

    def adversarial_weight(self, step):
        """Weight of the adversarial term in G's loss at ``step``."""
        return tf.constant(1.0)

    def extra_generator_loss(self, gan, tensors: GeneratorStepTensors):
        """Extra terms for G's loss: (scalar loss, {metric name: scalar}) with names from ``extra_metrics``."""
        return tf.constant(0.0), {}
