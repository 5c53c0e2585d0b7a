"""Feature matching (tf-3dgan's 3dgan_feature_matching.py, fixed): G also matches mean D features of real data.

tf-3dgan matched the batch-mean final logit and multiplied the adversarial term by zero; here the term is
the distance between batch-mean intermediate D features, added to the (kept) adversarial loss.
"""

from tf3dgan.errors import ConfigError
from tf3dgan.nn.losses import feature_matching_loss
from variants.base import Variant


class FeatureMatching(Variant):
    name = "feature_matching"
    description = "paper net + L2 loss between mean D features of real and generated batches"
    use_bias = False
    options = {"weight": 1.0, "norm": "l2", "layers": "all", "adversarial_weight": 1.0}
    needs_real_features = True
    extra_metrics = ("fm_loss",)

    @classmethod
    def check_options(cls, options, where):
        if options["norm"] not in ("l1", "l2"):
            raise ConfigError(f"{where}: variant.norm must be 'l1' or 'l2', got {options['norm']!r}")
        if options["layers"] not in ("all", "last"):
            raise ConfigError(f"{where}: variant.layers must be 'all' or 'last', got {options['layers']!r}")
        if options["weight"] < 0 or options["adversarial_weight"] < 0:
            raise ConfigError(f"{where}: variant.weight and variant.adversarial_weight must be >= 0")

    def adversarial_weight(self, step):
        import tensorflow as tf

        return tf.constant(float(self.opts["adversarial_weight"]))

    def extra_generator_loss(self, gan, tensors):
        real, fake = tensors.real_features, tensors.fake_features
        if self.opts["layers"] == "last":
            real, fake = real[-1:], fake[-1:]
        fm = feature_matching_loss(real, fake, self.opts["norm"])
        return self.opts["weight"] * fm, {"fm_loss": fm}
