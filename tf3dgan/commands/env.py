"""``tf3dgan env``: the versions, devices and CPU facts that decide how fast this machine trains."""

from __future__ import annotations

import json
import os
import platform


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("env", help="versions, devices, CPU vector ISA, oneDNN and bf16 support of this machine")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run)


def environment() -> dict:
    """What ``tf3dgan env`` reports, as a dict."""
    import keras
    import tensorflow as tf

    from tf3dgan import cpu
    from tf3dgan.training.precision import resolve

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if not gpus and not cpu.onednn_enabled():
        advice = f"none, and unset {cpu.ONEDNN_VARIABLE}=0: without oneDNN 3D conv gradients are ~100x slower"
    elif gpus:
        advice = "mixed_float16 or mixed_bfloat16 on the GPU"
    elif cpu.native_bf16():
        advice = "mixed_bfloat16 (native bf16 on this CPU)"
    else:
        advice = "none (float32): bf16 is not native on this CPU and would be slower"
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": gpus,
        "cpu_cores": os.cpu_count(),
        "vector_isa": cpu.vector_isa(),
        cpu.ONEDNN_VARIABLE: os.environ.get(cpu.ONEDNN_VARIABLE),
        "onednn_enabled": cpu.onednn_enabled(),
        "native_bf16": cpu.native_bf16(),
        "suggested_mixed_precision": advice,
        "mixed_precision_auto": resolve("auto"),  # what train.mixed_precision=auto runs here
    }


def run(args) -> int:
    facts = environment()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        width = max(map(len, facts))
        for key, value in facts.items():
            print(f"{key:<{width}}  {value}")
    return 0
