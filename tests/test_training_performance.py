"""Mixed precision, XLA and tf.distribute settings of ``train``: they train, keep float32 logits and losses,
leave the D gate exact, and two replicas give the results of one device for the same global batch."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from harness import TINY, fit_steps as _fit
from tf3dgan.training.builder import build_gan
from tf3dgan.config import load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("policy, compute", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_precision_trains_with_float32_logits_and_losses(policy, compute, tiny_overrides, real16):
    import keras
    import tensorflow as tf

    from tf3dgan.nn import losses
    from tf3dgan.training import checkpoint
    from tf3dgan.errors import ConfigError
    from tf3dgan.training.precision import compute_dtype, onednn_would_abort

    config = load_config(None, tiny_overrides + [f"train.mixed_precision={policy}", "train.d_gate=always"])
    if onednn_would_abort(policy):
        with pytest.raises(ConfigError, match="cannot run with ONEDNN_MAX_CPU_ISA"):  # oneDNN's kernels would abort
            build_gan(config)
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "train.mixed_precision", RuntimeWarning)  # slow on a CPU: see test_cpu_setup
        gan = build_gan(config)
    assert keras.mixed_precision.dtype_policy().name == "float32"  # not leaked by the build
    assert compute_dtype(gan.generator) == compute_dtype(gan.discriminator) == compute
    assert all(w.dtype == "float32" for w in gan.generator.weights)  # float32 master weights
    z = gan.sample_latent(4, seed=0)
    fake = gan.generator(z, training=True)
    logits, features = gan.discriminator(fake, training=True)
    assert fake.dtype == tf.float32 and logits.dtype == tf.float32
    assert features[0].dtype == compute
    assert losses.discriminator_loss(logits, logits).dtype == tf.float32
    is_scaled = isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (policy == "mixed_float16")

    history = _fit(gan, real16, 3)
    assert all(np.isfinite(history[k][-1]) for k in ("d_loss", "g_loss", "d_acc"))
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        applied = int(optimizer.iterations.numpy())
        if is_scaled:  # a step with overflowing (non-finite) gradients is skipped and halves the loss scale
            assert 1 <= applied <= 3
            assert float(optimizer.dynamic_scale.numpy()) == optimizer.initial_scale / 2 ** (3 - applied)
        else:
            assert applied == 3
    # The loss scale is part of the checkpointed state.
    keys = list(checkpoint.state_variables(gan))
    assert any(k.endswith("optimizer/dynamic_scale") for k in keys) == is_scaled


def test_policy_does_not_leak_into_later_builds(tiny_overrides, monkeypatch):
    """mixed_float16, the ONEDNN_MAX_CPU_ISA cap hidden from the package's refusal (the build runs no convolution)."""
    import warnings

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    from tf3dgan.training.precision import compute_dtype

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float16 on a CPU warns that it is slow: not what this test is about
        build_gan(load_config(None, tiny_overrides + ["train.mixed_precision=mixed_float16"]))
    gan = build_gan(load_config(None, tiny_overrides))
    assert compute_dtype(gan.generator) == compute_dtype(gan.discriminator) == "float32"


def test_loss_scaled_gate_skip_leaves_d_and_its_loss_scale_untouched(tiny_overrides, real16):
    from tf3dgan.errors import ConfigError
    from tf3dgan.training.precision import onednn_would_abort

    config = load_config(None, tiny_overrides + ["train.mixed_precision=mixed_float16", "train.d_gate=lt",
                                                 "train.d_thresh=0.0"])
    if onednn_would_abort("mixed_float16"):
        with pytest.raises(ConfigError, match="cannot run with ONEDNN_MAX_CPU_ISA"):  # oneDNN's fp16 would abort
            build_gan(config)
        return
    gan = build_gan(config)
    d_before = [w.numpy().copy() for w in gan.discriminator.weights if w.trainable]
    opt_before = [np.asarray(v).copy() for v in gan.d_optimizer.variables]
    history = _fit(gan, real16, 2)
    assert history["d_updated"][-1] == 0.0
    for before, w in zip(d_before, [w for w in gan.discriminator.weights if w.trainable], strict=True):
        np.testing.assert_array_equal(before, w.numpy())
    for before, v in zip(opt_before, gan.d_optimizer.variables, strict=True):
        np.testing.assert_array_equal(before, np.asarray(v))
    assert int(gan.g_optimizer.iterations.numpy()) == 2


def test_batch_must_split_across_replicas():
    from tf3dgan.training.distribute import check_global_batch, get_strategy

    check_global_batch(5, "none")
    replicas = get_strategy("mirrored").num_replicas_in_sync  # 1 here: one CPU device in this process
    check_global_batch(4 * replicas, "mirrored")
    with pytest.raises(ValueError, match="train.distribute must be one of"):
        get_strategy("tpu")


@pytest.mark.slow
def test_jit_compile_auto_never_chooses_xla_on_a_cpu(tiny_overrides):
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU is present: auto chooses XLA there")
    assert build_gan(load_config(None, tiny_overrides)).jit_compile is False
    assert build_gan(load_config(None, tiny_overrides + ["train.jit_compile=true"]), compile=True).jit_compile is True


def test_xla_jit_compile_trains(tiny_overrides, real16):
    """``jit_compile: true`` compiles the one train_step with XLA (slow to compile on a CPU)."""
    gan = build_gan(load_config(None, tiny_overrides + ["train.jit_compile=true", "train.d_gate=le",
                                                        "train.d_thresh=1.0"]))
    assert gan.jit_compile is True
    history = _fit(gan, real16, 2)
    assert np.isfinite(history["g_loss"][-1]) and history["d_updated"][-1] == 1.0


TWO_DEVICES = textwrap.dedent(
    """
    import json, sys
    import keras
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from tf3dgan.config import load_config
    from tf3dgan.training.loop import train
    from tf3dgan.training.run_callbacks import read_metrics
    from tf3dgan.training.distribute import get_strategy

    cases, root = json.loads(sys.argv[1]), sys.argv[2]
    voxels = (np.random.default_rng(0).random((20, 8, 8, 8)) > 0.7).astype("uint8")
    checks = {"replicas": get_strategy("mirrored").num_replicas_in_sync}
    try:
        train(load_config(None, cases["paper"] + ["train.distribute=mirrored", "train.batch_size=3"]), f"{root}/odd",
              1, voxels)
    except ValueError as err:
        checks["odd_batch_error"] = str(err)
    class StopAt(keras.callbacks.Callback):  # a Ctrl-C at the end of a step: train() checkpoints it, then raises
        def __init__(self, step):
            super().__init__()
            self.step = step

        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.step_counter.numpy()) == self.step:
                raise KeyboardInterrupt

    def compare(tiny, out, horizon):
        result = dict(checks)
        for name, distribute, splits in [("one", "none", [4]), ("two", "mirrored", [4]),
                                         ("resumed", "mirrored", [2, 4])]:
            config = load_config(None, tiny + [f"train.distribute={distribute}", "train.log_every=1",
                                               "train.checkpoint_every=2", "train.d_thresh=0.7"])
            if name == "resumed" and horizon:
                # A schedule over train.steps: the first part runs with train.steps=4 too, cut after step 2.
                try:
                    train(config, f"{out}/{name}", steps=4, voxels=voxels, extra_callbacks=[StopAt(2)],
                          progress=False)
                except KeyboardInterrupt:
                    pass
                splits = [4]
            for steps in splits:
                gan = train(config, f"{out}/{name}", steps=steps, voxels=voxels, progress=False)
            result[name] = {
                "metrics": read_metrics(f"{out}/{name}"),
                "weights": [w.numpy().tolist()
                            for w in gan.discriminator.weights[:2] + gan.sampling_generator.weights[-3:]],
                "d_updates": int(gan.d_optimizer.iterations.numpy()),
            }
        return result

    results = {case: compare(tiny, f"{root}/{case}", any(t.startswith(HORIZON_KEYS) for t in tiny))
               for case, tiny in cases.items()}
    print("RESULT" + json.dumps(results))
    """
)


# The training tricks whose draws and averages must not depend on the replica count (minibatch_std does: each
# replica sees the spread of its own share of the batch).
REPLICA_INDEPENDENT_TRICKS = ["train.ema_decay=0.9", "train.instance_noise=0.1", "train.r1_gamma=1.0",
                              "train.r1_every=2", "train.soft_labels=true", "train.lr_schedule=linear",
                              "train.lr_decay_start=0.0"]
HORIZON_KEYS = ("train.lr_schedule", "train.instance_noise")  # run over train.steps


@pytest.fixture(scope="module")
def two_device_runs(tmp_path_factory):
    """Both cases' runs (paper, tricks) in one process with two logical CPU devices: one TensorFlow start-up."""
    cases = {"paper": list(TINY), "tricks": list(TINY) + REPLICA_INDEPENDENT_TRICKS}
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    script = f"HORIZON_KEYS = {HORIZON_KEYS!r}\n" + TWO_DEVICES
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(cases), str(tmp_path_factory.mktemp("devices"))],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("RESULT", 1)[1])


@pytest.mark.slow
@pytest.mark.xdist_group("two_devices")  # both cases on one pytest-xdist worker: the fixture's one process serves both
@pytest.mark.parametrize("case", ["paper", "tricks"])
def test_two_logical_devices_match_one_device(two_device_runs, case, request):
    """Same global batch on 1 device and on 2 replicas (MirroredStrategy): same metrics, gate and weights;
    a run resumed from a checkpoint under the strategy continues as the uninterrupted one."""
    if getattr(request.config.option, "loadgroup", False):  # a pytest-xdist worker under --dist loadgroup
        assert request.node.nodeid.endswith("@two_devices"), "pytest-xdist's loadgroup no longer groups (constraints.txt)"
    result = two_device_runs[case]
    assert result["replicas"] == 2
    assert "train.batch_size=3 must be a multiple of the 2 replicas" in result["odd_batch_error"]
    one, two = result["one"], result["two"]
    # The resumed run trains 2 steps with train.steps=2 first; with a schedule over train.steps (which would differ
    # there) it runs with train.steps=4 and is cut after step 2 instead. Either way it is compared, not skipped.
    resumed = result["resumed"]
    assert [m["step"] for m in one["metrics"]] == [1, 2, 3, 4] == [m["step"] for m in two["metrics"]]
    assert [m["step"] for m in resumed["metrics"]] == [1, 2, 3, 4]
    # The gate saw the global batch: the same D steps were taken (and some skipped, with d_thresh 0.7).
    assert [m["d_updated"] for m in one["metrics"]] == [m["d_updated"] for m in two["metrics"]]
    assert one["d_updates"] == two["d_updates"] == resumed["d_updates"]
    for a, b, c in zip(one["metrics"], two["metrics"], resumed["metrics"], strict=True):
        for key in ("d_loss", "g_loss", "d_acc", "d_real", "d_fake", "g_lr", "d_lr"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["step"], key)
            assert c[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (c["step"], key)
    for a, b, c in zip(one["weights"], two["weights"], resumed["weights"], strict=True):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(np.array(c), np.array(b), rtol=1e-3, atol=1e-5)
