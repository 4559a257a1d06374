"""``nao-tf search``: architecture search with NAO, regularized evolution or random search.

The evaluator (what scores an architecture) is chosen with ``--evaluator``; each evaluator registers its own
flags and how to rebuild itself from a run folder's ``config.json`` (for ``--resume``) in ``EVALUATORS``.
Today: ``table`` (look architectures up in a table file, e.g. NAS-Bench-201's). Other evaluators (training
child networks, weight sharing) add themselves with ``register_evaluator``.

    nao-tf search --space nb201 --table PATH --budget 100 --seed 0 [--method nao|re|rs] [--out RUN]
    nao-tf search --resume RUN [--budget Q]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError


@dataclass
class EvaluatorEntry:
    """``add_arguments(group)``; ``build(args) -> Evaluator`` (validate everything here: it runs before the
    run folder exists); ``from_config(evaluator_config, args) -> Evaluator`` for ``--resume``;
    ``default_space``: the space used when ``--space`` is not given."""

    add_arguments: Callable[[Any], None]
    build: Callable[[argparse.Namespace], Any]
    from_config: Callable[[dict[str, Any], argparse.Namespace], Any]
    default_space: str
    help: str


EVALUATORS: dict[str, EvaluatorEntry] = {}
DEFAULT_EVALUATOR = "table"
SPACE_EVALUATORS: dict[str, str] = {}  # space -> its default evaluator (when --evaluator is not given)


def register_evaluator(name: str, entry: EvaluatorEntry) -> None:
    EVALUATORS[name] = entry


# ----- the table evaluator ---------------------------------------------------------------------------------------
def _table_args(group: Any) -> None:
    group.add_argument("--table", help="table evaluator: a CSV (optionally .gz) with one row per architecture, a "
                                       "'cellstr' (NAS-Bench-201 notation) or 'arch' column and one numeric "
                                       "column per metric (e.g. cifar10-val, cifar10-test)")
    group.add_argument("--metric", default="cifar10-val", help="table column the search optimizes "
                                                               "(default cifar10-val)")
    group.add_argument("--report-metrics", default="cifar10-test",
                       help="comma-separated columns reported for the result, never searched on "
                            "(default cifar10-test)")
    group.add_argument("--mode", choices=("max", "min"), default="max",
                       help="whether the metric is maximized (accuracy) or minimized (error, perplexity)")


def _table_build(args: argparse.Namespace) -> Any:
    from nao_tf.search.tabular import TableEvaluator

    if not args.table:
        raise ConfigError("--table PATH is required with the table evaluator (a CSV, optionally .gz, with a "
                          "'cellstr' or 'arch' column and one column per metric, e.g. cifar10-val)")
    reports = [m.strip() for m in (args.report_metrics or "").split(",") if m.strip()]
    return TableEvaluator(args.table, args.space or "nb201", args.metric, reports, args.mode)


def _table_from_config(cfg: dict[str, Any], args: argparse.Namespace) -> Any:
    from nao_tf.search.tabular import TableEvaluator

    table = args.table or cfg.get("table")
    return TableEvaluator(table, cfg["space"], cfg.get("metric", "cifar10-val"),
                          cfg.get("report_metrics", []), cfg.get("mode", "max"))


register_evaluator("table", EvaluatorEntry(_table_args, _table_build, _table_from_config, "nb201",
                                           "look architectures up in a table file"))


# ----- the command ------------------------------------------------------------------------------------------------
def register(sub: Any) -> None:
    parser = sub.add_parser(
        "search", help="search architectures (NAO, regularized evolution, random search)",
        description="Search architectures with NAO (or a baseline) against an evaluator; writes a run folder.",
    )
    parser.add_argument("--evaluator", choices=sorted(EVALUATORS), default=None,
                        help=f"how architectures are scored (default {DEFAULT_EVALUATOR}): " + "; ".join(
                            f"{k}: {v.help}" for k, v in sorted(EVALUATORS.items())))
    parser.add_argument("--space", default=None, help="search space (default: the evaluator's, nb201 for table)")
    parser.add_argument("--method", choices=("nao", "re", "rs"), default="nao", help="search method (default nao)")
    parser.add_argument("--budget", type=int, default=None,
                        help="number of distinct architectures to evaluate (required for a new search)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--out", default=None, help="new run folder (default runs/<method>-<space>-seed<S>)")
    out.add_argument("--resume", default=None, metavar="RUN", help="continue the search in run folder RUN")
    nao = parser.add_argument_group("NAO settings (defaults per space; see README)")
    nao.add_argument("--initial-pool", type=int, default=None, help="random architectures evaluated first")
    nao.add_argument("--per-round", type=int, default=None, help="new architectures generated per round")
    nao.add_argument("--round-fraction", type=float, default=None,
                     help="a round proposes max(per-round, this x evaluated so far) (default per space)")
    nao.add_argument("--top-k", type=int, default=None, help="best architectures used as generation seeds")
    nao.add_argument("--candidates-factor", type=float, default=None,
                     help="generate this many times per-round and keep the best predicted (default 1)")
    nao.add_argument("--fill", choices=("mutate", "random", "none"), default=None,
                     help="how to top up a round when generation finds too few new architectures")
    nao.add_argument("--controller-epochs", type=int, default=None, help="controller epochs per round")
    nao.add_argument("--controller-set", action="append", default=[], metavar="KEY=VALUE",
                     help="any controller setting (e.g. hidden_size=64, trade_off=0.8); repeatable")
    nao.add_argument("--controller", default=None, metavar="PATH.keras",
                     help="start every round from this trained controller instead of a random initialization")
    re_ = parser.add_argument_group("regularized evolution")
    re_.add_argument("--population", type=int, default=10, help="population size (default 10)")
    re_.add_argument("--sample-size", type=int, default=3, help="tournament sample size (default 3)")
    for name, entry in EVALUATORS.items():
        entry.add_arguments(parser.add_argument_group(f"{name} evaluator"))
    parser.set_defaults(func=run)


def nao_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """NAO settings given on the command line (``None`` = the space's default)."""
    controller: dict[str, Any] = {}
    for item in args.controller_set:
        if "=" not in item:
            raise ConfigError(f"--controller-set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        controller[key.strip()] = _parse_value(value.strip())
    if args.controller_epochs is not None:
        controller["epochs"] = args.controller_epochs
    out = {"initial_pool": args.initial_pool, "per_round": args.per_round, "round_fraction": args.round_fraction,
           "top_k": args.top_k,
           "candidates_factor": args.candidates_factor, "fill": args.fill}
    out = {k: v for k, v in out.items() if v is not None}
    if controller:
        out["controller"] = controller
    return out


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> int:
    from nao_tf.search.baselines import make_method
    from nao_tf.search.loop import Search
    from nao_tf.search.runfolder import RunFolder
    from nao_tf.spaces import get_space

    if args.resume and args.out:
        raise ConfigError("give either --out (new search) or --resume (continue one), not both")
    if args.budget is not None and args.budget < 1:
        raise ConfigError(f"--budget must be at least 1, got {args.budget}")
    from nao_tf.search import image_search

    if image_search.wants(args):  # images (ws / child evaluators; bare 'nao-tf search')
        return image_search.run(args)
    if args.resume:
        folder = RunFolder(args.resume)
        config, _, _ = folder.load()
        ev_cfg = config["evaluator"]
        name = ev_cfg.get("name", DEFAULT_EVALUATOR)
        if name not in EVALUATORS:
            raise ConfigError(f"run folder {args.resume!r} used evaluator {name!r}, which this nao-tf lacks")
        evaluator = EVALUATORS[name].from_config(ev_cfg, args)
        method = _method_from_config(config["method"], evaluator.space.name)
        _import_tf_if(method)
        search = Search.resume(args.resume, method, evaluator, args.budget)
    else:
        if args.budget is None:
            raise ConfigError("--budget Q is required: the number of distinct architectures to evaluate")
        name = args.evaluator or SPACE_EVALUATORS.get(args.space or "", DEFAULT_EVALUATOR)
        entry = EVALUATORS[name]
        args.space = args.space or entry.default_space
        space = get_space(args.space)
        out = Path(args.out or f"runs/{args.method}-{space.name}-seed{args.seed}")
        RunFolder(out).check_new()
        evaluator = entry.build(args)
        method = make_method(args.method, space.name, nao_overrides(args), args.population, args.sample_size,
                             args.controller)
        _import_tf_if(method)
        search = Search(method, evaluator, args.budget, args.seed, out)
    result = search.run()
    best = result.best
    summary = {
        "run": str(search.folder.path) if search.folder else None,
        "method": method.name,
        "space": search.space.name,
        "status": result.status,
        "queries": len(result.history),
        "best": None if best is None else {
            "integers": search.space.format(best.arch, "integers"),
            "readable": search.space.format(best.arch, "readable"),
            "score": best.score,
            "metadata": best.metadata,
        },
        "report": result.report,
    }
    print(json.dumps(summary, indent=2))
    return 0


def _method_from_config(cfg: dict[str, Any], space_name: str) -> Any:
    from nao_tf.search.baselines import make_method

    name = cfg.get("name")
    if name == "nao":
        keys = ("initial_pool", "per_round", "round_fraction", "top_k", "candidates_factor", "fill")
        settings = {k: cfg[k] for k in keys if k in cfg}
        settings["controller"] = dict(cfg.get("controller") or {})
        return make_method("nao", space_name, settings, initial_controller=cfg.get("initial_controller"))
    if name == "re":
        return make_method("re", space_name, population=int(cfg.get("population", 10)),
                           sample_size=int(cfg.get("sample_size", 3)))
    return make_method(str(name), space_name)


def _import_tf_if(method: Any) -> None:
    if method.name == "nao":
        from nao_tf._tf import import_tf_quietly

        import_tf_quietly()


def _register_language_models() -> None:
    """RNN cells (space ``rnn``) scored as language models: weight sharing (default) or child training."""
    from nao_tf.search import lm_eval

    register_evaluator("lm-ws", EvaluatorEntry(
        lm_eval.add_search_arguments, lambda args: lm_eval.build_for_search("ws", args),
        lambda cfg, args: lm_eval.from_search_config("ws", cfg, args), "rnn",
        "RNN cells: one weight-sharing LM, score = validation perplexity (min)"))
    register_evaluator("lm-child", EvaluatorEntry(
        lm_eval.add_search_arguments, lambda args: lm_eval.build_for_search("child", args),
        lambda cfg, args: lm_eval.from_search_config("child", cfg, args), "rnn",
        "RNN cells: train each cell briefly as an LM, score = validation perplexity (min)"))
    SPACE_EVALUATORS["rnn"] = "lm-ws"


_register_language_models()


def _register_images() -> None:
    """CNN cells on images: NAO-WS supernet (default of bare 'nao-tf search') or child training (full NAO)."""
    from nao_tf.search import image_search

    register_evaluator("ws", EvaluatorEntry(
        image_search.add_arguments, image_search.build_for_cli,
        lambda cfg, args: image_search.evaluator_from_config(cfg, getattr(args, "data_dir", None)), "nasnet-ws",
        "CNN cells (nasnet-ws): one weight-sharing supernet, score = accuracy on one validation batch"))
    register_evaluator("child", EvaluatorEntry(
        image_search.add_arguments, image_search.build_for_cli,
        lambda cfg, args: image_search.evaluator_from_config(cfg, getattr(args, "data_dir", None)), "nasnet-full",
        "CNN cells: train each architecture as a child network, score = best validation accuracy"))
    SPACE_EVALUATORS["nasnet-ws"] = "ws"
    SPACE_EVALUATORS["nasnet-full"] = "child"


_register_images()
