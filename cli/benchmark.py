"""``nao-tf benchmark BENCHMARK``: speed and search-quality measurements that print machine-readable JSON.

Each subcommand parses its flags, calls one function of ``nao_tf.benchmarks`` (one module per benchmark) and
prints the dict it returns: ``{"benchmark", "settings", "machine", "results"}``. Library modules are imported
inside the handlers, so ``nao-tf --help`` never loads TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nao_tf.cli.argtypes import nonnegative_int, positive_int, seed
from nao_tf.errors import ConfigError
from nao_tf.search.config import STANDALONE_CACHE


def register(sub: Any) -> None:
    parser = sub.add_parser("benchmark", help="measure speed and search quality; prints JSON")
    bench = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", parser_class=type(parser))
    bench.required = True
    for add in (_add_nb201, _add_controller, _add_controller_quality, _add_supernet, _add_ws_ranking, _add_child,
                _add_lm, _add_export):
        add(bench)


def _print_json(result: dict[str, Any]) -> int:
    print(json.dumps(result, indent=2))
    return 0


def _seed(parser: argparse.ArgumentParser, what: str = "random seed") -> None:
    parser.add_argument("--seed", type=seed, default=0, help=f"{what} (default 0)")


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated integers, got {text!r}") from None


TABLE_HELP = ("NAS-Bench-201 table: CSV (optionally .gz), one row per cell, a 'cellstr' column "
              "('|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|') or 'arch' column, and numeric columns "
              "cifar10-val and cifar10-test")


# ----- nb201 -------------------------------------------------------------------------------------------------
def _add_nb201(bench: Any) -> None:
    from nao_tf.benchmarks.nb201 import ENTRIES, TUNE_FIRST_SEED, TUNING_GRIDS

    p = bench.add_parser("nb201", help="search methods compared on a NAS-Bench-201-format table (honest protocol: "
                                       "own random streams, paired tests, optional tuning on separate seeds)")
    p.add_argument("--table", required=True, help=TABLE_HELP)
    p.add_argument("--methods", default="nao,seminas,re,re-10-3,rs",
                   help=f"comma-separated, of {', '.join(ENTRIES)} (default nao,seminas,re,re-10-3,rs; re: the "
                        "nb201 preset's regularized evolution, re-10-3: NAS-Bench-201's own population 10 / sample 3)")
    p.add_argument("--budgets", default="100,300", help="comma-separated query budgets (default 100,300)")
    p.add_argument("--seeds", type=positive_int, default=30, help="number of reported seeds (default 30)")
    _seed(p, "first reported seed")
    p.add_argument("--metric", default="cifar10-val", help="table column searched on (default cifar10-val)")
    p.add_argument("--report-metric", default="cifar10-test",
                   help="table column reported for the answer, never searched on (default cifar10-test)")
    p.add_argument("--tune", action="store_true",
                   help=f"first tune {', '.join(TUNING_GRIDS)} ({len(TUNING_GRIDS['re'])} settings each) on "
                        "separate tuning seeds by the search metric, then report with the chosen settings")
    p.add_argument("--tune-seeds", type=positive_int, default=5, help="tuning seeds per setting (default 5)")
    p.add_argument("--tune-first-seed", type=int, default=TUNE_FIRST_SEED,
                   help=f"first tuning seed (default {TUNE_FIRST_SEED}; must not overlap the reported seeds)")
    p.add_argument("--out", default="runs/benchmark-nb201",
                   help="folder for summary.json, curves.json, the plot and searches.jsonl (finished searches, "
                        "reused by a later run with the same --out: a stopped run continues)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="processes running searches in parallel (same results)")
    p.add_argument("--quiet", action="store_true", help="no per-search progress on stderr")
    p.set_defaults(func=_nb201)


def _nb201(args: argparse.Namespace) -> int:
    from nao_tf.benchmarks.nb201 import ENTRIES, nb201_benchmark
    from nao_tf.search.config import NAO_METHODS
    from nao_tf.search.tabular import load_table

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    budgets = _ints(args.budgets, "--budgets")
    unknown = [m for m in methods if m not in ENTRIES]
    if unknown:
        raise ConfigError(f"unknown method {unknown[0]!r}; expected some of {', '.join(ENTRIES)}")
    load_table(args.table, "nb201", (args.metric, args.report_metric))  # a bad table fails before TensorFlow
    if any(ENTRIES[m][0] in NAO_METHODS for m in methods):
        from nao_tf._tf import import_tf_quietly

        import_tf_quietly()
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    return _print_json(nb201_benchmark(args.table, methods, budgets, args.seeds, args.seed, args.out,
                                       metric=args.metric, report_metric=args.report_metric, progress=progress,
                                       workers=max(1, args.workers), tune=args.tune, tune_seeds=args.tune_seeds,
                                       tune_first_seed=args.tune_first_seed))


# ----- controller, controller-quality -------------------------------------------------------------------------
def _add_controller(bench: Any) -> None:
    c = bench.add_parser("controller", help="controller training archs/s and generation time (nasnet-ws sizes)")
    _seed(c)
    c.add_argument("--epochs", type=positive_int, default=5,
                   help="timed training epochs over the 600 archs, per round and trainer (default 5)")
    c.add_argument("--rounds", type=positive_int, default=3,
                   help="timing rounds, alternating the new and the previous trainer (default 3)")
    c.add_argument("--warm-epochs", type=positive_int, default=300,
                   help="further training, so that the controller reconstructs its inputs, before timing "
                        "generation (default 300; up to as many again until it reconstructs 99%%)")
    c.add_argument("--repeats", type=positive_int, default=5, help="generation timings, median reported (default 5)")
    c.add_argument("--threads-per-op", type=nonnegative_int, default=0,
                   help="TensorFlow threads per op (default 0: TensorFlow's default, one per core; 1: what a "
                        "process that only trains the controller runs fastest with)")
    c.set_defaults(func=_controller)


def _controller(args: argparse.Namespace) -> int:
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    from nao_tf.benchmarks.controller import controller_speed

    return _print_json(controller_speed(args.seed, epochs=args.epochs, rounds=args.rounds,
                                        warm_epochs=args.warm_epochs, repeats=args.repeats,
                                        threads_per_op=args.threads_per_op))


def _add_controller_quality(bench: Any) -> None:
    q = bench.add_parser("controller-quality",
                         help="predictor pairwise ranking accuracy (1000 train / 500 held-out NB201 cells) and "
                              "reconstruction accuracy")
    q.add_argument("--table", required=True, help=TABLE_HELP)
    _seed(q)
    q.add_argument("--train", type=positive_int, default=1000, help="training cells (default 1000)")
    q.add_argument("--test", type=positive_int, default=500, help="held-out cells (default 500)")
    q.add_argument("--epochs", type=positive_int, default=None, help="controller epochs (default: the nb201 preset)")
    q.add_argument("--controller-set", action="append", default=[], metavar="KEY=VALUE",
                   help="any controller setting; repeatable")
    q.set_defaults(func=_controller_quality)


def _controller_quality(args: argparse.Namespace) -> int:
    from nao_tf.search.tabular import load_table

    load_table(args.table)
    from nao_tf.search.config import parse_controller_set

    overrides = parse_controller_set(args.controller_set)
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    from nao_tf.benchmarks.controller_quality import controller_quality

    return _print_json(controller_quality(args.table, args.seed, args.train, args.test, args.epochs, overrides))


# ----- supernet, child, lm -------------------------------------------------------------------------------------
def _add_supernet(bench: Any) -> None:
    parser = bench.add_parser(
        "supernet", help="NAO-WS CNN supernet: seconds per architecture evaluation, training images/s")
    parser.add_argument("--layers", type=positive_int, default=3, help="cells per stage N (default 3)")
    parser.add_argument("--channels", type=positive_int, default=20, help="filters F (default 20)")
    parser.add_argument("--image-size", type=positive_int, default=32, help="image side (default 32)")
    parser.add_argument("--eval-images", type=positive_int, default=500, help="images per evaluation (default 500)")
    parser.add_argument("--batch", type=positive_int, default=64, help="training batch (default 64)")
    parser.add_argument("--archs", type=positive_int, default=10,
                        help="timed architecture evaluations (default 10; a step's cost varies up to 1.8x with "
                             "the architecture, so few make a noisy mean)")
    parser.add_argument("--steps", type=positive_int, default=20,
                        help="timed training steps, cycling over those architectures (default 20)")
    parser.add_argument("--mode", choices=("switch", "onehot"), action="append",
                        help="op selection to measure (repeatable; default both)")
    _seed(parser)
    parser.set_defaults(func=_supernet)


def _supernet(args: argparse.Namespace) -> int:
    from nao_tf.benchmarks.supernet import benchmark_supernet

    return _print_json(benchmark_supernet(
        args.layers, args.channels, args.image_size, args.eval_images, args.batch, args.archs, args.steps,
        args.seed, tuple(args.mode) if args.mode else None))


def _add_ws_ranking(bench: Any) -> None:
    parser = bench.add_parser(
        "ws-ranking", help="NAO-WS supernet ranking vs stand-alone training of random architectures (Kendall "
                           "tau, Spearman rho, top-k overlap, the random-architecture accuracy distribution)")
    parser.add_argument("--preset", default="default",
                        help="search preset whose data, sizes, supernet budget and re-ranking recipe are used "
                             "(default: default)")
    parser.add_argument("--archs", type=int, default=24, help="random architectures K (default 24)")
    parser.add_argument("--top-k", type=int, default=5, help="top-k overlap reported (default 5)")
    parser.add_argument("--cache", default=STANDALONE_CACHE,
                        help="JSON file of stand-alone accuracies, reused and extended by later runs "
                             "(default runs/ws-ranking/standalone.json)")
    parser.add_argument("--out", default="runs/ws-ranking",
                        help="folder for ws-ranking.json and ws-ranking.png (default runs/ws-ranking)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a search setting of the preset, e.g. --set warmup_epochs=4 (repeatable; "
                             "keys as in 'nao-tf search' flags, with underscores)")
    parser.add_argument("--standalone-only", action="store_true",
                        help="only train (and cache) the stand-alone networks and report their distribution")
    parser.add_argument("--train-seed", type=int, default=None,
                        help="seed of stand-alone training (default: the preset's search seed, as re-ranking)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _seed(parser, "seed of the random architectures and the supernet")
    parser.set_defaults(func=_ws_ranking)


def _ws_ranking(args: argparse.Namespace) -> int:
    from nao_tf.benchmarks.ws_ranking import run_ws_ranking
    from nao_tf.search.config import parse_controller_set  # KEY=VALUE, parsed in one place

    progress = None if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    return _print_json(run_ws_ranking(
        args.preset, archs=args.archs, top_k=args.top_k, seed=args.seed, train_seed=args.train_seed,
        cache=args.cache, overrides=parse_controller_set(args.overrides, "--set"), out_dir=args.out,
        standalone_only=args.standalone_only, progress=progress))


def _add_child(bench: Any) -> None:
    parser = bench.add_parser("child", help="CNN child training/evaluation images/s (NAONet-B, 32x32x3)")
    parser.add_argument("--steps", type=positive_int, default=10,
                        help="timed training steps per network (default 10)")
    parser.add_argument("--eval-steps", type=positive_int, default=3,
                        help="timed evaluation batches of 500 (default 3)")
    parser.add_argument("--warmup", type=nonnegative_int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--xla", action="store_true", help="compile the steps with XLA (jit_compile)")
    parser.add_argument("--only", choices=("search_child_train", "search_child_eval", "final_train"),
                        action="append", help="run only these measurements (repeatable)")
    _seed(parser)
    parser.set_defaults(func=_child)


def _child(args: argparse.Namespace) -> int:
    from nao_tf.benchmarks.child import run_child_benchmark

    return _print_json(run_child_benchmark(args.steps, args.eval_steps, args.warmup, args.xla, args.seed,
                                           tuple(args.only) if args.only else None))


def _add_lm(bench: Any) -> None:
    parser = bench.add_parser("lm", help="RNN language model training/evaluation tokens/s (PTB NAONet cell)")
    parser.add_argument("--arch", default="PTB-NAONet", help="RNN cell (default PTB-NAONet)")
    parser.add_argument("--sizes", default="850,200",
                        help="comma-separated hidden sizes (default 850,200: the paper's and a small one)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default 64)")
    parser.add_argument("--bptt", type=positive_int, default=35, help="BPTT length (default 35)")
    parser.add_argument("--vocab-size", type=positive_int, default=10000, help="vocabulary size (default 10000, PTB)")
    parser.add_argument("--steps", type=positive_int, default=5,
                        help="timed steps per phase after one warm-up (default 5)")
    parser.add_argument("--jit", choices=("off", "on", "both"), default="both",
                        help="XLA jit_compile for the steps (default both: report each)")
    _seed(parser)
    parser.set_defaults(func=_lm)


def _lm(args: argparse.Namespace) -> int:
    from nao_tf.benchmarks.lm import benchmark_lm

    sizes = tuple(_ints(args.sizes, "--sizes"))
    return _print_json(benchmark_lm(args.arch, sizes, args.batch_size, args.bptt, args.vocab_size, args.steps,
                                    args.jit, args.seed))


# ----- export --------------------------------------------------------------------------------------------------
def _add_export(bench: Any) -> None:
    parser = bench.add_parser("export", help="inference latency: Keras vs SavedModel vs ONNX Runtime (JSON)")
    parser.add_argument("--arch", default="NAONet-B", help="architecture (default NAONet-B)")
    parser.add_argument("--layers", type=positive_int, default=3, help="cells per stage N (default 3)")
    parser.add_argument("--channels", type=positive_int, default=20, help="filters F (default 20)")
    parser.add_argument("--image-size", type=positive_int, default=32, help="square RGB input size (default 32)")
    parser.add_argument("--batch-sizes", default="1,64", help="comma-separated batch sizes (default 1,64)")
    parser.add_argument("--repeats", type=positive_int, default=30,
                        help="timed calls per runtime at small batches; a quarter of it above 8 (default 30)")
    parser.add_argument("--warmup", type=nonnegative_int, default=3, help="untimed calls first (default 3)")
    parser.add_argument("--ort-threads", type=nonnegative_int, default=0,
                        help="ONNX Runtime intra-op threads (0: default)")
    _seed(parser)
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from nao_tf.benchmarks.export import benchmark_export

    batches = _ints(args.batch_sizes, "--batch-sizes")
    return _print_json(benchmark_export(args.arch, args.layers, args.channels, args.image_size,
                                        batch_sizes=batches, repeats=args.repeats, warmup=args.warmup,
                                        seed=args.seed, ort_threads=args.ort_threads))
