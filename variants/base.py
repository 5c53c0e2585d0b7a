"""The hooks a variant can override. The GAN's one ``train_step`` calls them; nothing else differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import tensorflow as tf

from data_io.render import ELEVATION

from tf3dgan.nn import networks
from variants.options import NoOptions


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
    images: Any = None  # uint8 (B, V, S, S) views of ``real`` when the variant asks for them (``image_input``)


@dataclass
class ImageInput:
    """The pictures a variant wants beside each real shape (see ``Variant.image_input``).

    The training shapes are rendered once, at the start of training, at ``rendered_views`` azimuths evenly
    spaced over 360 degrees (``data_io.render``, shaded grey, ``elevation`` degrees). Each example of a
    batch then carries ``views`` image slots: ``n`` distinct rendered views, n drawn from
    ``min_views..views``, the remaining slots repeating them; a function of (seed, step), like the shapes.
    """

    size: int  # square images of size x size pixels
    views: int = 1  # image slots per example
    min_views: int = 1  # fewest distinct views per example
    rendered_views: int = 8  # azimuths rendered per training shape
    elevation: float = ELEVATION  # degrees


class Variant:
    """Default behaviour: the paper's networks, adversarial losses only.

    Subclasses set ``name``, ``description`` and, where they differ, the architecture flags, ``Options`` (the
    dataclass of the config's ``variant`` section and its checks: ``variants.options.OPTIONS[name]``, declared
    there so that a config is validated without TensorFlow) and the hooks below.
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

    # -- networks ----------------------------------------------------------------------------------
    def build_networks(self, model_cfg):
        """Return (generator, discriminator, encoder or None) for a ``ModelConfig``."""
        use_bias = self.use_bias if model_cfg.use_bias is None else model_cfg.use_bias
        generator = networks.build_generator(
            model_cfg.cube_len, model_cfg.z_dim, model_cfg.base_width, use_bias, dense_stem=self.dense_stem
        )
        discriminator = networks.build_discriminator(
            model_cfg.cube_len, model_cfg.d_base_width or model_cfg.base_width, use_bias, model_cfg.leak, dense_head=self.dense_head,
            minibatch_std=model_cfg.minibatch_std,
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

    # -- an encoder with its own optimizer, and pictures in the batches ------------------------------
    def image_input(self) -> Optional[ImageInput]:
        """The pictures each training example carries beside its shape (None: shapes only)."""
        return None

    def generator_optimizer(self) -> str:
        """The optimizer that trains G (and an encoder without its own): "adam" or "rmsprop"."""
        return "adam"

    def encoder_learning_rate(self) -> Optional[float]:
        """The learning rate of the encoder's own optimizer; None: the encoder (if any) is trained by G's."""
        return None

    def encoder_weight_decay(self) -> float:
        """Decoupled weight decay of the encoder's own optimizer (0: none)."""
        return 0.0

    def encoder_losses(self, gan, tensors: GeneratorStepTensors):
        """For an encoder with its own optimizer: ``(encoder loss, term added to G's loss, {metric: scalar})``.

        Called once per step in the G step, under the same tape: a term both losses share (a reconstruction
        through E and G) is computed once; E's optimizer follows the gradient of the first value with
        respect to E's weights, G's that of G's loss (adversarial + extra terms + the second value).
        """
        raise NotImplementedError(f"variant {self.name} has no encoder with its own optimizer")
