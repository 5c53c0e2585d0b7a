"""The whole recipe's time as a user meets it: ``tf3dgan train`` (start-up, data, tracing, checkpoints, sample
pages) then ``tf3dgan evaluate`` against the held-out test shapes, each timed as the command it is.

The README's minutes come from this script. ``--steps N`` trains N steps only, times a one-step training for the
start-up, and extrapolates the config's full length from the rate in between; run it alone on the machine. The
extrapolation is an upper bound where the D gate is on: D's update (and R1 with it) is skipped on more steps as
training goes on (the chairs recipe's float32 seeds passed the gate on about 0.7 of the first 1,000 steps and
0.42-0.44 of all 7,000), so the first steps are the dearest. The full length (no ``--steps``) is the figure to quote.

    python benchmarks/recipe_time.py --config configs/chairs_cpu.yaml
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/recipe_time.py --config configs/chairs_cpu.yaml --steps 500
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common
from tf3dgan.config import load_config


def parse_args(argv=None):
    p = common.argument_parser(__doc__, config="configs/chairs_cpu.yaml", batch=None)
    p.add_argument("--steps", type=int, help="train this many steps (default: the config's train.steps)")
    p.add_argument("--reference", help="reference shapes for evaluate (default: the config's data.source)")
    p.add_argument("--n", type=int, default=100, help="samples scored (default 100)")
    p.add_argument("--out", help="run folder to train in (default: a temporary folder, removed at the end)")
    return p.parse_args(argv)


def timed(command: list[str]) -> tuple[float, str]:
    """Seconds a ``tf3dgan`` command took as a new process, and what it printed."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "tf3dgan.cli", *command], capture_output=True, text=True,
                            cwd=common.REPO)
    if result.returncode != 0:
        sys.exit(f"recipe_time: `tf3dgan {' '.join(command)}` failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - start, result.stdout


def d_gate_rate(run: Path) -> float:
    """The share of steps on which D's gate let D (and R1) update: the mean over the log lines, as a suite's
    ``gate_rate`` (a step with D's update costs more than one without)."""
    from tf3dgan.training.run_callbacks import read_metrics

    return float(np.mean([record["d_updated"] for record in read_metrics(run)]))


def main(argv=None) -> None:
    args = parse_args(argv)
    config = load_config(args.config, args.set)
    full_steps = config.train.steps
    steps = args.steps or full_steps
    reference = args.reference or config.data.source
    run = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="recipe_time_")) / "run"
    sets = [a for s in args.set for a in ("--set", s)]
    train = ["train", "--config", args.config, "--quiet", "--restart", *sets]
    try:
        train_s, _ = timed([*train, "--out", str(run), "--steps", str(steps)])
        gate_rate = d_gate_rate(run)
        evaluate_s, scores = timed(["evaluate", "--run", str(run), "--reference", reference, "--n", str(args.n)])
        start_s = 0.0
        if steps < full_steps:  # the start-up (TensorFlow, data, tracing, first step) timed alone, to extrapolate
            with tempfile.TemporaryDirectory(prefix="recipe_time_") as one_step:
                start_s = timed([*train, "--out", str(Path(one_step) / "run"), "--steps", "1"])[0]
    finally:
        if not args.out:
            shutil.rmtree(run.parent, ignore_errors=True)
    print(f"{args.config} {' '.join(args.set)}: {steps} steps, batch {config.train.batch_size}, precision "
          f"{common.precision(config)}; {common.machine()}; {common.load_average()}")
    print(f"train     {train_s:8.1f} s  {steps / train_s:6.2f} steps/s (start-up, tracing, checkpoints included); "
          f"D's gate passed on {gate_rate:.2f} of the steps")
    print(f"evaluate  {evaluate_s:8.1f} s  ({args.n} samples against {reference})")
    print(f"recipe    {(train_s + evaluate_s) / 60:8.1f} min")
    if steps < full_steps and train_s <= start_s:
        print(f"start-up  {start_s:8.1f} s  (a one-step training): longer than the {steps}-step one, too few steps "
              "to extrapolate from")
    elif steps < full_steps:
        rate = (steps - 1) / (train_s - start_s)
        print(f"start-up  {start_s:8.1f} s  (a one-step training); then {rate:.2f} steps/s")
        print(f"at {full_steps} steps: about {(start_s + (full_steps - 1) / rate + evaluate_s) / 60:.1f} min "
              f"(extrapolated from the first steps: an upper bound where the D gate skips more of D's updates later)")
    print("\n".join(line for line in scores.splitlines() if line.startswith(("MMD", "occupancy"))))


if __name__ == "__main__":
    main()
