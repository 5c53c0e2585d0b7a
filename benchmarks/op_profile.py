"""Where the train step's time goes, op by op: TensorFlow's profiler over a few steps, summed per op type and per
op (thread time per step: on 2 cores up to twice the step's wall time), and per kind (convolutions, BatchNorm
kernels, casts, the other elementwise ops). ``step_profile.py`` times the step's parts alone; this shows what the
whole step runs, R1's second derivative included (its ops are the ones under two gradient tapes or inside the
custom gradients' ``cond``).

    python benchmarks/op_profile.py --config configs/chairs_cpu.yaml --batch 32 --precision mixed_bfloat16
"""

from __future__ import annotations

import collections
import tempfile
from pathlib import Path

import common

KINDS = (("convolution", "Conv3D"), ("BatchNorm kernel", "BatchNorm"), ("cast", "Cast"))


def parse_args(argv=None):
    p = common.argument_parser(__doc__, config="configs/chairs_cpu.yaml", batch=32)
    common.add_precision_argument(p)
    p.add_argument("--steps", type=int, default=10, help="profiled steps (default 10)")
    p.add_argument("--top", type=int, default=25, help="ops listed by name (default 25)")
    common.add_common_arguments(p)
    return p.parse_args(argv)


def op_times(logdir: Path, steps: int) -> dict[str, float]:
    """Milliseconds of thread time per step of each op (``name:type``) in the profile written to ``logdir``."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(max(logdir.rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime).read_bytes())
    times: dict[str, float] = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor's threads
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and not name.startswith("ExecutorState::"):  # ops, not the executor's span around them
                    times[name] += event.duration_ps / 1e9 / steps
    return times


def kind_of(op_type: str) -> str:
    return next((kind for kind, marker in KINDS if marker in op_type), "other elementwise and small ops")


def main(argv=None) -> int:
    args = parse_args(argv)
    common.configure_threads(args.intra_op, args.inter_op)
    import numpy as np
    import tensorflow as tf

    from tf3dgan.config import load_config
    from tf3dgan.training.builder import build_gan

    overrides = args.set + [f"train.batch_size={args.batch}", "train.d_gate=always"]
    overrides += common.precision_overrides(args)
    config = load_config(args.config, overrides)
    gan = build_gan(config)
    m = config.model
    real = tf.constant((np.random.default_rng(0).random((args.batch,) + (m.cube_len,) * 3 + (1,)) > 0.9).astype("float32"))
    step = tf.function(gan.train_step)

    def run(n):
        for _ in range(n):
            logs = step(real)
        return float(logs["d_loss"])  # blocks until the last step is done

    run(3)
    wall_ms = 1000 * common.median(common.time_call(lambda: run(args.steps), 3)) / args.steps
    with tempfile.TemporaryDirectory(prefix="op_profile_") as logdir:
        tf.profiler.experimental.start(logdir)
        run(args.steps)
        tf.profiler.experimental.stop()
        times = op_times(Path(logdir), args.steps)
    by_type, by_kind = collections.Counter(), collections.Counter()
    for name, ms in times.items():
        op_type = name.rpartition(":")[2]
        by_type[op_type] += ms
        by_kind[kind_of(op_type)] += ms
    total = sum(times.values())
    print(f"{args.config}: batch {args.batch}, mixed_precision {common.precision(config)}, D gate forced open; "
          f"{common.machine()}; {common.load_average()}")
    print(f"the step: {wall_ms:.1f} ms (wall, unprofiled); ops: {total:.1f} ms of thread time per step")
    print("\n| kind | ms per step | share of op time |\n|---|---|---|")
    for kind, ms in by_kind.most_common():
        print(f"| {kind} | {ms:.1f} | {100 * ms / total:.0f}% |")
    print("\n| op type | ms per step |\n|---|---|")
    for op_type, ms in by_type.most_common(args.top):
        print(f"| {op_type} | {ms:.1f} |")
    print("\n| op | ms per step |\n|---|---|")
    for name, ms in sorted(times.items(), key=lambda item: -item[1])[:args.top]:
        print(f"| `{name}` | {ms:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
