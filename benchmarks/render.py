"""Shapes/s of the numpy voxel renderer (data_io.render), shaded views of synthetic furniture.

Usage: python benchmarks/render.py [--shapes 48] [--repeats 3]
One process, one thread of numpy work; the figure is the best of --repeats runs (the machine is shared).
"""

from __future__ import annotations

import argparse

import common  # noqa: E402  (first: the repository on sys.path)
import data_io  # noqa: E402
from data_io.render import even_azimuths, render_views  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(common.machine())
    print(f"{'grid':>5} {'image':>6} {'views':>5} {'shapes/s':>9} {'images/s':>9}  ({common.load_average()})")
    for grid in (32, 64):
        voxels = data_io.generate_synthetic(args.shapes, grid, seed=0).voxels
        for size in (64, 128, 256):
            for views in (1, 8):
                azimuths = even_azimuths(views)
                best = min(common.time_call(lambda: render_views(voxels, azimuths, 25, size), args.repeats))
                print(f"{grid:>4}^3 {size:>5}^2 {views:>5} {args.shapes / best:>9.0f} "
                      f"{args.shapes * views / best:>9.0f}")


if __name__ == "__main__":
    main()
