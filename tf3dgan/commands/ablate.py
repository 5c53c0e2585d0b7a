"""``tf3dgan ablate``: train, score and compare the runs of an ablation suite (resumable)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "ablate", help="train and score every run of a YAML ablation suite; write report.md, results.csv, curves.html"
    )
    p.add_argument("--suite", required=True, help="suite YAML (base config, overrides per run, reference set)")
    p.add_argument("--out", required=True, help="output folder: one run folder per run plus the report files")
    p.add_argument("--quiet", action="store_true", help="no training progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from tf3dgan.evaluation.ablation import load_suite, run_suite

    suite = load_suite(args.suite)  # validates every run's config before any training
    print(f"{args.suite}: {len(suite.runs)} runs -> {args.out}", flush=True)
    run_suite(suite, args.out, progress=not args.quiet, log=lambda m: print(m, flush=True))
    print((Path(args.out) / "report.md").read_text())
    return 0
