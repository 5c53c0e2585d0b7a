"""From pictures to shapes with a trained image encoder (vae_gan, mv_vae_gan), and pictures read for it.

Inference uses the means of E's Gaussians (no sampling), in inference mode. Several pictures of one object
are encoded in one batched call and their means pooled: max or mean as an mv_vae_gan run was trained
(``variant.pooling``); a single-view vae_gan run averages them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf3dgan.errors import DataError, UsageError


def check_image_run(gan, what: str = "this command") -> None:
    """UsageError unless ``gan`` has an image encoder (a vae_gan / mv_vae_gan run)."""
    if gan.encoder is None or gan.variant.image_input() is None:
        raise UsageError(f"{what} needs a run of an image-encoder variant (vae_gan, mv_vae_gan); "
                         f"this run's variant is {gan.variant.name}")


def image_size(gan) -> int:
    return int(gan.variant.image_input().size)


def encode_pictures(gan, images, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Pictures (N, V, S, S) grey 0..255 -> E's (mean, log_var), each float32 (N, V, z_dim); inference mode."""
    images = np.asarray(images)
    means, log_vars = [], []
    for i in range(0, len(images), batch_size):
        mean, log_var = gan.variant.encode(gan.encoder, images[i:i + batch_size].astype(np.float32), training=False)
        means.append(np.asarray(mean))
        log_vars.append(np.asarray(log_var))
    return np.concatenate(means), np.concatenate(log_vars)


def pool_latents(gan, means) -> np.ndarray:
    """(N, V, z_dim) per-view means -> (N, z_dim), pooled as the run's variant pools (see the module notes)."""
    return np.asarray(gan.variant.pool(np.asarray(means, np.float32), axis=1))


def pictures_to_latents(gan, images, batch_size: int = 64) -> np.ndarray:
    """Pictures (N, V, S, S) of N objects, V views each -> one latent vector per object (N, z_dim)."""
    mean, _ = encode_pictures(gan, images, batch_size)
    return pool_latents(gan, mean)


def resize_picture(image: np.ndarray, size: int) -> np.ndarray:
    """A grey (H, W) picture as (size, size): centre-cropped to a square, then area-averaged down (an integer
    factor: block means; otherwise bilinear-area via block means on an upsampled grid) or nearest up."""
    image = np.asarray(image, dtype=np.float64)
    h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top:top + side, left:left + side]
    if side == size:
        out = image
    elif side > size:
        # Area: every output pixel is the mean of the input area it covers (exact for any ratio).
        edges = np.linspace(0, side, size + 1)
        weights = np.clip(np.minimum(edges[1:, None], np.arange(1, side + 1)[None])
                          - np.maximum(edges[:-1, None], np.arange(side)[None]), 0, None)
        weights /= weights.sum(1, keepdims=True)
        out = weights @ image @ weights.T
    else:
        index = (np.arange(size) * side) // size
        out = image[index][:, index]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def read_picture(path: str | Path, size: int, resize: bool = True) -> np.ndarray:
    """A PNG as a grey uint8 (size, size) picture for E: colour to grey (luma, ``to_grey``; transparency over
    black, the renderer's background); another size resized (``resize_picture``) or refused."""
    from data_io.png import read_png, to_grey

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: picture not found")
    image = to_grey(read_png(path))  # DataError naming the file for anything but an 8-bit PNG
    if image.shape != (size, size):
        if not resize:
            raise UsageError(f"{path}: {image.shape[1]}x{image.shape[0]} pixels, the run's encoder takes "
                             f"{size}x{size} (drop --no-resize to resize it)")
        image = resize_picture(image, size)
    return image
