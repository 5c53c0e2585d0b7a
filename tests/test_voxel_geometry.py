"""data_io.voxel_geometry: the one occupancy threshold, IoU formula and power-of-two check."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from data_io import voxel_geometry as geometry
from data_io.errors import DataError


def test_iou_from_counts_is_one_where_both_grids_are_empty():
    np.testing.assert_array_equal(geometry.iou_from_counts(np.array([0, 2, 3]), np.array([0, 4, 3])), [1.0, 0.5, 1.0])


def test_iou_per_pair_equals_brute_force():
    rng = np.random.default_rng(0)
    a = rng.random((5, 6, 6, 6)).astype(np.float32)
    b = (rng.random((5, 6, 6, 6)) > 0.7).astype(np.uint8)
    a[2], b[2] = 0.0, 0  # both empty: IoU 1
    brute = []
    for x, y in zip(a > 0.5, b > 0.5):
        union = (x | y).sum()
        brute.append(1.0 if union == 0 else (x & y).sum() / union)
    np.testing.assert_array_equal(geometry.iou(a, b), brute)
    np.testing.assert_array_equal(1.0 - geometry.iou(a, b), np.diag(geometry.iou_distance_matrix(a, b > 0)))


def test_grid_occupancy_is_the_fraction_of_occupied_voxels_of_each_grid():
    grids = np.zeros((3, 4, 4, 4, 1), dtype=np.uint8)
    grids[0, 0, 0, 0] = 1
    grids[2] = 1
    occupancy = geometry.grid_occupancy(grids)
    assert occupancy.dtype == np.float64
    np.testing.assert_array_equal(occupancy, [1 / 64, 0.0, 1.0])
    assert geometry.grid_occupancy(np.zeros((0, 4, 4, 4))).shape == (0,)


def test_thresholds():
    assert geometry.OCCUPANCY_THRESHOLD == 0.5
    np.testing.assert_array_equal(geometry.threshold_grids(np.array([0.2, 0.5, 0.51])), [0, 0, 1])
    assert geometry.threshold_grids(np.zeros(2)).dtype == np.uint8
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(DataError, match="--threshold must be in"):
            geometry.check_threshold(bad, "--threshold")


def test_the_threshold_defaults_are_the_constant():
    from data_io.render import render_views
    from tf3dgan.generation.postprocess import postprocess
    from tf3dgan.generation.shape_files import write_shapes

    for fn in (render_views, postprocess, write_shapes):
        assert inspect.signature(fn).parameters["threshold"].default is geometry.OCCUPANCY_THRESHOLD


@pytest.mark.parametrize("n, minimum, expected", [
    (1, 1, True), (2, 1, True), (64, 8, True), (8, 8, True), (4, 8, False), (0, 1, False), (12, 1, False),
    (96, 8, False), (256, 8, True),
])
def test_is_power_of_two(n, minimum, expected):
    assert geometry.is_power_of_two(n, minimum) is expected
