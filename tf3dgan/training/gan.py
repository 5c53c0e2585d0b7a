"""``GAN``: the one Keras model and the one ``train_step`` every variant trains through."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tf3dgan.nn import losses
from tf3dgan.nn.latent import LatentSampler
from tf3dgan.training import stabilizers
from tf3dgan.training.metrics import BASE_METRICS
from variants.base import GeneratorStepTensors


def replica_mean(value):
    """Mean of ``value`` over the replicas of a tf.distribute strategy (the value itself on one device)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, value)


def replica_slice(global_batch, local_size):
    """This replica's ``local_size`` rows of a tensor drawn for the global batch (all of it on one device).

    Every replica draws the same global latent batch (the seed generator is mirrored) and keeps its own
    slice, so the replicas together see exactly the latents one device would draw for the global batch.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return global_batch
    parts = tf.reshape(global_batch, tf.concat([[ctx.num_replicas_in_sync, local_size], tf.shape(global_batch)[1:]], 0))
    return tf.gather(parts, ctx.replica_id_in_sync_group)


def gradient_loss(loss, optimizer):
    """The loss to differentiate: divided by the replica count (Keras sums replica gradients, so they add up
    to the gradient of the global-batch mean) and multiplied by the optimizer's loss scale (mixed_float16)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        loss = loss * (1.0 / ctx.num_replicas_in_sync)
    return optimizer.scale_loss(loss)


def apply_if(condition, optimizer, grads, variables):
    """``optimizer.apply(grads, variables)`` where ``condition`` holds; weights and optimizer state untouched
    otherwise. Under a strategy with several replicas the branch runs in cross-replica context (a ``tf.cond``
    around a synchronization point in replica context is not allowed); ``condition`` must agree on all
    replicas (the gate is computed on the global batch)."""

    def apply():
        optimizer.apply(grads, variables)
        return tf.constant(True)

    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tf.cond(condition, apply, lambda: tf.constant(False))

    def cross_replica(distribution, condition, grads):
        decide = distribution.experimental_local_results(condition)[0]

        def apply_each_replica():
            distribution.extended.call_for_each_replica(optimizer.apply, args=(grads, variables))
            return tf.constant(True)

        return tf.cond(decide, apply_each_replica, lambda: tf.constant(False))

    return ctx.merge_call(cross_replica, args=(condition, grads))


def unpack_batch(data):
    """``(real shapes, pictures or None)`` of a training batch: a tensor of shapes, a ``(shapes, images)`` or
    ``(shapes,)`` tuple, or a dict ``{"shapes": ..., "images": ...}`` (what ``make_training_dataset`` yields)."""
    if isinstance(data, dict):
        return tf.convert_to_tensor(data["shapes"]), data.get("images")
    if isinstance(data, (tuple, list)):
        return tf.convert_to_tensor(data[0]), (data[1] if len(data) > 1 else None)
    return tf.convert_to_tensor(data), None


@keras.saving.register_keras_serializable(package="tf3dgan")
class GAN(keras.Model):
    """Holds G, D (and a variant's encoder) and trains them with one step per batch of real shapes.

    Each step: draw z and run G once; compute D's loss and accuracy on the real batch and G(z) (without
    gradient to G); update D only where the variant allows it and its accuracy passes the gate (``d_gate``:
    "le" accuracy <= d_thresh as the paper, "lt" as tf-3dgan's ``<``, "always"); then update G through the
    updated D with the chosen adversarial loss plus the variant's extra terms. A skipped D step leaves D's
    weights and optimizer state untouched; the G step's passes through D leave its BatchNorm statistics alone.

    A batch is a tensor of real shapes, or a dict ``{"shapes": ..., "images": ...}`` when the variant asks for
    pictures (``Variant.image_input``); the pictures reach the variant's hooks as ``tensors.images``. A
    variant whose encoder has its own optimizer (``Variant.encoder_learning_rate``; compiled as
    ``e_optimizer``) returns E's loss and a term of G's loss from ``Variant.encoder_losses``, computed in the
    G step; E is then updated from the same forward passes as G.

    The optional training tricks of ``tf3dgan.training.stabilizers`` (weight averaging of G, instance noise,
    R1, soft labels, learning-rate decay) act inside this same step; all are off by default.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        encoder: keras.Model | None,
        variant,
        latent_distribution: str,
        latent_std: float,
        d_thresh: float,
        d_gate: str,
        g_loss: str,
        label_smoothing: float,
        fake_label_smoothing: float,
        seed: int,
        ema_decay: float = 0.0,
        instance_noise: float = 0.0,
        r1_gamma: float = 0.0,
        soft_labels: bool = False,
        lr_schedule: str = "constant",
        lr_decay_start: float = 0.5,
        total_steps: int = 0,
        **kwargs,
    ):
        """``variant``: a ``variants.Variant`` instance (with its options); the other settings are the
        config's ``latent`` and ``train`` keys of the same names (their defaults live there); ``total_steps``
        is ``train.steps``, over which instance noise and the learning-rate schedule run."""
        super().__init__(**kwargs)
        if g_loss not in losses.GENERATOR_LOSSES:
            raise ValueError(f"g_loss must be one of {sorted(losses.GENERATOR_LOSSES)}, got {g_loss!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.encoder = encoder
        self.variant = variant
        self.z_dim = int(generator.input_shape[-1])
        self.latent = LatentSampler(self.z_dim, latent_distribution, latent_std)
        self.d_thresh = float(d_thresh)
        self.d_gate = d_gate
        self.g_loss_name = g_loss
        self.label_smoothing = float(label_smoothing)
        self.fake_label_smoothing = float(fake_label_smoothing)
        self.seed = int(seed)
        if lr_schedule not in stabilizers.LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {stabilizers.LR_SCHEDULES}, got {lr_schedule!r}")
        self.ema_decay = float(ema_decay)
        self.instance_noise = float(instance_noise)
        self.r1_gamma = float(r1_gamma)
        self.soft_labels = bool(soft_labels)
        self.lr_schedule = lr_schedule
        self.lr_decay_start = float(lr_decay_start)
        self.total_steps = int(total_steps)
        self.base_learning_rates: dict = {}  # optimizer attribute -> rate at compile time (the schedule's base)
        # G's weight average for sampling: a second G of the same architecture, starting from G's weights.
        self.generator_ema = None
        if self.ema_decay > 0:
            self.generator_ema = keras.models.clone_model(generator)
            self.generator_ema.set_weights(generator.get_weights())
        self.seed_generator = keras.random.SeedGenerator(seed, name="latent_seed")
        self.e_optimizer = None  # set by compile for a variant whose encoder has its own optimizer
        self.step_counter = keras.Variable(0, dtype="int64", trainable=False, name="step")
        names = BASE_METRICS + tuple(self.variant.extra_metrics)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    # -- Keras plumbing ------------------------------------------------------------------------------
    def call(self, z, training=False):
        return self.sampling_generator(z, training=training)

    @property
    def sampling_generator(self) -> keras.Model:
        """The G that samples, scores and exports: the weight average when ``ema_decay`` is on, else G."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def build(self, input_shape=None):
        # The networks are functional models, built at construction.
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def encoder_has_own_optimizer(self) -> bool:
        return self.encoder is not None and self.variant.encoder_learning_rate() is not None

    @property
    def generator_variables(self):
        """What the G optimizer trains: G's weights, plus the encoder's when it has no optimizer of its own
        (the autoencoder variant)."""
        variables = list(self.generator.trainable_variables)
        if self.encoder is not None and not self.encoder_has_own_optimizer:
            variables += list(self.encoder.trainable_variables)
        return variables

    def compile(self, g_optimizer, d_optimizer, e_optimizer=None, **kwargs):
        """``g_optimizer`` trains G (and an encoder without its own), ``d_optimizer`` trains D, ``e_optimizer``
        the encoder of a variant that gives it its own (required exactly then); all are built here."""
        if (e_optimizer is not None) != self.encoder_has_own_optimizer:
            raise ValueError(f"variant {self.variant.name}: e_optimizer must be given exactly when the encoder "
                             "has its own optimizer (Variant.encoder_learning_rate)")
        super().compile(optimizer=g_optimizer, **kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.e_optimizer = e_optimizer
        self.base_learning_rates = {
            name: float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            for name, optimizer in self._optimizers().items()
        }
        # fit() would build self.optimizer on *all* trainable variables; build each on its own set.
        self.g_optimizer.build(self.generator_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        if e_optimizer is not None:
            self.e_optimizer.build(self.encoder.trainable_variables)

    def _optimizers(self) -> dict:
        names = ("g_optimizer", "d_optimizer", "e_optimizer")
        return {name: getattr(self, name) for name in names if getattr(self, name, None) is not None}

    def get_compile_config(self):
        config = {
            "base_learning_rates": self.base_learning_rates,
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "jit_compile": self.jit_compile,
        }
        if self.e_optimizer is not None:
            config["e_optimizer"] = keras.saving.serialize_keras_object(self.e_optimizer)
        return config

    def compile_from_config(self, config):
        e_optimizer = config.get("e_optimizer")
        self.compile(
            g_optimizer=keras.saving.deserialize_keras_object(config["g_optimizer"]),
            d_optimizer=keras.saving.deserialize_keras_object(config["d_optimizer"]),
            e_optimizer=keras.saving.deserialize_keras_object(e_optimizer) if e_optimizer is not None else None,
            jit_compile=config.get("jit_compile", "auto"),
        )
        # The optimizers were saved with the learning rates of their last step; a schedule starts from these.
        self.base_learning_rates.update(config.get("base_learning_rates", {}))

    # Keras does not save a model's own SeedGenerator state in a .keras file; without it a reloaded GAN
    # would draw the latent batches of step 0 again.
    _SEED_STATE_KEY = "latent_seed_state"

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[self._SEED_STATE_KEY] = self.seed_generator.state

    def load_own_variables(self, store):
        super().load_own_variables({k: store[k] for k in store.keys() if k != self._SEED_STATE_KEY})
        if self._SEED_STATE_KEY in store.keys():
            self.seed_generator.state.assign(store[self._SEED_STATE_KEY])

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "encoder": keras.saving.serialize_keras_object(self.encoder) if self.encoder is not None else None,
            "variant": self.variant.name,
            "variant_options": dataclasses.asdict(self.variant.options),
            "latent_distribution": self.latent.distribution,
            "latent_std": self.latent.std,
            "d_thresh": self.d_thresh,
            "d_gate": self.d_gate,
            "g_loss": self.g_loss_name,
            "label_smoothing": self.label_smoothing,
            "fake_label_smoothing": self.fake_label_smoothing,
            "seed": self.seed,
            "ema_decay": self.ema_decay,
            "instance_noise": self.instance_noise,
            "r1_gamma": self.r1_gamma,
            "soft_labels": self.soft_labels,
            "lr_schedule": self.lr_schedule,
            "lr_decay_start": self.lr_decay_start,
            "total_steps": self.total_steps,
        }

    @classmethod
    def from_config(cls, config):
        from tf3dgan.config import variant_options

        config = dict(config)
        for key in ("generator", "discriminator", "encoder"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        variant_class, options = variant_options(config["variant"], config.pop("variant_options", None), "GAN config")
        config["variant"] = variant_class(options)
        return cls(**config)

    # -- training ------------------------------------------------------------------------------------
    def _gate(self, d_acc):
        if self.d_gate == "always":
            return tf.constant(True)
        if self.d_gate == "lt":
            return d_acc < self.d_thresh
        return d_acc <= self.d_thresh

    def discriminate_without_updates(self, x):
        """D(x) in training mode (batch statistics) with its BatchNorm moving-statistics updates discarded.

        The G step's passes through D use this: D's moving statistics then see exactly one real and one
        generated batch per step (the D step's), so D in inference mode (sampling scores, the SVM protocol)
        is normalised as much by real shapes as by generated ones.
        """
        d = self.discriminator
        outputs, _ = d.stateless_call(
            [v.value for v in d.trainable_variables], [v.value for v in d.non_trainable_variables], x, training=True
        )
        return outputs

    def standard_normal(self, shape):
        """N(0, 1) noise of ``shape`` (leading axis: this replica's batch) from the GAN's checkpointed seed
        generator, drawn for the global batch and sliced like the latent batch."""
        return self._draw(keras.random.normal, shape)

    def uniform(self, shape, low: float, high: float):
        """U(low, high) noise of ``shape``, drawn like ``standard_normal``."""
        return self._draw(keras.random.uniform, shape, minval=low, maxval=high)

    def _draw(self, distribution, shape, **kwargs):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        shape = tf.convert_to_tensor(shape)
        noise = distribution(tf.concat([shape[:1] * replicas, shape[1:]], 0), seed=self.seed_generator, **kwargs)
        return replica_slice(noise, shape[0])

    def _discriminator_targets(self, batch_size):
        """D's targets for real and generated shapes: random soft labels, or (smoothed) constants."""
        if self.soft_labels:
            real = tf.clip_by_value(self.uniform([batch_size], *stabilizers.SOFT_REAL_RANGE), 0.0, 1.0)
            return real, self.uniform([batch_size], *stabilizers.SOFT_FAKE_RANGE)
        return 1.0 - self.label_smoothing, self.fake_label_smoothing

    def _schedule_learning_rates(self, step) -> None:
        factor = stabilizers.learning_rate_factor(step, self.lr_schedule, self.lr_decay_start, self.total_steps)
        for name, optimizer in self._optimizers().items():
            optimizer.learning_rate.assign(self.base_learning_rates[name] * factor)

    def train_step(self, data):
        real, images = unpack_batch(data)
        batch_size = tf.shape(real)[0]
        step = tf.convert_to_tensor(self.step_counter)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        z = replica_slice(self.latent.sample(batch_size * replicas, self.seed_generator), batch_size)
        g_variables = self.generator_variables
        own_encoder = self.e_optimizer is not None
        if self.lr_schedule != "constant":
            self._schedule_learning_rates(step)
        if self.instance_noise > 0:
            noise_std = self.instance_noise * stabilizers.remaining_fraction(step, self.total_steps)

            def seen_by_d(x):
                x = tf.cast(x, tf.float32)
                return x + noise_std * self.standard_normal(tf.shape(x))
        else:
            def seen_by_d(x):
                return x

        # Persistent where E has its own optimizer: E's and G's losses share the reconstruction pass.
        with tf.GradientTape(persistent=own_encoder) as g_tape:
            # The one G forward of the step: the D step sees it without gradient, the G step differentiates it.
            fake = self.generator(z, training=True)

            # D step (not recorded on G's tape).
            with g_tape.stop_recording():
                real_for_d, fake_for_d = seen_by_d(real), seen_by_d(tf.stop_gradient(fake))
                with tf.GradientTape() as d_tape:
                    if self.r1_gamma > 0:
                        real_logits, r1 = stabilizers.logits_with_r1_penalty(self.discriminator, real_for_d)
                        penalty = self.r1_gamma * r1
                    else:
                        real_logits, _ = self.discriminator(real_for_d, training=True)
                        penalty = 0.0
                    fake_logits, _ = self.discriminator(fake_for_d, training=True)
                    d_loss = losses.discriminator_loss(real_logits, fake_logits, *self._discriminator_targets(batch_size))
                    d_objective = gradient_loss(d_loss + penalty, self.d_optimizer)
                d_acc = replica_mean(losses.discriminator_accuracy(real_logits, fake_logits))
                update_d = tf.logical_and(self._gate(d_acc), self.variant.discriminator_enabled(step))
                d_variables = self.discriminator.trainable_variables
                if replicas == 1:
                    # The gradient is only computed when it is used: the gate skips most D steps in practice.
                    def apply_d_update():
                        self.d_optimizer.apply(d_tape.gradient(d_objective, d_variables), d_variables)
                        return tf.constant(True)

                    tf.cond(update_d, apply_d_update, lambda: tf.constant(False))
                else:
                    # Across replicas the gradient (an all-reduce with synchronized BatchNorm) cannot sit in a branch.
                    apply_if(update_d, self.d_optimizer, d_tape.gradient(d_objective, d_variables), d_variables)

            # G step, through the D just updated.
            fake_logits_g, fake_features = self.discriminate_without_updates(seen_by_d(fake))
            real_features = None
            if self.variant.needs_real_features:
                _, real_features = self.discriminate_without_updates(seen_by_d(real))
            adversarial = losses.GENERATOR_LOSSES[self.g_loss_name](fake_logits_g)
            tensors = GeneratorStepTensors(real, z, fake, fake_logits_g, fake_features, real_features, step, images)
            extra_loss, extra_metrics = self.variant.extra_generator_loss(self, tensors)
            g_loss = self.variant.adversarial_weight(step) * adversarial + extra_loss
            if own_encoder:
                e_loss, g_term, e_metrics = self.variant.encoder_losses(self, tensors)
                g_loss = g_loss + g_term
                extra_metrics = {**extra_metrics, **e_metrics}
                e_objective = gradient_loss(e_loss, self.e_optimizer)
            g_objective = gradient_loss(g_loss, self.g_optimizer)
        g_grads = g_tape.gradient(g_objective, g_variables)
        if own_encoder:
            e_variables = self.encoder.trainable_variables
            self.e_optimizer.apply(g_tape.gradient(e_objective, e_variables), e_variables)
        self.g_optimizer.apply(g_grads, g_variables)
        del g_tape
        if self.generator_ema is not None:
            stabilizers.update_average(self.generator_ema, self.generator, stabilizers.ema_decay_at(step, self.ema_decay))
        self.step_counter.assign_add(1)

        values = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_acc": d_acc,
            "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
            "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits)),
            "d_updated": tf.cast(update_d, tf.float32),
            **extra_metrics,
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # -- inference -----------------------------------------------------------------------------------
    def sample_latent(self, n: int, seed: int):
        """``n`` latent vectors from the configured distribution, reproducible from ``seed``."""
        return self.latent.sample(n, seed)

    def generate(self, z, batch_size: int = 32):
        """Occupancy probabilities for latent vectors ``z`` in inference mode, as a numpy array (N, D, D, D)."""
        import numpy as np

        z = np.asarray(z, dtype="float32")
        out = [
            keras.ops.convert_to_numpy(self.sampling_generator(z[i : i + batch_size], training=False))[..., 0]
            for i in range(0, len(z), batch_size)
        ]
        return np.concatenate(out, 0) if out else np.zeros((0,) + tuple(self.generator.output_shape[1:4]), "float32")
