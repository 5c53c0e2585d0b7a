"""The configs and ablation suites shipped with tf3dgan, addressed by name (``quickstart``, ``cpu_small``).

One copy exists: the repository's top-level ``configs/`` folder. A wheel installs it as ``tf3dgan/configs/``
(setup.py maps the folder into the package), with the same layout, so a suite's ``base: ../NAME.yaml`` finds
its config in both places. A checkout (or an editable install) reads ``configs/`` directly.
"""

from __future__ import annotations

import re
from pathlib import Path

from tf3dgan.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
INSTALLED_ROOT = PACKAGE_DIR / "configs"  # where a wheel puts the configs
CHECKOUT_ROOT = PACKAGE_DIR.parent / "configs"  # the repository's configs/ folder

# kind -> (folder under the configs root, what the kind is called in messages)
KINDS = {"config": ("", "config"), "suite": ("ablations", "ablation suite")}
DESCRIPTION_WIDTH = 90  # characters of a config's one-line description


def configs_root() -> Path:
    """The folder of the shipped configs: the installed package data, else the checkout's ``configs/``."""
    if INSTALLED_ROOT.is_dir():
        return INSTALLED_ROOT
    if CHECKOUT_ROOT.is_dir() and (PACKAGE_DIR.parent / "setup.cfg").is_file():
        return CHECKOUT_ROOT
    raise ConfigError(f"shipped configs not found (looked in {INSTALLED_ROOT} and {CHECKOUT_ROOT}); reinstall tf3dgan")


def _kind_folder(kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return configs_root() / KINDS[kind][0]


def shipped_names(kind: str = "config") -> list[str]:
    """The names of the shipped configs (``kind="config"``) or ablation suites (``kind="suite"``), sorted."""
    return sorted(p.stem for p in _kind_folder(kind).glob("*.yaml"))


def shipped_path(name: str, kind: str = "config") -> Path | None:
    """The file of the shipped config or suite ``name`` (with or without ``.yaml``), or None."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    path = _kind_folder(kind) / f"{stem}.yaml"
    return path if re.fullmatch(r"[A-Za-z0-9_.-]+", stem) and path.is_file() else None


def _shipped_name_of(name_or_path: str, kind: str) -> str | None:
    """The shipped name a missing path stands for: ``NAME``, ``NAME.yaml`` or the documented repository paths
    ``configs/NAME.yaml`` / ``configs/ablations/NAME.yaml`` (so the README's commands work outside a clone)."""
    parts = Path(name_or_path).parts
    folder = ("configs", *filter(None, [KINDS[kind][0]]))
    if len(parts) == 1 or tuple(parts[:-1]) == folder:
        return parts[-1]
    return None


def resolve_config_path(name_or_path: str | Path, kind: str = "config") -> Path:
    """The YAML file ``name_or_path`` means: an existing path as it is, else the shipped config (``kind="config"``)
    or ablation suite (``kind="suite"``) of that name. Raises ConfigError naming the shipped ones."""
    text = str(name_or_path)
    path = Path(text)
    if path.is_file():
        return path
    name = _shipped_name_of(text, kind)
    shipped = shipped_path(name, kind) if name else None
    if shipped is not None:
        return shipped
    if path.exists():  # a folder: the loader says it is not a config file
        return path
    label = KINDS[kind][1]
    names = ", ".join(shipped_names(kind)) or "none"
    raise ConfigError(f"unknown {label} {text!r} (not a file; shipped {label}s: {names})")


def describe(path: Path) -> str:
    """One line of what a config or suite is: the first sentence of its leading comment block."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    match = re.search(r"(?<!\bal)(?<!e\.g)(?<!i\.e)[.:;](\s|$)", text)
    sentence = text[: match.start()] if match else text
    return sentence if len(sentence) <= DESCRIPTION_WIDTH else sentence[:DESCRIPTION_WIDTH].rsplit(" ", 1)[0] + " ..."
