"""SIGTERM and SIGINT during training: finish the step, write the metrics line and a checkpoint, then stop.

``docker stop``, Kubernetes and Slurm send SIGTERM (then SIGKILL after a grace period); Ctrl-C sends SIGINT.
While ``stop_on_signals`` is active, the first of either sets a flag and ``model.stop_training``, which Keras
checks after each step: the step in flight finishes, ``on_train_end`` writes the metrics line of the steps
since the last one and a checkpoint, and ``train`` raises ``TrainingStopped`` (the CLI exits with 128 + the
signal number, 143 for SIGTERM and 130 for SIGINT, whichever command trained: ``train`` or ``ablate``). A
second signal raises ``TrainingAborted`` as soon as Python runs again (after the TensorFlow call in flight): no
checkpoint is written for the steps since the last one.
Nothing here raises inside TensorFlow ops.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

import keras

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class TrainingStopped(KeyboardInterrupt):
    """Training stopped at a signal after writing a checkpoint of ``step`` (``checkpoint``) and its metrics."""

    def __init__(self, signum: int, step: int, checkpoint):
        super().__init__(f"{signal_name(signum)}: stopped at step {step}; checkpoint {checkpoint} written")
        self.signum, self.step, self.checkpoint = signum, step, checkpoint

    advice = "run the same command again to resume"

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class TrainingAborted(KeyboardInterrupt):
    """A second signal: training stopped at once, without a checkpoint of the steps since ``checkpoint``."""

    def __init__(self, signum: int, checkpoint):
        since = f"since {checkpoint}" if checkpoint is not None else "of this run (there is none)"
        super().__init__(f"{signal_name(signum)} again: stopped at once; no checkpoint was written for the "
                         f"steps {since}")
        self.signum, self.checkpoint = signum, checkpoint

    advice = "run the same command again to resume from it"

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class StopOnSignal(keras.callbacks.Callback):
    """Sets ``model.stop_training`` after the step during which a stop was requested (``request``)."""

    def __init__(self):
        super().__init__()
        self.signum = None

    def request(self, signum: int) -> None:
        self.signum = signum
        if self.model is not None:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if self.signum is not None:
            self.model.stop_training = True


@contextlib.contextmanager
def stop_on_signals(stopper: StopOnSignal, last_checkpoint):
    """Route SIGTERM and SIGINT to ``stopper`` for the ``with`` block (main thread only; elsewhere nothing).

    ``last_checkpoint()`` names the newest checkpoint on disk, for the message of a second signal.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stopper
        return

    def handle(signum, frame):
        if stopper.signum is None:
            print(f"\n{signal_name(signum)}: finishing the current step, then writing a checkpoint and "
                  f"stopping (send it again to stop at once, without that checkpoint)", file=sys.stderr, flush=True)
            stopper.request(signum)
            return
        raise TrainingAborted(signum, last_checkpoint())

    previous = {s: signal.signal(s, handle) for s in SIGNALS}
    try:
        yield stopper
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
