"""tf3dgan: volumetric 3D-GANs (Wu et al. 2016) in Keras 3 / TensorFlow, after tf-3dgan."""

from tf3dgan import cpu as _cpu

_cpu.enable_onednn()  # first: TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it is imported

__version__ = "0.1.0"
