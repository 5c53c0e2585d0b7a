"""The report tables of docs/ablations.md and the README's verdicts, rebuilt from the committed results files.

    python tests/ablation_docs.py          # rewrite every block of those pages from the results files

A block is the text between ``<!-- report SUITE PARTS -->`` and ``<!-- /report -->``: the named parts of
``tf3dgan ablate --suite SUITE --report-only``, in order, joined by blank lines. PARTS is a comma-separated
choice of ``status`` (the "Finished trainings" line), ``claims``, ``verdicts`` and ``runs`` (the text under the
report's "Claims", "Verdicts" and "All runs" headings) and ``held`` (the verdicts' bullets of the claims that
are supported or partly supported). After the parts, ``set=SECTION.KEY=VALUE`` items (``tf3dgan ablate --set``)
choose the trainings read, e.g. ``set=train.mixed_precision=none``: the float32 trainings of a suite whose
precision is ``auto``, so the block is the same on every CPU. ``tests/test_docs_ablations.py`` fails while a
block differs from its rebuild.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import tf3dgan  # noqa: E402,F401  (oneDNN first)

DOC = REPO / "docs" / "ablations.md"
PAGES = [DOC, REPO / "README.md"]
BLOCK = re.compile(r"(?P<open><!-- report (?P<suite>\S+) (?P<parts>[a-z,]+)(?P<sets>(?: set=\S+)*) -->\n)(?P<body>.*?)"
                   r"(?P<close><!-- /report -->)", re.S)
SECTIONS = {"claims": "## Claims", "verdicts": "## Verdicts", "runs": "## All runs"}
HELD = ("**supported**", "**partly supported**")


def report_parts(suite_path: str, overrides=()) -> dict[str, str]:
    """``status``, ``claims`` and ``runs`` of the suite's report, rebuilt from its results files alone."""
    from tf3dgan.evaluation.ablation import load_suite, write_report_from_results
    from tf3dgan.evaluation.ablation_report import REPORT_FILE

    suite = load_suite(REPO / suite_path, check_data=False, overrides=overrides)
    with tempfile.TemporaryDirectory() as out:
        write_report_from_results(suite, Path(out), None)
        report = (Path(out) / REPORT_FILE).read_text()
    parts = {"status": next(line for line in report.splitlines() if line.startswith("Finished trainings:"))}
    for name, heading in SECTIONS.items():
        section = report.split(heading + "\n", 1)[1] if heading + "\n" in report else ""
        parts[name] = section.split("\n## ", 1)[0].strip()
    parts["held"] = "\n".join(line for line in parts["verdicts"].splitlines()
                              if line.startswith("- ") and any(word in line for word in HELD)) or "- none"
    return parts


def rebuilt(text: str) -> str:
    """``text`` with every block replaced by its rebuild."""
    cache: dict[str, dict] = {}

    def rebuild(match: re.Match) -> str:
        overrides = tuple(item.removeprefix("set=") for item in match["sets"].split())
        key = (match["suite"], overrides)
        if key not in cache:
            cache[key] = report_parts(*key)
        body = "\n\n".join(cache[key][part] for part in match["parts"].split(","))
        return f"{match['open']}{body}\n{match['close']}"

    return BLOCK.sub(rebuild, text)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(suite, parts, body) of every block of ``text``."""
    return [(m["suite"], m["parts"], m["body"]) for m in BLOCK.finditer(text)]


if __name__ == "__main__":
    for page in PAGES:
        old = page.read_text()
        new = rebuilt(old)
        page.write_text(new)
        print(f"{page}: {len(blocks(new))} blocks, {'changed' if new != old else 'unchanged'}")
