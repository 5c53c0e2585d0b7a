"""Golden traces: tiny seeded trainings, one per training trick and variant, whose metrics and final weights are
stored so that a refactoring of the GAN, its builder or its loop can be checked bit for bit.

    # (re)write tests/fixtures/golden_traces.json and its checkpoint, with TensorFlow's threads as `make test` has them
    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 python tests/golden_traces.py

Each trace trains the 16^3 test net for ``STEPS`` steps on fixed random grids with one setting changed, and keeps
every metrics.jsonl line and a SHA-256 of every network's final weights. The traces hold on the CPU kind they
were written on (``cpu``: vector ISA, CPU model and L2 size, which decide oneDNN's kernels and their blocking)
with the threads they were written with (``threads``): elsewhere sums run in other orders and round
differently, so there the test skips. A checkpoint of the base
trace at step ``RESUME_AT`` is kept too: the code of today must resume it to the same final weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import tf3dgan  # noqa: E402,F401  (oneDNN first)

FIXTURE = HERE / "fixtures" / "golden_traces.json"
CHECKPOINT = HERE / "fixtures" / "golden_base_checkpoint.npz"
STEPS = 6
RESUME_AT = 3
BASE = ["model.cube_len=16", "model.base_width=4", "model.z_dim=8", "train.batch_size=4", "train.steps=6",
        "train.log_every=1", "train.checkpoint_every=3", "train.sample_every=0", "monitor.html=false",
        "train.d_lr=0.001"]
TRACES = {
    "base": [],
    "gate_lt": ["train.d_gate=lt"],
    "gate_always": ["train.d_gate=always"],
    "saturating": ["train.g_loss=saturating"],
    "label_smoothing": ["train.label_smoothing=0.1", "train.fake_label_smoothing=0.05"],
    "ema": ["train.ema_decay=0.9"],
    "instance_noise": ["train.instance_noise=0.2"],
    "r1": ["train.r1_gamma=1.0"],
    "soft_labels": ["train.soft_labels=true"],
    "linear_schedule": ["train.lr_schedule=linear", "train.lr_decay_start=0.3"],
    "cosine_schedule": ["train.lr_schedule=cosine"],
    "uniform_latent": ["latent.distribution=uniform"],
    "latent_std": ["latent.std=0.5"],
    "minibatch_std": ["model.minibatch_std=true"],
    "mit": ["model.variant=mit"],
    "baseline_fc": ["model.variant=baseline_fc"],
    "feature_matching": ["model.variant=feature_matching"],
    "autoencoder": ["model.variant=autoencoder", "variant.pretrain_steps=3"],
}


def training_voxels() -> np.ndarray:
    """16 fixed random 8^3 grids (the pipeline upsamples them to 16^3)."""
    return (np.random.default_rng(7).random((16, 8, 8, 8)) > 0.6).astype("uint8")


def weights_digest(gan) -> dict:
    """SHA-256 of each network's weights (float32 bytes in order), by network name."""
    networks = {"generator": gan.generator, "discriminator": gan.discriminator, "encoder": gan.encoder,
                "generator_ema": gan.generator_ema}
    out = {}
    for name, net in networks.items():
        if net is not None:
            digest = hashlib.sha256()
            for w in net.get_weights():
                digest.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
            out[name] = digest.hexdigest()
    return out


def cpu_kind() -> str:
    """The vector ISA oneDNN may use, the CPU's family and model and its L2 cache (Linux; ``?`` where unknown)."""
    from tf3dgan.cpu import vector_isa

    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    try:
        l2 = Path("/sys/devices/system/cpu/cpu0/cache/index2/size").read_text().strip()
    except OSError:
        l2 = "?"
    return f"{vector_isa()}; family {fields.get('cpu family', '?')} model {fields.get('model', '?')}; L2 {l2}"


def tensorflow_threads() -> str:
    """TensorFlow's intra-op and inter-op thread counts in this process, as set by the environment (``make test``'s
    pytest-xdist workers run one each: tests/conftest.py); ``default`` where unset (a thread per core)."""
    return "/".join(os.environ.get(f"TF_NUM_{pool}_THREADS", "default") for pool in ("INTRAOP", "INTEROP"))


def config_of(name: str):
    from tf3dgan.config import load_config

    return load_config(None, BASE + TRACES[name])


def run_trace(name: str, run_dir: Path, steps: int = STEPS) -> dict:
    """Train trace ``name`` into ``run_dir`` (resuming what is there) and return its metrics and digests."""
    from tf3dgan.training.run_callbacks import read_metrics
    from tf3dgan.training.loop import train

    gan = train(config_of(name), run_dir, steps=steps, voxels=training_voxels(), progress=False)
    return {"metrics": read_metrics(run_dir), "weights": weights_digest(gan)}


def main() -> None:
    from tf3dgan.training.run_folder import checkpoint_path

    traces = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in TRACES:
            run_dir = Path(scratch) / name
            traces[name] = {"overrides": TRACES[name], **run_trace(name, run_dir)}
            if name == "base":
                shutil.copyfile(checkpoint_path(run_dir, RESUME_AT), CHECKPOINT)
            print(f"{name}: {len(traces[name]['metrics'])} metrics lines, d_loss {traces[name]['metrics'][-1]['d_loss']:.6f}")
    fixture = {"cpu": cpu_kind(), "threads": tensorflow_threads(), "steps": STEPS, "traces": traces}
    FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {FIXTURE} and {CHECKPOINT}")


if __name__ == "__main__":
    main()
