"""`tf3dgan reconstruct`, `project`, `evaluate-reconstruction` end to end on a tiny vae_gan run, and their parts."""

import json

import numpy as np
import pytest

from tf3dgan.cli import main

TINY_MV = ["model.variant=mv_vae_gan", "variant.image_size=16", "variant.render_views=4", "variant.views=2",
           "variant.min_views=1", "data.synthetic_count=12"]


@pytest.fixture(scope="module")
def mv_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("mv") / "run"
    tiny = ["model.cube_len=16", "model.base_width=4", "model.z_dim=8", "train.batch_size=4", "train.sample_every=0"]
    sets = [a for o in tiny + TINY_MV for a in ("--set", o)]
    assert main(["train", "--out", str(run), "--steps", "3", "--quiet", *sets]) == 0
    return run


def _pictures(tmp_path):
    """Two 16x16 grey views of a synthetic chair, an RGB 40x32 one, and a file that is not a PNG."""
    import data_io
    from data_io.png import write_png
    from data_io.render import render_views

    grid = data_io.generate_synthetic(1, 16, 5).voxels[0]
    views = render_views(grid, [0, 90], 25, 16)
    paths = [write_png(tmp_path / f"view{i}.png", v) for i, v in enumerate(views)]
    rgb = np.repeat(render_views(grid, [45], 25, 32)[0][:, :, None], 3, axis=2)
    rgb = np.concatenate([np.zeros((4, 32, 3), np.uint8), rgb, np.zeros((4, 32, 3), np.uint8)])
    paths.append(write_png(tmp_path / "rgb.png", rgb))
    (tmp_path / "notes.png").write_text("not a picture")
    return paths, tmp_path / "notes.png"


def test_reconstruct_from_one_and_several_pictures(mv_run, tmp_path, capsys):
    import data_io

    (one, two, rgb), bad = _pictures(tmp_path)
    assert main(["reconstruct", "--run", str(mv_run), "--images", str(one), "--out", str(tmp_path / "a.binvox")]) == 0
    assert (tmp_path / "a.binvox").exists()
    out = tmp_path / "b.npz"
    assert main(["reconstruct", "--run", str(mv_run), "--images", str(one), str(two), str(rgb),
                 "--out", str(out), "--largest-component"]) == 0
    printed = capsys.readouterr().out
    assert "3 views pooled (max)" in printed and "refined over 8 rounds" in printed
    assert main(["reconstruct", "--run", str(mv_run), "--images", str(one), "--refine", "0",
                 "--out", str(tmp_path / "plain.npz")]) == 0
    assert "refined" not in capsys.readouterr().out
    assert main(["reconstruct", "--run", str(mv_run), "--images", str(one), "--refine", "-1",
                 "--out", str(tmp_path / "plain.npz")]) == 2
    assert "--refine must be >= 0" in capsys.readouterr().err
    with np.load(out) as result:
        assert result["voxels"].shape == (1, 16, 16, 16) and result["z"].shape == (1, 8)
    assert data_io.read_source(str(tmp_path / "a.binvox")).voxels.shape == (1, 16, 16, 16)

    assert main(["reconstruct", "--run", str(mv_run), "--images", str(bad), "--out", str(tmp_path / "c.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "notes.png" in err and "not a PNG" in err
    assert main(["reconstruct", "--run", str(mv_run), "--images", str(rgb), "--no-resize",
                 "--out", str(tmp_path / "c.npz")]) == 2
    assert "32x40 pixels" in capsys.readouterr().err


def test_reconstruct_needs_an_image_encoder_run(tmp_path, tiny_overrides, capsys):
    from data_io.png import write_png

    run = tmp_path / "gan"
    sets = [a for o in tiny_overrides + ["data.synthetic_count=12"] for a in ("--set", o)]
    assert main(["train", "--out", str(run), "--steps", "1", "--quiet", *sets]) == 0
    picture = write_png(tmp_path / "p.png", np.zeros((16, 16), np.uint8))
    assert main(["reconstruct", "--run", str(run), "--images", str(picture), "--out", str(tmp_path / "x.npz")]) == 2
    assert "vae_gan" in capsys.readouterr().err


def test_project_then_arithmetic_on_real_shapes_by_name(mv_run, tmp_path, capsys):
    z_file = tmp_path / "z.npz"
    assert main(["project", "--run", str(mv_run), "--shapes", "synthetic", "--n", "3", "--steps", "4",
                 "--restarts", "2", "--compare-random", "10", "--out", str(z_file)]) == 0
    assert "best of 10 random z" in capsys.readouterr().out
    with np.load(z_file) as data:
        assert data["z"].shape == (3, 8) and data["iou"].shape == (3,) and len(data["names"]) == 3
        assert ((0 <= data["iou"]) & (data["iou"] <= 1)).all() and set(data["restart"]) <= {0, 1}
        names = [str(n) for n in data["names"]]
        z = data["z"]
    out = tmp_path / "sum.npz"
    assert main(["arithmetic", "--run", str(mv_run), "--expr", "a + (b - c)", "--no-html", "--out", str(out),
                 "--latents", f"a={z_file}#{names[0]}", f"b={z_file}#1", f"c={z_file}#{names[2]}"]) == 0
    with np.load(out) as result:
        np.testing.assert_allclose(result["z"][-1], z[0] + (z[1] - z[2]), rtol=1e-6)
    assert main(["interpolate", "--run", str(mv_run), "--from", f"{z_file}#{names[0]}", "--to", f"{z_file}#{names[1]}",
                 "--steps", "3", "--no-html", "--out", str(tmp_path / "i.npz")]) == 0
    report = tmp_path / "nn.json"
    assert main(["neighbours", "--run", str(mv_run), "--data", str(tmp_path / "i.npz"), "--latents", str(z_file),
                 f"{z_file}#{names[2]}", "--out", str(report)]) == 0
    assert len(json.loads(report.read_text())["samples"]) == 4  # the 3 projected shapes, then one by name
    assert main(["arithmetic", "--run", str(mv_run), "--expr", "a", "--no-html", "--out", str(tmp_path / "x.npz"),
                 "--latents", f"a={z_file}#no_such_shape"]) == 2
    assert "no shape named 'no_such_shape'" in capsys.readouterr().err


def test_evaluate_reconstruction_json(mv_run, capsys):
    assert main(["evaluate-reconstruction", "--run", str(mv_run), "--reference", "synthetic", "--n", "6",
                 "--views", "1", "2", "--refine", "3", "--refine-candidates", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["views"] == [1, 2] and len(result["reconstruction"]) == 2 and len(result["nearest_rendering"]) == 2
    assert 0 <= result["mean_shape"] <= 1 and result["n_test"] == 6 and result["n_train"] == 12
    assert len(result["refined"]) == 2 and result["refine_rounds"] == 3 and result["refine_candidates"] == 4
    assert all(0 <= a <= 1 for a in result["refined"] + result["azimuth_agreement"])
    best = [max(result["mean_shape"], b) for b in result["nearest_rendering"]]
    assert result["refined_margin_over_best_baseline"] == [r - b for r, b in zip(result["refined"], best)]
    assert main(["evaluate-reconstruction", "--run", str(mv_run), "--reference", "synthetic", "--n", "2",
                 "--views", "1", "--refine", "0"]) == 0
    assert "refined" not in capsys.readouterr().out
    assert main(["evaluate-reconstruction", "--run", str(mv_run), "--reference", "synthetic", "--views", "5"]) == 2


def test_baselines_and_picture_resizing():
    from data_io.voxel_geometry import iou
    from tf3dgan.evaluation.reconstruction_scores import best_mean_shape, nearest_renderings
    from tf3dgan.generation.image_encoder import resize_picture

    rng = np.random.default_rng(0)
    train = (rng.random((6, 4, 4, 4)) > 0.5).astype(np.uint8)
    grid, threshold, score = best_mean_shape(train)
    manual = max(iou(np.broadcast_to(train.mean(0) > t, train.shape), train).mean() for t in np.linspace(0, 0.99, 100))
    assert score == pytest.approx(manual) and grid.shape == (4, 4, 4)
    images = rng.integers(0, 255, (6, 3, 8, 8)).astype(np.uint8)
    views = np.array([[0], [1], [2], [0], [1], [2]])
    np.testing.assert_array_equal(nearest_renderings(images, images, views), np.arange(6))
    picture = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    np.testing.assert_array_equal(resize_picture(picture, 2), [[25, 45], [105, 125]])  # 2x2 block means
    assert resize_picture(np.zeros((6, 4), np.uint8), 8).shape == (8, 8)


def test_an_autoencoders_reconstruction_scores_are_its_encoder_and_decoder_on_the_reference(tmp_path):
    """The suite's scorer adds the autoencoder's own reconstructions (the blog's autoencoder observations are about
    them, not about G's samples from random z): IoU with the input, near-0.5 fraction, occupancy."""
    import keras

    from harness import random_grids, tiny_gan
    from tf3dgan.evaluation.ablation import score_generator
    from tf3dgan.evaluation.reconstruction_scores import autoencoder_reconstruction_scores

    gan = tiny_gan(variant="autoencoder")
    grids = random_grids(5, 16)
    scores = autoencoder_reconstruction_scores(gan, grids, batch_size=2)
    z = gan.encoder(grids[..., None].astype("float32"), training=False)
    probabilities = keras.ops.convert_to_numpy(gan.generator(z, training=False))[..., 0]
    occupied, truth = probabilities > 0.5, grids > 0.5
    expected_iou = np.mean([(o & t).sum() / max((o | t).sum(), 1) if (o | t).any() else 1.0
                            for o, t in zip(occupied, truth)])
    assert scores["recon_iou"] == pytest.approx(expected_iou, rel=1e-6)
    assert scores["recon_near_half_fraction"] == pytest.approx(float((abs(probabilities - 0.5) < 0.1).mean()))
    assert scores["recon_occupancy"] == pytest.approx(float(occupied.mean()))

    class SuiteStub:
        evaluate = {"n": 4, "seed": 0, "distance": "iou"}
        svm = None

    with_recon, _ = score_generator(gan, SuiteStub, 16, {16: grids})
    assert with_recon["recon_iou"] == pytest.approx(scores["recon_iou"])
    without, _ = score_generator(tiny_gan(), SuiteStub, 16, {16: grids})
    assert "recon_iou" not in without  # a GAN without an encoder has no reconstructions
