"""oneDNN switched on wherever the package runs, and precision warnings that fit the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHECK_IMPORT = """
import os, sys
import {module}
print(os.environ.get("TF_ENABLE_ONEDNN_OPTS"))
"""
CHECK_IMPORT_AND_TENSORFLOW = CHECK_IMPORT + """
from tensorflow.python.util import _pywrap_util_port
print(_pywrap_util_port.IsMklEnabled())
"""


def _python(code: str, **env_changes):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env.update({"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **env_changes})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


def test_import_tf3dgan_switches_onednn_on():
    result = _python(CHECK_IMPORT_AND_TENSORFLOW.format(module="tf3dgan"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True"]


@pytest.mark.parametrize("module", ["data_io", "variants"])
def test_import_of_the_other_packages_sets_the_variable(module):
    result = _python(CHECK_IMPORT.format(module=module))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1"]


def test_an_explicit_zero_is_respected():
    result = _python(CHECK_IMPORT_AND_TENSORFLOW.format(module="tf3dgan"), TF_ENABLE_ONEDNN_OPTS="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False"]


def test_tensorflow_imported_first_without_onednn_warns_once():
    code = """
import os, warnings
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
import tensorflow
del os.environ["TF_ENABLE_ONEDNN_OPTS"]  # as if the user had never set it
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import tf3dgan
    from tf3dgan import cpu
    cpu.enable_onednn()
print(sum("TF_ENABLE_ONEDNN_OPTS=1" in str(w.message) for w in caught))
"""
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_cli_runs_with_onednn_on():
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run([sys.executable, "-m", "tf3dgan.cli", "env", "--json"], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert facts["onednn_enabled"] is True


def test_the_test_suite_itself_runs_with_onednn_on():
    from tf3dgan import cpu

    if os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0":
        pytest.skip("TF_ENABLE_ONEDNN_OPTS=0 was set for this test run")
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert cpu.onednn_enabled()


@pytest.mark.parametrize("flags, cap, expected", [
    ({"avx2"}, None, False),
    ({"avx2", "avx512f"}, None, False),
    ({"avx2", "avx512f", "avx512_bf16"}, None, True),
    ({"avx2", "avx512f", "avx512_bf16"}, "AVX2", False),
    ({"avx2", "avx512f", "avx512_bf16"}, "avx512_core_bf16", True),
    ({"avx2", "avx512f", "amx_bf16"}, None, True),
])
def test_native_bf16(monkeypatch, flags, cap, expected):
    from tf3dgan import cpu

    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset(flags))
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert cpu.native_bf16() is expected
    assert cpu.vector_isa().startswith("avx2")


@pytest.mark.parametrize("native, warns", [(False, True), (True, False)])
def test_bf16_without_native_support_warns_at_build(monkeypatch, tiny_overrides, native, warns):
    from tf3dgan import cpu
    from tf3dgan.training.builder import build_gan
    from tf3dgan.config import load_config

    monkeypatch.setattr(cpu, "native_bf16", lambda: native)
    monkeypatch.setattr(cpu, "onednn_capped_below_avx512", lambda: False)  # also under an ONEDNN_MAX_CPU_ISA cap
    monkeypatch.setattr(cpu, "_warned", set())
    config = load_config(None, tiny_overrides + ["train.mixed_precision=mixed_bfloat16"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_gan(config, compile=False)
        build_gan(config, compile=False)
    messages = [str(w.message) for w in caught if "slower than float32" in str(w.message)]
    assert len(messages) == (1 if warns else 0)


@pytest.mark.parametrize("native, expected", [(True, "mixed_bfloat16"), (False, "none")])
def test_auto_precision_is_bf16_exactly_where_bf16_is_native(monkeypatch, tiny_overrides, native, expected):
    import dataclasses

    from tf3dgan import cpu
    from tf3dgan.config import load_config
    from tf3dgan.evaluation import suite_results
    from tf3dgan.training.builder import build_gan
    from tf3dgan.training.precision import compute_dtype, resolve

    monkeypatch.setattr(cpu, "native_bf16", lambda: native)
    monkeypatch.setattr(cpu, "onednn_capped_below_avx512", lambda: False)  # also under an ONEDNN_MAX_CPU_ISA cap
    assert resolve("auto") == expected
    assert resolve("mixed_float16") == "mixed_float16"
    config = load_config(None, tiny_overrides + ["train.mixed_precision=auto"])
    assert compute_dtype(build_gan(config, compile=False).generator) == ("bfloat16" if native else "float32")
    # A suite's results are keyed by the precision that ran, never by "auto".
    explicit = dataclasses.replace(config, train=dataclasses.replace(config.train, mixed_precision=expected))
    assert suite_results.training_key(config, {}) == suite_results.training_key(explicit, {})


def test_an_unknown_precision_is_refused_by_name():
    from tf3dgan.training.precision import resolve

    with pytest.raises(ValueError, match="train.mixed_precision must be one of .*'auto'.*got 'bf16'"):
        resolve("bf16")


@pytest.mark.parametrize("cap, refused", [("AVX2", True), ("AVX512_CORE_BF16", True), ("AVX512_CORE_AMX", False),
                                          ("ALL", False)])
def test_fp16_under_a_onednn_cap_below_avx512_fp16_is_refused_on_a_cpu_that_has_it(monkeypatch, tiny_overrides,
                                                                                      cap, refused):
    """TensorFlow sends oneDNN float16 convolutions on an AVX512_FP16 CPU whatever the cap; below it they abort."""
    from tf3dgan import cpu
    from tf3dgan.config import load_config
    from tf3dgan.errors import ConfigError
    from tf3dgan.training.builder import build_gan

    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_fp16"}))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    config = load_config(None, tiny_overrides + ["train.mixed_precision=mixed_float16"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float16 on a CPU is slow: not what this test is about
        if refused:
            with pytest.raises(ConfigError, match=f"^train.mixed_precision=mixed_float16 cannot run with "
                                                  f"ONEDNN_MAX_CPU_ISA={cap}"):
                build_gan(config, compile=False)
        else:
            build_gan(config, compile=False)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))  # no fp16: Eigen's, slow but runs
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        build_gan(config, compile=False)


def test_bf16_under_a_onednn_cap_below_avx512_is_refused_before_it_aborts(monkeypatch, tiny_overrides):
    from tf3dgan import cpu
    from tf3dgan.config import load_config
    from tf3dgan.errors import ConfigError
    from tf3dgan.training.builder import build_gan

    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    config = load_config(None, tiny_overrides + ["train.mixed_precision=mixed_bfloat16"])
    refused = r"^train.mixed_precision=mixed_bfloat16 cannot run with ONEDNN_MAX_CPU_ISA=AVX2"
    with pytest.raises(ConfigError, match=refused):
        build_gan(config, compile=False)
    build_gan(load_config(None, tiny_overrides + ["train.mixed_precision=auto"]), compile=False)  # auto: float32 here
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2"}))  # an AVX2-only CPU: Eigen's bf16, slow but runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        build_gan(config, compile=False)
