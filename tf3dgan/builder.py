"""Build a compiled ``GAN`` from a ``Config``."""

from __future__ import annotations

import keras

from tf3dgan.config import Config
from tf3dgan.gan import GAN
from variants import get_variant


def build_gan(config: Config, compile: bool = True) -> GAN:
    """G, D (and encoder) for ``config.model``, wrapped in a GAN with the training settings of ``config``."""
    m, t = config.model, config.train
    variant = get_variant(m.variant)(config.variant)
    generator, discriminator, encoder = variant.build_networks(m)
    gan = GAN(
        generator,
        discriminator,
        encoder,
        variant=m.variant,
        variant_options=config.variant,
        latent_distribution=config.latent.distribution,
        latent_std=config.latent.std,
        d_thresh=t.d_thresh,
        d_gate=t.d_gate,
        g_loss=t.g_loss,
        label_smoothing=t.label_smoothing,
        fake_label_smoothing=t.fake_label_smoothing,
        seed=t.seed,
    )
    if compile:
        jit = {"auto": "auto", "true": True, "false": False}[t.jit_compile]
        gan.compile(
            g_optimizer=keras.optimizers.Adam(t.g_lr, beta_1=t.beta1, beta_2=t.beta2),
            d_optimizer=keras.optimizers.Adam(t.d_lr, beta_1=t.beta1, beta_2=t.beta2),
            jit_compile=jit,
        )
    return gan
