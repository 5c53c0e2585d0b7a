"""Batches/s of the training input pipeline alone: real 32^3 chairs upsampled to 64^3 (nearest).

Usage: python benchmarks/data_pipeline.py [--data ../shared/data] [--batches 200]
Falls back to the synthetic dataset at 32^3 when the shared chairs are not found.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import common  # noqa: E402  (first: the repository on sys.path, oneDNN on)
import data_io  # noqa: E402
from data_io.pipeline import make_training_dataset  # noqa: E402


def load_voxels(data: Path):
    chairs = data / "volumetric_data" / "chair" / "30" / "train"
    if chairs.is_dir():
        voxels = data_io.read_volumetric(chairs, rotations="first").voxels
        return voxels, f"{len(voxels)} real chairs (rotation 1) from {chairs}"
    voxels = data_io.generate_synthetic(889, 32, seed=0).voxels
    return voxels, "889 synthetic shapes (shared chairs not found)"


def measure(voxels, batch_size: int, cube_len: int, upsample: str, batches: int, warmup: int = 20) -> float:
    iterator = iter(make_training_dataset(voxels, batch_size=batch_size, cube_len=cube_len, seed=0,
                                          upsample=upsample))
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches / (time.perf_counter() - start)


def main() -> None:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    voxels, what = load_voxels(args.data)
    print(f"data: {what}, {voxels.nbytes / 2**20:.1f} MiB as uint8; {common.machine()}")
    for batch_size in (32, 8):
        for upsample in ("nearest", "trilinear"):
            rate = measure(voxels, batch_size, 64, upsample, args.batches)
            print(f"batch {batch_size:>2}, 32^3 -> 64^3 {upsample:<9}: {rate:8.1f} batches/s "
                  f"({rate * batch_size:8.0f} shapes/s)")


if __name__ == "__main__":
    main()
