"""Voxel data for tf3dgan: readers, resampling, an embedded synthetic dataset and the tf.data pipeline.

The pipeline (TensorFlow) is imported lazily: ``from data_io.pipeline import make_training_dataset``.
"""

import os

# Before anything loads TensorFlow: its oneDNN kernels, off by default on CPUs without AVX-512 (tf3dgan/cpu.py).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from .arrays import read_array, write_npz
from .binvox import Binvox, read_binvox, write_binvox
from .errors import DataError, EmptyGridWarning, LinkedFolderWarning
from .folders import read_folder
from .off_mesh import read_off, read_off_voxels, voxelize_mesh
from .png import contact_sheet, read_png, write_png
from .render import render_view, render_views
from .resample import downsample_max, pad_to, resize, upsample_nearest, upsample_trilinear
from .sources import fit_to_cube_len, load_training_voxels, occupancy_stats, read_source
from .synthetic import SYNTHETIC_CLASSES, generate_synthetic, split_seed
from .volumetric import read_mat, read_volumetric
from .voxel_geometry import grid_occupancy
from .voxelset import VoxelSet


def make_training_dataset(voxels, **kwargs):
    """See ``data_io.pipeline.make_training_dataset`` (imported on first use: it loads TensorFlow)."""
    from .pipeline import make_training_dataset as make

    return make(voxels, **kwargs)


__all__ = [
    "Binvox", "DataError", "EmptyGridWarning", "LinkedFolderWarning", "SYNTHETIC_CLASSES", "VoxelSet",
    "contact_sheet", "downsample_max",
    "fit_to_cube_len", "generate_synthetic", "split_seed", "load_training_voxels", "make_training_dataset",
    "grid_occupancy", "occupancy_stats", "pad_to", "read_array", "read_binvox", "read_folder", "read_mat", "read_off",
    "read_off_voxels", "read_png", "read_source", "read_volumetric", "render_view", "render_views", "resize",
    "upsample_nearest", "upsample_trilinear", "voxelize_mesh", "write_binvox", "write_npz", "write_png",
]
