"""An ablation suite over a Ray cluster: every training a Ray task, the results file written by the driver.

Each task trains one (run, seed) of the suite, scoring it as ``tf3dgan ablate`` does, into a results file of its
own on the worker, and returns that file's events; the driver appends them to the suite's results file and
rebuilds the report as tasks finish. A task that fails (an exception, or its worker killed) is reported by
name and submitted once more; a training whose final row the results files hold is never submitted. Run
folders live under the suite's output folder (give a path every worker sees, e.g. on a shared filesystem, so a
retried task resumes from its checkpoint) or, with ``run_folders="local"``, in each worker's temporary folder.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from data_io.errors import UserError
from tf3dgan.errors import UsageError
from tf3dgan.evaluation.ablation import (Suite, Training, complete_training, results_paths, suite_trainings,
                                         write_report_from_results)
from tf3dgan.evaluation.suite_results import append_event, read_events, results_by_key

RUN_FOLDERS = ("shared", "local")
RETRIES = 1  # a failed task is submitted this many more times


def _train_task(suite: Suite, training: Training, known, run_folders: str) -> list[dict]:
    """In a Ray worker: complete one training and return the events it recorded."""
    with tempfile.TemporaryDirectory(prefix="tf3dgan-task-") as scratch:
        if run_folders == "local":
            local = Path(tempfile.gettempdir()) / "tf3dgan-ray" / suite.path.stem / training.run_dir.name
            training = dataclasses.replace(training, run_dir=local / training.run.name / str(training.seed),
                                           sample_sheet=Path(scratch) / "samples.png")
        results = Path(scratch) / "task.results.jsonl"
        complete_training(suite, training, results, known, {}, progress=False, log=lambda m: print(m, flush=True))
        return [{k: v for k, v in event.items() if k != "time"} for event in read_events([results])]


def task_resources(suite: Suite, cluster: dict) -> dict:
    """``num_cpus`` / ``num_gpus`` of each task: the suite's ``resources``, else 1 CPU and, on a cluster with
    GPUs, 1 GPU."""
    wanted = suite.resources or {}
    gpus = wanted.get("gpus")
    if gpus is None:
        gpus = 1 if cluster.get("GPU", 0) >= 1 else 0
    return {"num_cpus": wanted.get("cpus", 1), "num_gpus": gpus}


def run_suite_on_ray(suite: Suite, out_dir: str | Path, address: str | None = None, log=print,
                     results_path: str | Path | None = None, run_folders: str = "shared") -> list[dict]:
    """Run the suite's unfinished trainings as Ray tasks (connecting to ``address``, or to the running / a new
    local Ray instance when None); write the results file and the report as results arrive."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'tf3dgan[ray]'") from None
    if run_folders not in RUN_FOLDERS:
        raise UsageError(f"run folders must be one of {', '.join(RUN_FOLDERS)}, got {run_folders!r}")
    out_dir = Path(out_dir).resolve()
    primary, read_from = results_paths(suite, out_dir, results_path)
    known = results_by_key(read_events(read_from))
    todo = [t for t in suite_trainings(suite, out_dir) if not (t.key in known and known[t.key].final)]
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=False)
    resources = task_resources(suite, ray.cluster_resources())
    task = ray.remote(max_retries=0)(_train_task).options(**resources)
    log(f"{len(todo)} trainings to run on Ray ({resources['num_cpus']} CPU, {resources['num_gpus']} GPU each); "
        f"{len(suite_trainings(suite, out_dir)) - len(todo)} finished in {primary}")

    def submit(training: Training, attempt: int):
        return task.remote(suite, training, known.get(training.key), run_folders), (training, attempt)

    pending = dict(submit(t, 0) for t in todo)
    failed, finished = [], 0
    slots = max(1, int(ray.cluster_resources().get("CPU", 1) // max(resources["num_cpus"], 1e-9)))
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        training, attempt = pending.pop(ref)
        try:
            events = ray.get(ref)
        except (ray.exceptions.RayError, OSError) as err:
            reason = " ".join(str(err).split())[:200]
            if attempt < RETRIES:
                log(f"{training.label}: task failed ({reason}); retrying")
                pending.update([submit(training, attempt + 1)])
            else:
                log(f"{training.label}: task failed again ({reason}); left out")
                failed.append(training.label)
            continue
        for event in events:
            append_event(primary, event)
        finished += 1
        write_report_from_results(suite, out_dir, results_path)
        running = min(len(pending), slots)
        log(f"{training.label}: done; {finished} done, {running} running, {len(pending) - running} queued "
            f"({time.strftime('%H:%M:%S')})")
    rows = write_report_from_results(suite, out_dir, results_path)
    if failed:
        raise UserError(f"{len(failed)} training(s) failed twice on Ray: {', '.join(failed)}; run the same command "
                         "again to retry them (finished trainings are not repeated)")
    return rows
