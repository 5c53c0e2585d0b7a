"""3D-VAE-GAN (Wu et al. 2016, section 3.2) and MV-3D-VAE-GAN (several views pooled into one z).

An image encoder E maps a picture y of a shape x to a Gaussian q(z|y) = N(mean, exp(log_var)); G decodes
a sample of it. Beside the GAN, each step adds

- ``kl_weight`` x KL(q(z|y) || p(z)), p the run's latent prior N(0, latent.std^2 I) (the paper's N(0, I)
  when latent.std is 1): G is sampled from that prior, so E's Gaussians are pulled towards it;
- ``recon_weight`` x the per-voxel reconstruction loss (``recon_loss``: bce or mse, mean over voxels)
  between G(z), z drawn from q(z|y) with the reparameterisation trick, and x.

E (its own Adam optimizer, learning rate ``e_lr``) is trained on KL + reconstruction, G on adversarial +
reconstruction, D as in the GAN; the three updates use the same step's forward passes. The KL term is
summed over the latent dimensions and averaged over the batch (and the views).

``mv_vae_gan`` gives each object ``views`` pictures, encodes all B x V of a batch in one batched call of E,
draws a z per view and pools them (``pooling``: element-wise max or mean over the views) into one z per
object; its KL is averaged over the views. The single-view ``vae_gan`` is the same with one view.
Pictures are grey (one channel, 0..255, the renderer's shaded views); the paper used RGB.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tf3dgan.nn import networks
from tf3dgan.nn.losses import reconstruction_loss
from variants.base import ImageInput, Variant
from variants.options import MvVaeGanOptions, VaeGanOptions

LOG_VAR_RANGE = (-12.0, 6.0)  # E's log-variance is clipped here (exp(6) is 400x the default prior's variance)


class VaeGan(Variant):
    name = "vae_gan"
    description = "3D-VAE-GAN: an image encoder E (own optimizer) maps a picture to z; KL + reconstruction terms"
    use_bias = False
    Options = VaeGanOptions
    extra_metrics = ("recon_loss", "kl_loss", "e_loss")

    # -- networks ----------------------------------------------------------------------------------
    def build_networks(self, model_cfg):
        generator, discriminator, _ = super().build_networks(model_cfg)
        use_bias = self.use_bias if model_cfg.use_bias is None else model_cfg.use_bias
        encoder = networks.build_image_encoder(
            self.options.image_size, model_cfg.z_dim, self.options.encoder_width or model_cfg.base_width, use_bias,
            extra_convs=self.options.encoder_extra_convs,
        )
        return generator, discriminator, encoder

    # -- data --------------------------------------------------------------------------------------
    @property
    def views(self) -> int:
        return 1

    @property
    def pooling(self) -> str:
        """How several pictures of one object are pooled: mv_vae_gan's option; a single-view run averages."""
        return "mean"

    def image_input(self):
        o = self.options
        return ImageInput(o.image_size, self.views, getattr(o, "min_views", 1), o.render_views, o.elevation)

    def adversarial_weight(self, step):
        return tf.constant(float(self.options.adversarial_weight))

    def encoder_learning_rate(self):
        return float(self.options.e_lr)

    def encoder_weight_decay(self):
        return float(self.options.e_weight_decay)

    # -- E -----------------------------------------------------------------------------------------
    def encode(self, encoder, images, training=False):
        """Pictures (B, V, S, S) or (B, V, S, S, 1), grey 0..255 -> (mean, log_var), each (B, V, z_dim).

        All B x V pictures go through E in one call (reshaped to (B*V, S, S, 1)).
        """
        images = tf.cast(images, tf.float32)
        if images.shape.rank == 4:
            images = images[..., None]
        size = self.options.image_size
        batch, views = tf.shape(images)[0], tf.shape(images)[1]
        out = encoder(tf.reshape(images, [-1, size, size, images.shape[-1]]), training=training)
        out = tf.reshape(out, [batch, views, out.shape[-1]])
        mean, log_var = tf.split(out, 2, axis=-1)
        return mean, tf.clip_by_value(log_var, *LOG_VAR_RANGE)

    def pool(self, z, axis=1):
        """Per-view latents pooled over ``axis`` into one per object."""
        return tf.reduce_max(z, axis) if self.pooling == "max" else tf.reduce_mean(z, axis)

    @staticmethod
    def kl_to_prior(mean, log_var, prior_std):
        """KL(N(mean, exp(log_var)) || N(0, prior_std^2)), summed over the last axis."""
        prior_var = float(prior_std) ** 2
        kl = 0.5 * ((tf.exp(log_var) + tf.square(mean)) / prior_var - 1.0 - log_var + math.log(prior_var))
        return tf.reduce_sum(kl, axis=-1)

    def encoder_losses(self, gan, tensors):
        """KL + reconstruction for E; the reconstruction for G (see ``Variant.encoder_losses``)."""
        if tensors.images is None:
            raise ValueError(f"variant {self.name}: the training batches carry no pictures (see Variant.image_input)")
        o = self.options
        mean, log_var = self.encode(gan.encoder, tensors.images, training=True)
        noise = gan.standard_normal(tf.shape(mean))  # from the GAN's checkpointed seed generator
        z = self.pool(mean + tf.exp(0.5 * log_var) * noise)
        recon = gan.generator(z, training=True)
        recon_loss = reconstruction_loss(tensors.real, recon, o.recon_loss)
        kl = tf.reduce_mean(self.kl_to_prior(mean, log_var, gan.latent.std))
        e_loss = o.kl_weight * kl + o.recon_weight * recon_loss
        return e_loss, o.recon_weight * recon_loss, {"recon_loss": recon_loss, "kl_loss": kl, "e_loss": e_loss}


class MvVaeGan(VaeGan):
    name = "mv_vae_gan"
    description = "MV-3D-VAE-GAN: several views per object through E in one batched call, z pooled (max / mean)"
    Options = MvVaeGanOptions

    @property
    def views(self) -> int:
        return self.options.views

    @property
    def pooling(self) -> str:
        return self.options.pooling

