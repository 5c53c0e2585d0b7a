"""README.md and docs/: links that resolve, commands and config keys that exist, a Python example that runs."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
COMMAND = re.compile(r"(?:^|[\s/$])tf3dgan ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")


def _shell_blocks(text: str):
    for language, body in FENCE.findall(text):
        if language in ("", "sh", "bash", "console", "shell"):
            yield body


def _subcommands() -> dict:
    from tf3dgan.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices


def test_the_readme_fits_a_screenful_or_two():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    missing = []
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text()))  # links, not code
    for target in re.findall(r"\]\(([^)\s]+)\)", prose) + re.findall(r'<img src="([^"]+)"', prose):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.split("#", 1)[0]).exists():
            missing.append(target)
    assert missing == []


def _heading_anchors(page: Path) -> set:
    """The anchors GitHub gives ``page``'s headings: lower case, punctuation but '-' and '_' dropped, spaces as
    '-', a repeated one numbered from -1."""
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), re.M):
        anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(anchor if anchor not in seen else f"{anchor}-{seen[anchor]}")
        seen[anchor] = seen.get(anchor, 0) + 1
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_to_a_heading_name_one_that_exists(page):
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text()))
    broken = []
    for target in re.findall(r"\]\(([^)\s:]*#[^)\s]+)\)", prose):
        path, anchor = target.split("#", 1)
        linked = page.parent / path if path else page
        if linked.suffix == ".md" and linked.is_file() and anchor not in _heading_anchors(linked):
            broken.append(target)
    assert broken == []


def test_documented_commands_exist_and_answer_help():
    choices = _subcommands()
    used = set()
    for page in PAGES:
        for block in _shell_blocks(page.read_text()):
            for line in block.splitlines():
                for sub, subsub in COMMAND.findall(line):
                    assert sub in choices, f"{page.name}: `tf3dgan {sub}` is not a subcommand: {line}"
                    nested = [a for a in choices[sub]._actions if a.dest == "data_command"]
                    used.add((sub, subsub) if nested else (sub, ""))
    assert {"train", "sample", "view"} <= {s for s, _ in used}
    from tf3dgan.cli import build_parser

    for sub, subsub in sorted(used):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([sub, *([subsub] if subsub else []), "--help"])
        assert exit_info.value.code == 0 and "usage: tf3dgan" in out.getvalue(), (sub, subsub)


def test_documented_modules_exist():
    for page in PAGES:
        for module in re.findall(r"python -m (tf3dgan[\w.]*)", page.read_text()):
            assert importlib.util.find_spec(module) is not None, f"{page.name}: python -m {module}"


def test_documented_config_keys_exist():
    from tf3dgan.config import SECTIONS
    from variants import VARIANTS

    known = {f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in dataclasses.fields(cls())}
    known |= {f"variant.{f.name}" for v in VARIANTS.values() for f in dataclasses.fields(v.Options)}
    sections = "|".join([*SECTIONS, "variant"])
    unknown = []
    for page in PAGES:
        for inline in re.findall(r"`([^`\n]+)`", page.read_text()):
            for key in re.findall(rf"(?<![\w./])((?:{sections})\.[a-z_]+)\b", inline):
                if key not in known:
                    unknown.append(f"{page.name}: {key}")
    assert unknown == []


def _run_python_blocks(page, replacements, monkeypatch) -> str:
    """Run the ```python blocks of ``page`` in order, with ``replacements`` (old -> new) applied; return stdout."""
    code = "\n".join(body for language, body in FENCE.findall(page.read_text()) if language == "python")
    for old, new in replacements:
        assert old in code, f"the example in {page.name} changed: update {old!r} here"
        code = code.replace(old, new)
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, page.name, "exec"), {})
    return out.getvalue()


def test_readme_python_example_runs(tmp_path, monkeypatch):
    tiny = '["model.cube_len=16", "model.base_width=4", "model.z_dim=8", "train.batch_size=4", "train.steps=2", ' \
           '"data.synthetic_count=12", "train.sample_every=0", "monitor.html=false"]'
    out = _run_python_blocks(REPO / "README.md", [('["train.steps=300"]', tiny), ('"runs/python', f'"{tmp_path}/python')],
                             monkeypatch)
    assert (tmp_path / "python" / "gan.keras").exists()
    assert len(out.split()) >= 4


def test_python_api_page_runs(tmp_path, monkeypatch):
    """docs/python_api.md's cells, in order, with a tiny config and the runs/ folder in tmp_path."""
    tiny = '["model.cube_len=16", "model.base_width=4", "model.z_dim=8", "train.batch_size=4", "train.steps=4", ' \
           '"train.log_every=2", "train.sample_every=2", "monitor.tensorboard_every=2", ' \
           '"data.synthetic_count=12", "monitor.html=false"]'
    out = _run_python_blocks(REPO / "docs" / "python_api.md", [('["train.steps=200"]', tiny), ('"runs/', f'"{tmp_path}/')],
                             monkeypatch)
    lines = (tmp_path / "notebook" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [2, 4]
    assert list((tmp_path / "notebook" / "tensorboard").glob("events.out.tfevents.*"))
    assert "restored step 4" in out


def _yaml_examples() -> list[tuple[str, str]]:
    """(where, text) of every ```yaml block in README.md, docs/ and the docstrings of the package's modules."""
    import ast

    examples = [(page.relative_to(REPO).as_posix(), body) for page in PAGES
                for language, body in FENCE.findall(page.read_text()) if language in ("yaml", "yml")]
    for package in ("tf3dgan", "variants", "data_io"):
        for module in sorted((REPO / package).rglob("*.py")):
            nodes = ast.walk(ast.parse(module.read_text()))
            for node in nodes:
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    docstring = ast.get_docstring(node, clean=True) or ""
                    examples += [(f"{module.relative_to(REPO).as_posix()}:{getattr(node, 'name', '')}", body)
                                 for language, body in FENCE.findall(docstring) if language in ("yaml", "yml")]
    return examples


def test_every_yaml_example_parses_with_the_package_loader(tmp_path):
    """The examples are read as config files are: duplicate keys and syntax errors refused, one line each."""
    from tf3dgan.config import read_yaml
    from tf3dgan.errors import ConfigError

    examples = _yaml_examples()
    assert any(where.startswith("tf3dgan/evaluation/ablation.py") for where, _ in examples)  # the suite format
    problems = []
    for number, (where, text) in enumerate(examples):
        path = tmp_path / f"example_{number}.yaml"
        path.write_text(text)
        try:
            read_yaml(path)
        except ConfigError as err:
            problems.append(f"{where}: {str(err).replace(str(path), 'the yaml example')}")
    assert not problems, "\n".join(problems)
