"""Entry point of ``nao-tf``.

Each command lives in its own module of this package with a ``register(subparsers)`` function that adds its
parser and sets ``func``. Building the parser imports no TensorFlow, Keras or Matplotlib (command modules import
the library inside their handlers, and ``import nao_tf`` is light), so ``nao-tf --help``, ``nao-tf arch ...`` and
``nao-tf predict --backend onnx`` start in well under a second; tests/test_fast_import.py holds this.

``main`` is the one guard around every command, so no command has to remember it:

* a user error (``NaoError``, a bad flag) prints one line and exits 2;
* anything else that escapes a command (a bug, a full disk, a library failing) prints one line naming the
  exception plus "run with --debug for the traceback", and exits 1; ``--debug`` or ``NAO_TF_DEBUG=1`` print
  the traceback as well;
* a closed stdout (``nao-tf arch show X --json | head -1``) ends the command quietly;
* Ctrl-C exits 130 with one line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from nao_tf.errors import NaoError

# Modules of nao_tf.cli that define commands, in the order --help lists them.
COMMAND_MODULES = ("arch", "search", "worker", "benchmark", "train", "evaluate", "export", "predict")


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus a message on a bad flag; we print one line that says how to get help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nao-tf", description="Neural Architecture Optimization in Keras/TensorFlow.")
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the installed version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="print the Python traceback of an error (also NAO_TF_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"nao_tf.cli.{name}").register(sub)
    return parser


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata costs every other command ~50 ms)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        parser.exit(0, _version() + "\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"nao-tf {version('nao-tf')}"
    except PackageNotFoundError:
        return "nao-tf (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code (0 ok, 2 user error, 1 failure at run time)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug anywhere on the line (the hint says "run with --debug", and people append it at the end)
    debug = "--debug" in argv or os.environ.get("NAO_TF_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, inside the guard, not at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_EXIT
    except NaoError as exc:
        return _report(exc, str(exc), exc.exit_code, debug)
    except KeyboardInterrupt:
        print("nao-tf: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  the last guard: anything else is one line, traceback on --debug
        return _report(exc, f"{type(exc).__name__}: {_first_line(exc)}", 1, debug, hint=True)


# What shells report for a process killed by SIGPIPE (128 + 13): the reader went away, not an error of ours.
BROKEN_PIPE_EXIT = 141
# Longest message of an unexpected exception shown on its one line (a library's message can be pages).
MAX_MESSAGE = 300


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


def _report(exc: BaseException, message: str, code: int, debug: bool, hint: bool = False) -> int:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    suffix = " (run with --debug for the traceback)" if hint and not debug else ""
    print(f"nao-tf: error: {message}{suffix}", file=sys.stderr)
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's own flush at exit does not raise a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests capture it)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
