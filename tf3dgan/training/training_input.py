"""The training input of a config: its grids (``load_voxels``) and the batches ``train`` feeds the GAN
(``make_dataset``), the one place where config keys become ``data_io.pipeline.make_training_dataset`` arguments."""

from __future__ import annotations

import numpy as np

from tf3dgan.config import Config, variant_options


def load_voxels(config: Config):
    """Training grids as uint8 (N, s, s, s), s <= cube_len, from ``config.data``."""
    import data_io

    return data_io.load_training_voxels(config.data, config.model.cube_len).voxels


def shape_batches(config: Config, voxels: np.ndarray, start_step: int = 0, **image_args):
    """``make_training_dataset`` of ``voxels`` with the keys of ``config`` (``image_args``: see ``image_arguments``)."""
    from data_io.pipeline import make_training_dataset

    t = config.train
    return make_training_dataset(voxels, batch_size=t.batch_size, cube_len=config.model.cube_len, seed=t.seed,
                                 start_step=start_step, upsample=config.data.upsample, **image_args)


def make_dataset(config: Config, voxels: np.ndarray | None = None, start_step: int = 0, variant=None,
                 progress: bool = False):
    """The training input of ``config`` as ``train`` feeds it: an infinite ``tf.data.Dataset`` of float32
    batches (train.batch_size, D, D, D, 1), with rendered pictures for a variant that asks for them
    (``Variant.image_input``), batch k a function of (train.seed, k), from ``start_step`` on.
    ``voxels`` (uint8 grids) override ``config.data``; ``variant`` (default: built from the config)."""
    if voxels is None:
        voxels = load_voxels(config)
    if variant is None:
        from variants import get_variant

        variant = get_variant(config.model.variant)(variant_options(config.model.variant, config.variant))
    return shape_batches(config, voxels, start_step, **image_arguments(variant, voxels, progress))


def image_arguments(variant, voxels: np.ndarray, progress: bool = False) -> dict:
    """``make_training_dataset``'s picture arguments for ``variant``: the training shapes rendered once, as it
    asks (``Variant.image_input``), or nothing for a variant that trains on shapes alone."""
    spec = variant.image_input()
    if spec is None:
        return {}
    from data_io.pipeline import render_training_images

    images = render_training_images(voxels, spec.size, spec.rendered_views, spec.elevation, progress)
    return {"images": images, "views": spec.views, "min_views": spec.min_views}
