"""``train.distribute: multi_worker`` for real: two worker processes on 127.0.0.1 (TF_CONFIG) train as one process
with the same global batch, checkpoint and resume through the chief, and the other worker writes nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = 6

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    worker, out, tiny, steps = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    writes = []

    def audit(event, args):  # every write into the shared run folders by this process
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)) and str(args[0]).startswith(out):
            mode, flags = args[1], args[2]
            if (mode and any(c in mode for c in "wax+")) or (not mode and flags & (os.O_WRONLY | os.O_RDWR)):
                writes.append(f"open {args[0]}")
        elif event in ("os.rename", "os.replace", "os.remove", "os.mkdir", "shutil.rmtree") \\
                and str(args[0]).startswith(out):
            writes.append(f"{event} {args[0]}")

    sys.addaudithook(audit)
    from tf3dgan.training.distribute import get_strategy, is_chief
    strategy = get_strategy("multi_worker")  # first: the cluster is set up before any other TensorFlow op
    import keras
    import numpy as np
    from tf3dgan.config import load_config
    from tf3dgan.training.loop import train

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []
        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    voxels = (np.random.default_rng(0).random((20, 8, 8, 8)) > 0.7).astype("uint8")
    keys = ["train.log_every=1", "train.checkpoint_every=2", "train.d_thresh=0.7", "train.sample_every=3"]
    result = {"worker": worker, "chief": is_chief("multi_worker"), "replicas": strategy.num_replicas_in_sync}

    def run(name, distribute, splits):
        config = load_config(None, tiny + keys + [f"train.distribute={distribute}"])
        clock = Clock()
        for n in splits:
            gan = train(config, f"{out}/{name}", steps=n, voxels=voxels, progress=False, extra_callbacks=[clock])
        gaps = np.diff(clock.times[1:])  # without the first step (tracing)
        result[name] = {
            "weights": [w.numpy().tolist() for w in gan.discriminator.weights[:2] + gan.generator.weights[-3:]],
            "d_updates": int(gan.d_optimizer.iterations.numpy()),
            "steps_per_s": float(1.0 / gaps.mean()) if len(gaps) else None,
        }

    run("two", "multi_worker", [steps])
    run("resumed", "multi_worker", [2, steps])
    if worker == 0:
        run("one", "none", [steps])
    result["writes"] = writes
    print("RESULT" + json.dumps(result))
    """
)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(script_args, tmp_path, count=2):
    """``count`` worker processes of ``WORKER`` with a TF_CONFIG cluster on 127.0.0.1 (free ports)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(count)]}
    procs = []
    for index in range(count):
        env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        log = open(tmp_path / f"worker{index}.log", "w")
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(index), *script_args], cwd=REPO, env=env,
                                      stdout=log, stderr=subprocess.STDOUT, text=True))
    return procs


@pytest.mark.slow
def test_two_workers_match_one_process_and_only_the_chief_writes(tiny_overrides, tmp_path):
    out = tmp_path / "runs"
    procs = start_workers([str(out), json.dumps(tiny_overrides), str(STEPS)], tmp_path)
    codes = None
    try:
        codes = [p.wait(timeout=600) for p in procs]  # ~1 min alone on 2 cores; much longer on a loaded machine
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], f"exit codes {codes}\n" + "\n\n".join(log[-3000:] for log in logs)
    chief, other = (json.loads(log.split("RESULT", 1)[1].splitlines()[0]) for log in logs)
    assert chief["chief"] and not other["chief"] and chief["replicas"] == other["replicas"] == 2
    assert other["writes"] == []  # the non-chief worker wrote nothing into the run folders

    from tf3dgan.training.run_callbacks import read_metrics
    from tf3dgan.training.run_folder import list_checkpoints

    one, two, resumed = (read_metrics(out / name) for name in ("one", "two", "resumed"))
    assert [m["step"] for m in two] == list(range(1, STEPS + 1)) == [m["step"] for m in one]
    assert [m["step"] for m in resumed] == list(range(1, STEPS + 1))
    assert [m["d_updated"] for m in one] == [m["d_updated"] for m in two] == [m["d_updated"] for m in resumed]
    for a, b, c in zip(one, two, resumed):
        for key in ("d_loss", "g_loss", "d_acc", "d_real", "d_fake"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (a["step"], key)
            assert c[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (c["step"], key)
    assert chief["one"]["d_updates"] == chief["two"]["d_updates"] == other["two"]["d_updates"]
    for a, b, c, d in zip(chief["one"]["weights"], chief["two"]["weights"], chief["resumed"]["weights"],
                          other["two"]["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(np.array(c), np.array(b), rtol=1e-3, atol=1e-5)
        np.testing.assert_array_equal(np.array(d), np.array(b))  # the workers hold the same weights
    assert [p.name for p in list_checkpoints(out / "two")] == [f"ckpt-{s:08d}.npz" for s in (2, 4, 6)]
    print(f"\n2 workers: {chief['two']['steps_per_s']:.1f} steps/s; 1 process: {chief['one']['steps_per_s']:.1f} "
          f"steps/s; max |metric difference| "
          f"{max(abs(a[k] - b[k]) for a, b in zip(one, two) for k in ('d_loss', 'g_loss', 'd_real', 'd_fake')):.2e}")
