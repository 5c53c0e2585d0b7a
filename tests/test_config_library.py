"""Shipped configs and ablation suites addressed by name: resolution, the ``tf3dgan configs`` command, and the
one copy of them (the repository's configs/, copied into the package by setup.py)."""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

from tf3dgan.cli import main
from tf3dgan.config import load_config, read_yaml
from tf3dgan.config_library import configs_root, describe, resolve_config_path, shipped_names, shipped_path
from tf3dgan.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CONFIGS = sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
SHIPPED_SUITES = sorted(p.stem for p in (REPO / "configs" / "ablations").glob("*.yaml"))


def test_checkout_reads_the_top_level_configs_folder_and_keeps_no_copy():
    assert configs_root() == REPO / "configs"
    assert not (REPO / "tf3dgan" / "configs").exists()  # the wheel's tf3dgan/configs/ is made from configs/
    assert shipped_names("config") == SHIPPED_CONFIGS and "quickstart" in SHIPPED_CONFIGS
    assert shipped_names("suite") == SHIPPED_SUITES and SHIPPED_SUITES


def test_setup_copies_every_config_into_the_package_and_keeps_one_version():
    """setup.py's patterns (and MANIFEST.in's, for the sdist) cover every file of configs/."""
    setup_py = ast.parse((REPO / "setup.py").read_text())
    (patterns,) = [ast.literal_eval(node.value) for node in setup_py.body
                   if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["CONFIG_FILES"]]
    covered = {p for pattern in patterns for p in (REPO / "configs").glob(pattern)}
    assert sorted(p for p in (REPO / "configs").rglob("*") if p.is_file()) == sorted(covered)
    manifest = (REPO / "MANIFEST.in").read_text().split()
    assert all(f"configs/{pattern}" in manifest for pattern in patterns)
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["metadata"]["version"] == "attr: tf3dgan.__version__"


@pytest.mark.parametrize("name", ["quickstart", "quickstart.yaml", "configs/quickstart.yaml"])
def test_a_name_resolves_to_the_shipped_config_from_any_folder(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(name) == REPO / "configs" / "quickstart.yaml"
    assert load_config(name, ["train.steps=7"]).train.steps == 7


def test_an_existing_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("quickstart").write_text("model:\n  cube_len: 16\n")
    assert resolve_config_path("quickstart") == Path("quickstart")
    assert load_config("quickstart").model.cube_len == 16
    Path("chairs_cpu").mkdir()  # a folder of that name (a run folder, say) does not hide the shipped config
    assert resolve_config_path("chairs_cpu") == REPO / "configs" / "chairs_cpu.yaml"


def test_an_unknown_name_is_one_line_naming_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config("chairs")
    assert str(err.value) == f"unknown config 'chairs' (not a file; shipped configs: {', '.join(SHIPPED_CONFIGS)})"
    with pytest.raises(ConfigError, match=r"^unknown ablation suite 'x' \(not a file; shipped ablation suites: "):
        resolve_config_path("x", "suite")
    with pytest.raises(ConfigError, match="unknown config 'other/quickstart.yaml'"):
        resolve_config_path("other/quickstart.yaml")  # only the documented configs/ paths fall back to a name


@pytest.mark.parametrize("name", SHIPPED_SUITES)
def test_suites_resolve_by_name_and_their_base_relative_to_the_suite_file(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = resolve_config_path(name, "suite")
    assert path == REPO / "configs" / "ablations" / f"{name}.yaml"
    assert resolve_config_path(f"configs/ablations/{name}.yaml", "suite") == path
    base = read_yaml(path).get("base")
    assert base is None or (path.parent / base).is_file()


def test_describe_is_the_first_sentence_of_the_leading_comment(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("# The paper's net (Wu et al. 2016) at 32^3: small,\n# and fast.\nmodel: {}\n")
    assert describe(path) == "The paper's net (Wu et al. 2016) at 32^3"
    path.write_text("model: {}\n")
    assert describe(path) == ""
    assert all(describe(shipped_path(n)) for n in SHIPPED_CONFIGS)


def test_configs_command_lists_and_shows(capsys):
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert set(SHIPPED_CONFIGS) | set(SHIPPED_SUITES) <= set(lines)
    assert lines["quickstart"].split()[1:3] == ["mit_biasfree", "32^3"]
    assert "embedded synthetic furniture" in lines["quickstart"]
    assert main(["configs", "show", "quickstart"]) == 0
    assert capsys.readouterr().out == (REPO / "configs" / "quickstart.yaml").read_text()
    assert main(["configs", "show", SHIPPED_SUITES[0]]) == 0
    assert capsys.readouterr().out == (REPO / "configs" / "ablations" / f"{SHIPPED_SUITES[0]}.yaml").read_text()
    assert main(["configs", "show", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tf3dgan configs: error: unknown config 'nope' (shipped configs: autoencoder,")
    assert "\n" not in err
