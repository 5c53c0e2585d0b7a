"""The CPU TensorFlow runs on: oneDNN switched on before TensorFlow loads, the vector ISA, native bf16.

TensorFlow 2.21 enables its oneDNN kernels by default only on CPUs with AVX-512. Elsewhere (most laptops,
AVX2-only cloud machines) the gradients of ``Conv3D`` fall back to a path ~100x slower, unless
``TF_ENABLE_ONEDNN_OPTS=1`` is set before TensorFlow is imported (it reads the variable once, at import).
Importing ``tf3dgan``, ``variants`` or ``data_io`` sets it, unless the user set it (``0`` is respected).
This module imports nothing of TensorFlow's, so it can run first.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# The ISA flags (as /proc/cpuinfo names them) that decide which kernels oneDNN can use, slowest first.
VECTOR_ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
# ONEDNN_MAX_CPU_ISA values that keep oneDNN below AVX-512, and those without its native bf16 or fp16 dot products.
_ISA_CAPS_BELOW_AVX512 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2")
_ISA_CAPS_WITHOUT_BF16 = _ISA_CAPS_BELOW_AVX512 + ("AVX512_CORE", "AVX512_CORE_VNNI")
_ISA_CAPS_WITHOUT_FP16 = _ISA_CAPS_WITHOUT_BF16 + ("AVX512_CORE_BF16",)

_warned: set[str] = set()


def enable_onednn() -> None:
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` unless the user set it; warn once if TensorFlow already loaded without oneDNN."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(ONEDNN_VARIABLE, "1")
        return
    if os.environ.get(ONEDNN_VARIABLE) == "0" or onednn_enabled():
        return
    warn_once(
        "onednn",
        "TensorFlow was imported before tf3dgan without TF_ENABLE_ONEDNN_OPTS=1, so its oneDNN kernels are off "
        "on this CPU and 3D convolution gradients run up to ~100x slower. Set TF_ENABLE_ONEDNN_OPTS=1 in the "
        "environment, or import tf3dgan before tensorflow.",
    )


def onednn_enabled() -> bool:
    """Whether the loaded TensorFlow uses its oneDNN kernels (imports TensorFlow)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where it does not exist, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def vector_isa() -> str:
    """The vector ISA levels of this CPU that matter to oneDNN, e.g. ``avx2 avx512f avx512_bf16``, plus
    the ``ONEDNN_MAX_CPU_ISA`` cap when one is set; ``unknown`` where the flags cannot be read."""
    flags = cpu_flags()
    if not flags:
        return "unknown"
    present = [isa for isa in VECTOR_ISA_FLAGS if isa in flags] or ["no avx2"]
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return " ".join(present) + (f" (oneDNN capped at {cap})" if cap else "")


def _onednn_cap() -> str:
    """``ONEDNN_MAX_CPU_ISA`` as oneDNN reads it (upper case; ``ALL`` when unset)."""
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()


def onednn_capped_below_avx512() -> bool:
    """Whether ``ONEDNN_MAX_CPU_ISA`` keeps oneDNN below AVX-512 (TensorFlow still sends it bf16 work then,
    which it cannot run: bf16 ops abort)."""
    return _onednn_cap() in _ISA_CAPS_BELOW_AVX512


def onednn_cap_hides_fp16() -> bool:
    """Whether this CPU has AVX512_FP16 and ``ONEDNN_MAX_CPU_ISA`` caps oneDNN below it (TensorFlow still sends it
    float16 convolutions then, which it cannot run: they abort)."""
    return _onednn_cap() in _ISA_CAPS_WITHOUT_FP16 and "avx512_fp16" in cpu_flags()


def native_bf16() -> bool:
    """Whether oneDNN has native bf16 dot products here (AVX512_BF16 or AMX, not capped below them)."""
    flags = cpu_flags()
    if not ({"avx512_bf16", "amx_bf16"} & flags):
        return False
    return _onednn_cap() not in _ISA_CAPS_WITHOUT_BF16


def warn_once(key: str, message: str) -> None:
    """``warnings.warn(message)`` the first time ``key`` is seen in this process."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
