"""Export a trained run: a TensorFlow SavedModel of the generator and the whole GAN as a ``.keras`` file.

``EXPORT_DIR`` receives:
- the SavedModel (``saved_model.pb``, ``variables/``), with two signatures, the generator in inference mode:
  - ``serving_default``: input ``z`` float32 [None, z_dim] -> ``probabilities`` float32 [None, D, D, D]
    (occupancy probabilities in [0, 1]; the channel axis is dropped);
  - ``sample``: inputs ``count`` int32 [] and ``seed`` int64 [] -> ``z`` [count, z_dim] drawn from the run's
    latent distribution with stateless random ops (the same vectors as ``tf3dgan sample --seed``), and
    their ``probabilities``;
  It needs TensorFlow only: ``tf.saved_model.load(EXPORT_DIR).signatures["serving_default"](z=...)``.
- ``gan.keras``: G, D (and encoder), both optimizers' state and the latent RNG state;
  ``keras.saving.load_model`` (with ``tf3dgan`` importable) restores it, ready to ``fit`` further.
- ``export.json``: z_dim, cube_len, latent distribution, step, and the signatures above.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from tf3dgan.errors import UsageError

KERAS_FILE = "gan.keras"
INFO_FILE = "export.json"


def saved_model_archive(gan) -> "keras.export.ExportArchive":
    """An ExportArchive of ``gan.sampling_generator`` (G, or its weight average) with the ``serving_default`` and ``sample`` endpoints."""
    generator = gan.sampling_generator
    z_dim = gan.z_dim
    distribution, std = gan.latent.distribution, float(gan.latent.std)

    archive = keras.export.ExportArchive()
    archive.track(generator)

    @tf.function(input_signature=[tf.TensorSpec([None, z_dim], tf.float32, name="z")])
    def serve(z):
        return {"probabilities": generator(z, training=False)[..., 0]}

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([], tf.int64, name="seed")])
    def sample(count, seed):
        # keras.random.normal/uniform with an int seed S use the stateless ops with seed [S, 0]: same draws.
        shape = tf.stack([count, z_dim])
        seed_pair = tf.stack([seed, tf.zeros_like(seed)])
        if distribution == "normal":
            z = tf.random.stateless_normal(shape, seed=seed_pair, mean=0.0, stddev=std)
        else:
            z = tf.random.stateless_uniform(shape, seed=seed_pair, minval=0.0, maxval=1.0)
        return {"z": z, "probabilities": generator(z, training=False)[..., 0]}

    archive.add_endpoint("serving_default", serve)
    archive.add_endpoint("sample", sample)
    return archive


def export_gan(gan, out_dir: str | Path, info: dict | None = None, overwrite: bool = False) -> dict:
    """Write the SavedModel, ``gan.keras`` and ``export.json`` into ``out_dir``; return the info dict.

    Everything is written into a temporary folder beside ``out_dir``, which then takes its place: a failed
    export leaves no partial folder (and, with ``overwrite``, the old export until the new one is complete).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: is a file, not an export folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise UsageError(f"{out_dir}: export folder exists and is not empty (use --overwrite)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        try:
            info = _write_export(gan, work, info)
        except tf.errors.OpError as err:
            _raise_storage_error(err, out_dir)
            raise
        if out_dir.exists():
            old = work.with_suffix(".old")
            out_dir.rename(old)
            work.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return info


# TensorFlow's file system reports what the OS refused as an OpError whose message holds the OS's text.
_OS_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def _raise_storage_error(err, out_dir: Path) -> None:
    """The OSError that TensorFlow's ``err`` stands for (a full disk, a read-only file system, a denied
    permission), naming ``out_dir``, as every other writer raises; nothing for other errors."""
    for code in _OS_ERRORS:
        if os.strerror(code) in str(err.message):
            raise OSError(code, os.strerror(code), str(out_dir)) from None


def _write_export(gan, out_dir: Path, info: dict | None) -> dict:
    saved_model_archive(gan).write_out(str(out_dir), verbose=False)
    gan.save(out_dir / KERAS_FILE)
    cube_len = int(gan.generator.output_shape[1])
    info = {
        **(info or {}),
        "z_dim": gan.z_dim,
        "cube_len": cube_len,
        "latent": {"distribution": gan.latent.distribution, "std": float(gan.latent.std)},
        "signatures": {
            "serving_default": {"inputs": {"z": ["float32", [None, gan.z_dim]]},
                                "outputs": {"probabilities": ["float32", [None, cube_len, cube_len, cube_len]]}},
            "sample": {"inputs": {"count": ["int32", []], "seed": ["int64", []]},
                       "outputs": {"z": ["float32", [None, gan.z_dim]],
                                   "probabilities": ["float32", [None, cube_len, cube_len, cube_len]]}},
        },
        "keras_file": KERAS_FILE,
    }
    (out_dir / INFO_FILE).write_text(json.dumps(info, indent=2))
    return info


def export_run(run_dir: str | Path, out_dir: str | Path, checkpoint=None, overwrite: bool = False) -> dict:
    """Export the run in ``run_dir`` (newest checkpoint unless ``checkpoint``)."""
    from tf3dgan.training.checkpoint import load_run

    config, gan, step = load_run(run_dir, checkpoint)
    return export_gan(gan, out_dir, {"run": str(run_dir), "step": step, "variant": config.model.variant},
                      overwrite=overwrite)
