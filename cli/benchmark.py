"""``nao-tf benchmark ...``: performance and quality measurements that print machine-readable JSON.

Each subcommand is added by one ``_add_*`` function below and calls a library function that returns a dict.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def _print_json(result: dict[str, Any]) -> int:
    print(json.dumps(result, indent=2))
    return 0


# Each entry adds one benchmark subcommand to the ``benchmark`` subparsers.
_SUBCOMMANDS: list[Callable[[Any], None]] = []


def register(sub: Any) -> None:
    parser = sub.add_parser("benchmark", help="measure speed and search quality; prints JSON")
    bench = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", parser_class=type(parser))
    bench.required = True
    for add in _SUBCOMMANDS:
        add(bench)


def seed_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _add_lm(bench: Any) -> None:
    parser = bench.add_parser("lm", help="RNN language model training/evaluation tokens/s (PTB NAONet cell)")
    from nao_tf.children.lm_benchmark import add_arguments

    add_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        from nao_tf.children.lm_benchmark import run_from_args

        return _print_json(run_from_args(args))

    parser.set_defaults(func=run)


_SUBCOMMANDS.append(_add_lm)


def _add_export(bench: Any) -> None:
    from nao_tf.cli.export import add_benchmark

    add_benchmark(bench)


_SUBCOMMANDS.append(_add_export)


def _add_search(bench: Any) -> None:
    from nao_tf.cli.search import add_benchmarks

    add_benchmarks(bench)


_SUBCOMMANDS.append(_add_search)
