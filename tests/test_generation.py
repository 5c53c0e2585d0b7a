"""Using trained generators: post-processing, output formats read back, latent exploration, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tf3dgan.errors import DataError, UsageError
from data_io.mesh_io import write_obj, write_off, write_ply, write_stl
from mesh_readers import face_normals, read_mesh, read_obj, read_ply, read_stl, signed_volume
from data_io.meshes import voxels_to_mesh
from tf3dgan.generation.latent_space import (
    dimension_effect, evaluate_expression, expression_names, interpolate, l1_distance_matrix, lerp,
    nearest_neighbours, resolve_latent, slerp,
)
from tf3dgan.generation.postprocess import fill_holes, largest_component, mesh_field, postprocess, threshold_grids
from tf3dgan.generation.shape_files import resolve_layout, write_shapes

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A 16^3, z_dim 8 run trained for 2 steps: ``(run_dir, config, gan, step)``, trained once per file."""
    from harness import TINY
    from tf3dgan.config import load_config
    from tf3dgan.training.checkpoint import load_run
    from tf3dgan.training.loop import train

    run_dir = tmp_path_factory.mktemp("gen") / "run"
    voxels = (np.random.default_rng(0).random((20, 8, 8, 8)) > 0.7).astype("uint8")
    train(load_config(None, TINY), run_dir, steps=2, voxels=voxels, progress=False)
    config, gan, step = load_run(run_dir)
    return run_dir, config, gan, step


def _box(size=16, lo=(2, 3, 4), hi=(6, 8, 10)):
    grid = np.zeros((size,) * 3, np.float32)
    grid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 1.0
    return grid


# -- post-processing -----------------------------------------------------------------------------------
def test_threshold_is_strict_and_checked():
    p = np.array([[[0.0, 0.1, 0.5, 0.50001, 1.0]]])
    np.testing.assert_array_equal(threshold_grids(p, 0.5), [[[0, 0, 0, 1, 1]]])
    np.testing.assert_array_equal(threshold_grids(p, 0.1), [[[0, 0, 1, 1, 1]]])
    for bad in (-0.01, 0.0, 1.0, 1.5):  # one range everywhere: the value is also an iso-surface level
        with pytest.raises(DataError, match=r"threshold must be in \(0, 1\)"):
            threshold_grids(p, bad)


def _components_grid():
    g = np.zeros((16, 16, 16), np.uint8)
    g[0:4, 0, 0] = 1  # A: 4 voxels
    g[4:10, 1, 1] = 1  # A2: 6 voxels, touches A only at a corner (3,0,0)-(4,1,1)
    g[0:7, 8, 8] = 1  # B: 7 voxels
    g[0:4, 12, 12] = 1  # C1: 4 voxels
    g[4:9, 13, 12] = 1  # C2: 5 voxels, touches C1 only along an edge (3,12,12)-(4,13,12)
    return g


@pytest.mark.parametrize("connectivity, expected", [(6, "B"), (18, "C"), (26, "A")])
def test_largest_component_depends_on_connectivity(connectivity, expected):
    g = _components_grid()
    want = np.zeros_like(g)
    if expected == "B":
        want[0:7, 8, 8] = 1  # 7 voxels beat A2 (6), C2 (5)
    elif expected == "C":
        want[0:4, 12, 12] = want[4:9, 13, 12] = 1  # edge-connected: 9 voxels
    else:
        want[0:4, 0, 0] = want[4:10, 1, 1] = 1  # corner-connected: 10 voxels
    out = largest_component(g, connectivity)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(largest_component(np.stack([g, g]), connectivity), np.stack([want, want]))
    with pytest.raises(UsageError, match="connectivity must be 6, 18 or 26"):
        largest_component(g, 8)


def test_fill_holes_fills_closed_cavities_only():
    shell = np.zeros((12, 12, 12), np.uint8)
    shell[1:6, 1:6, 1:6] = 1
    shell[2:5, 2:5, 2:5] = 0  # closed 3^3 cavity
    cup = np.zeros_like(shell)
    cup[6:11, 6:11, 6:11] = 1
    cup[7:10, 7:10, 7:11] = 0  # open at the top: not a hole
    filled = fill_holes(shell + cup)
    assert filled.sum() == (shell + cup).sum() + 27
    assert filled[2:5, 2:5, 2:5].all() and not filled[7:10, 7:10, 7:11].any()


def test_postprocess_pipeline_and_mesh_field():
    p = np.zeros((10, 10, 10), np.float32)
    p[1:6, 1:6, 1:6] = 0.9
    p[2:5, 2:5, 2:5] = 0.2  # cavity
    p[8, 8, 8] = 0.7  # a stray voxel
    v = postprocess(p, 0.5, keep_largest=True, connectivity=6, fill=True)
    assert v[8, 8, 8] == 0 and v[2:5, 2:5, 2:5].all() and v.sum() == 125
    field, level = mesh_field(p, v, 0.5)
    assert level == 0.5 and field[8, 8, 8] == 0.0 and (field[2:5, 2:5, 2:5] == 1.0).all()
    assert field[1, 1, 1] == np.float32(0.9) and field[0, 0, 0] == 0.0
    with pytest.raises(DataError, match=r"threshold must be in \(0, 1\)"):
        mesh_field(p, v, 1.0)


# -- meshes --------------------------------------------------------------------------------------------
def _check_closed_and_oriented(faces):
    """Every directed edge appears once and its reverse once: a closed, consistently wound surface."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    directed = {tuple(e) for e in edges.tolist()}
    assert len(directed) == len(edges)
    assert all((b, a) in directed for a, b in directed)


def test_mesh_writers_round_trip_with_outward_orientation(tmp_path):
    mesh = voxels_to_mesh(_box())
    assert signed_volume(mesh.vertices, mesh.faces) > 0.8 * 4 * 5 * 6
    _check_closed_and_oriented(mesh.faces)
    centre = mesh.vertices.mean(0)
    assert (np.einsum("ij,ij->i", mesh.normals, mesh.vertices - centre) > 0).all()

    write_obj(tmp_path / "a.obj", mesh)
    back = read_obj(tmp_path / "a.obj")
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    np.testing.assert_allclose(back.normals, mesh.normals, atol=1e-6)

    write_stl(tmp_path / "a.stl", mesh)
    triangles, normals = read_stl(tmp_path / "a.stl")
    assert (tmp_path / "a.stl").stat().st_size == 84 + 50 * len(mesh.faces)
    np.testing.assert_array_equal(triangles, mesh.vertices[mesh.faces])
    np.testing.assert_allclose(normals, face_normals(mesh.vertices, mesh.faces), atol=1e-6)
    # STL normals point away from the box centre (outward) on every face.
    assert (np.einsum("ij,ij->i", normals, triangles.mean(1) - centre) > 0).all()

    for binary in (True, False):
        write_ply(tmp_path / "a.ply", mesh, binary=binary)
        back = read_ply(tmp_path / "a.ply")
        np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-6)
        np.testing.assert_array_equal(back.faces, mesh.faces)
        np.testing.assert_allclose(back.normals, mesh.normals, atol=1e-6)


def test_off_meshes_round_trip_and_bad_mesh_files_are_one_line_data_errors(tmp_path):
    import data_io

    mesh = voxels_to_mesh(_box())
    write_off(tmp_path / "a.off", mesh)
    vertices, faces = data_io.read_off(tmp_path / "a.off")
    np.testing.assert_allclose(vertices, mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(faces, mesh.faces)
    np.testing.assert_array_equal(read_mesh(tmp_path / "a.off").faces, mesh.faces)
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 9\nend_header\n\x00")
    (tmp_path / "empty.obj").write_text("# nothing\n")
    for name in ("bad.ply", "empty.obj", "missing.stl"):
        with pytest.raises(DataError) as info:
            read_mesh(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name)) and "\n" not in str(info.value)


def test_write_shapes_every_format_reads_back(tmp_path):
    import scipy.io

    from data_io import read_binvox

    rng = np.random.default_rng(3)
    probabilities = np.stack([_box(), _box(lo=(1, 1, 1), hi=(9, 5, 12)) * 0.8]).astype(np.float32)
    voxels = threshold_grids(probabilities, 0.5)
    z = rng.normal(size=(2, 8)).astype(np.float32)

    (npz,) = write_shapes(tmp_path / "s.npz", voxels, probabilities, z)
    with np.load(npz) as data:
        assert data["voxels"].dtype == np.uint8
        np.testing.assert_array_equal(data["voxels"], voxels)
        np.testing.assert_array_equal(data["z"], z)

    (mat,) = write_shapes(tmp_path / "s.mat", voxels, probabilities, z)
    data = scipy.io.loadmat(mat)
    np.testing.assert_array_equal(data["inputs"], z)
    np.testing.assert_array_equal(data["voxels"], probabilities)

    files = write_shapes(tmp_path / "bv", voxels, probabilities, z, fmt="binvox")
    assert [f.name for f in files] == ["shape_000.binvox", "shape_001.binvox"]
    for f, v in zip(files, voxels):
        np.testing.assert_array_equal(read_binvox(f).voxels, v)

    # Meshes in the unit cube: the box of voxels 2..5 along x (probability 1) spans [2/16, 6/16].
    (obj,) = write_shapes(tmp_path / "one.obj", voxels[:1], probabilities[:1], z[:1])
    vertices = read_obj(obj).vertices
    np.testing.assert_allclose(vertices.min(0), np.array([2, 3, 4]) / 16, atol=1e-6)
    np.testing.assert_allclose(vertices.max(0), np.array([6, 8, 10]) / 16, atol=1e-6)
    files = write_shapes(tmp_path / "v", voxels, probabilities, z, fmt="stl", mesh_scale="voxel")
    triangles, _ = read_stl(files[1])
    # Voxel units; the 0.8 -> 0 edge crosses 0.5 at 3/8 of a voxel beyond the centre of voxel 1.
    np.testing.assert_allclose(triangles.reshape(-1, 3).min(0), [0.625, 0.625, 0.625], atol=1e-6)

    import zipfile

    (archive,) = write_shapes(tmp_path / "m.zip", voxels, probabilities, z, fmt="ply")
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == ["shape_000.ply", "shape_001.ply"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".shapes-")]  # temp folder removed


def test_output_errors(tmp_path):
    with pytest.raises(UsageError, match="holds one shape, got 3"):
        resolve_layout(tmp_path / "x.obj", None, 3)
    with pytest.raises(UsageError, match="contradicts --format"):
        resolve_layout(tmp_path / "x.stl", "obj", 1)
    with pytest.raises(UsageError, match="unknown output type .txt"):
        resolve_layout(tmp_path / "x.txt", None, 1)
    empty = np.zeros((1, 8, 8, 8), np.float32)
    with pytest.raises(DataError, match="an empty grid has no surface"):
        write_shapes(tmp_path / "e.stl", empty.astype(np.uint8), empty, np.zeros((1, 4)))


# -- latent space --------------------------------------------------------------------------------------
def test_lerp_and_slerp_endpoints_and_norms():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    b *= np.linalg.norm(a) / np.linalg.norm(b)  # equal norms
    t = np.linspace(0, 1, 7)
    for path in (lerp(a, b, t), slerp(a, b, t)):
        assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    path = slerp(a, b, t)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-12)
    unit = path / np.linalg.norm(path, axis=1, keepdims=True)
    angles = np.arccos(np.clip(np.einsum("ij,ij->i", unit[:-1], unit[1:]), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-9)  # constant angular speed
    assert np.linalg.norm(lerp(a, b, 0.5)) < np.linalg.norm(a)  # lerp cuts the corner

    c = 3.0 * a  # parallel: slerp is the straight line
    np.testing.assert_allclose(slerp(a, c, t), lerp(a, c, t), rtol=1e-12)
    norms = np.linalg.norm(slerp(a, c, t), axis=1)
    np.testing.assert_allclose(norms, (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(c), rtol=1e-12)
    opposite = slerp(a, -a, t)  # antiparallel: keeps the norm, passes through an orthogonal vector
    np.testing.assert_allclose(np.linalg.norm(opposite, axis=1), np.linalg.norm(a), rtol=1e-12)
    assert abs(opposite[3] @ a) < 1e-9 * (a @ a)

    z = interpolate(a, b, 5, "linear")
    assert z.shape == (5, 200) and z.dtype == np.float32
    with pytest.raises(UsageError, match="steps must be >= 2"):
        interpolate(a, b, 1)


def test_arithmetic_expression_exact_and_safe():
    a, b, c = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.array([4.0, 8.0])
    latents = {"a": a, "b": b, "c": c}
    np.testing.assert_array_equal(evaluate_expression("a - b + c", latents), [4.5, 11.0])
    np.testing.assert_array_equal(evaluate_expression("0.5*(a + c) - -b", latents), [3.0, 4.0])
    np.testing.assert_array_equal(evaluate_expression("-a * 2", latents), [-2.0, -4.0])
    assert expression_names("a - b + a*2 + c") == ["a", "b", "c"]
    bad = {
        "a * b": "cannot be multiplied",
        "a + 1": "cannot add a number",
        "a / 2": "only \\+, -",
        "d + a": "unknown name 'd'",
        "__import__('os')": "only \\+, -",
        "a.real": "only \\+, -",
        "2 * 3": "result is a number",
        "a -": "syntax error",
        "'x'": "only numbers",
    }
    for expr, message in bad.items():
        with pytest.raises(UsageError, match=message):
            evaluate_expression(expr, latents)


def test_resolve_latent_specs(tmp_path, trained_run):
    _, _, gan, _ = trained_run
    np.testing.assert_array_equal(resolve_latent("5", 8, gan), np.asarray(gan.sample_latent(1, seed=5))[0])
    z = np.arange(24, dtype=np.float32).reshape(3, 8)
    np.savez(tmp_path / "s.npz", z=z, voxels=np.zeros((3, 2, 2, 2)))
    np.save(tmp_path / "one.npy", z[1])
    np.testing.assert_array_equal(resolve_latent(f"{tmp_path / 's.npz'}#2", 8), z[2])
    np.testing.assert_array_equal(resolve_latent(f"{tmp_path / 's.npz'}#-1", 8), z[2])
    np.testing.assert_array_equal(resolve_latent(str(tmp_path / "one.npy"), 8), z[1])
    with pytest.raises(UsageError, match="vectors of size 8, but the run's generator takes z_dim 200"):
        resolve_latent(str(tmp_path / "one.npy"), 200)
    with pytest.raises(UsageError, match="holds 3 vectors; pick one"):
        resolve_latent(str(tmp_path / "s.npz"), 8)
    with pytest.raises(UsageError, match="index 3 out of range"):
        resolve_latent(f"{tmp_path / 's.npz'}#3", 8)
    with pytest.raises(DataError, match="latent file not found"):
        resolve_latent(str(tmp_path / "missing.npy"), 8)


def test_dimension_effect_reports_changed_voxels(trained_run):
    _, _, gan, _ = trained_run
    z = np.asarray(gan.sample_latent(1, seed=0))[0]
    effect = dimension_effect(gan, z, 3, [z[3], z[3] + 2.0, z[3] - 2.0])
    assert effect.changed_counts[0] == 0  # the unmodified value reproduces the base shape
    base = gan.generate(z[None])[0] > 0.5
    for k, value in enumerate(effect.values):
        zk = z.copy()
        zk[3] = value
        shape = gan.generate(zk[None])[0] > 0.5
        np.testing.assert_array_equal(effect.added[k], shape & ~base)
        np.testing.assert_array_equal(effect.removed[k], ~shape & base)
    assert effect.changed_counts[1:].sum() > 0


def test_nearest_neighbours_iou_and_l1():
    rng = np.random.default_rng(1)
    train = (rng.random((5, 6, 6, 6)) > 0.6).astype(np.uint8)
    probabilities = rng.random((3, 6, 6, 6)).astype(np.float32)
    brute = np.abs(probabilities[:, None] - train[None]).reshape(3, 5, -1).mean(-1)
    np.testing.assert_allclose(l1_distance_matrix(probabilities, train, chunk=2), brute, rtol=1e-5)
    samples = train[[4, 1]]
    found = nearest_neighbours(samples.astype(np.float32), samples, train)
    np.testing.assert_array_equal(found.iou_index, [4, 1])
    np.testing.assert_array_equal(found.iou_distance, [0.0, 0.0])
    np.testing.assert_array_equal(found.l1_index, [4, 1])
    np.testing.assert_allclose(found.l1_distance, [0.0, 0.0], atol=1e-7)


# -- export --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    from tf3dgan.generation.export import export_run

    run_dir = trained_run[0]
    out = tmp_path_factory.mktemp("export") / "export"
    info = export_run(run_dir, out)
    return out, info


def test_export_matches_in_memory_generator(trained_run, exported):
    import tensorflow as tf

    _, _, gan, step = trained_run
    out, info = exported
    assert info["step"] == step and info["z_dim"] == 8 and info["cube_len"] == 16
    assert json.loads((out / "export.json").read_text())["signatures"]["serving_default"]["inputs"]["z"][1] == [None, 8]
    model = tf.saved_model.load(str(out))
    assert set(model.signatures) == {"serving_default", "sample"}
    z = np.asarray(gan.sample_latent(5, seed=11), np.float32)
    served = model.signatures["serving_default"](z=tf.constant(z))["probabilities"].numpy()
    assert served.shape == (5, 16, 16, 16)
    np.testing.assert_allclose(served, gan.generate(z), atol=1e-6, rtol=0)
    drawn = model.signatures["sample"](count=tf.constant(3), seed=tf.constant(7, tf.int64))
    np.testing.assert_array_equal(drawn["z"].numpy(), np.asarray(gan.sample_latent(3, seed=7)))
    np.testing.assert_allclose(drawn["probabilities"].numpy(), gan.generate(drawn["z"].numpy()), atol=1e-6, rtol=0)


SUBPROCESS_CODE = r"""
import importlib.abc, json, sys

BLOCKED = {"tf3dgan", "data_io", "variants"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this process")
        return None

sys.meta_path.insert(0, Block())
for name in BLOCKED:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} is importable")

import numpy as np
import tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
expected = np.load(sys.argv[2])
out = model.signatures["serving_default"](z=tf.constant(expected["z"]))["probabilities"].numpy()
drawn = model.signatures["sample"](count=tf.constant(2), seed=tf.constant(3, tf.int64))
print(json.dumps({
    "max_diff": float(np.abs(out - expected["probabilities"]).max()),
    "sample_z_diff": float(np.abs(drawn["z"].numpy() - expected["sample_z"]).max()),
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
}))
"""


@pytest.mark.slow
def test_saved_model_runs_without_the_package(trained_run, exported, tmp_path):
    _, _, gan, _ = trained_run
    out, _ = exported
    z = np.asarray(gan.sample_latent(4, seed=2), np.float32)
    np.savez(tmp_path / "expected.npz", z=z, probabilities=gan.generate(z),
             sample_z=np.asarray(gan.sample_latent(2, seed=3)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run(
        [sys.executable, "-I", "-c", SUBPROCESS_CODE, str(out), str(tmp_path / "expected.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"max_diff": report["max_diff"], "sample_z_diff": 0.0, "modules": []}
    assert report["max_diff"] <= 1e-6


@pytest.mark.slow
def test_saved_model_cli_lists_signatures(exported):
    cli = Path(sys.executable).parent / "saved_model_cli"
    if not cli.exists():
        pytest.skip(f"saved_model_cli not found beside {sys.executable}")
    out, _ = exported
    result = subprocess.run([str(cli), "show", "--dir", str(out), "--all"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    for needle in ("signature_def['serving_default']", "signature_def['sample']", "inputs['z']",
                   "outputs['probabilities']", "inputs['count']", "inputs['seed']", "shape: (-1, 16, 16, 16)"):
        assert needle in text, needle


def test_keras_file_round_trip_continues_training(trained_run, exported):
    import keras
    import tensorflow as tf

    from tf3dgan.training.checkpoint import load_run

    run_dir = trained_run[0]
    out, _ = exported
    _, original, _ = load_run(run_dir)  # a fresh copy: the module's gan stays untouched
    restored = keras.saving.load_model(out / "gan.keras")
    for a, b in zip(original.weights, restored.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    for opt in ("g_optimizer", "d_optimizer"):
        saved, loaded = getattr(original, opt).variables, getattr(restored, opt).variables
        assert len(saved) == len(loaded) > 2
        for a, b in zip(saved, loaded):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{opt} {a.path}")
    np.testing.assert_array_equal(original.seed_generator.state.numpy(), restored.seed_generator.state.numpy())
    assert int(restored.d_optimizer.iterations.numpy()) == int(original.d_optimizer.iterations.numpy()) > 0

    real = (np.random.default_rng(0).random((4, 16, 16, 16, 1)) > 0.7).astype("float32")
    for gan in (original, restored):
        gan.fit(tf.data.Dataset.from_tensors(real).repeat(), steps_per_epoch=1, epochs=1, verbose=0,
                shuffle=False)
    assert int(restored.step_counter.numpy()) == 3
    for a, b in zip(original.weights, restored.weights):  # the continued step is the same step
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)


# -- command line --------------------------------------------------------------------------------------
def test_cli_sample_interpolate_arithmetic_export(trained_run, tmp_path, capsys):
    from tf3dgan.cli import main

    run_dir = str(trained_run[0])
    assert main(["sample", "--run", run_dir, "--n", "3", "--out", str(tmp_path / "s.npz"), "--threshold", "0.1",
                 "--largest-component", "--fill-holes"]) == 0
    with np.load(tmp_path / "s.npz") as data:
        assert set(data.keys()) == {"voxels", "probabilities", "z"}
        np.testing.assert_array_equal(data["voxels"], postprocess(data["probabilities"], 0.1, True, 26, True))
    assert main(["sample", "--run", run_dir, "--n", "2", "--out", str(tmp_path / "meshes"), "--format", "obj"]) == 0
    assert sorted(p.name for p in (tmp_path / "meshes").iterdir()) == ["shape_000.obj", "shape_001.obj"]

    assert main(["interpolate", "--run", run_dir, "--from", "1", "--to", f"{tmp_path / 's.npz'}#2",
                 "--steps", "4", "--out", str(tmp_path / "i.npz")]) == 0
    with np.load(tmp_path / "i.npz") as data, np.load(tmp_path / "s.npz") as samples:
        assert data["z"].shape == (4, 8)
        np.testing.assert_array_equal(data["z"][-1], samples["z"][2])
    assert "plotly" in (tmp_path / "i.html").read_text()[:20000].lower()

    assert main(["arithmetic", "--run", run_dir, "--expr", "a - b + c", "--latents", f"a={tmp_path / 's.npz'}#0",
                 f"b={tmp_path / 's.npz'}#1", "c=4", "--out", str(tmp_path / "a.npz"), "--no-html"]) == 0
    with np.load(tmp_path / "a.npz") as data, np.load(tmp_path / "s.npz") as samples:
        z = data["z"]
        np.testing.assert_allclose(z[3], samples["z"][0] - samples["z"][1] + z[2], rtol=1e-6)

    capsys.readouterr()
    assert main(["sample", "--run", run_dir, "--n", "2", "--out", str(tmp_path / "x.npz"), "--threshold", "2"]) == 2
    assert "--threshold must be in (0, 1), got 2.0" in capsys.readouterr().err
    assert main(["arithmetic", "--run", run_dir, "--expr", "a + b", "--latents", "a=1",
                 "--out", str(tmp_path / "a.npz")]) == 2
    assert "--expr uses b, not given in --latents" in capsys.readouterr().err
    np.save(tmp_path / "wrong.npy", np.zeros(5, np.float32))
    assert main(["interpolate", "--run", run_dir, "--from", str(tmp_path / "wrong.npy"), "--to", "1",
                 "--out", str(tmp_path / "w.npz")]) == 2
    assert "vectors of size 5, but the run's generator takes z_dim 8" in capsys.readouterr().err


def test_cli_run_without_checkpoint_is_a_clear_error(trained_run, tmp_path, capsys):
    import shutil

    from tf3dgan.cli import main

    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(trained_run[0] / "config.yaml", bare / "config.yaml")
    for command in (["export", "--run", str(bare), "--out", str(tmp_path / "e")],
                    ["sample", "--run", str(bare), "--out", str(tmp_path / "s.npz")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{bare}: no checkpoint under checkpoints/" in err, err
