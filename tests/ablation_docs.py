"""The report tables of docs/ablations.md, rebuilt from the committed results files.

    python tests/ablation_docs.py          # rewrite every block of docs/ablations.md from the results files

A block is the text between ``<!-- report SUITE PARTS -->`` and ``<!-- /report -->``: the named parts of
``tf3dgan ablate --suite SUITE --report-only``, in order, joined by blank lines. PARTS is a comma-separated
choice of ``status`` (the "Finished trainings" line), ``claims`` and ``runs`` (the text under the report's
"Claims" and "All runs" headings). ``tests/test_docs_ablations.py`` fails while a block differs from its rebuild.
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
BLOCK = re.compile(r"(?P<open><!-- report (?P<suite>\S+) (?P<parts>[a-z,]+) -->\n)(?P<body>.*?)(?P<close><!-- /report -->)",
                   re.S)
SECTIONS = {"claims": "## Claims", "runs": "## All runs"}


def report_parts(suite_path: str) -> dict[str, str]:
    """``status``, ``claims`` and ``runs`` of the suite's report, rebuilt from its results files alone."""
    from tf3dgan.evaluation.ablation import load_suite, write_report_from_results
    from tf3dgan.evaluation.ablation_report import REPORT_FILE

    suite = load_suite(REPO / suite_path, check_data=False)
    with tempfile.TemporaryDirectory() as out:
        write_report_from_results(suite, Path(out), None)
        report = (Path(out) / REPORT_FILE).read_text()
    parts = {"status": next(line for line in report.splitlines() if line.startswith("Finished trainings:"))}
    for name, heading in SECTIONS.items():
        section = report.split(heading + "\n", 1)[1]
        parts[name] = section.split("\n## ", 1)[0].strip()
    return parts


def rebuilt(text: str) -> str:
    """``text`` with every block replaced by its rebuild."""
    cache: dict[str, dict] = {}

    def rebuild(match: re.Match) -> str:
        suite = match["suite"]
        if suite not in cache:
            cache[suite] = report_parts(suite)
        body = "\n\n".join(cache[suite][part] for part in match["parts"].split(","))
        return f"{match['open']}{body}\n{match['close']}"

    return BLOCK.sub(rebuild, text)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(suite, parts, body) of every block of ``text``."""
    return [(m["suite"], m["parts"], m["body"]) for m in BLOCK.finditer(text)]


if __name__ == "__main__":
    old = DOC.read_text()
    new = rebuilt(old)
    DOC.write_text(new)
    print(f"{DOC}: {len(blocks(new))} blocks, {'changed' if new != old else 'unchanged'}")
