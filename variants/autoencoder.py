"""Autoencoder pre-training (tf-3dgan's 3dgan_autoencoder.py, fixed), then the GAN.

For the first ``pretrain_steps`` steps an encoder E (its own weights, mirroring D) maps real shapes to z
and G is trained to reconstruct them with a differentiable per-voxel loss; D and the adversarial term are
off. After that the run is the paper's GAN (plus ``recon_weight_after`` x reconstruction, 0 by default).
"""

import tensorflow as tf

from tf3dgan.errors import ConfigError
from tf3dgan.nn.losses import reconstruction_loss
from variants.base import Variant


class Autoencoder(Variant):
    name = "autoencoder"
    description = "paper net, G pre-trained as the decoder of an autoencoder, then the GAN"
    use_bias = False
    uses_encoder = True
    options = {"pretrain_steps": 1000, "recon_loss": "bce", "recon_weight": 1.0, "recon_weight_after": 0.0}
    extra_metrics = ("recon_loss",)

    @classmethod
    def check_options(cls, options, where):
        if options["pretrain_steps"] < 0:
            raise ConfigError(f"{where}: variant.pretrain_steps must be >= 0, got {options['pretrain_steps']}")
        if options["recon_loss"] not in ("bce", "mse"):
            raise ConfigError(f"{where}: variant.recon_loss must be 'bce' or 'mse', got {options['recon_loss']!r}")

    def _pretraining(self, step):
        return step < self.opts["pretrain_steps"]

    def discriminator_enabled(self, step):
        return tf.logical_not(self._pretraining(step))

    def adversarial_weight(self, step):
        return tf.where(self._pretraining(step), 0.0, 1.0)

    def extra_generator_loss(self, gan, tensors):
        weight = tf.where(
            self._pretraining(tensors.step), float(self.opts["recon_weight"]), float(self.opts["recon_weight_after"])
        )

        def reconstruct():
            recon = gan.generator(gan.encoder(tensors.real, training=True), training=True)
            return reconstruction_loss(tensors.real, recon, self.opts["recon_loss"])

        # Skip the encoder/decoder pass entirely once its weight is zero.
        loss = tf.cond(weight > 0, reconstruct, lambda: tf.constant(0.0))
        return weight * loss, {"recon_loss": loss}
