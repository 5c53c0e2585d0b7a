"""``tf3dgan plot``: regenerate a run folder's offline HTML pages from metrics.jsonl and samples/*.npz."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf3dgan.commands import add_threshold_argument, check_threshold_argument
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("plot", help="write a run's loss_curves.html and samples/step_*.html pages")
    p.add_argument("--run", required=True, help="run folder written by `tf3dgan train`")
    add_threshold_argument(p)
    p.add_argument("--latest", action="store_true", help="only the newest sample snapshot")
    p.set_defaults(func=run)


def run(args) -> int:
    from tf3dgan.training.run_lock import run_folder_lock

    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise UsageError(f"--run {run_dir}: run folder not found")
    check_threshold_argument(args)
    with run_folder_lock(run_dir, "plot"):
        return _write_pages(run_dir, args)


def _write_pages(run_dir: Path, args) -> int:
    from tqdm.auto import tqdm

    from tf3dgan.training.html_monitor import write_loss_page, write_sample_page
    from tf3dgan.training.run_folder import METRICS_FILE, SAMPLES_DIR, list_samples, sample_step

    snapshots = list_samples(run_dir)
    if args.latest:
        snapshots = snapshots[-1:]
    loss_page = write_loss_page(run_dir)
    if loss_page is None and not snapshots:
        raise UsageError(f"--run {run_dir}: no {METRICS_FILE} records and no {SAMPLES_DIR}/step_*.npz to plot")
    pages = []
    for path in tqdm(snapshots, desc="sample pages", unit="page"):
        try:
            step = sample_step(path)
            with np.load(path) as data:
                probabilities = data["probabilities"].astype("float32")
        except (ValueError, KeyError, OSError) as err:
            raise UsageError(f"{path}: not a sample snapshot (expected step_<N>.npz with 'probabilities': {err})")
        pages.append(write_sample_page(run_dir, step, probabilities, args.threshold))
    if loss_page is not None:
        print(f"{loss_page}: training curves")
    else:
        print(f"{run_dir}: no {METRICS_FILE} records yet, no loss page")
    for page in pages:
        print(f"{page}: sample panel")
    return 0
