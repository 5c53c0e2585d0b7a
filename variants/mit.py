"""The paper's 3D-GAN with conv biases (tf-3dgan's 3dgan_mit.py)."""

from variants.base import Variant


class Mit(Variant):
    name = "mit"
    description = "the paper's net with conv biases"
    use_bias = True
