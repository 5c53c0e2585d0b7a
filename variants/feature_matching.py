"""Feature matching (tf-3dgan's 3dgan_feature_matching.py, fixed): G also matches mean D features of real data.

tf-3dgan matched the batch-mean final logit and multiplied the adversarial term by zero; here the term is
the distance between batch-mean intermediate D features, added to the (kept) adversarial loss.
"""

from tf3dgan.nn.losses import feature_matching_loss
from variants.base import Variant
from variants.options import FeatureMatchingOptions


class FeatureMatching(Variant):
    name = "feature_matching"
    description = "paper net + L2 loss between mean D features of real and generated batches"
    use_bias = False
    Options = FeatureMatchingOptions
    needs_real_features = True
    extra_metrics = ("fm_loss",)

    def adversarial_weight(self, step):
        import tensorflow as tf

        return tf.constant(float(self.options.adversarial_weight))

    def extra_generator_loss(self, gan, tensors):
        real, fake = tensors.real_features, tensors.fake_features
        if self.options.layers == "last":
            real, fake = real[-1:], fake[-1:]
        fm = feature_matching_loss(real, fake, self.options.norm)
        return self.options.weight * fm, {"fm_loss": fm}
