"""Per-layer milliseconds of the GAN's convolutions: forward, input gradient and weight gradient.

Each conv layer of G and D is timed alone, on a random input of its shape at ``--batch``: the forward pass,
the input gradient, the weight gradient, each in a ``tf.function`` that asks for that result only (a
convolution is linear, so its gradients do not need its forward output, and TensorFlow prunes it). GFLOP/s
count 2 x MACs per pass (forward, input gradient and weight gradient each cost one forward). The layers are
the package's own, so G's last layer and D's first run the single-channel fast path where it applies.

    python benchmarks/layers.py --config configs/mit_biasfree.yaml --batch 8
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/layers.py ...     # oneDNN's AVX2 kernels on an AVX-512 CPU
"""

from __future__ import annotations

import common


def parse_args(argv=None):
    p = common.argument_parser(__doc__)
    p.add_argument("--repeats", type=int, default=5, help="timed calls per measurement; the median is reported")
    p.add_argument("--layers", nargs="*", default=None, help="only these layers, e.g. G/deconv5 D/conv1")
    common.add_common_arguments(p)
    return p.parse_args(argv)


def conv_layers(gan):
    import keras

    kinds = (keras.layers.Conv3D, keras.layers.Conv3DTranspose)
    for prefix, net in (("G", gan.generator), ("D", gan.discriminator)):
        for layer in net.layers:
            if isinstance(layer, kinds):
                yield f"{prefix}/{layer.name}", layer


def time_layer(layer, batch: int, repeats: int) -> dict:
    """Median milliseconds of forward, input gradient and weight gradient of ``layer`` at ``batch``."""
    import tensorflow as tf

    shape = (batch,) + tuple(layer.input.shape[1:])
    x = tf.random.stateless_normal(shape, (0, 1), dtype=layer.compute_dtype)
    kernel = layer.kernel

    @tf.function
    def forward(x):
        return tf.reduce_sum(layer(x)[:1])

    @tf.function
    def input_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return tf.reduce_sum(tape.gradient(y, x, output_gradients=tf.ones_like(y))[:1])

    @tf.function
    def weight_gradient(x):
        with tf.GradientTape() as tape:
            y = layer(x)
        return tf.reduce_sum(tape.gradient(y, kernel, output_gradients=tf.ones_like(y))[:1])

    out = {}
    for name, fn in (("forward", forward), ("input_grad", input_gradient), ("weight_grad", weight_gradient)):
        fn(x).numpy()  # trace, allocate
        out[name] = 1000 * common.median(common.time_call(lambda: fn(x).numpy(), repeats))
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    common.configure_threads(args.intra_op, args.inter_op)
    from tf3dgan.training.builder import build_gan
    from tf3dgan.config import load_config
    from tf3dgan.nn.model_stats import layer_table

    config = load_config(args.config, list(args.set) + [f"train.batch_size={args.batch}"])
    gan = build_gan(config, compile=False)
    macs = {f"{p}/{row['name']}": row["macs"] for p, net in (("G", gan.generator), ("D", gan.discriminator))
            for row in layer_table(net)}
    reference = common.MatmulReference(args.matmul_size)
    reference.measure()
    print(f"{config.model.cube_len}^3 base_width {config.model.base_width}, batch {args.batch}, "
          f"mixed_precision {common.precision(config)}; {common.machine()}; {common.load_average()}")
    print(f"matmul {args.matmul_size}^2: fp32 {reference.gflops('float32'):.0f} GFLOP/s, "
          f"bf16 {reference.gflops('bfloat16'):.0f} GFLOP/s")
    print(f"{'layer':<12}{'type':<26}{'fwd ms':>9}{'in-grad ms':>12}{'w-grad ms':>11}"
          f"{'fwd GF/s':>10}{'in GF/s':>9}{'w GF/s':>9}")
    totals = [0.0, 0.0, 0.0]
    for name, layer in conv_layers(gan):
        if args.layers and name not in args.layers:
            continue
        t = time_layer(layer, args.batch, args.repeats)
        gflop = 2 * macs[name] * args.batch / 1e9

        def rate(ms):
            return f"{gflop / (ms / 1000):9.0f}"

        print(f"{name:<12}{type(layer).__name__:<26}{t['forward']:9.1f}{t['input_grad']:12.1f}{t['weight_grad']:11.1f}"
              f"{rate(t['forward']):>10}{rate(t['input_grad'])}{rate(t['weight_grad'])}", flush=True)
        for i, key in enumerate(("forward", "input_grad", "weight_grad")):
            totals[i] += t[key]
    print(f"{'total':<38}{totals[0]:9.1f}{totals[1]:12.1f}{totals[2]:11.1f}   ({common.load_average()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
