"""The hooks a variant can override. The GAN's one ``train_step`` calls them; nothing else differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import tensorflow as tf

from tf3dgan.nn import networks
from tf3dgan.errors import ConfigError


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


class Variant:
    """Default behaviour: the paper's networks, adversarial losses only.

    Subclasses set ``name``, ``description`` and, where they differ, the architecture flags, ``options``
    (option name -> default value; types follow the defaults) and the hooks below.
    """

    name = "base"
    description = ""
    use_bias = False
    dense_stem = False
    dense_head = False
    options: dict = {}
    needs_real_features = False
    uses_encoder = False
    extra_metrics: tuple = ()  # names of the scalars ``extra_generator_loss`` reports

    def __init__(self, options: Optional[dict] = None):
        self.opts = dict(self.options)
        self.opts.update(options or {})

    # -- configuration -----------------------------------------------------------------------------
    @classmethod
    def resolve_options(cls, raw: Optional[dict], where: str = "config") -> dict:
        """Defaults merged with ``raw`` (the config's ``variant`` section); unknown keys or types fail."""
        raw = dict(raw or {})
        resolved = dict(cls.options)
        for key, value in raw.items():
            if key not in cls.options:
                known = ", ".join(sorted(cls.options)) or "none"
                raise ConfigError(
                    f"{where}: unknown key 'variant.{key}' for variant '{cls.name}' (its keys: {known})"
                )
            default = cls.options[key]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, (int, float)):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if ok and isinstance(default, int) and not isinstance(default, bool):
                    ok = isinstance(value, int)
            else:
                ok = isinstance(value, type(default))
            if not ok:
                raise ConfigError(
                    f"{where}: variant.{key} must be a {type(default).__name__} like {default!r}, got {value!r}"
                )
            resolved[key] = value
        cls.check_options(resolved, where)
        return resolved

    @classmethod
    def check_options(cls, options: dict, where: str) -> None:
        """Range checks of a variant's own options; raise ConfigError."""

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
