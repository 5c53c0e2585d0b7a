"""tf-3dgan's 3dgan.py baseline: a dense stem in G and a fully connected head at the end of D."""

from variants.base import Variant


class BaselineFC(Variant):
    name = "baseline_fc"
    description = "fully connected baseline: dense stem in G, dense head in D (tf-3dgan's 3dgan.py)"
    use_bias = True
    dense_stem = True
    dense_head = True
