"""``GAN``: the one Keras model and the one ``train_step`` every variant trains through."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tf3dgan.config import LatentConfig, TrainConfig, build_section
from tf3dgan.nn import losses
from tf3dgan.nn.latent import LatentSampler
from tf3dgan.training import stabilizers
from tf3dgan.training.distribute import apply_where, gradient_loss, replica_mean, replica_slice
from tf3dgan.training.metrics import BASE_METRICS
from tf3dgan.training.saved_gan import gan_arguments
from variants.base import GeneratorStepTensors

def _checked(section_class, name: str, value):
    """``value`` (a section dataclass or None for the defaults) rebuilt through the config's checks."""
    if value is None:
        return section_class()
    if not isinstance(value, section_class):
        raise TypeError(f"GAN: {name} must be a {section_class.__name__}, got {type(value).__name__}")
    return build_section("GAN", name, dataclasses.asdict(value))


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

    def __init__(self, generator: keras.Model, discriminator: keras.Model, encoder: keras.Model | None, variant,
                 train: TrainConfig | None = None, latent: LatentConfig | None = None, **kwargs):
        """``variant``: a ``variants.Variant`` instance (with its options); ``train`` and ``latent``: the config's
        sections (defaults: the paper's settings), checked like a config file's. The step reads its settings
        from them (``train.steps`` is the span of instance noise and the learning-rate schedule)."""
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.encoder = encoder
        self.variant = variant
        self.train_config = _checked(TrainConfig, "train", train)
        self.latent_config = _checked(LatentConfig, "latent", latent)
        self.z_dim = int(generator.input_shape[-1])
        self.latent = LatentSampler(self.z_dim, self.latent_config.distribution, self.latent_config.std)
        self.base_learning_rates: dict = {}  # optimizer attribute -> rate at compile time (the schedule's base)
        # G's weight average for sampling: a second G of the same architecture, starting from G's weights.
        self.generator_ema = None
        if self.train_config.ema_decay > 0:
            self.generator_ema = keras.models.clone_model(generator)
            self.generator_ema.set_weights(generator.get_weights())
        self.seed_generator = keras.random.SeedGenerator(self.train_config.seed, name="latent_seed")
        self.e_optimizer = None  # set by compile for a variant whose encoder has its own optimizer
        self.step_counter = keras.Variable(0, dtype="int64", trainable=False, name="step")
        names = BASE_METRICS + tuple(self.variant.extra_metrics)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @property
    def seed(self) -> int:
        return self.train_config.seed

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
            "train": dataclasses.asdict(self.train_config),
            "latent": dataclasses.asdict(self.latent_config),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**gan_arguments(config))  # also the configs of earlier versions: tf3dgan.training.saved_gan

    # -- training ------------------------------------------------------------------------------------
    def _gate(self, d_acc):
        """Whether D's accuracy on this batch lets D be updated (``train.d_gate``, ``train.d_thresh``)."""
        t = self.train_config
        if t.d_gate == "always":
            return tf.constant(True)
        if t.d_gate == "lt":
            return d_acc < t.d_thresh
        return d_acc <= t.d_thresh

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

    def _latent_batch(self, batch_size):
        """This replica's rows of the global batch of latent vectors."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return replica_slice(self.latent.sample(batch_size * replicas, self.seed_generator), batch_size)

    def _discriminator_targets(self, batch_size):
        """D's targets for real and generated shapes: random soft labels, or (smoothed) constants."""
        t = self.train_config
        if t.soft_labels:
            real = tf.clip_by_value(self.uniform([batch_size], *stabilizers.SOFT_REAL_RANGE), 0.0, 1.0)
            fake = self.uniform([batch_size], *stabilizers.SOFT_FAKE_RANGE)
        else:
            real, fake = 1.0 - t.label_smoothing, t.fake_label_smoothing
        if t.flip_labels > 0:
            flip = self.uniform([batch_size], 0.0, 1.0) < t.flip_labels
            real, fake = tf.where(flip, fake, real), tf.where(flip, real, fake)
        return real, fake

    def _schedule_learning_rates(self, step) -> None:
        t = self.train_config
        if t.lr_schedule == "constant":
            return
        factor = stabilizers.learning_rate_factor(step, t.lr_schedule, t.lr_decay_start, t.steps)
        for name, optimizer in self._optimizers().items():
            optimizer.learning_rate.assign(self.base_learning_rates[name] * factor)

    def _input_of_d(self, step):
        """What D sees of a batch: the batch itself, or with annealed instance noise (``train.instance_noise``)."""
        t = self.train_config
        if t.instance_noise <= 0:
            return lambda x: x
        noise_std = t.instance_noise * stabilizers.remaining_fraction(step, t.steps)
        return lambda x: tf.cast(x, tf.float32) + noise_std * self.standard_normal(tf.shape(x))

    def _discriminator_step(self, real, fake, step, seen_by_d):
        """Update D on the real batch and G's (gradient-free) batch where the variant and the gate allow it, with
        the R1 penalty where ``train.r1_gamma`` asks for it; return D's loss, accuracy, logits and whether it was
        updated.

        Lazy R1 (``train.r1_every`` k > 1, StyleGAN2): the penalty, weighted k times, only at the steps divisible
        by k; the other steps run the plain update (a ``tf.cond`` around the whole update: TensorFlow 2.21 fails to
        differentiate a branch holding R1's own gradient from inside the D gate's branch). Across replicas a branch
        cannot hold D's synchronized BatchNorm, so there the penalty is computed at every step, weighted 0 or k.
        """
        real_for_d, fake_for_d = seen_by_d(real), seen_by_d(tf.stop_gradient(fake))
        t = self.train_config

        def update(r1_weight):
            return self._update_discriminator(real, real_for_d, fake_for_d, step, r1_weight)

        if t.r1_gamma <= 0 or t.r1_every == 1:
            return update(t.r1_gamma if t.r1_gamma > 0 else None)
        r1_step = tf.equal(step % t.r1_every, 0)
        lazy_weight = t.r1_gamma * t.r1_every
        if tf.distribute.get_strategy().num_replicas_in_sync > 1:
            return update(lazy_weight * tf.cast(r1_step, tf.float32))
        return tf.cond(r1_step, lambda: update(lazy_weight), lambda: update(None))

    def _update_discriminator(self, real, real_for_d, fake_for_d, step, r1_weight):
        """``_discriminator_step`` with the R1 penalty weighted by ``r1_weight`` (None: without R1)."""
        with tf.GradientTape() as d_tape:
            if r1_weight is not None:
                real_logits, r1 = stabilizers.logits_with_r1_penalty(self.discriminator, real_for_d)
                penalty = r1_weight * r1
            else:
                real_logits, _ = self.discriminator(real_for_d, training=True)
                penalty = 0.0
            fake_logits, _ = self.discriminator(fake_for_d, training=True)
            targets = self._discriminator_targets(tf.shape(real)[0])
            d_loss = losses.discriminator_loss(real_logits, fake_logits, *targets)
            d_objective = gradient_loss(d_loss + penalty, self.d_optimizer)
        d_acc = replica_mean(losses.discriminator_accuracy(real_logits, fake_logits))
        update_d = tf.logical_and(self._gate(d_acc), self.variant.discriminator_enabled(step))
        d_variables = self.discriminator.trainable_variables
        apply_where(update_d, self.d_optimizer, lambda: d_tape.gradient(d_objective, d_variables), d_variables)
        return d_loss, d_acc, real_logits, fake_logits, update_d

    def _generator_losses(self, tensors: GeneratorStepTensors, seen_by_d):
        """G's loss (adversarial through the updated D, plus the variant's terms), E's loss (None without an
        encoder of its own) and the variant's metrics."""
        fake_logits, fake_features = self.discriminate_without_updates(seen_by_d(tensors.fake))
        real_features = None
        if self.variant.needs_real_features:
            _, real_features = self.discriminate_without_updates(seen_by_d(tensors.real))
        tensors = dataclasses.replace(tensors, fake_logits=fake_logits, fake_features=fake_features,
                                      real_features=real_features)
        adversarial = losses.GENERATOR_LOSSES[self.train_config.g_loss](fake_logits)
        extra_loss, metrics = self.variant.extra_generator_loss(self, tensors)
        g_loss = self.variant.adversarial_weight(tensors.step) * adversarial + extra_loss
        e_loss = None
        if self.e_optimizer is not None:
            e_loss, g_term, e_metrics = self.variant.encoder_losses(self, tensors)
            g_loss, metrics = g_loss + g_term, {**metrics, **e_metrics}
        return g_loss, e_loss, metrics

    def train_step(self, data):
        real, images = unpack_batch(data)
        step = tf.convert_to_tensor(self.step_counter)
        z = self._latent_batch(tf.shape(real)[0])
        self._schedule_learning_rates(step)
        seen_by_d = self._input_of_d(step)
        own_encoder = self.e_optimizer is not None
        # Persistent where E has its own optimizer: E's and G's losses share the reconstruction pass.
        with tf.GradientTape(persistent=own_encoder) as g_tape:
            fake = self.generator(z, training=True)  # the one G forward: D's step sees it, G's differentiates it
            with g_tape.stop_recording():
                d_loss, d_acc, real_logits, fake_logits, update_d = self._discriminator_step(real, fake, step, seen_by_d)
            tensors = GeneratorStepTensors(real, z, fake, None, [], None, step, images)
            g_loss, e_loss, extra_metrics = self._generator_losses(tensors, seen_by_d)  # through the updated D
            g_objective = gradient_loss(g_loss, self.g_optimizer)
            if own_encoder:
                e_objective = gradient_loss(e_loss, self.e_optimizer)
        g_variables = self.generator_variables
        g_grads = g_tape.gradient(g_objective, g_variables)
        if own_encoder:
            e_variables = self.encoder.trainable_variables
            self.e_optimizer.apply(g_tape.gradient(e_objective, e_variables), e_variables)
        self.g_optimizer.apply(g_grads, g_variables)
        del g_tape
        if self.generator_ema is not None:
            decay = stabilizers.ema_decay_at(step, self.train_config.ema_decay)
            stabilizers.update_average(self.generator_ema, self.generator, decay)
        self.step_counter.assign_add(1)

        base = (d_loss, g_loss, d_acc, tf.reduce_mean(tf.sigmoid(real_logits)), tf.reduce_mean(tf.sigmoid(fake_logits)),
                tf.cast(update_d, tf.float32))
        return self._track({**dict(zip(BASE_METRICS, base, strict=True)), **extra_metrics})

    def _track(self, values: dict) -> dict:
        """Add the step's values to the running means; the means so far."""
        if set(values) != set(self.trackers):
            raise ValueError(f"variant {self.variant.name}: the step reported {sorted(values)}, but its metrics are "
                             f"{sorted(self.trackers)} (BASE_METRICS + Variant.extra_metrics)")
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
