"""The training input pipeline: uint8 grids in memory, float32 batches upsampled per batch, infinite.

Batch k is a pure function of (seed, k): epoch e = k // (N // batch_size) uses the permutation
``np.random.default_rng([seed, e]).permutation(N)`` and batch k % (N // batch_size) of it (the remainder is
dropped). A run resumed at step k therefore sees exactly the batches an uninterrupted run would.

With pictures (the image-encoder variants): the shapes are rendered once into memory (uint8 (N, R, S, S),
``render_training_images``) and each example of batch k carries V of its R views, chosen by
``np.random.default_rng([seed, k, 1])`` (``batch_views``); batches are then dicts ``{"shapes", "images"}``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .render import ELEVATION
from .resample import UPSAMPLE_MODES, linear_weights


def batch_indices(step: int, count: int, batch_size: int, seed: int) -> np.ndarray:
    """Indices of the grids in batch ``step`` (see the module docstring)."""
    per_epoch = count // batch_size
    epoch, index = divmod(int(step), per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(count)
    return order[index * batch_size:(index + 1) * batch_size]


def batch_views(step: int, batch_size: int, rendered: int, views: int, min_views: int, seed: int) -> np.ndarray:
    """(batch_size, views) indices of the rendered views of each example of batch ``step``.

    Each example gets n distinct views, n uniform in ``min_views..views``, chosen at random among the
    ``rendered`` ones; the remaining slots repeat them in order (max pooling over the slots is then exactly
    pooling over the n views).
    """
    rng = np.random.default_rng([seed, int(step), 1])
    out = np.empty((batch_size, views), dtype=np.int64)
    for i in range(batch_size):
        n = int(rng.integers(min_views, views + 1))
        chosen = rng.choice(rendered, n, replace=False)
        out[i] = chosen[np.arange(views) % n]
    return out


def render_training_images(voxels: np.ndarray, size: int, views: int, elevation: float = ELEVATION,
                           progress: bool = False) -> np.ndarray:
    """uint8 (N, views, size, size) shaded grey views of the training grids, at ``even_azimuths(views)``."""
    from .render import even_azimuths, render_views

    from tqdm.auto import tqdm

    voxels = np.asarray(voxels)
    out = np.empty((len(voxels), views, size, size), dtype=np.uint8)
    batch = max(1, (1 << 20) // (views * size * size))
    azimuths = even_azimuths(views)
    with tqdm(total=len(voxels), desc="rendering training views", unit="shape", disable=not progress) as bar:
        for i in range(0, len(voxels), batch):
            out[i:i + batch] = render_views(voxels[i:i + batch], azimuths, elevation, size, "shaded", batch=batch)
            bar.update(len(out[i:i + batch]))
    return out


def _upsample_nearest(batch: tf.Tensor, factor: int) -> tf.Tensor:
    """(B, s, s, s) -> (B, fs, fs, fs): each voxel becomes a factor^3 block (tf-3dgan's zoom order 0)."""
    for axis in (1, 2, 3):
        batch = tf.repeat(batch, factor, axis=axis)
    return batch


def _linear_axis(batch: tf.Tensor, axis: int, factor: int) -> tf.Tensor:
    lo, hi, weight = linear_weights(batch.shape[axis], factor)
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    w = tf.constant(weight.reshape(shape))
    return tf.gather(batch, lo, axis=axis) * (1 - w) + tf.gather(batch, hi, axis=axis) * w


def _upsample_trilinear(batch: tf.Tensor, factor: int) -> tf.Tensor:
    """Voxel-centre aligned trilinear upsampling, the same formula as resample.upsample_trilinear."""
    for axis in (1, 2, 3):
        batch = _linear_axis(batch, axis, factor)
    return batch


def make_training_dataset(
    voxels: np.ndarray,
    *,
    batch_size: int,
    cube_len: int,
    seed: int,
    start_step: int = 0,
    upsample: str = "nearest",
    images: np.ndarray | None = None,
    views: int = 1,
    min_views: int = 1,
) -> tf.data.Dataset:
    """Infinite dataset of float32 batches (batch_size, cube_len, cube_len, cube_len, 1), batch k = f(seed, k).

    ``voxels``: uint8 (N, s, s, s), s dividing cube_len; grids smaller than cube_len are upsampled per
    batch (``nearest``: block copy, values {0, 1}; ``trilinear``: values in [0, 1]).
    ``images``: uint8 (N, R, S, S) views of the grids (``render_training_images``); the batches are then
    dicts ``{"shapes": the batch above, "images": uint8 (batch_size, views, S, S)}`` (see ``batch_views``).
    """
    if not isinstance(voxels, np.ndarray) or voxels.dtype != np.uint8:
        raise ValueError(f"voxels must be a uint8 numpy array, got {type(voxels).__name__} "
                         f"{getattr(voxels, 'dtype', '')}".rstrip())
    if voxels.ndim != 4 or len(set(voxels.shape[1:])) != 1:
        raise ValueError(f"voxels must have shape (N, s, s, s), got {voxels.shape}")
    count, size = voxels.shape[0], voxels.shape[1]
    if size > cube_len or cube_len % size:
        raise ValueError(f"grid size {size} must divide cube_len {cube_len} (and not exceed it)")
    if batch_size < 1 or count < batch_size:
        raise ValueError(f"need at least batch_size={batch_size} grids, got {count}")
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")
    if images is not None:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) != count or images.shape[2] != images.shape[3]:
            raise ValueError(f"images must be uint8 (N={count}, R, S, S), got {images.dtype} {images.shape}")
        if not 1 <= min_views <= views <= images.shape[1]:
            raise ValueError(f"need 1 <= min_views ({min_views}) <= views ({views}) <= rendered views "
                             f"({images.shape[1]})")
    factor = cube_len // size
    voxels = np.ascontiguousarray(voxels)

    def gather(step: np.ndarray) -> np.ndarray:
        return voxels[batch_indices(int(step), count, batch_size, seed)]

    def gather_images(step: np.ndarray) -> np.ndarray:
        index = batch_indices(int(step), count, batch_size, seed)
        chosen = batch_views(int(step), batch_size, images.shape[1], views, min_views, seed)
        return images[index[:, None], chosen]

    def load(step: tf.Tensor) -> tf.Tensor:
        batch = tf.numpy_function(gather, [step], tf.uint8, stateful=False)
        batch.set_shape((batch_size, size, size, size))
        if factor > 1 and upsample == "nearest":
            batch = _upsample_nearest(batch, factor)  # on uint8: 4x less memory traffic than on float32
        batch = tf.cast(batch, tf.float32)
        if factor > 1 and upsample == "trilinear":
            batch = _upsample_trilinear(batch, factor)
        if images is None:
            return batch[..., None]
        pictures = tf.numpy_function(gather_images, [step], tf.uint8, stateful=False)
        pictures.set_shape((batch_size, views, images.shape[2], images.shape[3]))
        return {"shapes": batch[..., None], "images": pictures}

    dataset = tf.data.Dataset.counter(start=start_step, dtype=tf.int64)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
