"""Config loading and validation: every error names the file, the key and what was expected."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from harness import one_line_error, train_args
from tf3dgan.cli import main
from tf3dgan.config import load_config
from tf3dgan.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    config = load_config(path)
    recipes = {"quickstart", "chairs_cpu", "modelnet10_cpu"}  # named for their data, not their variant
    assert config.model.variant in path.stem or path.stem in recipes


def _write(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("model:\n  cube_size: 64\n", ["bad.yaml", "model.cube_size", "known keys"]),
        ("modle:\n  cube_len: 64\n", ["bad.yaml", "unknown section 'modle'"]),
        ("train:\n  steps: ten\n", ["bad.yaml", "train.steps", "integer", "'ten'"]),
        ("train:\n  d_thresh: 1.5\n", ["bad.yaml", "train.d_thresh", "[0, 1]"]),
        ("model:\n  cube_len: 48\n", ["bad.yaml", "model.cube_len", "power of two"]),
        ("train:\n  g_loss: wasserstein\n", ["bad.yaml", "train.g_loss", "'non_saturating'"]),
        ("model:\n  variant: wgan\n", ["bad.yaml", "model.variant", "'wgan'", "mit_biasfree"]),
        ("variant:\n  weight: 2.0\n", ["bad.yaml", "variant.weight", "mit_biasfree"]),
        ("model:\n  variant: feature_matching\nvariant:\n  weight: heavy\n", ["bad.yaml", "variant.weight", "a number"]),
        ("model:\n  variant: feature_matching\nvariant:\n  norm: l3\n", ["bad.yaml", "variant.norm"]),
        ("model: [1, 2]\n", ["bad.yaml", "section 'model'", "mapping"]),
        ("train:\n  use_bias: true\n", ["bad.yaml", "train.use_bias"]),
        ("model:\n  use_bias: 1\n", ["bad.yaml", "model.use_bias", "true or false"]),
        ("- 1\n- 2\n", ["bad.yaml", "mapping"]),
        ("model: {cube_len: 64\n", ["bad.yaml", "not valid YAML"]),
    ],
)
def test_bad_configs_name_file_key_and_expectation(tmp_path, text, fragments):
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(info.value)


def test_missing_file():
    with pytest.raises(ConfigError, match=r"unknown config 'nowhere.yaml' \(not a file; shipped configs: .*quickstart"):
        load_config("nowhere.yaml")


def test_overrides_parse_yaml_values():
    config = load_config(None, ["train.steps=7", "train.g_lr=1e-4", "data.classes=[chair, table]", "model.use_bias=true"])
    assert config.train.steps == 7 and config.train.g_lr == 1e-4
    assert config.data.classes == ["chair", "table"] and config.model.use_bias is True
    with pytest.raises(ConfigError, match="--set 'steps=7'"):
        load_config(None, ["steps=7"])
    with pytest.raises(ConfigError, match="train.stepz"):
        load_config(None, ["train.stepz=7"])


def test_variant_defaults_fill_in():
    config = load_config(None, ["model.variant=autoencoder", "variant.pretrain_steps=5"])
    assert dataclasses.asdict(config.variant) == {"pretrain_steps": 5, "recon_loss": "bce", "recon_weight": 1.0,
                                                  "recon_weight_after": 0.0, "weight_l2": 0.0, "optimizer": "adam",
                                                  "binarize": False}


def test_each_choice_list_is_the_config_literal():
    """The modules that act on a choice take its values from the config's Literal (one statement each); the
    latent distributions, the mapping of G's losses and the pipeline's upsampling modes must name exactly those
    values."""
    from data_io.resample import UPSAMPLE_MODES
    from tf3dgan.config import DataConfig, LatentConfig, TrainConfig, choices
    from tf3dgan.nn.latent import DISTRIBUTIONS
    from tf3dgan.nn.losses import GENERATOR_LOSSES
    from tf3dgan.training.distribute import DISTRIBUTE
    from tf3dgan.training.stabilizers import LR_SCHEDULES

    assert DISTRIBUTE == ("none", "mirrored", "multi_worker") == choices(TrainConfig, "distribute")
    assert LR_SCHEDULES == choices(TrainConfig, "lr_schedule") == ("constant", "linear", "cosine")
    assert DISTRIBUTIONS == choices(LatentConfig, "distribution") == ("normal", "uniform")
    assert tuple(GENERATOR_LOSSES) == choices(TrainConfig, "g_loss")
    assert UPSAMPLE_MODES == choices(DataConfig, "upsample")
    with pytest.raises(TypeError, match="TrainConfig.steps is not a Literal"):
        choices(TrainConfig, "steps")


@pytest.mark.parametrize("setting", ["train.g_lr=.inf", "train.d_lr=.nan", "latent.std=-.inf", "train.g_lr=nan"])
def test_non_finite_config_numbers_are_refused(tmp_path, capsys, setting):
    assert main(train_args(tmp_path / "run", 2, "--set", setting)) == 2
    one_line_error(capsys, f"{setting.split('=')[0]} must be a finite number")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_yaml_syntax_error_is_one_line_naming_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  g_lr: 0.001\n  d_lr: [0.1,\n  steps: 4\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "run")]) == 2
    one_line_error(capsys, f"{bad}: line ", ", column ", "not valid YAML")


def test_loading_and_validating_configs_imports_neither_keras_nor_tensorflow():
    """A config is data: loading a shipped one and validating every variant's options loads no Keras (run in a
    fresh process, as ``python -c`` would)."""
    script = (
        "import sys, tf3dgan.config\n"
        "from variants.options import OPTIONS\n"
        "tf3dgan.config.load_config('quickstart')\n"
        "for name in OPTIONS:\n"
        "    tf3dgan.config.load_config(None, [f'model.variant={name}'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=CONFIGS.parent, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_commands_that_need_no_tensorflow_start_without_it(tmp_path):
    """``tf3dgan configs``, ``view``, ``presets`` (the list and a card) and ``visdom --help`` run in a fresh process
    without importing TensorFlow or Keras (a second, not the eight seconds of TensorFlow's import on a 2-core CPU)."""
    script = (
        "import sys, numpy as np\n"
        "from tf3dgan.cli import main\n"
        f"np.savez({str(tmp_path / 'v.npz')!r}, voxels=np.ones((1, 8, 8, 8), 'uint8'))\n"
        f"assert main(['configs']) == 0 and main(['view', {str(tmp_path / 'v.npz')!r}, '--out', "
        f"{str(tmp_path / 'v.html')!r}]) == 0\n"
        "assert main(['presets']) == 0 and main(['presets', 'show', 'furniture_32']) == 0\n"
        "try:\n"
        "    main(['visdom', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "v.html").is_file()
