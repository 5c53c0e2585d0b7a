"""Samples/s and achieved GFLOP/s of the full GAN train step (D step + G step), against this machine's
measured fp32 and bf16 matmul rate taken in the same run (interleaved with the timed steps).

FLOPs are counted from the analytic forward cost of ``describe`` (F_G, F_D per sample, convolutions only).
One iteration is: the step's one G forward (F_G), shared by both updates; the D step, D forward on the
real and the generated batch + D backward on both (2 x forward each: input and weight gradients) = 6 F_D;
the G step, D forward + D backward to its input only (D's weights are not differentiated) + G backward
(2 x forward) = 2 F_D + 2 F_G. In all 3 F_G + 8 F_D per sample. The D gate is forced open
(``train.d_gate=always``) so that every step does this work.

    python benchmarks/train_step.py --config configs/mit_biasfree.yaml --batch 8 --precision mixed_bfloat16
"""

from __future__ import annotations

import time

import common


def parse_args(argv=None):
    p = common.argument_parser(__doc__)
    common.add_precision_argument(p)
    p.add_argument("--jit", default=None, choices=["auto", "true", "false"], help="train.jit_compile (default: the config's)")
    p.add_argument("--steps", type=int, default=2, help="train steps per timed run (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported (default 3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing, allocation; default 2)")
    common.add_common_arguments(p)
    return p.parse_args(argv)


def iteration_flops(gan) -> dict:
    """Analytic FLOPs of one train iteration per sample (see the module docstring)."""
    from tf3dgan.nn.model_stats import network_stats

    f_g = network_stats(gan.generator)["flops_per_sample"]
    f_d = network_stats(gan.discriminator)["flops_per_sample"]
    return {"F_G": f_g, "F_D": f_d, "total": 3 * f_g + 8 * f_d}


def main(argv=None) -> int:
    args = parse_args(argv)
    common.configure_threads(args.intra_op, args.inter_op)
    import numpy as np
    import tensorflow as tf

    from tf3dgan.training.builder import build_gan
    from tf3dgan.config import load_config

    overrides = list(args.set) + [f"train.batch_size={args.batch}", "train.d_gate=always"]
    overrides += common.precision_overrides(args)
    if args.jit:
        overrides.append(f"train.jit_compile={args.jit}")
    config = load_config(args.config, overrides)
    t, m = config.train, config.model
    gan = build_gan(config)
    jit = gan.jit_compile  # the builder's choice ("auto": XLA only under a GPU)
    step = tf.function(gan.train_step, jit_compile=jit)
    real = tf.constant((np.random.default_rng(0).random((args.batch,) + (m.cube_len,) * 3 + (1,)) > 0.7).astype("float32"))

    def run(n):
        for _ in range(n):
            logs = step(real)
        return float(logs["d_updated"])  # blocks until the last step is done

    flops = iteration_flops(gan)
    print(f"config {args.config or 'defaults'}: {m.variant} {m.cube_len}^3 base_width {m.base_width}, batch {args.batch}, "
          f"mixed_precision {common.precision(config)}, jit_compile {t.jit_compile} ({'on' if jit else 'off'}), "
          f"devices {[d.name for d in tf.config.list_logical_devices()]}")
    print(f"analytic FLOPs per sample: F_G {flops['F_G'] / 1e9:.2f} G, F_D {flops['F_D'] / 1e9:.2f} G; "
          f"iteration 3 F_G + 8 F_D = {flops['total'] / 1e9:.1f} GFLOP (D gate forced open)")
    print(common.machine())
    print(f"{common.load_average()} before warm-up")
    start = time.perf_counter()
    reference = common.MatmulReference(args.matmul_size)
    assert run(args.warmup) == 1.0, "the D step must run in the benchmark"
    print(f"warm-up: {args.warmup} steps + matmul reference in {time.perf_counter() - start:.1f} s")

    step_rates, loads = [], []
    for r in range(args.repeats):
        reference.measure()
        seconds = common.time_call(lambda: run(args.steps), 1)[0]
        step_rates.append(args.batch * args.steps / seconds)
        loads.append(common.load_average())
        print(f"  run {r + 1}: {step_rates[-1]:.3f} samples/s ({seconds / args.steps:.2f} s/step), "
              f"matmul fp32 {reference.last('float32'):.0f} / bf16 {reference.last('bfloat16'):.0f} GFLOP/s, {loads[-1]}")
    rate = common.median(step_rates)
    achieved = rate * flops["total"] / 1e9
    fp32, bf16 = reference.gflops("float32"), reference.gflops("bfloat16")
    print(f"train step: {rate:.3f} samples/s, {rate / args.batch:.3f} steps/s, {achieved:.1f} GFLOP/s achieved (nominal)")
    print(f"matmul {args.matmul_size}^2: fp32 {fp32:.1f} GFLOP/s, bf16 {bf16:.1f} GFLOP/s")
    print(f"fraction of the fp32 matmul rate: {100 * achieved / fp32:.1f}%; of the bf16 rate: {100 * achieved / bf16:.1f}%")
    print(f"{common.load_average()} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
