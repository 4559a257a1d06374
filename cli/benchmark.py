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


def _add_child(bench: Any) -> None:
    parser = bench.add_parser("child", help="CNN child training/evaluation images/s (NAONet-B, 32x32x3)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per network (default 10)")
    parser.add_argument("--eval-steps", type=int, default=3, help="timed evaluation batches of 500 (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--xla", action="store_true", help="compile the steps with XLA (jit_compile)")
    parser.add_argument("--only", choices=("search_child_train", "search_child_eval", "final_train"),
                        action="append", help="run only these measurements (repeatable)")
    seed_arg(parser)

    def run(args: argparse.Namespace) -> int:
        from nao_tf.children.benchmark_cnn import run_child_benchmark

        return _print_json(run_child_benchmark(args.steps, args.eval_steps, args.warmup, args.xla, args.seed,
                                               tuple(args.only) if args.only else None))

    parser.set_defaults(func=run)


_SUBCOMMANDS.append(_add_child)


def _add_supernet(bench: Any) -> None:
    parser = bench.add_parser(
        "supernet", help="NAO-WS CNN supernet: seconds per architecture evaluation, training images/s")
    parser.add_argument("--layers", type=int, default=3, help="cells per stage N (default 3)")
    parser.add_argument("--channels", type=int, default=20, help="filters F (default 20)")
    parser.add_argument("--image-size", type=int, default=32, help="image side (default 32)")
    parser.add_argument("--eval-images", type=int, default=500, help="images per evaluation (default 500)")
    parser.add_argument("--batch", type=int, default=64, help="training batch (default 64)")
    parser.add_argument("--archs", type=int, default=5, help="timed architecture evaluations (default 5)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps (default 5)")
    parser.add_argument("--mode", choices=("switch", "onehot"), action="append",
                        help="op selection to measure (repeatable; default both)")
    seed_arg(parser)

    def run(args: argparse.Namespace) -> int:
        from nao_tf.children.supernet import SELECT_MODES, benchmark_supernet

        return _print_json(benchmark_supernet(
            args.layers, args.channels, args.image_size, args.eval_images, args.batch, args.archs, args.steps,
            args.seed, tuple(args.mode) if args.mode else SELECT_MODES))

    parser.set_defaults(func=run)


_SUBCOMMANDS.append(_add_supernet)
