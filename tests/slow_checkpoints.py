"""``python tests/slow_checkpoints.py SECONDS train ...``: the ``tf3dgan`` command line with a pause of SECONDS
inside each checkpoint write (after the data is written and flushed, before the temporary file is renamed), so
that a test can signal or kill a trainer in the middle of writing a checkpoint."""

from __future__ import annotations

import sys
import time


def pause_checkpoint_writes(seconds: float) -> None:
    """Make every later ``save_checkpoint`` of this process pause ``seconds`` before its rename."""
    from tf3dgan.training import checkpoint

    atomic_write_bytes = checkpoint.atomic_write_bytes

    def slow_atomic_write_bytes(path, write):
        def write_then_pause(f):
            write(f)
            f.flush()
            time.sleep(seconds)

        return atomic_write_bytes(path, write_then_pause)

    checkpoint.atomic_write_bytes = slow_atomic_write_bytes


if __name__ == "__main__":
    pause_checkpoint_writes(float(sys.argv[1]))
    from tf3dgan.cli import main

    sys.exit(main(sys.argv[2:]))
