"""``nao-tf search``: architecture search with NAO, regularized evolution or random search.

A thin command: the flags and their help strings are generated from the configuration tree
(``nao_tf.search.config``, the single home of every default), resolved once (preset < ``--config`` file <
flags) and handed to ``nao_tf.search.run``; progress bars and per-round lines are callbacks printed here.

    nao-tf search                                   # NAO-WS on the embedded images (the 'default' preset)
    nao-tf search --space nb201 --table T.csv --budget 100 [--method nao|re|rs] [--out RUN]
    nao-tf search --preset paper-ws --config my.yaml --channels 16
    nao-tf search --resume RUN [--budget Q] [--data-dir DIR] [--quiet]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError
from nao_tf.search.config import EVALUATOR_KINDS, flag_specs

# flags allowed together with --resume (everything else comes from the run's config.json)
RESUME_FLAGS = {"budget": "--budget", "data_dir": "--data-dir", "quiet": "--quiet"}
_NOT_SETTINGS = {"config", "resume", "quiet"}
_DESTS: set[str] = set()  # the settings this command's own flags write (not the top-level parser's)


def _group_title(spec: Any) -> str:
    kinds = [k for k in spec.paths if k]
    if kinds:
        titles = {("table",): "table evaluator", ("lm-ws",): "lm-ws evaluator (rnn space)",
                  ("lm-child",): "lm-child evaluator (rnn space)", ("lm-ws", "lm-child"): "language-model evaluators",
                  ("child",): "child evaluator", ("ws",): "ws evaluator"}
        return titles.get(tuple(kinds), "image evaluators (ws, child)")
    path = spec.paths[None]
    if path[0] == "method":
        return "regularized evolution" if path[1] == "re" else "NAO settings" if path[1] == "nao" else "search"
    if path[0] == "controller":
        return "NAO controller"
    if path[0] == "data":
        return "data"
    return "search"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "search", help="search architectures (NAO, regularized evolution, random search)",
        description="Search architectures with NAO (or a baseline) against an evaluator; writes a run folder. "
                    "Settings resolve as preset < --config file < flags (docs/configuration.md).",
        argument_default=argparse.SUPPRESS,
    )
    groups: dict[str, Any] = {}

    def group(title: str) -> Any:
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        return groups[title]

    main = group("search")
    main.add_argument("--evaluator", choices=EVALUATOR_KINDS,
                      help="how architectures are scored (default: the space's; ws for a bare 'nao-tf search'): "
                           "table (look up a table file), ws (NAO-WS supernet on images), child (train each CNN), "
                           "lm-ws (weight-sharing RNN language model), lm-child (train each RNN cell)")
    main.add_argument("--config", metavar="FILE.yaml",
                      help="YAML mapping of settings (long flag names as keys, or the nested tree of a run's "
                           "config.json); flags override it")
    main.add_argument("--resume", metavar="RUN", help="continue the search in run folder RUN (its config.json)")
    main.add_argument("--quiet", action="store_true", help="no progress bars or per-round lines")
    for spec in flag_specs():
        kwargs: dict[str, Any] = {"help": spec.help}
        if spec.is_bool:
            kwargs.update(action="store_const", const=True)
        elif spec.choices:
            kwargs["choices"] = spec.choices
        else:
            kwargs["metavar"] = spec.flag.lstrip("-").replace("-", "_").upper()
        group(_group_title(spec)).add_argument(spec.flag, **kwargs)
        if spec.flag == "--controller-epochs":
            group("NAO controller").add_argument(
                "--controller-set", action="append", metavar="KEY=VALUE",
                help="any controller setting (e.g. hidden_size=64, trade_off=0.8); repeatable")
    _DESTS.update(a.dest for a in parser._actions if a.dest not in _NOT_SETTINGS and a.dest != "help")
    parser.set_defaults(func=run)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags actually given (every search flag defaults to 'absent')."""
    return {k: v for k, v in vars(args).items() if k in _DESTS}


def run(args: argparse.Namespace) -> int:
    from nao_tf.search import api

    given = _given(args)
    quiet = bool(getattr(args, "quiet", False))
    if getattr(args, "resume", None):
        extra = [k for k in given if k not in RESUME_FLAGS]
        if extra or getattr(args, "config", None):
            names = ", ".join(sorted(["--config"] * bool(getattr(args, "config", None)) +
                                     ["--" + k.replace("_", "-") for k in extra]))
            raise ConfigError(f"--resume continues a run with the settings in its config.json; {names} cannot "
                              "change them (only --budget, --data-dir and --quiet may be given)")
        callbacks = TerminalCallbacks(quiet, None)
        result = api.resume(args.resume, given.get("budget"), given.get("data_dir"), callbacks)
    else:
        from nao_tf.search.config import resolve

        overrides = {"--" + k.replace("_", "-"): v for k, v in given.items()}
        config = resolve(config_file=getattr(args, "config", None), overrides=overrides)
        result = api.run(config, TerminalCallbacks(quiet, config.evaluator.kind))
    if result.final is not None:
        print_summary(result)
    else:
        print(json.dumps(summary(result), indent=2))
    return 0


class TerminalCallbacks:
    """Progress bars (tqdm, on stderr) and one line per round; nothing when ``quiet``. Table searches (seconds
    long) print nothing but their JSON summary."""

    def __init__(self, quiet: bool, kind: str | None) -> None:
        self.quiet = quiet
        self.kind = kind

    def _show(self) -> bool:
        return not self.quiet and self.kind != "table"

    def progress(self, phase: str, total: int) -> Any:
        if not self._show():
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=phase, unit="step" if "training" in phase else "arch", leave=False,
                    file=sys.stderr, dynamic_ncols=True)

    def on_chief(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        print(f"nao-tf: chief listening on {address}; start workers with: KERASTUNER_ORACLE_IP={host} "
              f"KERASTUNER_ORACLE_PORT={port} nao-tf worker", file=sys.stderr, flush=True)

    def on_step(self, info: Any) -> None:
        if self._show():
            print(f"round {info.step}: {info.evaluated} evaluated, mean {info.mean_score:.4f}, best so far "
                  f"{info.best_score:.4f} ({info.queries}/{info.budget})", file=sys.stderr, flush=True)

    def on_end(self, result: Any) -> None:
        return None


def summary(result: Any) -> dict[str, Any]:
    from nao_tf.spaces import get_space

    space = get_space(result.space)
    best = result.best
    return {
        "run": str(result.run_dir) if result.run_dir else None,
        "method": result.method,
        "space": result.space,
        "status": result.status,
        "queries": len(result.history),
        "best": None if best is None else {
            "integers": space.format(best.arch, "integers"),
            "readable": space.format(best.arch, "readable"),
            "score": best.score,
            "metadata": best.metadata,
        },
        "report": result.report,
    }


def print_summary(result: Any) -> None:
    """The image searches' answer: the winner, how it compares with random picking, where the finalists came
    from, and the next commands (sized by the library to this machine)."""
    final, run_dir = result.final, Path(result.run_dir)
    acc = final["standalone_accuracy"]
    acc_text = "n/a" if acc is None else f"{acc:.4f}"
    lines = [
        f"best architecture ({final['space']}): {final['integers']}",
        f"  {final['readable']}",
        f"stand-alone validation accuracy: {acc_text} ({final['chosen_by']})",
        f"parameters: {final['params']}",
        f"against random architectures: {final['baseline']['text']}",
        f"finalists: {_sources_line(final)}",
        f"proposals against random draws: {_proposals_line(final['search_vs_random'])}",
        f"run folder: {run_dir}  (final.json, evaluations.json, rounds.png, best_cell.png)",
        f"wall time: {final['wall_seconds']:.0f} s (rounds and re-ranking)",
        "next:",
    ]
    steps = final["next_steps"]
    lines += [f"  train the winner ({steps['train']['note']}):", f"    {steps['train']['command']}",
              "  export it (SavedModel + ONNX):", f"    {steps['export']['command']}"]
    print("\n".join(lines), flush=True)


def _sources_line(final: dict[str, Any]) -> str:
    """``2 of the 3 re-ranked came from the search's proposals, not the random pool (gradient 2, random 1); the
    winner from gradient(eta=3), round 2``."""
    counts = final["top_sources"]
    total = sum(counts.values())
    nao = sum(v for k, v in counts.items() if k not in ("random", "unknown"))
    what = "re-ranked" if final["reranked"] else "best"
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    win = final["winner_source"]
    origin = "the random pool" if win["source"] == "random" else win["source"]
    return (f"{nao} of the {total} {what} came from the search's proposals, not the random pool ({parts}); the "
            f"winner from {origin}, round {win['round']}")


def _proposals_line(section: dict[str, Any]) -> str:
    """``mean 0.4160 vs 0.3810 (final supernet): better; 8 of the top 10 are proposals (6.0 by chance)``."""
    if section["proposals_beat_random"] is None:
        return "not compared (the search made no proposals of its own, or drew none at random)"
    verdict = "better" if section["proposals_beat_random"] else "not better"
    return (f"mean {section['proposals_mean']:.4f} vs {section['random_mean']:.4f} ({section['scored_by']}): "
            f"{verdict}; {section['top_from_search']} of the top {section['top']} are proposals "
            f"({section['top_from_search_by_chance']} by chance)")
