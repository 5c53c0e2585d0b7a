"""Build a compiled ``GAN`` from a ``Config``."""

from __future__ import annotations

import keras

from tf3dgan.config import Config, variant_options
from tf3dgan.training.distribute import check_global_batch, strategy_scope
from tf3dgan.training.gan import GAN
from tf3dgan.training.precision import dtype_policy, wrap_optimizer
from variants import get_variant



def build_gan(config: Config, compile: bool = True) -> GAN:
    """G, D (and encoder) for ``config.model``, wrapped in a GAN with the training settings of ``config``.

    The networks are built with the dtype policy of ``train.mixed_precision`` (restored afterwards), and
    everything is built and compiled under the strategy of ``train.distribute``, whose ``fit`` then splits
    each global batch across the replicas.
    """
    t = config.train
    check_global_batch(t.batch_size, t.distribute)
    with strategy_scope(t.distribute):
        return _build(config, compile)


def _build(config: Config, compile: bool) -> GAN:
    m, t = config.model, config.train
    variant = get_variant(m.variant)(variant_options(m.variant, config.variant))  # built once, here; the GAN keeps it
    with dtype_policy(t.mixed_precision):
        generator, discriminator, encoder = variant.build_networks(m)
    if t.distribute != "none":
        _synchronize_batchnorm(generator, discriminator, encoder)
    gan = GAN(generator, discriminator, encoder, variant=variant, train=t, latent=config.latent)
    gan.build(None)  # the networks are built; fit under a strategy would otherwise trace GAN.call on a batch
    if compile:
        jit = {"auto": _xla_pays(), "true": True, "false": False}[t.jit_compile]

        def adam(lr, weight_decay=None):
            optimizer = keras.optimizers.Adam(lr, beta_1=t.beta1, beta_2=t.beta2, weight_decay=weight_decay)
            if weight_decay:  # kernels only: not BatchNorm's scale and offset, nor biases
                optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
            return wrap_optimizer(optimizer, t.mixed_precision)

        def g_optimizer():
            if variant.generator_optimizer() == "rmsprop":
                return wrap_optimizer(keras.optimizers.RMSprop(t.g_lr), t.mixed_precision)
            return adam(t.g_lr)

        e_lr = variant.encoder_learning_rate() if encoder is not None else None
        gan.compile(
            g_optimizer=g_optimizer(),
            d_optimizer=adam(t.d_lr),
            e_optimizer=adam(e_lr, variant.encoder_weight_decay() or None) if e_lr is not None else None,
            jit_compile=jit,
        )
    return gan


def _xla_pays() -> bool:
    """``jit_compile: auto``: XLA under a GPU, never on a CPU (the 32^3 recipe step ran 52x slower with it on an
    AVX-512 Xeon; docs/performance.md), decided here rather than left to Keras's own "auto"."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _synchronize_batchnorm(*models) -> None:
    """BatchNorm statistics over the global batch rather than each replica's share (as on one device)."""
    for model in models:
        if model is None:
            continue
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
