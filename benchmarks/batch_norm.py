"""Milliseconds of a training-mode BatchNorm pass (forward and backward) at each of the GAN's BatchNorm shapes:
Keras' own ops, TensorFlow's fused kernel on the 5D grid, and the same kernel on the grid seen as 4D
(B, D, H*W, C), which is what ``FusedBatchNormalization`` runs (oneDNN's kernel on CPU).

    python benchmarks/batch_norm.py --config configs/chairs_cpu.yaml --batch 32
"""

from __future__ import annotations

import common

EPSILON = 1e-3  # Keras' default
IMPLEMENTATIONS = ("Keras ops", "fused 5D", "fused 4D")


def parse_args(argv=None):
    p = common.argument_parser(__doc__)
    p.add_argument("--repeats", type=int, default=15, help="timed calls per measurement; the median is reported")
    common.add_common_arguments(p)
    return p.parse_args(argv)


def batch_norm_shapes(gan, batch: int) -> list[tuple[str, tuple]]:
    """(layer name, input shape at ``batch``) of every BatchNorm layer of G and D."""
    import keras

    out = []
    for prefix, net in (("G", gan.generator), ("D", gan.discriminator)):
        for layer in net.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                out.append((f"{prefix}/{layer.name}", (batch, *layer.input.shape[1:])))
    return out


def pass_functions(shape):
    """Forward + backward (input, scale and offset gradients) of the three implementations at ``shape``."""
    import tensorflow as tf

    channels = shape[-1]
    x = tf.random.normal(shape)
    dy = tf.random.normal(shape)
    scale, offset = tf.ones(channels), tf.zeros(channels)

    def keras_ops(t):
        mean, variance = tf.nn.moments(t, axes=[0, 1, 2, 3])
        return tf.nn.batch_normalization(t, mean, variance, offset, scale, EPSILON)

    def fused_5d(t):
        return tf.compat.v1.nn.fused_batch_norm(t, scale, offset, epsilon=EPSILON, data_format="NDHWC")[0]

    def fused_4d(t):
        flat = tf.reshape(t, (shape[0], shape[1], shape[2] * shape[3], channels))
        return tf.reshape(tf.compat.v1.nn.fused_batch_norm(flat, scale, offset, epsilon=EPSILON)[0], shape)

    def timed(norm):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch([x, scale, offset])
                y = norm(x)
            grads = tape.gradient(y, [x, scale, offset], output_gradients=dy)
            return tf.reduce_sum(grads[0][:1]) + tf.reduce_sum(grads[1])

        return step

    return dict(zip(IMPLEMENTATIONS, (timed(keras_ops), timed(fused_5d), timed(fused_4d))))


def main(argv=None) -> int:
    args = parse_args(argv)
    common.configure_threads(args.intra_op, args.inter_op)
    from tf3dgan.config import load_config
    from tf3dgan.training.builder import build_gan

    config = load_config(args.config, list(args.set) + [f"train.batch_size={args.batch}"])
    gan = build_gan(config, compile=False)
    print(f"{config.model.cube_len}^3 base_width {config.model.base_width}, batch {args.batch}; {common.machine()}")
    print(f"{'layer':<10}{'input':<22}" + "".join(f"{n + ' ms':>14}" for n in IMPLEMENTATIONS))
    for name, shape in batch_norm_shapes(gan, args.batch):
        row = []
        for fn in pass_functions(shape).values():
            fn().numpy()  # trace, allocate
            row.append(1000 * common.median(common.time_call(lambda: fn().numpy(), args.repeats)))
        print(f"{name:<10}{'x'.join(map(str, shape)):<22}" + "".join(f"{ms:14.2f}" for ms in row), flush=True)
    print(common.load_average())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
