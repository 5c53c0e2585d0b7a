"""Real shapes into a trained generator's latent space: optimise z against G (inference mode).

For each shape x, ``restarts`` latent vectors are optimised together with Adam (``steps`` steps, batched over
shapes and restarts) on

    loss(z) = BCE(G(z), x)  +  prior_weight * mean_d (z_d / std)^2 / 2

(BCE: mean per voxel; the prior term: the negative log-density of the run's latent prior N(0, std^2) per
dimension, up to a constant). Restart 0 starts from an encoder's guess where the run has one (autoencoder:
its voxel encoder; vae_gan / mv_vae_gan: E's pooled means of the shape's renderings), the others from
draws of the prior (seeded). Per shape the restart whose G(z) > 0.5 has the highest IoU with x is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_io.voxel_geometry import OCCUPANCY_THRESHOLD, iou, iou_from_counts
from tf3dgan.errors import UsageError


@dataclass
class Projection:
    z: np.ndarray  # (N, z_dim) float32: the best restart per shape
    iou: np.ndarray  # (N,) IoU of G(z) > 0.5 with the shape
    loss: np.ndarray  # (N,) its final loss
    restart: np.ndarray  # (N,) which restart won (0: the encoder's guess, where there is one)
    start_iou: np.ndarray  # (N,) IoU of restart 0's starting point


def encoder_guess(gan, voxels) -> np.ndarray | None:
    """Latent vectors an encoder of the run proposes for ``voxels`` (N, D, D, D), or None without one."""
    if gan.encoder is None:
        return None
    voxels = np.asarray(voxels, np.float32)
    spec = gan.variant.image_input()
    if spec is None:  # a voxel encoder (autoencoder variant): grid -> z
        out = [np.asarray(gan.encoder(voxels[i:i + 32, ..., None], training=False)) for i in range(0, len(voxels), 32)]
        return np.concatenate(out).astype(np.float32)
    from data_io.pipeline import render_training_images
    from tf3dgan.generation.image_encoder import pictures_to_latents

    images = render_training_images(voxels, spec.size, spec.rendered_views, spec.elevation)
    return pictures_to_latents(gan, images)


def project(gan, voxels, steps: int = 200, restarts: int = 4, seed: int = 0, prior_weight: float = 0.01,
            lr: float = 0.05, batch_size: int = 16, use_encoder: bool = True, progress: bool = True) -> Projection:
    """Project ``voxels`` (N, D, D, D) with D the run's cube_len (see the module notes); Adam (beta1 0.9,
    beta2 0.999) with learning rate ``lr``, ``batch_size`` shapes x ``restarts`` latents per pass."""
    import tensorflow as tf
    from tqdm.auto import tqdm

    voxels = np.asarray(voxels)
    size = int(gan.generator.output_shape[1])
    if voxels.ndim != 4 or voxels.shape[1:] != (size,) * 3:
        raise UsageError(f"shapes of {voxels.shape[1:]} given, the run's generator makes {size}^3 grids")
    if steps < 0 or restarts < 1 or batch_size < 1:
        raise UsageError("need --steps >= 0, --restarts >= 1 and a batch size >= 1")
    n, z_dim = len(voxels), gan.z_dim
    centre, std = gan.latent.mean, gan.latent.spread
    guess = encoder_guess(gan, voxels) if use_encoder else None
    starts = np.array(gan.sample_latent(n * restarts, seed=seed), np.float32).reshape(restarts, n, z_dim)
    if guess is not None:
        starts[0] = guess
    batch_size = min(batch_size, n)
    rows = restarts * batch_size
    generator = gan.sampling_generator
    z_var = tf.Variable(tf.zeros((rows, z_dim)))
    m_var = tf.Variable(tf.zeros((rows, z_dim)))
    v_var = tf.Variable(tf.zeros((rows, z_dim)))
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def per_row_loss(z, target):
        p = tf.clip_by_value(generator(z, training=False)[..., 0], 1e-6, 1 - 1e-6)
        bce = -tf.reduce_mean(target * tf.math.log(p) + (1 - target) * tf.math.log(1 - p), axis=[1, 2, 3])
        return bce + prior_weight * 0.5 * tf.reduce_mean(tf.square((z - centre) / std), axis=1)

    @tf.function
    def adam_step(target, t):
        with tf.GradientTape() as tape:
            tape.watch(z_var)
            total = tf.reduce_sum(per_row_loss(z_var, target))
        g = tape.gradient(total, z_var)
        m_var.assign(beta1 * m_var + (1 - beta1) * g)
        v_var.assign(beta2 * v_var + (1 - beta2) * tf.square(g))
        m_hat = m_var / (1 - tf.pow(beta1, t))
        v_hat = v_var / (1 - tf.pow(beta2, t))
        z_var.assign_sub(lr * m_hat / (tf.sqrt(v_hat) + eps))

    out = Projection(np.zeros((n, z_dim), np.float32), np.zeros(n), np.zeros(n), np.zeros(n, np.int64), np.zeros(n))
    batches = range(0, n, batch_size)
    with tqdm(total=len(batches) * steps, desc="projecting", unit="step", disable=not progress) as bar:
        for lo in batches:
            # The last batch is padded with the batch's first shapes (fixed shapes: one trace).
            index = (lo + np.arange(batch_size)) % n if lo + batch_size > n else lo + np.arange(batch_size)
            b = min(batch_size, n - lo)
            target = np.tile(voxels[index].astype(np.float32), (restarts, 1, 1, 1))  # restart-major rows
            z0 = starts[:, index].reshape(rows, z_dim)
            out.start_iou[lo:lo + b] = iou(gan.generate(z0[:b]), voxels[index[:b]])
            z_var.assign(z0)
            m_var.assign(tf.zeros_like(m_var))
            v_var.assign(tf.zeros_like(v_var))
            target_t = tf.constant(target)
            for t in range(1, steps + 1):
                adam_step(target_t, tf.constant(float(t)))
                bar.update(1)
            z = z_var.numpy()
            loss = np.asarray(per_row_loss(tf.constant(z), target_t)).reshape(restarts, batch_size)
            scores = iou(gan.generate(z), target).reshape(restarts, batch_size)
            z = z.reshape(restarts, batch_size, z_dim)
            for j in range(b):
                r = max(range(restarts), key=lambda r: (scores[r, j], -loss[r, j]))
                out.z[lo + j], out.iou[lo + j], out.loss[lo + j] = z[r, j], scores[r, j], loss[r, j]
                out.restart[lo + j] = r
    return out


def best_random_iou(gan, voxels, count: int = 1000, seed: int = 1, batch_size: int = 64) -> np.ndarray:
    """(N,) for each shape the best IoU of G(z) > 0.5 over ``count`` random latent draws (the same for all)."""
    voxels = np.asarray(voxels) > OCCUPANCY_THRESHOLD
    flat = voxels.reshape(len(voxels), -1).astype(np.float32)
    counts = flat.sum(1)
    best = np.zeros(len(voxels))
    z = np.asarray(gan.sample_latent(count, seed=seed), np.float32)
    for i in range(0, count, batch_size):
        samples = gan.generate(z[i:i + batch_size]) > OCCUPANCY_THRESHOLD
        samples = samples.reshape(-1, flat.shape[1]).astype(np.float32)
        inter = flat @ samples.T  # (N, b)
        union = counts[:, None] + samples.sum(1)[None] - inter
        best = np.maximum(best, iou_from_counts(inter, union).max(1))
    return best
