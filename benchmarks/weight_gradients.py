"""Milliseconds of the k4 stride-2 "same" Conv3D weight gradient: oneDNN's kernel beside three exact rewrites.

The weight gradients are the slowest part of the 64^3 step on AVX2 CPUs (docs/performance.md). This times,
at the paper net's three wide shapes (D's conv2-4; G's transposed convs have the same weight gradients with
input and output swapped), each in a ``tf.function`` and checked against the kernel:

- ``kernel``: ``Conv3DBackpropFilterV2``, what TensorFlow's gradient of ``tf.nn.conv3d`` runs;
- ``s2d_conv``: the padded input space-to-depth'd by 2 (8x channels), then a stride-1 k2 weight gradient;
- ``s2d_matmuls``: the same, as 8 matmuls over the 2^3 shifted windows;
- ``tap_matmuls``: 64 matmuls, one per kernel tap, over strided slices of the padded input;
- ``dilated_forward``: a forward conv, the padded input's channels as its batch and its batch as channels, with
  the output gradient as a filter dilated by the stride.

``--net recipe`` times the chairs_cpu recipe's two wide shapes (32^3 at base width 16) instead.

    python benchmarks/weight_gradients.py [--batch 8] [--repeats 5] [--net paper|recipe]
"""

from __future__ import annotations

import argparse

import common

# (input side, input channels, output channels) of D's conv2, conv3, conv4 in the 64^3 paper net, and of D's
# conv2, conv3 in the 32^3 chairs_cpu recipe (base width 16).
SHAPES = {"paper": ((32, 64, 128), (16, 128, 256), (8, 256, 512)), "recipe": ((16, 16, 32), (8, 32, 64))}


def rewrites():
    import tensorflow as tf

    strides = [1, 2, 2, 2, 1]

    def kernel(x, dy, ci, co):
        return tf.raw_ops.Conv3DBackpropFilterV2(input=x, filter_sizes=[4, 4, 4, ci, co], out_backprop=dy,
                                                 strides=strides, padding="SAME")

    def space_to_depth(x):
        """(B, 2n, 2n, 2n, C) padded by one voxel to 2n+2, then (B, n+1, n+1, n+1, 8C), channels (sa, sb, sc, C)."""
        batch, c = tf.shape(x)[0], x.shape[-1]
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]])
        m = padded.shape[1] // 2
        z = tf.reshape(padded, [batch, m, 2, m, 2, m, 2, c])
        return tf.reshape(tf.transpose(z, [0, 1, 3, 5, 2, 4, 6, 7]), [batch, m, m, m, 8 * c])

    def unfold(k2, ci, co):
        """(2, 2, 2, 8ci, co) over (window offset, phase) back to the (4, 4, 4, ci, co) kernel: tap = 2t + s."""
        k = tf.reshape(k2, [2, 2, 2, 2, 2, 2, ci, co])
        return tf.reshape(tf.transpose(k, [0, 3, 1, 4, 2, 5, 6, 7]), [4, 4, 4, ci, co])

    def s2d_conv(x, dy, ci, co):
        k2 = tf.raw_ops.Conv3DBackpropFilterV2(input=space_to_depth(x), filter_sizes=[2, 2, 2, 8 * ci, co],
                                               out_backprop=dy, strides=[1] * 5, padding="VALID")
        return unfold(k2, ci, co)

    def s2d_matmuls(x, dy, ci, co):
        z, n = space_to_depth(x), dy.shape[1]
        d = tf.reshape(dy, [-1, co])
        windows = [tf.reshape(z[:, a:a + n, b:b + n, c:c + n, :], [-1, 8 * ci])
                   for a in (0, 1) for b in (0, 1) for c in (0, 1)]
        return unfold(tf.reshape(tf.stack([tf.matmul(w, d, transpose_a=True) for w in windows]),
                                 [2, 2, 2, 8 * ci, co]), ci, co)

    def tap_matmuls(x, dy, ci, co):
        padded, n = tf.pad(x, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]]), dy.shape[1]
        d = tf.reshape(dy, [-1, co])
        taps = [tf.reshape(padded[:, a:a + 2 * n:2, b:b + 2 * n:2, c:c + 2 * n:2, :], [-1, ci])
                for a in range(4) for b in range(4) for c in range(4)]
        return tf.reshape(tf.stack([tf.matmul(t, d, transpose_a=True) for t in taps]), [4, 4, 4, ci, co])

    def dilated_forward(x, dy, ci, co):
        """dW[t, ci, co] = sum over (n, o) of padded[n, 2o + t, ci] dy[n, o, co]: a VALID forward conv."""
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]])
        taps = tf.nn.convolution(tf.transpose(padded, [4, 1, 2, 3, 0]), tf.transpose(dy, [1, 2, 3, 0, 4]),
                                 padding="VALID", dilations=2)
        return tf.transpose(taps[:, :4, :4, :4, :], [1, 2, 3, 0, 4])

    return {"kernel": kernel, "s2d_conv": s2d_conv, "s2d_matmuls": s2d_matmuls, "tap_matmuls": tap_matmuls,
            "dilated_forward": dilated_forward}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5, help="timed calls per figure; the median is printed")
    p.add_argument("--net", choices=sorted(SHAPES), default="paper", help="whose layer shapes (default paper)")
    common.add_common_arguments(p)
    args = p.parse_args(argv)
    common.configure_threads(args.intra_op, args.inter_op)
    import tensorflow as tf

    reference = common.MatmulReference(args.matmul_size, dtypes=("float32",))
    reference.measure()
    print(f"{common.machine()}; batch {args.batch}; matmul {args.matmul_size}^2 fp32 "
          f"{reference.gflops('float32'):.0f} GFLOP/s; {common.load_average()}")
    functions = {name: tf.function(fn) for name, fn in rewrites().items()}
    print(f"{'input -> output':<22}" + "".join(f"{name:>20}" for name in functions) + "   (ms, GFLOP/s, max rel. error)")
    for side, ci, co in SHAPES[args.net]:
        x = tf.random.stateless_normal([args.batch, side, side, side, ci], (0, 1))
        dy = tf.random.stateless_normal([args.batch, side // 2, side // 2, side // 2, co], (0, 2))
        gflop = 2 * args.batch * (side // 2) ** 3 * 64 * ci * co / 1e9
        expected = functions["kernel"](x, dy, ci, co)
        cells = []
        for fn in functions.values():
            error = float(tf.reduce_max(tf.abs(fn(x, dy, ci, co) - expected)) / tf.reduce_max(tf.abs(expected)))
            ms = 1000 * common.median(common.time_call(lambda: fn(x, dy, ci, co).numpy(), args.repeats))
            cells.append(f"{ms:7.1f} {gflop / ms * 1000:4.0f} {error:7.0e}")
        print(f"{side}^3x{ci} -> {side // 2}^3x{co}".ljust(22) + "".join(f"{c:>20}" for c in cells), flush=True)
    print(common.load_average())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
