"""The docs' tables of config defaults, value by value against the dataclasses that hold them (tf3dgan.config's
sections and each variant's ``Options``): a default changed in the code and not in the docs fails here, and so
does a key of those sections that no table lists."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
NULL_WORDS = {"null", "none", "variant's"}  # how the tables write a None default ("the variant decides")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def default_tables(page: Path) -> list[tuple[list[str], list[dict]]]:
    """The tables of ``page`` with a ``default`` column: (header, rows as {column: text})."""
    tables, lines = [], page.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not (line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[i + 1])):
            continue
        header = _cells(line)
        if "default" not in header:
            continue
        rows = []
        for row in lines[i + 2:]:
            if not row.startswith("|"):
                break
            rows.append(dict(zip(header, _cells(row.replace(r"\|", "\0")))))
        tables.append((header, rows))
    return tables


def _values(text: str) -> list[str]:
    """A default cell's values: "0.8, le" -> ["0.8", "le"]; notes in parentheses and code quotes dropped."""
    text = re.sub(r"\([^)]*\)", "", text).replace("`", "")
    return [v.strip() for v in text.split(",")]


def _matches(doc: str, default) -> bool:
    if default is None:
        return doc.lower() in NULL_WORDS
    if isinstance(default, bool):
        return doc == str(default).lower()
    if isinstance(default, int):
        return re.fullmatch(r"-?\d+", doc) is not None and int(doc) == default
    if isinstance(default, float):
        try:
            return float(doc) == default
        except ValueError:
            return False
    return doc == default


def _defaults(cls) -> dict:
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls)}


def _documented(page: Path, prefix: str = "") -> list[tuple[str, str, str, list[str]]]:
    """(key, documented default, the row, the variants it names) for every key of every default table of ``page``;
    ``prefix`` is put before keys written without their section (monitoring.md's ``monitor:`` table)."""
    out = []
    for header, rows in default_tables(page):
        for row in rows:
            keys = [prefix + k if "." not in k else k for k in re.findall(r"`([^`]+)`", row[header[0]])]
            if any(k.endswith("*") for k in keys):
                continue  # "data.*": a pointer to another page, checked by its own row there
            values = _values(row["default"])
            assert len(values) == len(keys), f"{page.name}: {len(keys)} keys, {len(values)} defaults: {row}"
            variants = [v.strip() for v in row.get("variant", "").split(",") if v.strip()]
            out += [(key, value, " | ".join(row.values()), variants) for key, value in zip(keys, values)]
    return out


def test_configuration_page_states_every_section_default_as_the_code_has_it():
    from tf3dgan.config import SECTIONS

    rows = [r for r in _documented(DOCS / "configuration.md") if not r[0].startswith("variant.")]
    wrong, seen = [], set()
    for key, doc, row, _ in rows:
        section, name = key.split(".", 1)
        defaults = _defaults(SECTIONS[section])
        assert name in defaults, f"docs/configuration.md documents {key}, which the config has not"
        seen.add(key)
        if not _matches(doc, defaults[name]):
            wrong.append(f"{key}: the docs say {doc!r}, tf3dgan/config.py has {defaults[name]!r} ({row})")
    assert wrong == []
    # Every key of the sections this page covers has its row (model.variant is the variants' table).
    for section in ("model", "latent", "train"):
        missing = {f"{section}.{n}" for n in _defaults(SECTIONS[section])} - seen - {"model.variant"}
        assert missing == set(), f"docs/configuration.md has no default for {sorted(missing)}"


def test_configuration_page_points_at_the_data_and_monitor_defaults():
    from tf3dgan.config import DataConfig, MonitorConfig

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    data_row = re.search(r"^\| `data\.\*` \| ([^|]+) \|", text, re.M).group(1).strip()
    assert data_row == DataConfig().source == "synthetic"
    monitor_row = re.search(r"^\| `monitor\.\*` \| ([^|]+) \|", text, re.M).group(1).strip()
    assert monitor_row == "visdom and TensorBoard off, HTML pages on"
    m = MonitorConfig()
    assert (m.visdom, m.tensorboard, m.html) == (False, False, True)


def test_variant_options_table_states_every_default_of_every_variant():
    from variants import VARIANTS

    rows = [r for r in _documented(DOCS / "configuration.md") if r[0].startswith("variant.")]
    wrong, seen = [], set()
    for key, doc, row, variants in rows:
        name = key.split(".", 1)[1]
        assert variants, f"docs/configuration.md: {key} names no variant"
        for variant in variants:
            defaults = _defaults(VARIANTS[variant].Options)
            assert name in defaults, f"docs/configuration.md: {key} is not an option of {variant}"
            seen.add((variant, name))
            if not _matches(doc, defaults[name]):
                wrong.append(f"{key} ({variant}): the docs say {doc!r}, its Options have {defaults[name]!r}")
    assert wrong == []
    missing = {(v, n) for v, cls in VARIANTS.items() for n in _defaults(cls.Options)} - seen
    assert missing == set(), f"options with no row (or not naming their variant): {sorted(missing)}"


def test_monitoring_page_states_every_monitor_default():
    from tf3dgan.config import MonitorConfig

    defaults, seen, wrong = _defaults(MonitorConfig), set(), []
    for key, doc, row, _ in _documented(DOCS / "monitoring.md", prefix="monitor."):
        name = key.split(".", 1)[1]
        assert key.startswith("monitor.") and name in defaults, key
        seen.add(name)
        if not _matches(doc, defaults[name]):
            wrong.append(f"{key}: docs/monitoring.md says {doc!r}, tf3dgan/config.py has {defaults[name]!r}")
    assert wrong == []
    assert seen == set(defaults)


def test_performance_page_marks_the_code_defaults():
    from tf3dgan.config import TrainConfig

    text = (DOCS / "performance.md").read_text(encoding="utf-8")
    marked = dict(re.findall(r"^\| `train\.(\w+)` \| `(\w+)` \(default\)", text, re.M))
    assert set(marked) == {"mixed_precision", "jit_compile", "distribute"}
    for name, doc in marked.items():
        assert doc == getattr(TrainConfig(), name), name


@pytest.mark.parametrize("doc, default, ok", [
    ("0.8", 0.8, True), ("0.81", 0.8, False), ("1e-5", 1e-5, True), ("le", "le", True), ("lt", "le", False),
    ("10000", 10000, True), ("10000.5", 10000, False), ("false", False, True), ("true", False, False),
    ("null", None, True), ("none", None, True), ("0", None, False),
])
def test_the_comparison_itself(doc, default, ok):
    assert _matches(doc, default) is ok
