"""The one packaging step setup.cfg cannot express: the repository's top-level ``configs/`` folder (the only copy,
edited there) is copied into the built package as ``tf3dgan/configs/`` (``tf3dgan.config_library`` reads it there,
and from the checkout's ``configs/`` in an editable install). A ``package_dir`` mapping would do the same, but
with any mapping other than ``{"": "."}`` an editable install goes through setuptools' import hook, which prints
a warning on every ``pip install -e .``; with it, the install is a ``.pth`` file naming the checkout."""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
CONFIG_FILES = ["*.yaml", "ablations/*.yaml", "ablations/*.results*.jsonl"]  # under configs/; MANIFEST.in: the same


class BuildPyWithConfigs(build_py):
    """``build_py`` that also copies ``configs/`` into the build's ``tf3dgan/configs/``."""

    def run(self):
        super().run()
        if self.editable_mode:
            return
        for pattern in CONFIG_FILES:
            for source in sorted((HERE / "configs").glob(pattern)):
                target = Path(self.build_lib, "tf3dgan", source.relative_to(HERE))
                self.mkpath(str(target.parent))
                self.copy_file(str(source), str(target))


setup(
    packages=find_packages(include=["tf3dgan", "tf3dgan.*", "variants", "variants.*", "data_io", "data_io.*"]),
    package_dir={"": "."},
    cmdclass={"build_py": BuildPyWithConfigs},
)
