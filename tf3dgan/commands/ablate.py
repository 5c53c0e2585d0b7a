"""``tf3dgan ablate``: train and score an ablation suite, or rebuild its report from its results files."""

from __future__ import annotations

from tf3dgan.commands import add_overrides_argument


def add_parser(subparsers) -> None:
    from tf3dgan.evaluation.ablation_ray import RUN_FOLDERS

    p = subparsers.add_parser(
        "ablate",
        help="train an ablation suite (one run per config variation) and write a comparison report",
        description="Train every run of a suite, score each against a reference set (also every evaluate.every "
                    "steps), and write report.md (claims table first), results.csv and score curves. Scores go "
                    "to the suite's results file as they come; a training it holds a final row for is not "
                    "trained again, so a committed results file resumes a suite on another machine.",
    )
    p.add_argument("--suite", required=True,
                   help="suite YAML (base config, overrides per run, reference set), or a shipped suite by name "
                        "(tf3dgan configs lists them)")
    p.add_argument("--out", default=None,
                   help="output folder: one run folder per training plus the report files (default runs/SUITE)")
    p.add_argument("--results", default=None, metavar="FILE",
                   help="the results file to read and append to (default: the suite's, NAME.results.jsonl "
                        "beside it); shard files beside it are read too")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: rebuild the report from the results files alone and print it")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="train only the I-th of N disjoint shares of the trainings (1 <= I <= N), writing "
                        "NAME.results-shard-I-of-N.jsonl; --report-only merges the shares")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run every training as a task on a Ray cluster (ADDRESS, e.g. ray://head:10001 or auto; "
                        "without one: a local Ray instance); needs pip install 'tf3dgan[ray]'")
    p.add_argument("--run-folders", choices=RUN_FOLDERS, default="shared",
                   help="--ray: run folders under --out, which every worker must see (default), or in each "
                        "worker's temporary folder")
    p.add_argument("--runs", default=None, metavar="NAME[,NAME...]",
                   help="train only these runs of the suite (the report still covers every run)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train at most N of the unfinished trainings (in the suite's order, seed by seed), then "
                        "stop: a suite in steps that each end with a results file to commit")
    p.add_argument("--quiet", action="store_true", help="no training progress bars")
    add_overrides_argument(p, "train and report every run with this setting, after the suite's and the run's own "
                              "(a setting changes which trainings are read: e.g. train.mixed_precision=none reads the "
                              "float32 trainings of a suite whose precision is auto on a CPU with native bf16); ")
    p.set_defaults(func=run)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as ``(I, N)`` with 1 <= I <= N; UsageError otherwise."""
    from tf3dgan.errors import UsageError

    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must be I/N (e.g. 2/4), got {text!r}") from None
    if not 1 <= index <= count:
        raise UsageError(f"--shard I/N needs 1 <= I <= N, got {text!r}")
    return index, count


def parse_run_names(text: str, suite) -> set:
    """``"a,b"`` as a set of the suite's run names; UsageError naming any the suite does not have."""
    from tf3dgan.errors import UsageError

    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - {run.name for run in suite.runs})
    if not names or unknown:
        raise UsageError(f"--runs names no run of {suite.path.name}: {', '.join(unknown) or repr(text)} "
                         f"(its runs: {', '.join(run.name for run in suite.runs)})")
    return names


def run(args) -> int:
    from pathlib import Path

    from tf3dgan.errors import UsageError
    from tf3dgan.evaluation.ablation import load_suite, run_suite, write_report_from_results
    from tf3dgan.evaluation.ablation_report import REPORT_FILE

    shard = parse_shard(args.shard) if args.shard else None
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be an integer >= 1, got {args.limit}")
    # every run's config is checked here, before any training
    suite = load_suite(args.suite, check_data=not args.report_only, overrides=args.overrides)
    only = parse_run_names(args.runs, suite) if args.runs else None
    out = Path(args.out) if args.out else Path("runs") / suite.path.stem
    if args.report_only:
        write_report_from_results(suite, out, args.results)
    elif args.ray is not None:
        from tf3dgan.evaluation.ablation_ray import run_suite_on_ray

        if shard or args.limit is not None:
            raise UsageError("--ray schedules every training itself: give it without --shard or --limit")
        run_suite_on_ray(suite, out, args.ray or None, log=lambda m: print(m, flush=True), results_path=args.results,
                         run_folders=args.run_folders)
    else:
        print(f"{args.suite}: {len(suite.runs)} runs -> {out}", flush=True)
        run_suite(suite, out, progress=not args.quiet, log=lambda m: print(m, flush=True),
                  results_path=args.results, shard=shard, only=only, limit=args.limit)
    print((out / REPORT_FILE).read_text())
    return 0
