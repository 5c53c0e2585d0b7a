"""Autoencoder pre-training (tf-3dgan's 3dgan_autoencoder.py, fixed), then the GAN.

For the first ``pretrain_steps`` steps an encoder E (its own weights, mirroring D) maps real shapes to z
and G is trained to reconstruct them with a differentiable per-voxel loss; D and the adversarial term are
off. After that the run is the paper's GAN (plus ``recon_weight_after`` x reconstruction, 0 by default).

Three of the blog's autoencoder experiments are options: ``weight_l2`` (an L2 penalty on G's and E's kernels
while pre-training; tf-3dgan's file has 0.001, commented out), ``optimizer: rmsprop`` (G and E trained with
RMSProp instead of Adam, for the whole run) and ``binarize`` (the reconstruction forced to 0/1 at 0.5 inside
the loss; tf-3dgan's hard threshold had no gradient, here the gradient passes straight through the rounding).
"""

import tensorflow as tf

from tf3dgan.nn.losses import reconstruction_loss
from variants.base import Variant
from variants.options import AutoencoderOptions


class Autoencoder(Variant):
    name = "autoencoder"
    description = "paper net, G pre-trained as the decoder of an autoencoder, then the GAN"
    use_bias = False
    uses_encoder = True
    Options = AutoencoderOptions
    extra_metrics = ("recon_loss",)

    def generator_optimizer(self) -> str:
        return self.options.optimizer

    def _pretraining(self, step):
        return step < self.options.pretrain_steps

    def discriminator_enabled(self, step):
        return tf.logical_not(self._pretraining(step))

    def adversarial_weight(self, step):
        return tf.where(self._pretraining(step), 0.0, 1.0)

    def extra_generator_loss(self, gan, tensors):
        weight = tf.where(
            self._pretraining(tensors.step), float(self.options.recon_weight), float(self.options.recon_weight_after)
        )

        def reconstruct():
            recon = gan.generator(gan.encoder(tensors.real, training=True), training=True)
            if self.options.binarize:
                recon = recon + tf.stop_gradient(tf.cast(recon > 0.5, recon.dtype) - recon)
            return reconstruction_loss(tensors.real, recon, self.options.recon_loss)

        # Skip the encoder/decoder pass entirely once its weight is zero.
        loss = tf.cond(weight > 0, reconstruct, lambda: tf.constant(0.0))
        total = weight * loss
        if self.options.weight_l2:
            kernels = [w for net in (gan.generator, gan.encoder) for w in net.trainable_weights if "kernel" in w.path]
            penalty = tf.add_n([tf.reduce_sum(tf.square(tf.cast(w, tf.float32))) for w in kernels])
            total += tf.where(self._pretraining(tensors.step), float(self.options.weight_l2), 0.0) * penalty
        return total, {"recon_loss": loss}
