"""`tf3dgan neurons` and `tf3dgan embed` on a tiny run: receptive fields, selectivity, the pictures and maps."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 16^3, z_dim 8 run trained for 2 steps: ``(run_dir, gan)``."""
    from harness import TINY
    from tf3dgan.config import load_config
    from tf3dgan.training.checkpoint import load_run
    from tf3dgan.training.loop import train

    run_dir = tmp_path_factory.mktemp("neurons") / "run"
    voxels = (np.random.default_rng(0).random((20, 8, 8, 8)) > 0.7).astype("uint8")
    train(load_config(None, TINY), run_dir, steps=2, voxels=voxels, progress=False)
    return run_dir, load_run(run_dir)[1]


def test_receptive_field_matches_the_gradient_support(tiny_run):
    """The voxels whose change moves a unit's pre-activation are exactly inside its receptive field."""
    import tensorflow as tf

    from tf3dgan.evaluation.neurons import receptive_field

    d = tiny_run[1].discriminator
    conv2 = tf.keras.Model(d.input, d.get_layer("conv2").output)
    x = tf.Variable(np.random.default_rng(1).random((1, 16, 16, 16, 1)).astype("float32"))
    for position in [(0, 0, 0), (2, 1, 3), (3, 3, 3)]:
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(conv2(x, training=False)[(0, *position)])
        support = np.abs(tape.gradient(value, x).numpy()[0, ..., 0]) > 0
        expected = np.zeros_like(support)
        expected[receptive_field(d, 2, position)] = True
        assert (support & ~expected).sum() == 0 and support.sum() > 0.5 * expected.sum()


def test_selectivity_against_chance():
    from tf3dgan.evaluation.neurons import UnitResponses, chance_purities, selectivity

    labels = np.repeat(np.arange(4), 25)
    activation = np.stack([labels == 0, np.random.default_rng(0).random(100), np.zeros(100)], axis=1)
    activation = activation.astype(np.float32) + 0.01 * np.random.default_rng(1).random((100, 3)).astype(np.float32)
    activation[:, 2] = 0  # a dead unit
    result = selectivity(UnitResponses(activation, np.zeros((100, 3, 3), int)), labels, 8, ["a", "b", "c", "d"])
    assert result["live_units"] == 2 and set(result["per_unit"]) == {0, 1}
    assert result["per_unit"][0] == {"purity": 1.0, "top_class": "a", "p_value": pytest.approx(1e-4, abs=2e-4)}
    assert 0.3 < result["chance_purity"] < 0.6
    assert chance_purities(labels, 8, 50, seed=3).tolist() == chance_purities(labels, 8, 50, seed=3).tolist()


def test_highlighted_views_tint_only_the_visible_field():
    from tf3dgan.evaluation.neurons import highlighted_views

    grid = np.zeros((1, 16, 16, 16), np.uint8)
    grid[0, 4:12, 4:12, 4:12] = 1
    mask = np.zeros_like(grid, bool)
    mask[0, 4:8, 4:12, 4:12] = True
    def red(image):
        image = image.astype(int)
        return image[..., 0] > image[..., 1] + 30

    tinted = highlighted_views(grid, mask, size=48)[0]
    assert red(tinted).any() and (~red(tinted) & (tinted.max(-1) > 0)).any()
    assert not red(highlighted_views(grid, np.zeros_like(mask), size=48)[0]).any()


def test_neurons_command_writes_the_sheet_page_and_numbers(tiny_run, tmp_path, capsys):
    from data_io.plotting import figure_json
    from data_io.png import read_png
    from tf3dgan.cli import main

    out, numbers = tmp_path / "neurons.html", tmp_path / "neurons.json"
    assert main(["neurons", "--run", str(tiny_run[0]), "--data", "synthetic", "--count", "24", "--top-units", "3",
                 "--k", "4", "--image-size", "32", "--compare-untrained", "2", "--out", str(out), "--json", str(numbers)]) == 0
    printed = capsys.readouterr().out
    assert "mean top-4 purity" in printed and "untrained D" in printed
    result = json.loads(numbers.read_text())
    assert result["layer"] == "conv2" and len(result["units"]) <= 3
    assert {"trained", "untrained"} <= set(result) and result["trained"]["k"] == 4
    assert [b["seed"] for b in result["untrained"]] == [0, 1] and "over 2 seeds" in printed
    sheet = read_png(tmp_path / "neurons.png")
    assert sheet.ndim == 3 and sheet.shape[0] >= len(result["units"]) * 32
    (figure,) = figure_json(out.read_text())
    scenes = [key for key in figure["layout"] if key.startswith("scene")]
    assert len(scenes) == len(result["units"]) and {t["type"] for t in figure["data"]} == {"mesh3d"}


@pytest.mark.parametrize("argv, message", [
    (["--layer", "conv7"], "--layer"),
    (["--units", "99"], "--units"),
    (["--k", "0"], "--k"),
    (["--out", "x.png"], "--out"),
])
def test_neurons_bad_input_is_one_line(tiny_run, tmp_path, capsys, argv, message):
    from tf3dgan.cli import main

    base = ["neurons", "--run", str(tiny_run[0]), "--data", "synthetic", "--count", "12", "--out", str(tmp_path / "n.html")]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize("features, method", [("d", "tsne"), ("latent", "pca")])
def test_embed_command_is_seeded_and_writes_png_html_points(tiny_run, tmp_path, capsys, features, method):
    from data_io.png import read_png
    from tf3dgan.cli import main

    argv = ["embed", "--run", str(tiny_run[0]), "--data", "synthetic", "--count", "18", "--features", features,
            "--method", method, "--steps", "3", "--restarts", "1"]
    assert main(argv + ["--out", str(tmp_path / "a.html")]) == 0
    assert main(argv + ["--out", str(tmp_path / "b.html"), "--thumbnail-size", "0"]) == 0
    if features == "d":
        assert main(argv + ["--out", str(tmp_path / "c.html"), "--untrained"]) == 0
        assert not np.array_equal(np.load(tmp_path / "c.npz")["points"], np.load(tmp_path / "a.npz")["points"])
    assert "same class" in capsys.readouterr().out
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a["points"].shape == (18, 2) and np.array_equal(a["points"], b["points"])
    assert read_png(tmp_path / "a.png").shape[2] == 3
    page = (tmp_path / "a.html").read_text()
    assert "plotly_hover" in page and "data:image/png;base64," in page and "iVBOR" in page


def test_embed_bad_input_is_one_line(tiny_run, tmp_path, capsys):
    from tf3dgan.cli import main

    assert main(["embed", "--run", str(tiny_run[0]), "--data", "synthetic", "--count", "9", "--features", "latent",
                 "--untrained", "--out", str(tmp_path / "u.html")]) == 2
    assert "--untrained" in capsys.readouterr().err

    assert main(["embed", "--run", str(tiny_run[0]), "--data", str(tmp_path / "missing.npz"),
                 "--out", str(tmp_path / "e.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.npz" in err
