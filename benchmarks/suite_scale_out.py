"""Wall-clock of one small ablation suite run three ways: sequentially in one process, as two shards run one
after the other and merged, and as Ray tasks on a local Ray cluster with the machine's cores.

    python benchmarks/suite_scale_out.py [--steps 200] [--seeds 2]

The suite is two runs (base, saturating G loss) at 16^3, base width 4, batch 4. On one machine the three ways
share the same cores, so they can only show the overhead of each way (process start, Ray's workers importing
TensorFlow), not a speed-up; the scores of the three must agree.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import cpu_model  # noqa: F401  (sets sys.path and oneDNN first)
from tf3dgan import cpu

SUITE = """
set: [model.cube_len=16, model.base_width=4, model.z_dim=8, train.batch_size=4, train.steps={steps},
      train.log_every=10, train.checkpoint_every=50, train.sample_every=0, data.source=synthetic,
      data.synthetic_count=32, monitor.html=false]
evaluate: {{reference: synthetic, n: 16, every: 50}}
seeds: {seeds}
runs:
  - name: base
  - name: saturating
    set: [train.g_loss=saturating]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    import ray

    from tf3dgan.evaluation.ablation import load_suite, run_suite
    from tf3dgan.evaluation.ablation_ray import run_suite_on_ray

    quiet = lambda message: None  # noqa: E731
    text = SUITE.format(steps=args.steps, seeds=list(range(args.seeds)))
    timings, scores = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for way in ("sequential", "two shards", "ray"):
            folder = Path(scratch) / way.replace(" ", "_")
            folder.mkdir()
            (folder / "suite.yaml").write_text(text)
            suite = load_suite(folder / "suite.yaml")
            started = time.perf_counter()
            if way == "sequential":
                rows = run_suite(suite, folder / "out", progress=False, log=quiet)
            elif way == "two shards":
                for index in (1, 2):
                    run_suite(suite, folder / "out", progress=False, log=quiet, shard=(index, 2))
                rows = run_suite(suite, folder / "out", progress=False, log=quiet)
            else:
                ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False)
                rows = run_suite_on_ray(suite, folder / "out", log=quiet)
                ray.shutdown()
            timings[way] = time.perf_counter() - started
            scores[way] = {(r["run"], r["seed"]): round(r["mmd"], 6) for r in rows}
    print(f"CPU: {cpu_model()}, {cpu.vector_isa()}")
    print(f"suite: 2 runs x {args.seeds} seeds x {args.steps} steps (16^3, width 4, batch 4)")
    for way, seconds in timings.items():
        agree = "same MMDs as sequential" if scores[way] == scores["sequential"] else f"MMDs differ: {scores[way]}"
        print(f"  {way:<11} {seconds:7.1f} s   {agree}")


if __name__ == "__main__":
    main()
