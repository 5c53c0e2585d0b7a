"""Seconds to score N samples against N reference shapes (MMD, COV, 1-NNA, JSD, diagnostics).

Usage: python benchmarks/metrics.py [--n 1000] [--size 64] [--chamfer-n 1000]
Both sets are the embedded synthetic furniture (seeds 0 and 1), so the benchmark needs no downloaded data.
``compare_sets`` computes three N x N distance matrices (samples-reference, samples-samples,
reference-reference); the Chamfer distance is timed with the same N unless --chamfer-n says otherwise.
"""

from __future__ import annotations

import argparse
import time

import common  # first: the repository on sys.path, oneDNN on
import data_io
from tf3dgan.evaluation import shape_metrics


def timed(label: str, fn):
    """Run ``fn``; print wall seconds, CPU seconds (all threads) and the load average (the CPU may be shared)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU ({common.load_average()})", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="shapes per set (default 1000)")
    parser.add_argument("--size", type=int, default=64, help="grid size (default 64)")
    parser.add_argument("--chamfer-n", type=int, default=1000, help="shapes per set for the Chamfer timing (0: skip)")
    args = parser.parse_args()

    a = timed(f"generate 2 x {args.n} shapes at {args.size}^3",
              lambda: (data_io.generate_synthetic(args.n, args.size, 0).voxels,
                       data_io.generate_synthetic(args.n, args.size, 1).voxels))
    samples, reference = a
    occupancy = samples.mean()
    print(f"mean occupancy {occupancy:.4f}")
    timed(f"one {args.n} x {args.n} 1 - IoU matrix", lambda: shape_metrics.iou_distance_matrix(samples, reference))
    result = timed(f"compare_sets iou, {args.n} vs {args.n} (3 matrices + JSD + diagnostics)",
                   lambda: shape_metrics.compare_sets(samples, reference, "iou"))
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()})
    timed(f"diagnostics alone ({args.n} shapes, connected components)", lambda: shape_metrics.diagnostics(samples))
    if args.chamfer_n:
        n = args.chamfer_n
        timed(f"compare_sets chamfer (512 points), {n} vs {n}",
              lambda: shape_metrics.compare_sets(samples[:n], reference[:n], "chamfer"))


if __name__ == "__main__":
    main()
