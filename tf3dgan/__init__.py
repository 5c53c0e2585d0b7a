"""tf3dgan: volumetric 3D-GANs (Wu et al. 2016) in Keras 3 / TensorFlow, after tf-3dgan."""

__version__ = "0.1.0"
