"""Each shipped preset's size on disk and load time after TensorFlow is up (issue 43: "well under a second").

    python benchmarks/preset_load.py [--repeats 5]

Loads every preset ``--repeats`` times in one process and prints the first load and the median of the rest.
"""

from __future__ import annotations

import argparse
import statistics
import time

import common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="loads per preset (default 5)")
    args = parser.parse_args()

    import tensorflow  # noqa: F401  (TensorFlow up before the timing starts)

    import tf3dgan
    from tf3dgan.presets import built_names, read_card, resolve_preset

    print(f"{common.machine()}; {common.load_average()}")
    for name in built_names():
        folder = resolve_preset(name)
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            tf3dgan.load_preset(name)
            seconds.append(time.perf_counter() - start)
        storage = read_card(folder)[0].get("storage")
        rest = f", then median {statistics.median(seconds[1:]):.2f} s" if len(seconds) > 1 else ""
        print(f"{name:<18} {size:>10,} bytes ({storage})  load: first {seconds[0]:.2f} s{rest}")


if __name__ == "__main__":
    main()
