"""A suite spread out: the same scores sequentially, in two shards merged, and on a local Ray cluster; a Ray
task whose worker is killed mid-training is retried and the suite completes."""

import os
import signal
import threading
import time

import pytest

from harness import TINY_SUITE

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tf3dgan[ray]')")

SCORES = ("mmd", "cov", "nna", "components", "occupancy")


def _scores(rows):
    return {(r["run"], r["seed"]): tuple(r[k] for k in SCORES) for r in rows}


# One Ray cluster for the module: its tests stay on one pytest-xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_sequential_sharded_and_ray_runs_give_the_same_scores(tmp_path, local_ray):
    from tf3dgan.evaluation.ablation import load_suite, run_suite
    from tf3dgan.evaluation.ablation_ray import run_suite_on_ray

    paths = {}
    for name in ("sequential", "sharded", "ray"):
        (tmp_path / name).mkdir()
        paths[name] = tmp_path / name / "suite.yaml"
        paths[name].write_text(TINY_SUITE.replace("seeds: [0, 1]", "seeds: [0]"))  # two trainings, one a shard
    sequential = run_suite(load_suite(paths["sequential"]), tmp_path / "sequential" / "out", progress=False,
                           log=lambda m: None)
    sharded_suite = load_suite(paths["sharded"])
    for index in (1, 2):
        run_suite(sharded_suite, tmp_path / "sharded" / "out", progress=False, log=lambda m: None, shard=(index, 2))
    sharded = run_suite(sharded_suite, tmp_path / "sharded" / "out", progress=False, log=lambda m: None)  # merged
    log = []
    on_ray = run_suite_on_ray(load_suite(paths["ray"]), tmp_path / "ray" / "out", log=log.append)
    assert len(sequential) == len(sharded) == len(on_ray) == 2
    expected = _scores(sequential)
    for other in (_scores(sharded), _scores(on_ray)):
        assert other.keys() == expected.keys()
        for key, values in other.items():
            assert values == pytest.approx(expected[key], abs=1e-6), key
    assert "2 trainings to run on Ray (1 CPU, 0 GPU each); 0 finished" in log[0]
    assert any("2 done, 0 running, 0 queued" in line for line in log)
    # run again: every training is in the results file, nothing is submitted
    again = []
    run_suite_on_ray(load_suite(paths["ray"]), tmp_path / "ray" / "out", log=again.append)
    assert again[0].startswith("0 trainings to run on Ray") and "2 finished" in again[0]


@pytest.mark.slow
def test_a_ray_task_killed_mid_training_is_retried_and_the_suite_completes(tmp_path, local_ray):
    from tf3dgan.evaluation.ablation import load_suite
    from tf3dgan.evaluation.ablation_ray import run_suite_on_ray
    from tf3dgan.training.run_folder import latest_step

    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(TINY_SUITE.replace("train.steps=4", "train.steps=60").replace("seeds: [0, 1]", "seeds: [0]")
                          .replace("train.checkpoint_every=2", "train.checkpoint_every=10")
                          .replace("every: 2}", "every: 20}"))
    out = tmp_path / "out"
    run_dir = out / "base" / "seed_0"
    killed = []

    def kill_the_first_training_after_its_first_checkpoint():
        deadline = time.time() + 240
        while time.time() < deadline:
            if (run_dir / ".lock").exists() and latest_step(run_dir) >= 10:
                import json

                holder = json.loads((run_dir / ".lock").read_text())
                os.kill(holder["pid"], signal.SIGKILL)
                killed.append(latest_step(run_dir))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_the_first_training_after_its_first_checkpoint, daemon=True)
    watcher.start()
    log = []
    rows = run_suite_on_ray(load_suite(suite_path), out, log=log.append)
    watcher.join(timeout=1)
    assert killed, "the watcher never saw the training's first checkpoint"
    assert any(line.startswith("base (seed 0): task failed (") and line.endswith("; retrying") for line in log)
    assert sorted((r["run"], r["steps"]) for r in rows) == [("base", 60), ("saturating", 60)]
