"""Reading a saved ``GAN`` config (``GAN.get_config``, in a ``.keras`` file) back into ``GAN`` arguments, also
the configs that earlier tf3dgan versions saved. Kept apart from the model and its ``train_step``."""

from __future__ import annotations

import keras

from tf3dgan.config import build_section, variant_options

# The flat keyword arguments of GAN configs saved before the GAN took its config sections whole (tf3dgan 0.1.0):
# train keys by their own names (``total_steps`` was train.steps), latent keys with a ``latent_`` prefix.
LEGACY_TRAIN_KEYS = {"d_thresh", "d_gate", "g_loss", "label_smoothing", "fake_label_smoothing", "seed",
                     "ema_decay", "instance_noise", "r1_gamma", "soft_labels", "lr_schedule", "lr_decay_start"}


def gan_arguments(config: dict) -> dict:
    """The keyword arguments of ``GAN(...)`` for a saved GAN config: networks deserialized, the variant and the
    ``train`` / ``latent`` sections rebuilt through the config's checks."""
    config = dict(config)
    for key in ("generator", "discriminator", "encoder"):
        if config.get(key) is not None:
            config[key] = keras.saving.deserialize_keras_object(config[key])
    from variants import get_variant  # here: this module loads with Keras (tf3dgan.keras_classes), variants after

    options = variant_options(config["variant"], config.pop("variant_options", None), "GAN config")
    config["variant"] = get_variant(config["variant"])(options)
    if "train" not in config:  # saved by tf3dgan 0.1.0: the settings as flat keyword arguments
        train = {key: config.pop(key) for key in LEGACY_TRAIN_KEYS if key in config}
        if "total_steps" in config:
            train["steps"] = config.pop("total_steps")
        config["train"] = train
        config["latent"] = {key: config.pop(f"latent_{key}") for key in ("distribution", "std")
                            if f"latent_{key}" in config}
    config["train"] = build_section("GAN config", "train", config["train"])
    config["latent"] = build_section("GAN config", "latent", config["latent"])
    return config
