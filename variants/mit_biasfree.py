"""The paper's 3D-GAN without conv biases (tf-3dgan's 3dgan_mit_biasfree.py), with a sigmoid output."""

from variants.base import Variant


class MitBiasFree(Variant):
    name = "mit_biasfree"
    description = "the paper's net (Wu et al. 2016), conv biases zeroed as in the authors' release"
    use_bias = False
