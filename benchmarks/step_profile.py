"""Where the time of one train step goes: the step against its parts, each timed alone in its own
``tf.function`` at the step's shapes, and the step with each training trick of the recipe switched off.

Parts, as the step does them once each: the latent draw; G's forward pass (training mode); D's step (D forward
on a real and a generated batch, and backward); G's step past G's forward (D forward without its statistics,
backward through D and G: timed with G's forward, which is then subtracted); the two Adam updates (applied to
gradients of the right shapes); the weight average of G. D's forward pass alone is shown too (it is part of
D's step). The sum of the parts against the step is what remains: dispatch, the gate's ``tf.cond``, metrics.

    python benchmarks/step_profile.py --config configs/chairs_cpu.yaml --batch 32
"""

from __future__ import annotations

import common


def parse_args(argv=None):
    p = common.argument_parser(__doc__, config="configs/chairs_cpu.yaml", batch=32)
    p.add_argument("--repeats", type=int, default=7, help="timed calls per part; the median is reported")
    common.add_common_arguments(p)
    return p.parse_args(argv)


def build(config_path, overrides, batch):
    from tf3dgan.config import load_config
    from tf3dgan.training.builder import build_gan

    config = load_config(config_path, overrides + [f"train.batch_size={batch}", "train.d_gate=always"])
    return config, build_gan(config)


def step_ms(gan, real, repeats) -> float:
    import tensorflow as tf

    step = tf.function(gan.train_step)
    step(real)
    return 1000 * common.median(common.time_call(lambda: float(step(real)["d_loss"]), repeats))


def part_timings(gan, real, repeats) -> dict:
    """Milliseconds of each part of the step, alone."""
    import keras
    import tensorflow as tf

    from tf3dgan.nn import losses
    from tf3dgan.training import stabilizers

    batch = real.shape[0]
    z = gan.sample_latent(batch, seed=0)
    fake = gan.generator(z, training=False)
    d_vars, g_vars = gan.discriminator.trainable_variables, gan.generator_variables

    @tf.function
    def latent():
        return gan.latent.sample(batch, gan.seed_generator)

    @tf.function
    def g_forward():
        return gan.generator(z, training=True)

    @tf.function
    def d_forward():
        return gan.discriminator(real, training=True)[0], gan.discriminator(fake, training=True)[0]

    @tf.function
    def d_gradient():
        with tf.GradientTape() as tape:
            loss = losses.discriminator_loss(gan.discriminator(real, training=True)[0],
                                             gan.discriminator(fake, training=True)[0])
        return tape.gradient(loss, d_vars)

    @tf.function
    def g_gradient():
        with tf.GradientTape() as tape:
            logits, _ = gan.discriminate_without_updates(gan.generator(z, training=True))
            loss = losses.generator_loss_non_saturating(logits)
        return tape.gradient(loss, g_vars)

    d_grads = [tf.ones_like(v) * 1e-3 for v in d_vars]
    g_grads = [tf.ones_like(v) * 1e-3 for v in g_vars]

    @tf.function
    def adam_updates():
        gan.d_optimizer.apply(d_grads, d_vars)
        gan.g_optimizer.apply(g_grads, g_vars)
        return tf.constant(0)

    parts = {"latent draw": latent, "G forward": g_forward,
             "D step: forward (real + generated) and backward": d_gradient,
             "G step past G's forward: D forward, backward through D and G": g_gradient,
             "Adam updates (D and G)": adam_updates}
    if gan.generator_ema is not None:
        @tf.function
        def average():
            stabilizers.update_average(gan.generator_ema, gan.generator, 0.999)
            return tf.constant(0)

        parts["weight average of G"] = average
    out = {}
    for name, fn in parts.items():
        fn()  # trace
        out[name] = 1000 * common.median(common.time_call(lambda fn=fn: keras.tree.flatten(fn())[0].numpy(), repeats))
    out["G step past G's forward: D forward, backward through D and G"] -= out["G forward"]
    d_forward()
    d_alone = 1000 * common.median(common.time_call(lambda: d_forward()[0].numpy(), repeats))
    return out, d_alone


def main(argv=None) -> int:
    args = parse_args(argv)
    common.configure_threads(args.intra_op, args.inter_op)
    import numpy as np
    import tensorflow as tf

    config, gan = build(args.config, args.set, args.batch)
    m = config.model
    real = tf.constant((np.random.default_rng(0).random((args.batch,) + (m.cube_len,) * 3 + (1,)) > 0.9).astype("float32"))
    print(f"{args.config}: {m.cube_len}^3, base width {m.base_width}, batch {args.batch}, "
          f"minibatch_std {m.minibatch_std}, ema_decay {config.train.ema_decay}, "
          f"mixed_precision {common.precision(config)}, D gate forced open")
    print(common.machine())
    print(common.load_average())
    whole = step_ms(gan, real, args.repeats)
    parts, d_forward_ms = part_timings(gan, real, args.repeats)
    print("\n| part | ms | share of the step |\n|---|---|---|")
    for name, ms in parts.items():
        print(f"| {name} | {ms:.1f} | {100 * ms / whole:.0f}% |")
    print(f"| sum of the parts | {sum(parts.values()):.1f} | {100 * sum(parts.values()) / whole:.0f}% |")
    print(f"| **the step** | **{whole:.1f}** | 100% |")
    print(f"(D's forward pass alone, real + generated batch: {d_forward_ms:.1f} ms, {100 * d_forward_ms / whole:.0f}% of the step)")
    print("\n| the step without | ms | saved |\n|---|---|---|")
    for label, override in (("the weight average", "train.ema_decay=0.0"),
                            ("the minibatch-std channel", "model.minibatch_std=false")):
        _, other = build(args.config, args.set + [override], args.batch)
        ms = step_ms(other, real, args.repeats)
        print(f"| {label} ({override}) | {ms:.1f} | {whole - ms:+.1f} |")
    print(common.load_average())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
