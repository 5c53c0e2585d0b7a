"""The one packaging setting setup.cfg cannot express: the repository's top-level ``configs/`` folder (the only
copy, edited there) installs as the package data ``tf3dgan/configs/`` (``tf3dgan.config_library`` reads it)."""

from setuptools import find_packages, setup

CONFIG_PACKAGES = ["tf3dgan.configs", "tf3dgan.configs.ablations"]  # data-only folders: configs/, configs/ablations/

setup(
    packages=find_packages(include=["tf3dgan", "tf3dgan.*", "variants", "variants.*", "data_io", "data_io.*"])
    + CONFIG_PACKAGES,
    package_dir={"tf3dgan.configs": "configs"},
)
