"""Shape metrics (checked against brute force and known cases), the SVM protocol, evaluate and ablate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from data_io import voxel_geometry as geometry
from tf3dgan.evaluation import shape_metrics as sm


def random_sets(seed=0, n_a=7, n_b=5, size=8):
    rng = np.random.default_rng(seed)
    a = rng.random((n_a, size, size, size)) > rng.uniform(0.5, 0.95, (n_a, 1, 1, 1))
    b = rng.random((n_b, size, size, size)) > rng.uniform(0.5, 0.95, (n_b, 1, 1, 1))
    a[3] = False  # an empty grid on each side
    b[1] = False
    return a, b


def blob(size, lo, hi):
    grid = np.zeros((size, size, size), dtype=np.uint8)
    grid[lo:hi, lo:hi, lo:hi] = 1
    return grid


# -- distances -----------------------------------------------------------------------------------------
def brute_iou_distance(x, y):
    union = (x | y).sum()
    return 0.0 if union == 0 else 1.0 - (x & y).sum() / union


@pytest.mark.parametrize("chunk_bytes", [4 * 512, 4 * 512 * 3, geometry.DEFAULT_CHUNK_BYTES])
def test_iou_matrix_equals_brute_force(chunk_bytes):
    a, b = random_sets()
    fast = geometry.iou_distance_matrix(a, b, chunk_bytes=chunk_bytes)
    brute = np.array([[brute_iou_distance(x, y) for y in b] for x in a])
    np.testing.assert_array_equal(fast, brute)  # integer counts: exact
    assert fast[3, 1] == 0.0 and fast[3, 0] == 1.0  # empty-empty 0, empty-nonempty 1


def test_iou_distance_of_disjoint_blobs_is_one_and_of_identical_is_zero():
    left, right = blob(16, 1, 5), blob(16, 9, 14)
    d = geometry.iou_distance_matrix(np.stack([left, right]), np.stack([left, right]))
    np.testing.assert_array_equal(d, [[0.0, 1.0], [1.0, 0.0]])
    half = left.copy()
    half[1:3] = 0  # 2 of 4 slices kept: IoU 0.5
    assert geometry.iou_distance_matrix(half[None], left[None])[0, 0] == 0.5


def test_chamfer_matrix_equals_kdtree_brute_force_without_subsampling():
    a, b = random_sets(1, 4, 3)
    fast = sm.chamfer_distance_matrix(a, b, n_points=10**6)
    size = a.shape[1]
    brute = np.empty((len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            px, py = np.argwhere(x), np.argwhere(y)
            if len(px) == 0 or len(py) == 0:
                brute[i, j] = 0.0 if len(px) == len(py) else 2 * np.sqrt(3)
                continue
            brute[i, j] = (cKDTree(py).query(px)[0].mean() + cKDTree(px).query(py)[0].mean()) / size
    np.testing.assert_allclose(fast, brute, rtol=1e-6, atol=1e-7)


def test_chamfer_of_shifted_blob_is_the_shift():
    a = blob(16, 2, 6)  # x layers 2..5
    b = np.roll(a, 3, axis=0)  # x layers 5..8
    # Layers 2, 3, 4, 5 of a are 3, 2, 1, 0 voxels from b: mean 1.5 each way; in cube-side units / 16.
    assert sm.chamfer_distance_matrix(a[None], b[None], n_points=10**6)[0, 0] == pytest.approx(3.0 / 16)


def test_distance_matrix_rejects_unknown_distance_and_size_mismatch():
    with pytest.raises(ValueError, match="distance must be one of iou, chamfer"):
        sm.distance_matrix(np.zeros((1, 8, 8, 8)), np.zeros((1, 8, 8, 8)), "l2")
    with pytest.raises(ValueError, match="grid sizes differ"):
        geometry.iou_distance_matrix(np.zeros((1, 8, 8, 8)), np.zeros((1, 16, 16, 16)))


# -- metrics -------------------------------------------------------------------------------------------
def test_a_set_against_itself():
    a, _ = random_sets(2, 6)
    a[3] = True  # no duplicate grids
    scores = sm.compare_sets(a, a)
    assert scores["mmd"] == 0.0 and scores["cov"] == 1.0 and scores["jsd"] == 0.0
    assert scores["nna"] == 0.0  # every shape's nearest other is its copy in the other set
    chamfer = sm.compare_sets(a, a, "chamfer", n_points=10**6)
    assert chamfer["mmd"] == 0.0 and chamfer["cov"] == 1.0


def test_mmd_cov_on_a_known_matrix():
    # 3 samples x 2 references: every sample is nearest to reference 0.
    d_sr = np.array([[0.1, 0.9], [0.2, 0.5], [0.3, 0.4]])
    mmd, cov = sm.mmd_cov(d_sr)
    assert mmd == pytest.approx((0.1 + 0.4) / 2)
    assert cov == 0.5


def test_one_nna_known_cases():
    # Two far-apart clusters: every point's nearest neighbour is in its own set.
    samples = np.stack([blob(16, 1, 4 + k % 2) for k in range(4)])
    reference = np.stack([blob(16, 10, 13 + k % 2) for k in range(4)])
    assert sm.compare_sets(samples, reference)["nna"] == 1.0
    # Hand-made: s0's nearest is r0 (wrong), s1's is s0 (right), r0's is s0 (wrong), r1's is r0 (right).
    d_ss = np.array([[0, 0.2], [0.2, 0]])
    d_rr = np.array([[0, 0.3], [0.3, 0]])
    d_sr = np.array([[0.1, 0.9], [0.8, 0.9]])
    assert sm.one_nna(d_ss, d_rr, d_sr) == 0.5


def _metrics_by_loops(d_sr, d_ss, d_rr):
    """MMD, COV and 1-NNA written out from their definitions, one loop per shape (ties: the lower index)."""
    n_s, n_r = len(d_sr), len(d_sr[0])
    mmd = sum(min(d_sr[s][r] for s in range(n_s)) for r in range(n_r)) / n_r
    nearest_ref = {min(range(n_r), key=lambda r: (d_sr[s][r], r)) for s in range(n_s)}
    points = [("s", i) for i in range(n_s)] + [("r", j) for j in range(n_r)]

    def dist(p, q):
        (kp, i), (kq, j) = p, q
        if kp == kq:
            return (d_ss if kp == "s" else d_rr)[i][j]
        return d_sr[i][j] if kp == "s" else d_sr[j][i]

    right = 0
    for k, p in enumerate(points):
        others = [(dist(p, q), m) for m, q in enumerate(points) if m != k]
        right += points[min(others)[1]][0] == p[0]
    return mmd, len(nearest_ref) / n_r, right / len(points)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mmd_cov_and_1nna_equal_their_definitions(seed):
    rng = np.random.default_rng(seed)
    # Random distance matrices (no ties) straight into the functions ...
    d_sr, d_ss, d_rr = rng.random((6, 5)), rng.random((6, 6)), rng.random((5, 5))
    d_ss, d_rr = (d_ss + d_ss.T) / 2, (d_rr + d_rr.T) / 2
    np.fill_diagonal(d_ss, 0)
    np.fill_diagonal(d_rr, 0)
    mmd, cov, nna = _metrics_by_loops(d_sr.tolist(), d_ss.tolist(), d_rr.tolist())
    assert sm.mmd_cov(d_sr) == (pytest.approx(mmd), pytest.approx(cov))
    assert sm.one_nna(d_ss, d_rr, d_sr) == pytest.approx(nna)
    # ... and random grids through compare_sets, against IoU distances counted voxel by voxel.
    samples = rng.random((6, 8, 8, 8)) > rng.uniform(0.4, 0.9, (6, 1, 1, 1))
    reference = rng.random((5, 8, 8, 8)) > rng.uniform(0.4, 0.9, (5, 1, 1, 1))
    by_hand = [[[brute_iou_distance(x, y) for y in b] for x in a]
               for a, b in ((samples, reference), (samples, samples), (reference, reference))]
    mmd, cov, nna = _metrics_by_loops(*by_hand)
    scores = sm.compare_sets(samples, reference)
    assert scores["mmd"] == pytest.approx(mmd, rel=1e-6)
    assert scores["cov"] == pytest.approx(cov) and scores["nna"] == pytest.approx(nna)


def test_jsd_known_values():
    left, right = blob(8, 0, 2), blob(8, 5, 7)
    assert sm.jsd(left[None], right[None]) == pytest.approx(1.0)  # disjoint supports: 1 bit
    assert sm.jsd(np.stack([left, right]), np.stack([right, left])) == 0.0  # same mean grid
    # p uniform on 2 cells, q on the first: m = (0.75, 0.25); JSD = 1/2 KL(p||m) + 1/2 KL(q||m) in bits.
    p = np.zeros((1, 8, 8, 8), np.uint8)
    p[0, 0, 0, :2] = 1
    q = np.zeros((1, 8, 8, 8), np.uint8)
    q[0, 0, 0, 0] = 1
    expected = 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25)) + 0.5 * np.log2(1 / 0.75)
    assert sm.jsd(p, q) == pytest.approx(expected)
    assert expected == pytest.approx(0.311278, abs=1e-6)


def test_diagnostics_count_components_empty_grids_and_near_half_voxels():
    two = np.maximum(blob(16, 1, 4), blob(16, 8, 12))
    diagonal = np.zeros((16, 16, 16), np.uint8)
    diagonal[[0, 1, 2], [0, 1, 2], [0, 1, 2]] = 1  # touching corners: one 26-connected component
    empty = np.zeros((16, 16, 16), np.uint8)
    probabilities = np.full((3, 16, 16, 16), 0.9, np.float32)
    probabilities[0, :8] = 0.45  # half of one grid in (0.4, 0.6)
    d = sm.diagnostics(np.stack([two, diagonal, empty]), probabilities)
    assert d["components"] == pytest.approx((2 + 1 + 0) / 3)
    assert d["empty_fraction"] == pytest.approx(1 / 3)
    assert d["occupancy"] == pytest.approx((27 + 64 + 3) / (3 * 16**3))
    assert d["near_half_fraction"] == pytest.approx(1 / 6)


# -- SVM protocol --------------------------------------------------------------------------------------
def test_max_pool_to_2_takes_the_max_of_each_octant():
    from tf3dgan.evaluation.svm import max_pool_to

    x = np.arange(2 * 4**3 * 3, dtype=np.float32).reshape(2, 4, 4, 4, 3)
    pooled = max_pool_to(x, 2)
    assert pooled.shape == (2, 24)
    expected = np.array([[x[b, i * 2 : i * 2 + 2, j * 2 : j * 2 + 2, k * 2 : k * 2 + 2, c].max()
                          for i in range(2) for j in range(2) for k in range(2) for c in range(3)] for b in range(2)])
    np.testing.assert_array_equal(pooled, expected)


@pytest.mark.parametrize("cube_len, base_width, expected", [(16, 4, 8 * 8), (32, 2, (4 + 8) * 8), (64, 64, 7168)])
def test_feature_dimension_is_conv2_onwards_pooled_to_2(cube_len, base_width, expected):
    from tf3dgan.nn.networks import build_discriminator
    from tf3dgan.evaluation.svm import feature_dimension

    assert feature_dimension(build_discriminator(cube_len, base_width)) == expected


def _trained_looking_discriminator():
    """A tiny D whose BatchNorm moving statistics are far from those of real inputs (as after GAN training)."""
    from tf3dgan.nn.networks import build_discriminator

    d = build_discriminator(16, 2)
    for layer in d.layers:
        if hasattr(layer, "moving_mean"):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.3, "float32"))
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, 4.0, "float32"))
    return d


def test_reestimated_statistics_are_the_exact_population_moments_and_are_restored():
    import keras

    from tf3dgan.evaluation.svm import _batch_norm_layers, population_statistics

    d = _trained_looking_discriminator()
    voxels = (np.random.default_rng(3).random((10, 16, 16, 16)) > 0.7).astype(np.uint8)
    bns = _batch_norm_layers(d)
    with population_statistics(d, voxels, batch_size=4):  # batches of 4, 4, 2: the moments must still be exact
        for layer in bns:
            x = keras.ops.convert_to_numpy(keras.Model(d.input, layer.input)(voxels[..., None].astype("float32")))
            x = x.reshape(-1, x.shape[-1]).astype(np.float64)
            np.testing.assert_allclose(layer.moving_mean.numpy(), x.mean(0), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(layer.moving_variance.numpy(), x.var(0), rtol=1e-4, atol=1e-6)
    for layer in bns:
        assert np.all(layer.moving_mean.numpy() == 0.3) and np.all(layer.moving_variance.numpy() == 4.0)


def test_feature_choices_and_their_errors():
    import keras

    from tf3dgan.errors import UsageError
    from tf3dgan.evaluation.svm import extract_features, feature_dimension, max_pool_to

    d = _trained_looking_discriminator()  # 16^3: conv1 8^3 x 2, conv2 4^3 x 4
    voxels = (np.random.default_rng(4).random((6, 16, 16, 16)) > 0.7).astype(np.uint8)
    moving = extract_features(d, voxels, progress=False)  # D's moving statistics, conv2 pooled to 2^3
    _, features = d(voxels[..., None].astype("float32"), training=False)
    np.testing.assert_allclose(moving, max_pool_to(keras.ops.convert_to_numpy(features[1]), 2), rtol=1e-6)
    assert feature_dimension(d, [1, 2], pool_size=4) == 4**3 * 2 + 4**3 * 4
    assert extract_features(d, voxels, progress=False, feature_layers=[1, 2], pool_size=4).shape == (6, 384)
    whole = extract_features(d, voxels, batch_size=6, progress=False, batch_statistics=True)
    halves = extract_features(d, voxels, batch_size=3, progress=False, batch_statistics=True)
    assert not np.allclose(whole, halves)  # batch statistics: the features depend on the batching
    assert all(np.all(layer.moving_mean.numpy() == 0.3) for layer in d.layers if hasattr(layer, "moving_mean"))
    with pytest.raises(UsageError, match="feature layers must be distinct numbers from 1 to 2"):
        feature_dimension(d, [3])
    with pytest.raises(UsageError, match="cannot be max-pooled to 3\\^3 cells"):
        extract_features(d, voxels, progress=False, pool_size=3)


def _tiny_labelled_npz(folder):
    """24 training and 12 test 8^3 grids of two classes (a low slab, a tall column, with noise) in an .npz."""
    rng = np.random.default_rng(0)

    def make(n):
        labels = np.arange(n) % 2
        grids = (rng.random((n, 8, 8, 8)) > 0.9).astype(np.int32)
        grids[labels == 0, :, :, :2] = 1
        grids[labels == 1, 3:5, 3:5, :] = 1
        return grids, labels

    (x_train, y_train), (x_test, y_test) = make(24), make(12)
    data = folder / "tiny.npz"
    np.savez(data, X_train=x_train, y_train=y_train, X_test=x_test, y_test=y_test)
    return data


def test_svm_protocol_end_to_end_on_tiny_labelled_grids(tmp_path):
    from tf3dgan.config import load_config
    from tf3dgan.evaluation.svm import evaluate_discriminator, untrained_discriminator

    data = _tiny_labelled_npz(tmp_path)
    config = load_config(None, ["model.cube_len=16", "model.base_width=4", "model.z_dim=8"])
    result = evaluate_discriminator(untrained_discriminator(config), str(data), c=0.1, progress=False)
    assert result["feature_dim"] == 64 and result["n_train"] == 24 and result["n_test"] == 12
    assert set(result["per_class"]) == {"class_0", "class_1"}
    assert result["accuracy"] == pytest.approx(np.mean(list(result["per_class"].values())))  # balanced test set
    assert result["accuracy"] >= 0.75  # the classes are trivially separable even for random features
    p = result["accuracy"]
    assert result["accuracy_se"] == pytest.approx(math.sqrt(p * (1 - p) / 12))
    assert (result["bn_statistics"], result["feature_layers"], result["pool_size"]) == ("reestimate", [2], 2)
    moving = evaluate_discriminator(untrained_discriminator(config), str(data), c=0.1, progress=False,
                                    bn_statistics="moving")
    assert moving["bn_statistics"] == "moving" and moving["feature_dim"] == 64


# -- commands ------------------------------------------------------------------------------------------
def test_evaluate_command_scores_a_set_against_itself(tmp_path, capsys):
    from tf3dgan.cli import main

    grids = np.stack([blob(16, 1, 4 + k) for k in range(6)])
    np.savez(tmp_path / "shapes.npz", voxels=grids)
    out = tmp_path / "m.json"
    path = str(tmp_path / "shapes.npz")
    assert main(["evaluate", "--samples", path, "--reference", path, "--split", "train", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["mmd"] == 0.0 and result["cov"] == 1.0 and result["n_reference"] == 6
    assert "MMD 0.0000  COV 1.000" in capsys.readouterr().out
    assert main(["evaluate", "--samples", path, "--reference", str(tmp_path / "nope.npz")]) == 2
    assert "nope.npz" in capsys.readouterr().err

    config = tmp_path / "tiny.yaml"  # the floor: an untrained G of a config, seeded like `tf3dgan train`
    config.write_text("model: {cube_len: 16, base_width: 4, z_dim: 8}\n")
    assert main(["evaluate", "--untrained", str(config), "--reference", path, "--split", "train", "--n", "4",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_samples"] == 4 and result["near_half_fraction"] > 0.5  # an untrained G outputs ~0.5


def test_per_class_scores_by_hand():
    from tf3dgan.evaluation.shape_metrics import per_class

    # 3 samples x 4 reference shapes of classes a, a, b, b. Nearest references: 0, 0, 3.
    d_sr = np.array([[0.1, 0.5, 0.9, 0.8],
                     [0.2, 0.4, 0.7, 0.6],
                     [0.9, 0.8, 0.5, 0.3]])
    out = per_class(d_sr, np.array([0, 0, 1, 1]), ["a", "b"])
    assert out["a"] == {"n_reference": 2, "mmd": pytest.approx((0.1 + 0.4) / 2), "cov": 0.5,
                        "sample_share": pytest.approx(2 / 3), "reference_share": 0.5}
    assert out["b"] == {"n_reference": 2, "mmd": pytest.approx((0.5 + 0.3) / 2), "cov": 0.5,
                        "sample_share": pytest.approx(1 / 3), "reference_share": 0.5}


def test_evaluate_command_per_class(tmp_path, capsys):
    from tf3dgan.cli import main

    grids = np.stack([blob(16, 1, 4 + k) for k in range(6)])
    np.savez(tmp_path / "labelled.npz", X_train=grids, y_train=np.array([0, 0, 0, 1, 1, 1]),
             class_names=np.array(["small", "large"]))
    np.savez(tmp_path / "samples.npz", voxels=grids[:3])
    out = tmp_path / "m.json"
    assert main(["evaluate", "--samples", str(tmp_path / "samples.npz"), "--reference", str(tmp_path / "labelled.npz"),
                 "--split", "train", "--per-class", "--out", str(out)]) == 0
    per_class = json.loads(out.read_text())["per_class"]
    assert per_class["small"]["cov"] == 1.0 and per_class["small"]["sample_share"] == 1.0
    assert per_class["large"]["cov"] == 0.0 and per_class["large"]["sample_share"] == 0.0
    assert "share of samples" in capsys.readouterr().out
    np.savez(tmp_path / "unlabelled.npz", voxels=grids)
    assert main(["evaluate", "--samples", str(tmp_path / "samples.npz"), "--reference",
                 str(tmp_path / "unlabelled.npz"), "--split", "train", "--per-class"]) == 2
    assert "has no class labels" in capsys.readouterr().err


SUITE = """
description: two tiny runs
set: [model.cube_len=16, model.base_width=4, model.z_dim=8, train.batch_size=4, train.steps=4,
      train.log_every=2, train.checkpoint_every=2, train.sample_every=0, data.source=synthetic,
      data.synthetic_count=12]
evaluate: {reference: synthetic, n: 6}
runs:
  - name: base
  - name: saturating
    set: [train.g_loss=saturating]
"""


def test_a_suite_svm_section_runs_the_protocol_and_caches_the_untrained_baseline(tmp_path):
    from tf3dgan.evaluation.ablation import load_suite, untrained_svm_baseline
    from tf3dgan.evaluation.ablation_report import UNTRAINED_SVM_FILE
    from tf3dgan.evaluation.svm import evaluate_discriminator, untrained_discriminator

    data = _tiny_labelled_npz(tmp_path)
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE + f"svm: {{data: {data}, c: 0.1, bn_statistics: moving}}\n")
    suite = load_suite(path)
    accuracy = untrained_svm_baseline(suite, tmp_path)
    cached = json.loads((tmp_path / UNTRAINED_SVM_FILE).read_text())
    assert cached["accuracy"] == accuracy and cached["bn_statistics"] == "moving"
    config = suite.runs[0].config
    direct = evaluate_discriminator(untrained_discriminator(config), str(data), c=0.1, bn_statistics="moving",
                                    progress=False)
    assert direct["accuracy"] == accuracy and direct["n_test"] == 12
    (tmp_path / UNTRAINED_SVM_FILE).write_text(json.dumps({**cached, "accuracy": 0.123}))
    assert untrained_svm_baseline(suite, tmp_path) == 0.123  # read back, not computed again


def test_ablate_end_to_end_skips_finished_runs_and_rejects_a_bad_suite(tmp_path, capsys):
    from tf3dgan.cli import main

    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    assert main(["ablate", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "| saturating | mit_biasfree | train.g_loss=saturating | 0 | 4 |" in report
    assert "| base | mit_biasfree | (base) | 0 | 4 |" in report
    assert "no difference between runs can be called significant" in report and "±" not in report
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("run,seed,variant,differs,steps") and len(rows) == 3
    assert "plotly" in (out / "curves.html").read_text()[:200000]
    metrics_before = (out / "base" / "metrics.jsonl").read_text()
    capsys.readouterr()

    assert main(["ablate", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    log = capsys.readouterr().out
    assert "base: finished (4 steps, in the results file), not trained again" in log
    assert "saturating: finished (4 steps, in the results file), not trained again" in log
    assert (out / "base" / "metrics.jsonl").read_text() == metrics_before
    assert (out / "report.md").read_text() == report

    scores = tmp_path / "run_scores.json"  # evaluate --run on a trained folder (load_run + inference sampling)
    assert main(["evaluate", "--run", str(out / "base"), "--reference", "synthetic", "--n", "5",
                 "--n-reference", "6", "--out", str(scores)]) == 0
    result = json.loads(scores.read_text())
    assert result["n_samples"] == 5 and result["n_reference"] == 6 and result["cube_len"] == 16
    assert 0.0 <= result["near_half_fraction"] <= 1.0 and "step 4" in result["samples"]
    capsys.readouterr()

    bad = tmp_path / "bad.yaml"
    bad.write_text(SUITE.replace("train.g_loss=saturating", "train.g_loss=sideways"))
    assert main(["ablate", "--suite", str(bad), "--out", str(tmp_path / "never"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml, run 'saturating'" in err and "train.g_loss" in err and "sideways" in err
    assert not (tmp_path / "never" / "base").exists()  # nothing trained before the whole suite validated


@pytest.mark.parametrize("option", ["--n-reference", "--cube-len"])
def test_evaluate_refuses_a_zero_size(tmp_path, capsys, option):
    from harness import one_line_error
    from tf3dgan.cli import main

    assert main(["evaluate", "--samples", "synthetic", "--reference", "synthetic", option, "0"]) == 2
    one_line_error(capsys, f"{option} must be >= 2, got 0")


# -- statistics over seeds ---------------------------------------------------------------------------------
def test_mean_and_standard_error_by_hand():
    from tf3dgan.evaluation.seed_statistics import mean_and_standard_error

    mean, se = mean_and_standard_error([0.60, 0.62, 0.67])
    # mean 0.63; deviations -0.03, -0.01, 0.04; sample variance (0.0009 + 0.0001 + 0.0016) / 2 = 0.0013
    assert mean == pytest.approx(0.63) and se == pytest.approx(math.sqrt(0.0013 / 3))
    assert mean_and_standard_error([0.5]) == (0.5, None)
    assert mean_and_standard_error([0.4, float("nan"), 0.6])[0] == pytest.approx(0.5)


def test_binomial_standard_error():
    from tf3dgan.evaluation.seed_statistics import binomial_standard_error

    assert binomial_standard_error(0.9, 100) == pytest.approx(0.03)


def test_ablate_with_seeds_trains_each_run_per_seed_and_reports_mean_and_error(tmp_path):
    import csv

    from tf3dgan.config import load_config
    from tf3dgan.evaluation.ablation import load_suite, run_suite

    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(SUITE.replace("runs:", "seeds: [3, 5]\nruns:") + "    seeds: [3]\n")
    suite = load_suite(suite_path)
    assert [r.seeds for r in suite.runs] == [[3, 5], [3]]
    out = tmp_path / "out"
    run_suite(suite, out, progress=False, log=lambda m: None)
    assert sorted(p.name for p in (out / "base").iterdir()) == ["seed_3", "seed_5"]
    assert load_config(out / "base" / "seed_5" / "config.yaml").train.seed == 5
    assert load_config(out / "base" / "seed_5" / "config.yaml").data.seed == 5
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["run"], r["seed"]) for r in rows] == [("base", "3"), ("base", "5"), ("saturating", "3")]
    mmd = [float(r["mmd"]) for r in rows[:2]]
    report = (out / "report.md").read_text()
    se = np.std(mmd, ddof=1) / np.sqrt(2)
    assert "| base | mit_biasfree | (base) | 3, 5 | 4 |" in report
    assert f"{np.mean(mmd):.3f} ± {se:.3f}" in report
    saturating_row = next(line for line in report.splitlines() if line.startswith("| saturating |"))
    assert "±" not in saturating_row and "(n.s.)" not in saturating_row  # one seed: no error, no judgement
    assert '"name":"saturating"' in (out / "curves.html").read_text()  # score curves, one line per run


def test_report_cells_screen_each_column_with_welchs_test():
    from scipy import stats

    from tf3dgan.evaluation.ablation_report import _cell

    base = [{"mmd": 0.60}, {"mmd": 0.62}, {"mmd": 0.64}]  # mean 0.62, se 0.01155
    close = [{"mmd": 0.63}, {"mmd": 0.65}, {"mmd": 0.67}]  # Welch p 0.13
    far = [{"mmd": 0.70}, {"mmd": 0.72}, {"mmd": 0.74}]  # Welch p 0.007
    assert stats.ttest_ind([0.63, 0.65, 0.67], [0.60, 0.62, 0.64], equal_var=False).pvalue > 0.05
    assert _cell(close, "mmd", 3, base) == "0.650 ± 0.012 (n.s.)"
    assert _cell(far, "mmd", 3, base) == "0.720 ± 0.012"
    assert _cell(base, "mmd", 3, None) == "0.620 ± 0.012"
    one = [{"svm_accuracy": 0.9, "svm_n_test": 100}]  # one seed: the binomial standard error, 0.03
    # one seed against one: Fisher's exact test on 90/100 against 75/100 (p 0.008) and 80/100 (p 0.07)
    assert _cell(one, "svm_accuracy", 3, [{"svm_accuracy": 0.75, "svm_n_test": 100}]) == "0.900 ± 0.030"
    assert _cell(one, "svm_accuracy", 3, [{"svm_accuracy": 0.8, "svm_n_test": 100}]) == "0.900 ± 0.030 (n.s.)"


@pytest.mark.parametrize("seeds, message", [
    ("seeds: 3", "seeds must be a non-empty list of integer seeds"),
    ("seeds: [1, -2]", "seeds must be a non-empty list of integer seeds"),
    ("seeds: [1, 1]", "seeds lists a seed twice"),
    ("seeds: [a]", "seeds must be a non-empty list"),
])
def test_bad_seeds_are_refused(tmp_path, seeds, message):
    from tf3dgan.errors import ConfigError
    from tf3dgan.evaluation.ablation import load_suite

    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.replace("runs:", seeds + "\nruns:"))
    with pytest.raises(ConfigError, match=message) as err:
        load_suite(path)
    assert "suite.yaml" in str(err.value)


def test_evaluation_noise_resamples_latents_and_reference_and_matches_compare_sets_without_resampling():
    from harness import random_grids, tiny_gan
    from tf3dgan.evaluation import shape_metrics
    from tf3dgan.evaluation.ablation import sample_shapes
    from tf3dgan.evaluation.evaluation_noise import _one_nna_resampled, evaluation_noise

    gan = tiny_gan()
    reference = random_grids(6, 16, seed=3, density=0.1)
    _, samples = sample_shapes(gan, 5, 0)
    d_sr = shape_metrics.distance_matrix(samples, reference)
    d_ss = shape_metrics.distance_matrix(samples, samples)
    d_rr = shape_metrics.distance_matrix(reference, reference)
    every = np.arange(6)
    assert _one_nna_resampled(d_ss, d_rr, d_sr, every) == shape_metrics.one_nna(d_ss, d_rr, d_sr)
    # copies of one reference shape are left out with it: a reference made of one shape six times has no
    # reference neighbour left, so every reference point's nearest is a sample
    copies = np.zeros(6, int)
    assert _one_nna_resampled(d_ss, d_rr, d_sr, copies) == pytest.approx(5 / 11)
    noise = evaluation_noise(gan, reference, n=5, repeats=3, seed=0)
    assert all(len(noise[kind][k]) == 3 for kind in ("latents", "reference") for k in ("mmd", "cov", "nna"))
    fixed = shape_metrics.compare_sets(samples, reference)
    assert fixed["components"] == noise["reference"]["components"][0]  # the reference does not change a sample
    assert len(set(noise["latents"]["mmd"])) > 1 or len(set(noise["latents"]["components"])) > 1
