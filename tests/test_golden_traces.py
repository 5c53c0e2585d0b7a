"""The golden traces (tests/golden_traces.py): every training trick and variant still trains bit for bit as it
did when the traces were written, and a checkpoint written then still resumes to the same weights (on the CPU
kind and with the TensorFlow threads they were written with)."""

import json
import shutil

import pytest

import golden_traces

STORED = json.loads(golden_traces.FIXTURE.read_text())


@pytest.fixture(scope="module")
def same_cpu_kind():
    if golden_traces.cpu_kind() != STORED["cpu"]:
        pytest.skip(f"the traces were written on a CPU {STORED['cpu']!r}; this one is {golden_traces.cpu_kind()!r} "
                    "(other kernels round differently)")
    if golden_traces.tensorflow_threads() != STORED["threads"]:
        pytest.skip(f"the traces were written with TensorFlow's intra/inter-op threads {STORED['threads']}, this "
                    f"process has {golden_traces.tensorflow_threads()} (other reduction orders round differently)")


@pytest.mark.parametrize("name", sorted(golden_traces.TRACES))
def test_a_trace_trains_bit_for_bit_as_stored(name, tmp_path, same_cpu_kind):
    stored = STORED["traces"][name]
    assert stored["overrides"] == golden_traces.TRACES[name]
    trace = golden_traces.run_trace(name, tmp_path / name)
    assert trace["metrics"] == stored["metrics"]
    assert trace["weights"] == stored["weights"]


def test_a_checkpoint_written_before_resumes_to_the_stored_weights(tmp_path, same_cpu_kind):
    from tf3dgan.training.run_folder import checkpoint_path

    run_dir = tmp_path / "base"
    checkpoint_path(run_dir, golden_traces.RESUME_AT).parent.mkdir(parents=True)
    shutil.copyfile(golden_traces.CHECKPOINT, checkpoint_path(run_dir, golden_traces.RESUME_AT))
    trace = golden_traces.run_trace("base", run_dir)
    assert trace["weights"] == STORED["traces"]["base"]["weights"]
    stored_after = [r for r in STORED["traces"]["base"]["metrics"] if r["step"] > golden_traces.RESUME_AT]
    assert trace["metrics"][-len(stored_after):] == stored_after
