"""``tf3dgan train``: train or resume a run."""

from __future__ import annotations

import sys

from tf3dgan.commands import add_config_arguments


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a 3D-GAN (re-run on the same --out to resume)")
    add_config_arguments(p)
    p.add_argument("--out", required=True, help="run folder (config, metrics.jsonl, checkpoints, samples)")
    p.add_argument("--steps", type=int, help="train up to this many steps in total (default: train.steps)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--restart", action="store_true",
                   help="start --out over at step 0; the earlier run's files are moved into --out/previous-<time>/")
    p.set_defaults(func=run)


def run(args) -> int:
    import tensorflow as tf

    from tf3dgan.config import load_config
    from tf3dgan.errors import UsageError
    from tf3dgan.training.run_callbacks import read_metrics
    from tf3dgan.training.interrupt import TrainingAborted, TrainingStopped
    from tf3dgan.training.loop import train
    from tf3dgan.training.metrics import BASE_METRICS
    from tf3dgan.training.run_folder import latest_checkpoint

    if args.steps is not None and args.steps < 0:
        raise UsageError(f"--steps must be >= 0, got {args.steps}")
    config = load_config(args.config, args.overrides)
    try:
        gan = train(config, args.out, steps=args.steps, progress=not args.quiet, restart=args.restart)
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError) as err:
        if config.train.distribute != "multi_worker":
            raise
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        at = next((i for i, line in enumerate(lines) if "unhealthy" in line or "aborted" in line.lower()), len(lines) - 1)
        reason = " ".join(lines[at:at + 2])[-300:]
        print(f"\ntf3dgan train: a worker of the multi-worker run failed ({type(err).__name__}: {reason}); "
              f"run the same command again on every worker to resume from the newest checkpoint in {args.out}",
              file=sys.stderr)
        return 75
    except TrainingStopped as stop:
        print(f"tf3dgan train: {stop}; run the same command again to resume.", file=sys.stderr)
        return stop.exit_status
    except TrainingAborted as abort:
        print(f"tf3dgan train: {abort}; run the same command again to resume from it.", file=sys.stderr)
        return abort.exit_status
    except KeyboardInterrupt:
        last = latest_checkpoint(args.out)
        print("\ntf3dgan train: interrupted; " + (f"the newest checkpoint is {last}; run the same command again to "
              "resume" if last else "no checkpoint was written yet"), file=sys.stderr)
        return 130
    step = int(gan.step_counter.numpy())
    records = read_metrics(args.out)
    last = records[-1] if records else {}
    summary = ", ".join(f"{k} {last[k]:.3f}" for k in BASE_METRICS if k in last)
    print(f"{args.out}: {step} steps done" + (f"; last logged: {summary}" if summary else ""))
    return 0
