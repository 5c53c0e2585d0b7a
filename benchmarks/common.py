"""Shared helpers of the benchmark scripts: machine load, the matmul reference rate, timing, reporting."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as ``python benchmarks/<script>.py`` from a checkout
    sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf3dgan  # noqa: E402,F401  (before TensorFlow: switches oneDNN on, see tf3dgan/cpu.py)
from tf3dgan import cpu  # noqa: E402


def argument_parser(doc: str, config: str | None = None, batch: int | None = 8):
    """A benchmark's parser with ``--config`` and ``--set`` (and ``--batch`` unless ``batch`` is None)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=config,
                   help=f"config YAML (default: {config or 'the built-in defaults, 64^3 paper net'})")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    if batch is not None:
        p.add_argument("--batch", type=int, default=batch, help=f"batch size (default {batch})")
    return p


def add_common_arguments(parser) -> None:
    parser.add_argument("--intra-op", type=int, default=0, help="TensorFlow intra-op threads (0: TF's default)")
    parser.add_argument("--inter-op", type=int, default=0, help="TensorFlow inter-op threads (0: TF's default)")
    parser.add_argument("--matmul-size", type=int, default=2048, help="side of the square matmul reference")


def add_precision_argument(parser, help="train.mixed_precision (default: the config's)") -> None:
    parser.add_argument("--precision", default=None, choices=["none", "mixed_bfloat16", "mixed_float16"], help=help)


def precision_overrides(args) -> list[str]:
    """The config override ``--precision`` asks for (none without it)."""
    return [f"train.mixed_precision={args.precision}"] if args.precision else []


def configure_threads(intra_op: int, inter_op: int) -> None:
    """Thread pools must be set before TensorFlow runs its first op."""
    import tensorflow as tf

    if intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``unknown`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> str:
    """The CPU, its vector ISA, whether oneDNN is on and bf16 native: printed beside every figure."""
    return (f"CPU {cpu_model()}, {os.cpu_count()} cores; ISA {cpu.vector_isa()}; oneDNN "
            f"{'on' if cpu.onednn_enabled() else 'OFF'}; bf16 {'native' if cpu.native_bf16() else 'not native'}")


def precision(config) -> str:
    """The config's ``train.mixed_precision`` as it runs here: ``auto`` with what it chose on this machine."""
    from tf3dgan.training.precision import resolve

    value = config.train.mixed_precision
    return f"{value} ({resolve(value)} here)" if value == "auto" else value


def load_average() -> str:
    """The 1-minute load average and the core count, e.g. ``load 0.42/2``."""
    return f"load {os.getloadavg()[0]:.2f}/{os.cpu_count()} [{cpu.vector_isa()}]"


def median(values) -> float:
    return float(statistics.median(values))


def time_call(fn, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` (which must block until its work is done)."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


class MatmulReference:
    """This machine's measured matmul rate: ``tf.matmul`` of two n x n matrices in fp32 and bf16.

    Call ``measure()`` between the timed runs of a benchmark so the reference sees the same load.
    """

    def __init__(self, n: int = 2048, dtypes=("float32", "bfloat16")):
        import tensorflow as tf

        if cpu.onednn_capped_below_avx512():
            dtypes = tuple(d for d in dtypes if d != "bfloat16")

        self.n = n
        self.samples: dict[str, list[float]] = {d: [] for d in dtypes}
        self._fns = {}
        for dtype in dtypes:
            a = tf.random.stateless_normal((n, n), (1, 2), dtype=tf.float32)
            b = tf.random.stateless_normal((n, n), (3, 4), dtype=tf.float32)
            a, b = tf.cast(a, dtype), tf.cast(b, dtype)
            matmul = tf.function(lambda a=a, b=b: tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32)))
            self._fns[dtype] = matmul
            for _ in range(2):  # warm-up: trace, allocate, oneDNN primitive creation
                matmul().numpy()

    def measure(self, repeats: int = 3) -> None:
        flops = 2.0 * self.n**3
        for dtype, fn in self._fns.items():
            seconds = min(time_call(lambda: fn().numpy(), repeats))  # best of a few: the machine's limit
            self.samples[dtype].append(flops / seconds / 1e9)

    def last(self, dtype: str) -> float:
        """The GFLOP/s of ``dtype`` at the last ``measure()`` (nan where it was not measured)."""
        return self.samples[dtype][-1] if self.samples.get(dtype) else float("nan")

    def gflops(self, dtype: str) -> float:
        """Median over the ``measure()`` calls of the GFLOP/s of ``dtype`` (nan where it was not measured)."""
        return median(self.samples[dtype]) if self.samples.get(dtype) else float("nan")
