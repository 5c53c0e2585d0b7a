"""Mixed precision (``train.mixed_precision``): the dtype policy the networks are built with, loss scaling.

``auto`` is ``mixed_bfloat16`` where this machine's CPU has native bf16 dot products (``cpu.native_bf16``)
and ``none`` (float32) elsewhere, GPUs included: ``resolve`` says which, once per build.

The policy is applied only while the networks are built (``dtype_policy``), so it never leaks into later
builds in the same process. Logits, probabilities and losses stay float32: the networks force their
output layers to float32 and the losses cast. ``mixed_float16`` needs loss scaling (``wrap_optimizer``).
"""

from __future__ import annotations

import contextlib
import os

import keras

from tf3dgan import cpu
from tf3dgan.config import TrainConfig, choices
from tf3dgan.errors import ConfigError


def resolve(mixed_precision: str) -> str:
    """The ``train.mixed_precision`` value that runs here: ``auto`` made concrete, any other value unchanged."""
    allowed = choices(TrainConfig, "mixed_precision")
    if mixed_precision not in allowed:
        raise ValueError(f"train.mixed_precision must be one of {allowed}, got {mixed_precision!r}")
    if mixed_precision != "auto":
        return mixed_precision
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU") or not cpu.native_bf16():
        return "none"
    return "mixed_bfloat16"


def policy_name(mixed_precision: str) -> str:
    """The Keras dtype policy name for a ``train.mixed_precision`` value (``auto`` resolved on this machine)."""
    mixed_precision = resolve(mixed_precision)
    return "float32" if mixed_precision == "none" else mixed_precision


@contextlib.contextmanager
def dtype_policy(mixed_precision: str):
    """Within the block, layers are created with the policy of ``mixed_precision``; the old one is restored."""
    mixed_precision = resolve(mixed_precision)
    check_runs_here(mixed_precision)
    warn_if_slow_here(mixed_precision)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy_name(mixed_precision))
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def onednn_would_abort(mixed_precision: str) -> bool:
    """Whether this CPU's oneDNN aborts on a resolved ``train.mixed_precision``: bf16 on an AVX-512 CPU whose oneDNN
    is capped below AVX-512, fp16 on an AVX512_FP16 CPU whose oneDNN is capped below that (``ONEDNN_MAX_CPU_ISA``).
    TensorFlow still hands oneDNN those convolutions there, and they abort at the first step."""
    if mixed_precision == "mixed_bfloat16":
        return cpu.onednn_capped_below_avx512() and "avx512f" in cpu.cpu_flags()
    return mixed_precision == "mixed_float16" and cpu.onednn_cap_hides_fp16()


def check_runs_here(mixed_precision: str) -> None:
    """Refuse a resolved ``train.mixed_precision`` that oneDNN would abort on (``onednn_would_abort``), GPUs apart."""
    if onednn_would_abort(mixed_precision):
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            raise ConfigError(f"train.mixed_precision={mixed_precision} cannot run with ONEDNN_MAX_CPU_ISA="
                              f"{os.environ['ONEDNN_MAX_CPU_ISA']} on this CPU (oneDNN's kernels for it abort); "
                              "unset ONEDNN_MAX_CPU_ISA or use train.mixed_precision=none")


def warn_if_slow_here(mixed_precision: str) -> None:
    """Warn once when a reduced precision will run slower than float32 on this machine's CPU.

    bf16 is fast only where oneDNN has native bf16 dot products (AVX512_BF16 or AMX); elsewhere TensorFlow
    emulates or falls back to Eigen and bf16 is slower than float32. fp16 has no fast CPU kernels at all.
    """
    if policy_name(mixed_precision) == "float32":
        return
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return
    if mixed_precision == "mixed_float16":
        cpu.warn_once("fp16", "train.mixed_precision=mixed_float16 on a CPU: TensorFlow has no fast float16 CPU "
                      "kernels (~90x slower than float32 here); use none, or mixed_bfloat16 where bf16 is native.")
    elif not cpu.native_bf16():
        cpu.warn_once("bf16", f"train.mixed_precision=mixed_bfloat16 on a CPU without native bf16 (ISA: "
                      f"{cpu.vector_isa()}): it will run slower than float32; use train.mixed_precision=none.")


def wrap_optimizer(optimizer, mixed_precision: str):
    """A ``LossScaleOptimizer`` around ``optimizer`` for ``mixed_float16`` (dynamic loss scale), else it unchanged."""
    if resolve(mixed_precision) == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def compute_dtype(model) -> str:
    """The compute dtype of a network's first weighted layer (``float32``, ``bfloat16`` or ``float16``)."""
    for layer in model.layers:
        if layer.weights:
            return layer.compute_dtype
    return model.compute_dtype
