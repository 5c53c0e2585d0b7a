"""The ``tf3dgan`` command line: one subcommand per module in ``tf3dgan.commands``."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from tf3dgan.quiet import hold_import_for_tests, stderr_muted

# Each module has ``add_parser(subparsers)``, which sets ``func`` on its parser(s), and ``needs_tensorflow=False``
# (or a predicate of the parsed arguments) where the command runs without TensorFlow: it then starts in a second,
# not the eight that importing TensorFlow takes on a 2-core CPU.
COMMAND_MODULES = [
    "train",
    "describe",
    "sample",
    "data",
    "evaluate",
    "evaluate_reconstruction",
    "svm",
    "ablate",
    "interpolate",
    "arithmetic",
    "dimension",
    "neighbours",
    "neurons",
    "embed",
    "reconstruct",
    "project",
    "export",
    "import_release",
    "visdom",
    "plot",
    "view",
    "env",
    "configs",
    "presets",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tf3dgan", description="Volumetric 3D-GANs in Keras 3 / TensorFlow.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"tf3dgan.commands.{name}").add_parser(sub)
    return parser


def _start_tensorflow_quietly() -> None:
    """Import TensorFlow (and with it Keras and tf3dgan's Keras classes) and probe its devices with its C++
    start-up lines muted (see ``tf3dgan.quiet``); ``main`` reports a Ctrl-C meanwhile in one line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    hold_import_for_tests()
    with stderr_muted():
        import tensorflow as tf

        tf.config.list_physical_devices()


def _one_line_warnings(command: str) -> None:
    """The package's own warnings (run folder, data, visdom) as ``tf3dgan CMD: warning: ...``."""
    import warnings

    original = warnings.formatwarning

    def formatwarning(message, category, filename, lineno, line=None):
        if issubclass(category, UserWarning) and category.__module__.split(".")[0] in ("tf3dgan", "data_io"):
            return f"tf3dgan {command}: warning: {message}\n"
        return original(message, category, filename, lineno, line)

    warnings.formatwarning = formatwarning


# What the file system refuses (a full disk, a read-only mount, no permission): a one-line error naming the file.
_STORAGE_ERRORS = {
    errno.ENOSPC: "free some space and run the same command again",
    errno.EDQUOT: "free some space and run the same command again",
    errno.EROFS: "write somewhere else",
    errno.EACCES: "check its permissions or use another path",
    errno.ENAMETOOLONG: "use a shorter name or path",
}
SHOWN_NAME_CHARACTERS = 120  # a longer file name is shown shortened, so the error stays one readable line


def _shown_file_name(name) -> str:
    name = str(name)
    if len(name) <= SHOWN_NAME_CHARACTERS:
        return name
    return f"{name[:SHOWN_NAME_CHARACTERS - 20]}...{name[-20:]} ({len(name):,} characters)"


def main(argv=None) -> int:
    command = "?"
    try:
        args = build_parser().parse_args(argv)
        command = args.command
        needs_tensorflow = getattr(args, "needs_tensorflow", True)
        if needs_tensorflow(args) if callable(needs_tensorflow) else needs_tensorflow:
            _start_tensorflow_quietly()
        _one_line_warnings(command)
        from tf3dgan.errors import UserError

        try:
            args.run_command = main  # for a command that runs other commands (presets build)
            return args.func(args) or 0
        except UserError as err:
            print(f"tf3dgan {command}: error: {err}", file=sys.stderr)
            return 2
        except OSError as err:
            if err.errno not in _STORAGE_ERRORS:
                raise
            print(f"tf3dgan {command}: error: {f'{_shown_file_name(err.filename)}: ' if err.filename else ''}"
                  f"{err.strerror}; {_STORAGE_ERRORS[err.errno]}", file=sys.stderr)
            return 2
    except KeyboardInterrupt as err:  # also while the modules load
        if hasattr(err, "exit_status"):  # a trainer stopped at SIGTERM/SIGINT (training.interrupt): 128 + signal
            print(f"tf3dgan {command}: {err}; {err.advice}.", file=sys.stderr)
            return err.exit_status
        print(f"\ntf3dgan {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
