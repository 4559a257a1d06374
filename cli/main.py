"""Entry point of ``nao-tf``.

Each command lives in its own module of this package with a ``register(subparsers)`` function that adds its
parser and sets ``func``. User errors (``NaoError``, bad flags) print one line and exit 2. Building the parser
imports no TensorFlow, Keras or Matplotlib (command modules import the library inside their handlers, and
``import nao_tf`` is light), so ``nao-tf --help``, ``nao-tf arch ...`` and ``nao-tf predict --backend onnx``
start in well under a second; tests/test_fast_import.py holds this.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
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
    """Run one command; returns the process exit code (0 ok, 2 user error)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NaoError as exc:
        print(f"nao-tf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("nao-tf: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
