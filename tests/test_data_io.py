"""data_io: readers on real files (../shared/data, skipped when absent) and generated ones, resampling,
the synthetic dataset, the training pipeline contract, the data CLI and bad inputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
import scipy.ndimage

import data_io
from data_io import DataError, EmptyGridWarning

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"real voxel data not found at {SHARED} (a shared/data folder beside the repo)"
)
CHAIRS = SHARED / "volumetric_data" / "chair" / "30" / "train"
MODELNET = SHARED / "modelnet10" / "modelnet10_binvox32.npz"

CUBE_VERTICES = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float)
CUBE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                       [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])


def write_off(path: Path, vertices, faces, quirk: bool = False) -> Path:
    header = f"OFF{len(vertices)} {len(faces)} 0\n" if quirk else f"OFF\n{len(vertices)} {len(faces)} 0\n"
    body = "".join(f"{x} {y} {z}\n" for x, y, z in vertices) + "".join(f"3 {a} {b} {c}\n" for a, b, c in faces)
    path.write_text(header + body)
    return path


def make_volumetric_tree(root: Path, classes=("chair", "table"), n=3) -> Path:
    """A tiny volumetric_data tree with 2 rotations per model; grid i has i+1 voxels set."""
    for c in classes:
        for split in ("train", "test"):
            folder = root / c / "30" / split
            folder.mkdir(parents=True)
            for i in range(n):
                for rot in (1, 10):
                    grid = np.zeros((30, 30, 30), np.int8)
                    grid.flat[: i + 1] = 1
                    scipy.io.savemat(folder / f"{c}_{i:09d}_{rot}.mat", {"instance": grid})
    return root


# ---------------------------------------------------------------- 3D ShapeNets volumetric_data


@needs_shared
@pytest.mark.slow
def test_real_volumetric_train_counts_and_padding():
    first = data_io.read_volumetric(CHAIRS, rotations="first")
    assert first.voxels.shape == (889, 32, 32, 32) and first.voxels.dtype == np.uint8
    assert first.class_names == ["chair"] and set(first.labels) == {0}
    assert all(name.endswith("_1") for name in first.names) and first.names == sorted(first.names)
    # Padding keeps the one-voxel border empty; mean occupancy at 30^3 is about 0.039.
    assert not first.voxels[:, [0, -1]].any() and not first.voxels[:, :, :, [0, -1]].any()
    assert abs(first.voxels.mean() * 32**3 / 30**3 - 0.039) < 0.004
    files, _, _ = data_io.volumetric.list_volumetric(SHARED / "volumetric_data", ["chair"], "train", "all")
    assert len(files) == 10_668


@needs_shared
def test_real_volumetric_layouts_and_fraction():
    by_root = data_io.read_source(SHARED / "volumetric_data", split="test", rotations="first", fraction=0.1)
    by_class = data_io.read_source(SHARED / "volumetric_data" / "chair", split="test", rotations="first",
                                   fraction=0.1)
    assert len(by_root) == len(by_class) == 10
    assert by_root.names == by_class.names
    assert by_root.voxels[0].sum() == (scipy.io.loadmat(
        CHAIRS.parent / "test" / f"{by_root.names[0]}.mat")["instance"] != 0).sum()


@needs_shared
def test_real_upsample_64_has_8x_voxels_and_equals_scipy_zoom():
    grids = data_io.read_volumetric(CHAIRS.parent / "test", rotations="first", fraction=0.05).voxels
    up = data_io.upsample_nearest(grids, 2)
    assert up.shape == (len(grids), 64, 64, 64)
    assert up.sum(dtype=np.int64) == 8 * grids.sum(dtype=np.int64)
    assert np.array_equal(up[0], scipy.ndimage.zoom(grids[0], 2, order=0))


def test_volumetric_generated_tree(tmp_path):
    root = make_volumetric_tree(tmp_path / "volumetric_data")
    all_rot = data_io.read_volumetric(root)
    assert len(all_rot) == 12 and all_rot.class_names == ["chair", "table"]
    assert all_rot.voxels.shape[1:] == (32, 32, 32)
    first = data_io.read_volumetric(root, classes=["table"], rotations="first", split="test")
    assert first.names == ["table_000000000_1", "table_000000001_1", "table_000000002_1"]
    assert list(first.labels) == [0, 0, 0] and first.class_names == ["table"]
    assert list(first.voxels.reshape(3, -1).sum(1)) == [1, 2, 3]
    split_folder = data_io.read_source(root / "chair" / "30" / "train", rotations="first", fraction=0.5)
    assert split_folder.names == ["chair_000000000_1"]  # tf-3dgan's obj_ratio: first part of the list
    with pytest.raises(DataError, match="unknown class"):
        data_io.read_volumetric(root, classes=["sofa"])


# ---------------------------------------------------------------- binvox


@needs_shared
@pytest.mark.parametrize("name, count, translate, scale", [
    ("chair", 1002, (0.0, 0.0, 0.0), 41.133),
    ("8a85", 14382, (1131.81, 21.398, -1.6942), 30.206),
])
def test_real_binvox_counts_and_exact_round_trip(tmp_path, name, count, translate, scale):
    source = SHARED / "binvox" / f"{name}.binvox"
    b = data_io.read_binvox(source)
    assert b.voxels.shape == (32, 32, 32) and int(b.voxels.sum()) == count
    assert b.translate == translate and b.scale == scale
    data_io.write_binvox(tmp_path / "copy.binvox", b.voxels, b.translate, b.scale)
    again = data_io.read_binvox(tmp_path / "copy.binvox")
    assert np.array_equal(again.voxels, b.voxels) and again.translate == translate and again.scale == scale
    assert (tmp_path / "copy.binvox").read_bytes() == source.read_bytes()


@needs_shared
def test_real_binvox_chair_is_upright():
    v = data_io.read_binvox(SHARED / "binvox" / "chair.binvox").voxels
    per_height = v.sum(axis=(0, 1))
    assert per_height[:4].max() < 10 < per_height[14:17].min()  # thin legs below, the seat above


@pytest.mark.parametrize("dims", [(8, 8, 8), (64, 64, 64), (4, 6, 5)])
def test_binvox_round_trip_generated(tmp_path, dims):
    rng = np.random.default_rng(1)
    grid = (rng.random(dims) < 0.3).astype(np.uint8)
    grid[:2] = 1  # runs longer than 255
    data_io.write_binvox(tmp_path / "g.binvox", grid, (1.5, -2.0, 0.25), 3.5)
    b = data_io.read_binvox(tmp_path / "g.binvox")
    assert np.array_equal(b.voxels, grid) and b.translate == (1.5, -2.0, 0.25) and b.scale == 3.5


def test_binvox_xzy_order(tmp_path):
    grid = np.zeros((4, 4, 4), np.uint8)
    grid[0, 0, 1] = 1  # x=0, y=0, z=1 is the 5th voxel on disk (y fastest, then z)
    data_io.write_binvox(tmp_path / "o.binvox", grid)
    data = (tmp_path / "o.binvox").read_bytes().split(b"data\n", 1)[1]
    assert data[:4] == bytes([0, 4, 1, 1])


# ---------------------------------------------------------------- OFF meshes


@pytest.mark.parametrize("quirk", [False, True])
def test_cube_mesh_gives_filled_cube(tmp_path, quirk):
    path = write_off(tmp_path / "cube.off", CUBE_VERTICES * 7 - 3, CUBE_FACES, quirk=quirk)
    grid = data_io.read_off_voxels(path, 16)
    assert grid.shape == (16, 16, 16) and grid.all()
    solid_only = data_io.voxelize_mesh(CUBE_VERTICES, CUBE_FACES, 8, surface=False)
    assert solid_only.all()


def test_open_mesh_is_filled_by_majority_vote():
    open_box = CUBE_FACES[2:]  # the x = 0 face removed: rays along x see one crossing, y and z rays two
    grid = data_io.voxelize_mesh(CUBE_VERTICES, open_box, 12, surface=False)
    assert grid.all()


def test_box_mesh_is_centred_and_scaled(tmp_path):
    box = CUBE_VERTICES * [2.0, 1.0, 1.0]  # 2 x 1 x 1: fills x, half of y and z, centred
    grid = data_io.voxelize_mesh(box, CUBE_FACES, 16)
    assert grid.sum() == 16 * 8 * 8
    assert grid[:, 4:12, 4:12].all()
    quad = write_off(tmp_path / "quad.off", CUBE_VERTICES, [])  # faces as quads, fan-triangulated
    lines = quad.read_text().splitlines()
    lines[0:2] = ["OFF", "8 6 0"]
    quads = ["4 0 1 3 2", "4 4 6 7 5", "4 0 4 5 1", "4 2 3 7 6", "4 0 2 6 4", "4 1 5 7 3"]
    quad.write_text("\n".join(lines + quads) + "\n")
    assert data_io.read_off_voxels(quad, 8).all()


@needs_shared
def test_real_off_chair_voxelizes_plausibly():
    vertices, faces = data_io.read_off(SHARED / "off" / "chair.off")
    assert vertices.shape == (2382, 3) and faces.shape[1] == 3
    grid = data_io.read_off_voxels(SHARED / "off" / "chair.off", 32)
    longest = int(np.argmax(vertices.max(0) - vertices.min(0)))
    extent = np.flatnonzero(grid.any(axis=tuple(a for a in range(3) if a != longest)))
    assert extent[0] == 0 and extent[-1] == 31  # fills the grid along its longest axis
    assert 0.01 < grid.mean() < 0.2


# ---------------------------------------------------------------- numpy arrays, folders


@needs_shared
def test_real_modelnet10_npz_counts_and_empty_grids():
    with pytest.warns(EmptyGridWarning, match="dropped 27 empty"):
        train = data_io.read_array(MODELNET)
    assert len(train) == 3991 - 27 and train.class_names[2] == "chair"
    raw = data_io.read_array(MODELNET, drop_empty=False)
    assert list(raw.class_counts().values()) == [106, 515, 889, 200, 200, 465, 200, 680, 392, 344]
    test = data_io.read_array(MODELNET, split="test", drop_empty=False)
    assert len(test) == 908 and int(test.empty_mask().sum()) == 7
    assert test.voxels.dtype == np.uint8


def test_npz_and_npy_generated(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((5, 8, 8, 8, 1)) < 0.5).astype(np.int32)
    x[3] = 0
    np.savez(tmp_path / "a.npz", X_train=x, y_train=np.array([0, 1, 1, 0, 1]), other=np.zeros(3))
    with pytest.warns(EmptyGridWarning, match=r"dropped 1 empty grid.*a_train_00003"):
        s = data_io.read_array(tmp_path / "a.npz")
    assert s.voxels.shape == (4, 8, 8, 8) and list(s.labels) == [0, 1, 1, 1]
    np.save(tmp_path / "b.npy", x[:3, ..., 0].astype(np.float64))
    b = data_io.read_array(tmp_path / "b.npy")
    assert np.array_equal(b.voxels, x[:3, ..., 0]) and b.labels is None
    picked = data_io.read_array(tmp_path / "a.npz", key="X_train", drop_empty=False)
    assert len(picked) == 5


def test_write_npz_round_trip(tmp_path):
    shapes = data_io.generate_synthetic(12, 16, seed=3)
    data_io.write_npz(tmp_path / "s.npz", shapes)
    back = data_io.read_array(tmp_path / "s.npz")
    assert np.array_equal(back.voxels, shapes.voxels) and np.array_equal(back.labels, shapes.labels)
    assert back.names == shapes.names and back.class_names == shapes.class_names


def test_mixed_folder(tmp_path):
    folder = tmp_path / "mixed"
    (folder / "box").mkdir(parents=True)
    (folder / "blob").mkdir()
    write_off(folder / "box" / "cube.off", CUBE_VERTICES, CUBE_FACES)
    grid = np.zeros((16, 16, 16), np.uint8)
    grid[4:8, 4:8, 4:8] = 1
    data_io.write_binvox(folder / "blob" / "a.binvox", grid)
    np.save(folder / "blob" / "b.npy", grid[None])
    scipy.io.savemat(folder / "blob" / "c.mat", {"instance": np.ones((4, 4, 4), np.int8)})
    s = data_io.read_folder(folder, size=16)
    assert s.class_names == ["blob", "box"] and len(s) == 4
    assert s.names[0] == "blob/a" and list(s.labels) == [0, 0, 0, 1]
    assert s.voxels[3].all() and s.voxels[2].all()  # the cube; the 4^3 .mat upsampled to 16^3
    with pytest.raises(DataError, match="different sizes"):
        data_io.read_folder(folder / "blob")


def test_folder_links_are_followed_once(tmp_path, capsys):
    """Issue 46 item 4: a link cycle (``self -> .``) wrote 41 grids, two of them ran for minutes; a folder
    linked twice is read once; a link to a folder outside the tree is still read."""
    folder, outside = tmp_path / "shapes", tmp_path / "outside"
    (folder / "chair").mkdir(parents=True)
    outside.mkdir()
    grid = np.zeros((8, 8, 8), np.uint8)
    grid[2:5, 2:5, 2:5] = 1
    data_io.write_binvox(folder / "chair" / "a.binvox", grid)
    data_io.write_binvox(outside / "b.binvox", grid)
    for link, target in [("self", "."), ("again", "."), ("chair/up", ".."), ("alias", "chair"), ("table", "../outside")]:
        (folder / link).symlink_to(target)
    with pytest.warns(data_io.LinkedFolderWarning, match="skipped 4 linked folder"):
        s = data_io.read_folder(folder)
    assert sorted(s.names) == ["chair/a", "table/b"] and s.class_names == ["chair", "table"]
    out = tmp_path / "packed.npz"
    assert _cli(["data", "convert", str(folder), "--out", str(out)]) == 0
    assert "skipped 4 linked folder(s) already read" in capsys.readouterr().err
    with np.load(out) as packed:
        assert len(packed["voxels"]) == 2


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize("factor", [2, 4])
def test_upsampling_equals_scipy_zoom(factor):
    """Both upsamplings against scipy.ndimage.zoom on voxel cells (grid_mode: a voxel is a cell, not a point; at
    factor 2 order 0 agrees without it too, tf-3dgan's call) with the edge voxels extended (mode nearest):
    nearest is order 0 (a block copy), trilinear order 1."""
    rng = np.random.default_rng(factor)
    grids = (rng.random((2, 8, 8, 8)) < 0.4).astype(np.uint8)
    for grid, up in zip(grids, data_io.upsample_nearest(grids, factor), strict=True):
        np.testing.assert_array_equal(up, scipy.ndimage.zoom(grid, factor, order=0, grid_mode=True, mode="nearest"))
        np.testing.assert_array_equal(up, grid.repeat(factor, 0).repeat(factor, 1).repeat(factor, 2))
    values = rng.random((8, 8, 8)).astype(np.float32)
    expected = scipy.ndimage.zoom(values, factor, order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(data_io.upsample_trilinear(values, factor, threshold=None), expected, atol=1e-6)
    thresholded = data_io.upsample_trilinear(grids, factor)
    zoomed = scipy.ndimage.zoom(grids.astype(np.float32), (1, factor, factor, factor), order=1, grid_mode=True,
                                mode="nearest")
    clear = np.abs(zoomed - 0.5) > 1e-5  # values at the 0.5 threshold itself depend on float rounding
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(thresholded[clear], (zoomed[clear] > 0.5).astype(np.uint8))


def test_resampling():
    rng = np.random.default_rng(0)
    grid = (rng.random((2, 8, 8, 8)) < 0.3).astype(np.uint8)
    assert np.array_equal(data_io.upsample_nearest(grid, 2)[1], scipy.ndimage.zoom(grid[1], 2, order=0))
    smooth = data_io.upsample_trilinear(grid, 2)
    assert smooth.shape == (2, 16, 16, 16) and smooth.dtype == np.uint8
    solid = np.ones((8, 8, 8), np.uint8)
    assert data_io.upsample_trilinear(solid, 4).all()
    thin = np.zeros((64, 64, 64), np.uint8)
    thin[10, 10, :] = 1  # a one-voxel pole survives max-pooling, point sampling would lose it
    down = data_io.downsample_max(thin, 4)
    assert down.shape == (16, 16, 16) and down[2, 2].all() and down.sum() == 16
    assert data_io.resize(thin, 32).shape == (32, 32, 32)


# ---------------------------------------------------------------- synthetic


def test_synthetic_dataset():
    a = data_io.generate_synthetic(60, 32, seed=5)
    b = data_io.generate_synthetic(60, 32, seed=5)
    assert np.array_equal(a.voxels, b.voxels) and a.names == b.names
    assert not np.array_equal(a.voxels, data_io.generate_synthetic(60, 32, seed=6).voxels)
    assert a.class_names == list(data_io.SYNTHETIC_CLASSES)
    assert np.bincount(a.labels).min() == 10  # balanced
    occupancy = a.voxels.reshape(60, -1).mean(1)
    assert occupancy.min() > 0.01 and 0.04 < occupancy.mean() < 0.15
    assert a.voxels[:, :, :, 2].reshape(60, -1).any(1).all()  # every shape stands on the floor
    assert not a.voxels[:, :, :, 0].any() and not a.voxels[:, 0].any()  # margin
    chairs = data_io.generate_synthetic(4, 64, seed=0, classes=["chair"])
    assert chairs.voxels.shape == (4, 64, 64, 64) and chairs.class_names == ["chair"]
    with pytest.raises(DataError, match="unknown class"):
        data_io.generate_synthetic(4, 32, classes=["lamp"])


def test_load_training_voxels(tmp_path):
    cfg = SimpleNamespace(source="synthetic", classes=None, split="train", rotations="all", fraction=1.0,
                          array_key=None, synthetic_count=24, seed=1, mirror_axis=None)
    s = data_io.load_training_voxels(cfg, 32)
    assert s.voxels.shape == (24, 32, 32, 32) and s.voxels.dtype == np.uint8
    big = np.zeros((3, 64, 64, 64), np.uint8)
    big[:, 5, 5, :] = 1
    np.savez(tmp_path / "big.npz", voxels=big)
    cfg.source = str(tmp_path / "big.npz")
    down = data_io.load_training_voxels(cfg, 32)
    assert down.voxels.shape == (3, 32, 32, 32) and down.voxels[:, 2, 2].all()
    root = make_volumetric_tree(tmp_path / "vd")
    cfg.source, cfg.classes, cfg.rotations = str(root), ["table"], "first"
    small = data_io.load_training_voxels(cfg, 64)
    assert small.voxels.shape == (3, 32, 32, 32)  # left small: the pipeline upsamples


def test_config_dataclass_is_accepted():
    from tf3dgan.config import DataConfig

    s = data_io.load_training_voxels(DataConfig(synthetic_count=8), 32)
    assert len(s) == 8


# ---------------------------------------------------------------- pipeline contract


def _take(dataset, n):
    return [b.numpy() for b in dataset.take(n)]


def test_pipeline_contract():
    from data_io.pipeline import batch_indices, make_training_dataset

    voxels = data_io.generate_synthetic(20, 8, seed=0).voxels
    ds = make_training_dataset(voxels, batch_size=6, cube_len=16, seed=3)
    assert ds.element_spec.shape == (6, 16, 16, 16, 1) and ds.element_spec.dtype.name == "float32"
    batches = _take(ds, 8)  # 3 batches per epoch: crosses two epoch boundaries
    for k, batch in enumerate(batches):
        expected = data_io.upsample_nearest(voxels[batch_indices(k, 20, 6, 3)], 2)
        assert np.array_equal(batch[..., 0], expected)
    assert set(np.unique(batches[0])) <= {0.0, 1.0}
    epoch0 = np.concatenate([batch_indices(k, 20, 6, 3) for k in range(3)])
    epoch1 = np.concatenate([batch_indices(k, 20, 6, 3) for k in range(3, 6)])
    assert len(set(epoch0)) == 18 and not np.array_equal(epoch0, epoch1)  # reshuffled, remainder dropped
    assert np.array_equal(epoch0, np.random.default_rng([3, 0]).permutation(20)[:18])
    resumed = _take(make_training_dataset(voxels, batch_size=6, cube_len=16, seed=3, start_step=7), 1)
    skipped = _take(make_training_dataset(voxels, batch_size=6, cube_len=16, seed=3).skip(7), 1)
    assert np.array_equal(resumed[0], skipped[0]) and np.array_equal(resumed[0], batches[7])
    same = _take(make_training_dataset(voxels, batch_size=6, cube_len=8, seed=3), 2)
    assert same[1].shape == (6, 8, 8, 8, 1)


def test_pipeline_trilinear_matches_numpy():
    from data_io.pipeline import batch_indices, make_training_dataset

    voxels = data_io.generate_synthetic(8, 8, seed=0).voxels
    batch = _take(make_training_dataset(voxels, batch_size=4, cube_len=16, seed=0, upsample="trilinear"), 1)[0]
    expected = data_io.upsample_trilinear(voxels[batch_indices(0, 8, 4, 0)], 2, threshold=None)
    assert batch.min() >= 0 and batch.max() <= 1
    np.testing.assert_allclose(batch[..., 0], expected, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(voxels=np.zeros((4, 8, 8, 8), np.float64)), "uint8"),
    (dict(voxels=np.zeros((4, 8, 8, 7), np.uint8)), "shape"),
    (dict(voxels=np.zeros((4, 12, 12, 12), np.uint8)), "divide"),
    (dict(voxels=np.zeros((4, 32, 32, 32), np.uint8), cube_len=16), "divide"),
    (dict(voxels=np.zeros((3, 8, 8, 8), np.uint8)), "batch_size"),
])
def test_pipeline_rejects_bad_input(kwargs, message):
    from data_io.pipeline import make_training_dataset

    args = dict(batch_size=4, cube_len=16, seed=0) | kwargs
    with pytest.raises(ValueError, match=message):
        make_training_dataset(args.pop("voxels"), **args)


# ---------------------------------------------------------------- bad input


def _bad_files(tmp_path):
    good = np.zeros((4, 4, 4), np.uint8)
    good[1] = 1
    data_io.write_binvox(tmp_path / "good.binvox", good)
    raw = (tmp_path / "good.binvox").read_bytes()
    (tmp_path / "truncated.binvox").write_bytes(raw[:-1])
    (tmp_path / "short.binvox").write_bytes(raw[:-2])
    (tmp_path / "header.binvox").write_bytes(b"#binvox 1\ndim 4 4\n")
    (tmp_path / "nope.binvox").write_bytes(b"hello\n")
    scipy.io.savemat(tmp_path / "ok.mat", {"instance": np.ones((30, 30, 30), np.int8)})
    mat = (tmp_path / "ok.mat").read_bytes()
    (tmp_path / "truncated.mat").write_bytes(mat[: len(mat) // 2])
    (tmp_path / "garbage.mat").write_bytes(b"\x00" * 10)
    scipy.io.savemat(tmp_path / "wrongkey.mat", {"voxels": np.ones((30, 30, 30), np.int8)})
    scipy.io.savemat(tmp_path / "wrongshape.mat", {"instance": np.ones((30, 30), np.int8)})
    write_off(tmp_path / "cube.off", CUBE_VERTICES, CUBE_FACES)
    off = (tmp_path / "cube.off").read_text().splitlines()
    (tmp_path / "truncated.off").write_text("\n".join(off[:-3]))
    (tmp_path / "badindex.off").write_text("\n".join(off[:-1] + ["3 0 1 99"]))
    (tmp_path / "notoff.off").write_text("PLY\n")
    np.savez(tmp_path / "wrongshape.npz", voxels=np.zeros((3, 8, 8, 4)))
    np.savez(tmp_path / "badvalues.npz", voxels=np.full((3, 8, 8, 8), 7))
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04garbage")


@pytest.mark.parametrize("name, problem", [
    ("truncated.binvox", "truncated"), ("short.binvox", "needs"), ("header.binvox", "header"),
    ("nope.binvox", "not a binvox"), ("truncated.mat", "mat"), ("garbage.mat", "mat"),
    ("wrongkey.mat", "no variable 'instance'"), ("wrongshape.mat", "shape"),
    ("truncated.off", "truncated"), ("badindex.off", "vertex 99"), ("notoff.off", "not an OFF"),
    ("wrongshape.npz", "shape"), ("badvalues.npz", "values"), ("corrupt.npz", "npz"),
    ("missing.binvox", "not found|no such"), ("file.xyz", "no such"),
])
def test_bad_files_raise_data_error_naming_the_file(tmp_path, name, problem):
    _bad_files(tmp_path)
    with pytest.raises(DataError, match=problem) as info:
        data_io.read_source(tmp_path / name)
    assert name in str(info.value)


def test_bad_sources(tmp_path):
    _bad_files(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no voxel files"):
        data_io.read_source(tmp_path / "empty")
    np.savez(tmp_path / "zeros.npz", voxels=np.zeros((3, 8, 8, 8), np.uint8))
    with pytest.warns(EmptyGridWarning, match="dropped 3"), pytest.raises(DataError, match="zeros.npz"):
        data_io.read_source(tmp_path / "zeros.npz")
    np.savez(tmp_path / "keys.npz", voxels=np.ones((3, 8, 8, 8), np.uint8))
    with pytest.raises(DataError, match="no array 'X'.*keys.npz|keys.npz.*no array 'X'"):
        data_io.read_source(tmp_path / "keys.npz", array_key="X")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported"):
        data_io.read_source(tmp_path / "x.txt")


# ---------------------------------------------------------------- CLI


def _cli(argv):
    from tf3dgan.commands import data as data_command

    parser = argparse.ArgumentParser(prog="tf3dgan")
    data_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_convert_and_info(tmp_path, capsys):
    root = make_volumetric_tree(tmp_path / "vd")
    out = tmp_path / "packed.npz"
    assert _cli(["data", "convert", str(root), "--out", str(out), "--cube-len", "64",
                 "--classes", "table", "--split", "test"]) == 0
    with np.load(out) as packed:
        assert set(packed.files) == {"voxels", "labels", "names", "class_names"}
        assert packed["voxels"].shape == (6, 64, 64, 64) and packed["voxels"].dtype == np.uint8
        assert list(packed["class_names"]) == ["table"]
    capsys.readouterr()
    assert _cli(["data", "info", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["all"]["count"] == 6 and report["splits"]["all"]["class_counts"] == {"table": 6}
    assert _cli(["data", "info", str(root)]) == 0
    text = capsys.readouterr().out
    assert "[train] 12 grids of 32x32x32" in text and "chair 6, table 6" in text


@needs_shared
def test_cli_info_modelnet10_reports_empty_grids(capsys):
    assert _cli(["data", "info", str(MODELNET), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["train"]["empty"] == 27 and report["splits"]["test"]["empty"] == 7
    assert report["splits"]["train"]["class_counts"]["chair"] == 889


def test_convert_refuses_an_output_inside_its_source_and_overwrites_only_when_asked(tmp_path, capsys):
    from data_io import write_binvox
    from harness import one_line_error
    from tf3dgan.cli import main

    source = tmp_path / "shapes"
    source.mkdir()
    for i, grid in enumerate((np.random.default_rng(0).random((2, 8, 8, 8)) > 0.6).astype(np.uint8)):
        write_binvox(source / f"s{i}.binvox", grid)
    assert main(["data", "convert", str(source), "--out", str(source)]) == 2
    one_line_error(capsys, f"--out {source / 'shapes.npz'} is inside the source folder")
    assert main(["data", "convert", str(source), "--out", str(source / "sub") + "/"]) == 2
    one_line_error(capsys, "inside the source folder")
    assert sorted(p.name for p in source.iterdir()) == ["s0.binvox", "s1.binvox"]
    out = tmp_path / "packed.npz"
    assert main(["data", "convert", str(source), "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["data", "convert", str(source), "--out", str(out)]) == 2
    one_line_error(capsys, f"{out} exists", "--overwrite")
    assert out.read_bytes() == before
    assert main(["data", "convert", str(source), "--out", str(out), "--overwrite"]) == 0


# -- atomic writes -------------------------------------------------------------------------------------
def test_atomic_write_gets_the_umask_permissions_and_leaves_no_temporary(tmp_path):
    import os
    import stat

    from data_io.atomic import atomic_write_bytes

    old = os.umask(0o027)
    try:
        path = atomic_write_bytes(tmp_path / "a" / "f.bin", lambda f: f.write(b"new"))
    finally:
        os.umask(old)
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]
