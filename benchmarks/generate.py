"""Shapes/s of the generator in inference mode (``training=False``), at batch 1 and batch 32.

    python benchmarks/generate.py --config configs/mit_biasfree.yaml [--precision mixed_bfloat16]
"""

from __future__ import annotations

import common


def parse_args(argv=None):
    p = common.argument_parser(__doc__, batch=None)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32], help="batch sizes (default 1 32)")
    common.add_precision_argument(p, "train.mixed_precision the generator is built with (default: the config's)")
    p.add_argument("--shapes", type=int, default=64, help="shapes generated per timed run (default 64)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported (default 3)")
    common.add_common_arguments(p)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    common.configure_threads(args.intra_op, args.inter_op)
    import tensorflow as tf

    from tf3dgan.training.builder import build_gan
    from tf3dgan.config import load_config
    from tf3dgan.nn.model_stats import network_stats

    overrides = list(args.set) + common.precision_overrides(args)
    config = load_config(args.config, overrides)
    gan = build_gan(config, compile=False)
    generate = tf.function(lambda z: tf.reduce_sum(gan.generator(z, training=False)[:, :1, :1, :1]))
    f_g = network_stats(gan.generator)["flops_per_sample"]
    m = config.model
    print(f"generator {m.cube_len}^3 base_width {m.base_width}, mixed_precision {config.train.mixed_precision}, "
          f"F_G {f_g / 1e9:.2f} GFLOP/shape, {common.load_average()}")
    print(common.machine())
    for batch in args.batches:
        z = gan.sample_latent(batch, seed=0)
        calls = max(1, args.shapes // batch)
        generate(z).numpy()  # trace and warm up
        rates = []
        for _ in range(args.repeats):
            seconds = common.time_call(lambda: [generate(z).numpy() for _ in range(calls)], 1)[0]
            rates.append(batch * calls / seconds)
        rate = common.median(rates)
        print(f"batch {batch:>3}: {rate:.2f} shapes/s ({rate * f_g / 1e9:.1f} GFLOP/s), runs "
              + ", ".join(f"{r:.2f}" for r in rates) + f", {common.load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
