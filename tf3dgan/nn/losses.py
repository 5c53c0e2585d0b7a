"""GAN losses as pure functions of discriminator logits (float32), after TF-GAN."""

from __future__ import annotations

import tensorflow as tf


def _bce(targets, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits))


def discriminator_loss(real_logits, fake_logits, real_targets=1.0, fake_targets=0.0):
    """Binary cross-entropy of D against targets in [0, 1]: numbers, or one per example (soft labels).

    One-sided label smoothing s is ``real_targets=1 - s``; two-sided adds ``fake_targets=s``.
    """
    real_targets = tf.broadcast_to(tf.cast(real_targets, tf.float32), tf.shape(real_logits))
    fake_targets = tf.broadcast_to(tf.cast(fake_targets, tf.float32), tf.shape(fake_logits))
    return _bce(real_targets, real_logits) + _bce(fake_targets, fake_logits)


def generator_loss_non_saturating(fake_logits):
    """-log D(G(z)): the blog's choice, strong gradients when D rejects the samples."""
    return _bce(tf.ones_like(fake_logits), fake_logits)


def generator_loss_saturating(fake_logits):
    """log(1 - D(G(z))): the original minimax objective (the blog's ablation)."""
    return -_bce(tf.zeros_like(fake_logits), fake_logits)


GENERATOR_LOSSES = {  # train.g_loss's choices (tf3dgan.config lists them too)
    "non_saturating": generator_loss_non_saturating,
    "saturating": generator_loss_saturating,
}


def discriminator_accuracy(real_logits, fake_logits):
    """Fraction of the batch D classifies right: D(x) > 0.5 for real, D(G(z)) < 0.5 for generated."""
    correct = tf.concat([tf.cast(real_logits > 0, tf.float32), tf.cast(fake_logits < 0, tf.float32)], 0)
    return tf.reduce_mean(correct)


def feature_matching_loss(real_features, fake_features, norm="l2"):
    """Distance between batch-mean D features of real and generated shapes, summed over layers.

    Each layer's term is the mean over feature positions of the squared (l2) or absolute (l1) difference
    of the batch means; real features carry no gradient.
    """
    total = 0.0
    for real, fake in zip(real_features, fake_features):
        real_mean = tf.stop_gradient(tf.reduce_mean(tf.cast(real, tf.float32), axis=0))
        fake_mean = tf.reduce_mean(tf.cast(fake, tf.float32), axis=0)
        diff = real_mean - fake_mean
        total += tf.reduce_mean(tf.square(diff) if norm == "l2" else tf.abs(diff))
    return total


def reconstruction_loss(target, probabilities, kind="bce"):
    """Per-voxel loss between a real grid and G's reconstruction: differentiable, no hard threshold."""
    target = tf.cast(target, tf.float32)
    probabilities = tf.cast(probabilities, tf.float32)
    if kind == "mse":
        return tf.reduce_mean(tf.square(target - probabilities))
    eps = 1e-6
    p = tf.clip_by_value(probabilities, eps, 1.0 - eps)
    return -tf.reduce_mean(target * tf.math.log(p) + (1.0 - target) * tf.math.log(1.0 - p))
