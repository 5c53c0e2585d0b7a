"""The tests' shared harness: tiny configs, fitting a GAN a few steps, its whole state, a .keras round trip.

Written against the public entry points only (``tf3dgan.config.load_config``, ``tf3dgan.training.builder.build_gan``,
``GAN.fit`` / ``GAN.save``, ``keras.saving.load_model``), so it does not depend on how the GAN is constructed.

    from harness import TINY, VARIANT_TINY, tiny_config, tiny_gan, fit_steps, state, assert_same_state

``conftest.py`` exposes ``TINY`` as the ``tiny_overrides`` fixture.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import numpy as np

# ``--set`` overrides that shrink any config to a 16^3 net that trains in milliseconds per step.
TINY = [
    "model.cube_len=16",
    "model.base_width=4",
    "model.z_dim=8",
    "train.batch_size=4",
    "train.log_every=2",
    "train.checkpoint_every=3",
    "train.sample_every=4",
    "train.num_samples=2",
]

# TINY for the tests that run ``tf3dgan train``: a line in metrics.jsonl at every step, 12 synthetic shapes.
TRAIN_TINY = [*TINY, "data.synthetic_count=12", "train.log_every=1", "monitor.html=false"]

# An ablation suite of two tiny runs (base, saturating loss) at two seeds, evaluated every 2 steps.
TINY_SUITE = """
description: two tiny runs, two seeds
set: [model.cube_len=16, model.base_width=4, model.z_dim=8, train.batch_size=4, train.steps=4,
      train.log_every=2, train.checkpoint_every=2, train.sample_every=0, data.source=synthetic,
      data.synthetic_count=12, monitor.html=false]
evaluate: {reference: synthetic, n: 6, every: 2}
seeds: [0, 1]
runs:
  - name: base
  - name: saturating
    set: [train.g_loss=saturating]
    claim: the saturating loss is worse
    expect: [{score: mmd, direction: worse}, {score: cov, at: 2, direction: same}]
"""

# What each variant needs on top of TINY to be tiny too (the image variants read 16x16 pictures, not 256x256).
VARIANT_TINY = {
    "autoencoder": ["variant.pretrain_steps=2"],
    "vae_gan": ["variant.image_size=16"],
    "mv_vae_gan": ["variant.image_size=16", "variant.views=2", "variant.min_views=1"],
}


def variant_overrides(variant: str) -> list[str]:
    """``model.variant=<variant>`` and the variant's own tiny options."""
    return [f"model.variant={variant}", *VARIANT_TINY.get(variant, [])]


def tiny_config(*overrides: str, variant: str | None = None):
    """``load_config(None, TINY + [variant's tiny options] + overrides)``: later overrides win."""
    from tf3dgan.config import load_config

    return load_config(None, [*TINY, *(variant_overrides(variant) if variant else []), *overrides])


def tiny_gan(*overrides: str, variant: str | None = None, compile: bool = True):
    """``build_gan`` of ``tiny_config(*overrides, variant=variant)``."""
    from tf3dgan.training.builder import build_gan

    return build_gan(tiny_config(*overrides, variant=variant), compile=compile)


def train_args(run: str | Path, steps: int, *extra: str) -> list[str]:
    """The arguments of ``tf3dgan train`` for a TRAIN_TINY run in ``run`` up to ``steps``, then ``extra``."""
    return ["train", "--out", str(run), "--steps", str(steps), "--quiet",
            *[arg for override in TRAIN_TINY for arg in ("--set", override)], *extra]


def metrics_steps(run: Path) -> list[int]:
    """The steps of the complete lines of ``run``'s metrics.jsonl ([] without one)."""
    import json

    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]  # the text after the last newline is not a line yet
    return [json.loads(line)["step"] for line in lines if line.strip()]


def random_grids(n: int = 8, size: int = 16, seed: int = 1, density: float = 0.4) -> np.ndarray:
    """``n`` random uint8 occupancy grids of ``size``^3 (about ``density`` of the voxels set)."""
    return (np.random.default_rng(seed).random((n, size, size, size)) > 1.0 - density).astype("uint8")


def batches(gan, voxels: np.ndarray, batch_size: int = 4):
    """An endless ``tf.data`` stream of ``voxels`` in order, as ``gan.fit`` takes it: (B, D, D, D, 1) float32 batches,
    or for a variant that reads pictures the training pipeline's ``{"shapes", "images"}`` batches."""
    import tensorflow as tf

    if gan.variant.image_input() is not None:  # the image-encoder variants: batches carry rendered views
        from data_io.pipeline import make_training_dataset
        from tf3dgan.training.training_input import image_arguments

        return make_training_dataset(voxels, batch_size=batch_size, cube_len=voxels.shape[1], seed=0,
                                     **image_arguments(gan.variant, voxels))
    data = tf.data.Dataset.from_tensor_slices(voxels[..., None].astype("float32"))
    return data.batch(batch_size, drop_remainder=True).repeat()


def fit_steps(gan, voxels: np.ndarray, steps: int, batch_size: int = 4) -> dict:
    """``gan.fit`` for ``steps`` steps (one epoch, no shuffling, silent); returns the Keras history dict."""
    return gan.fit(batches(gan, voxels, batch_size), steps_per_epoch=steps, epochs=1, shuffle=False,
                   verbose=0).history


def optimizers(gan) -> list:
    """The GAN's optimizers (G's, D's and, where the variant has one, E's)."""
    return [o for o in (gan.g_optimizer, gan.d_optimizer, getattr(gan, "e_optimizer", None)) if o is not None]


def state(gan) -> list[np.ndarray]:
    """Everything that decides the next step: every weight (BatchNorm statistics, the latent RNG state and the
    step included) and every optimizer variable."""
    return [np.asarray(v.numpy()) for v in gan.weights] + [np.asarray(v) for o in optimizers(gan) for v in o.variables]


def assert_same_state(a, b) -> None:
    """The two GANs' states are equal, bit for bit (and have as many variables)."""
    for x, y in zip(state(a), state(b), strict=True):
        np.testing.assert_array_equal(x, y)


def save_and_load(gan, path: str | Path):
    """``gan.save(path)`` (a ``.keras`` file) and ``keras.saving.load_model(path)`` in this process."""
    import keras

    gan.save(path)
    return keras.saving.load_model(path)


def discriminator_logits(gan, voxels: np.ndarray) -> np.ndarray:
    """D's logits (inference mode) for ``voxels`` (N, D, D, D)."""
    import keras

    logits, _ = gan.discriminator(voxels[..., None].astype("float32"), training=False)
    return keras.ops.convert_to_numpy(logits)


def assert_round_trip(gan, path: str | Path, voxels: np.ndarray, n: int = 3):
    """Save ``gan`` as ``.keras``, load it, and check that the copy is the same GAN: its variant and options, every
    weight and optimizer variable, G's samples for the same z and D's logits; returns the loaded GAN."""
    loaded = save_and_load(gan, path)
    assert type(loaded) is type(gan)
    assert loaded.variant.name == gan.variant.name and loaded.variant.options == gan.variant.options
    assert_same_state(gan, loaded)
    z = np.asarray(gan.sample_latent(n, seed=1), "float32")
    np.testing.assert_array_equal(loaded.generate(z), gan.generate(z))
    np.testing.assert_array_equal(discriminator_logits(loaded, voxels[:n]), discriminator_logits(gan, voxels[:n]))
    return loaded


def one_line_error(capsys, *needles: str) -> str:
    """The captured standard error, checked to be one line without a traceback and to contain ``needles``."""
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size: str):
    """A tmpfs of ``size`` (e.g. "1m") mounted on ``folder`` while the block runs (unmounted after); the test is
    skipped where mounting is not possible (needs root and the mount command)."""
    import pytest

    folder.mkdir(exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def default_signal_dispositions() -> None:
    """``preexec_fn`` for a child that a test signals: SIGINT and SIGTERM at their defaults, whatever the caller
    inherited (a suite started as ``nohup make test &`` from a shell without job control ignores SIGINT, and so
    would its children)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 180.0, log: Path | None = None):
    """Poll ``condition`` until it returns something true (returned), failing if ``process`` exits first or the
    time runs out: the way to wait on an event the other process reports, never a fixed sleep. ``log``: the
    process's stderr file, whose end the failure shows."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            tail = f": {log.read_text()[-2000:]}" if log is not None else ""
            raise AssertionError(f"the process exited ({process.returncode}) before {what}{tail}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"timed out waiting for {what}")


def run_capped(script: str, *args: str, memory_bytes: int, timeout: float = 300.0, env: dict | None = None):
    """``python -c script *args`` (in the repository root) in a child process whose address space is capped at
    ``memory_bytes`` (RLIMIT_AS): a test of a hostile file cannot take the machine's memory, whatever the code
    under test does. Returns the ``subprocess.CompletedProcess`` (text output captured)."""
    import os
    import resource
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=cap, cwd=Path(__file__).resolve().parents[1], env={**os.environ, **(env or {})})
