"""``nao-tf search`` on images: NAO-WS (``--evaluator ws``, the default of bare ``nao-tf search``) and full NAO
(``--evaluator child``), with presets, ``--config FILE``, ``--max-params``, resume and distributed workers.

The CLI module ``nao_tf.cli.search`` hands a parsed command to ``run`` when ``wants(args)`` says it is an image
search. ``run`` merges the settings (``nao_tf.search.presets``), builds the evaluator and the NAO method, drives
``nao_tf.search.loop.Search`` with a progress bar per phase, then (NAO-WS) re-ranks the best architectures by
stand-alone training and writes ``final.json``, ``rounds.png`` and ``best_cell.png`` into the run folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.runio import atomic_write_bytes, atomic_write_json

IMAGE_EVALUATORS = ("ws", "child")
IMAGE_SPACES = ("nasnet-ws", "nasnet-full")
_PARSER_ACTIONS: list[Any] = []  # the search parser's actions (filled when the flags are added)
_NOT_SETTINGS = {"help", "func", "config", "resume", "command"}

# flag -> argparse keywords (all default None so that presets and config files can fill them)
FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--preset", {"default": None, "metavar": "NAME",
                  "help": "image search settings: default (bare 'nao-tf search'), paper-ws, paper-full"}),
    ("--config", {"default": None, "metavar": "FILE.yaml",
                  "help": "YAML mapping of search settings (keys = these long flag names); flags override it"}),
    ("--max-params", {"type": int, "default": None,
                      "help": "never evaluate nor propose architectures whose stand-alone network has more "
                              "trainable parameters than this"}),
    ("--dataset", {"default": None, "help": "image datasets: embedded (default), fashion_mnist, cifar10, cifar100"}),
    ("--data-dir", {"default": None, "help": "folder holding the dataset files"}),
    ("--layers", {"type": int, "default": None, "help": "cells per stage N of the supernet / children"}),
    ("--channels", {"type": int, "default": None, "help": "filters F of the supernet / children"}),
    ("--batch-size", {"type": int, "default": None, "help": "training batch of the supernet / children"}),
    ("--valid-size", {"type": int, "default": None, "help": "training images held out for validation"}),
    ("--eval-images", {"type": int, "default": None,
                       "help": "ws: validation images each architecture is scored on (one batch, default 500)"}),
    ("--warmup-epochs", {"type": float, "default": None, "help": "ws: supernet epochs before the first scoring"}),
    ("--epochs-per-round", {"type": float, "default": None, "help": "ws: supernet epochs per later round"}),
    ("--pool-size", {"type": int, "default": None,
                     "help": "ws: architectures the supernet trains on (the round's batch plus the best so far)"}),
    ("--ws-lr", {"type": float, "default": None, "help": "ws: supernet learning rate (cosine, default 0.025)"}),
    ("--ws-lr-min", {"type": float, "default": None, "help": "ws: final supernet learning rate (default 0.001)"}),
    ("--select", {"choices": ("switch", "onehot"), "default": None,
                  "help": "ws: how the supernet picks an op from the architecture tensor (default switch)"}),
    ("--rerank-top", {"type": int, "default": None,
                      "help": "ws: best architectures re-ranked by stand-alone training at the end (0: none)"}),
    ("--rerank-epochs", {"type": int, "default": None, "help": "ws: epochs of each stand-alone re-ranking"}),
    ("--rerank-layers", {"type": int, "default": None, "help": "ws: N of the re-ranked networks"}),
    ("--rerank-channels", {"type": int, "default": None, "help": "ws: F of the re-ranked networks"}),
    ("--child-epochs", {"type": int, "default": None, "help": "child: epochs per child (default 1)"}),
    ("--child-lr", {"type": float, "default": None, "help": "child: learning rate (default 0.024)"}),
    ("--child-steps", {"type": int, "default": None, "help": "child/re-rank: at most this many steps per epoch"}),
    ("--drop-path-keep", {"type": float, "default": None, "help": "drop-path keep probability (1 = off)"}),
    ("--aux-head", {"action": "store_const", "const": True, "default": None,
                    "help": "child: train with the auxiliary head (weight 0.4)"}),
    ("--workers", {"type": int, "default": None,
                   "help": "child: serve trials to this many 'nao-tf worker' processes (keras-tuner chief) "
                           "instead of training here"}),
    ("--port", {"type": int, "default": None, "help": "chief: gRPC port on --host (default: a free port)"}),
    ("--host", {"default": None, "help": "chief: address to listen on (default 127.0.0.1)"}),
    ("--trial-timeout", {"type": float, "default": None,
                         "help": "chief: seconds after which a trial whose worker went silent is handed to "
                                 "another worker (default 600)"}),
    ("--quiet", {"action": "store_true", "default": None, "help": "no progress bars"}),
)

BUILTIN = {"select": "switch", "ws_lr": 0.025, "ws_lr_min": 0.001, "drop_path_keep": 1.0, "aux_head": False,
           "child_epochs": 1, "child_lr": 0.024, "rerank_top": 3, "rerank_epochs": 2, "pool_size": 0,
           "warmup_epochs": 1.0, "epochs_per_round": 1.0, "eval_images": 500, "valid_size": 1000,
           "layers": 1, "channels": 8, "batch_size": 64, "workers": 0, "host": "127.0.0.1", "port": 0,
           "trial_timeout": 600.0, "dataset": "embedded"}


def add_arguments(group: Any) -> None:
    """Add the image-search flags (flags another evaluator already defined are shared)."""
    existing = getattr(group, "_option_string_actions", {})
    for flag, kw in FLAGS:
        if flag not in existing:
            group.add_argument(flag, **kw)
    if not _PARSER_ACTIONS:
        _PARSER_ACTIONS.append(group._actions)  # the parser's own (shared, growing) list of actions


def _actions() -> dict[str, Any]:
    if not _PARSER_ACTIONS:
        return {}
    return {a.dest: a for a in _PARSER_ACTIONS[0] if a.dest not in _NOT_SETTINGS and a.dest != "version"}


def wants(args: argparse.Namespace) -> bool:
    """Whether ``nao-tf search`` with these arguments is an image search (this module's job)."""
    if getattr(args, "resume", None):
        cfg = Path(args.resume) / "config.json"
        try:
            name = json.loads(cfg.read_text(encoding="utf-8")).get("evaluator", {}).get("name")
        except (OSError, ValueError, AttributeError):
            return False
        return name in IMAGE_EVALUATORS
    if getattr(args, "evaluator", None):
        return args.evaluator in IMAGE_EVALUATORS
    if getattr(args, "space", None):
        return args.space in IMAGE_SPACES
    if getattr(args, "table", None):
        return False
    return True  # bare 'nao-tf search' (or only --preset / --config / image flags)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Preset < config file < explicit flags, then built-in defaults for what is still unset."""
    from nao_tf.search.presets import merge, read_config

    actions = _actions()
    explicit = {}
    for dest, action in actions.items():
        value = getattr(args, dest, None)
        if value is None or value == action.default or (isinstance(value, list) and not value):
            continue
        explicit[dest] = value
    config = read_config(args.config, sorted([*actions, "preset"])) if getattr(args, "config", None) else {}
    settings = merge(explicit, config, getattr(args, "preset", None))
    for dest, action in actions.items():
        if settings.get(dest) is None:
            settings[dest] = BUILTIN.get(dest, action.default)
    for key, value in BUILTIN.items():
        if settings.get(key) is None:
            settings[key] = value
    if settings.get("evaluator") not in IMAGE_EVALUATORS:
        raise ConfigError(f"evaluator {settings.get('evaluator')!r} is not an image evaluator; use ws or child")
    if settings["evaluator"] == "ws" and settings.get("space") not in (None, "nasnet-ws"):
        raise ConfigError(f"the ws evaluator searches nasnet-ws (its supernet holds the 5-op set), not "
                          f"{settings['space']!r}; use --evaluator child for nasnet-full")
    settings["space"] = settings.get("space") or ("nasnet-ws" if settings["evaluator"] == "ws" else "nasnet-full")
    if settings.get("budget") is None:
        raise ConfigError("--budget Q is required: the number of distinct architectures to evaluate")
    return settings


def _rounds(settings: dict[str, Any]) -> int:
    budget, first, per = int(settings["budget"]), int(settings["initial_pool"] or 1), int(settings["per_round"] or 1)
    return 1 + max(0, math.ceil((budget - first) / max(1, per)))


def build_evaluator(settings: dict[str, Any]) -> Any:
    s = settings
    if s["evaluator"] == "ws":
        from nao_tf.search.weight_sharing import WeightSharingEvaluator

        return WeightSharingEvaluator(
            s["dataset"], s.get("data_dir"), layers=s["layers"], channels=s["channels"],
            batch_size=s["batch_size"], warmup_epochs=s["warmup_epochs"], epochs_per_round=s["epochs_per_round"],
            planned_rounds=_rounds(s), eval_images=s["eval_images"], valid_size=s["valid_size"],
            pool_size=s["pool_size"], lr_max=s["ws_lr"], lr_min=s["ws_lr_min"],
            drop_path_keep=s["drop_path_keep"], select=s["select"], seed=s["seed"], max_params=s.get("max_params"),
            rerank_top=s["rerank_top"], rerank_epochs=s["rerank_epochs"], rerank_layers=s.get("rerank_layers"),
            rerank_channels=s.get("rerank_channels"), rerank_batch_size=s["batch_size"],
            rerank_steps_per_epoch=s.get("child_steps"))
    from nao_tf.search.child_eval import ChildTrainingEvaluator

    return ChildTrainingEvaluator(
        s["space"], s["dataset"], s.get("data_dir"), layers=s["layers"], channels=s["channels"],
        epochs=s["child_epochs"], batch_size=s["batch_size"], lr=s["child_lr"], drop_path_keep=s["drop_path_keep"],
        aux_head=bool(s["aux_head"]), valid_size=s["valid_size"], steps_per_epoch=s.get("child_steps"),
        seed=s["seed"], max_params=s.get("max_params"))


def evaluator_from_config(cfg: dict[str, Any], data_dir: str | None = None) -> Any:
    if cfg.get("name") == "ws":
        from nao_tf.search.weight_sharing import WeightSharingEvaluator

        return WeightSharingEvaluator.from_config(cfg, data_dir)
    if cfg.get("name") == "child":
        from nao_tf.search.child_eval import ChildTrainingEvaluator

        return ChildTrainingEvaluator.from_config(cfg, data_dir)
    raise RunFolderError(f"evaluator {cfg.get('name')!r} is not an image evaluator")


def nao_settings(settings: dict[str, Any]) -> dict[str, Any]:
    out = {k: settings[k] for k in ("initial_pool", "per_round", "top_k", "candidates_factor", "fill")
           if settings.get(k) is not None}
    controller: dict[str, Any] = {}
    for item in settings.get("controller_set") or []:
        if "=" not in str(item):
            raise ConfigError(f"--controller-set expects KEY=VALUE, got {item!r}")
        key, value = str(item).split("=", 1)
        try:
            controller[key.strip()] = json.loads(value.strip())
        except ValueError:
            controller[key.strip()] = value.strip()
    if settings.get("controller_epochs") is not None:
        controller["epochs"] = int(settings["controller_epochs"])
    if controller:
        out["controller"] = controller
    return out


# ----- progress ---------------------------------------------------------------------------------------------
class Progress:
    """One tqdm bar per phase (on stderr); ``quiet`` shows none."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, phase: str, total: int) -> Any:
        from tqdm import tqdm

        return tqdm(total=total, desc=phase, unit="step" if "training" in phase else "arch", leave=False,
                    disable=self.quiet, file=sys.stderr, dynamic_ncols=True)


def progress_cache(progress: Progress) -> Any:
    """A ``ControllerCache`` whose trainer and generator show a bar while they run."""
    from nao_tf.search.loop import ControllerCache

    class _Timed:
        def __init__(self, inner: Any, method: str, phase: str) -> None:
            self._inner, self._method, self._phase = inner, method, phase

        def __getattr__(self, name: str) -> Any:
            attr = getattr(self._inner, name)
            if name != self._method:
                return attr

            def wrapped(*a: Any, **kw: Any) -> Any:
                bar = progress(self._phase, 1)
                try:
                    return attr(*a, **kw)
                finally:
                    bar.update(1)
                    bar.close()

            return wrapped

    class _Cache(ControllerCache):
        def get(self, space: Any, config: Any) -> tuple[Any, Any]:
            trainer, generator = super().get(space, config)
            return _Timed(trainer, "fit", "controller training"), _Timed(generator, "generate", "generation")

    return _Cache()


# ----- the command ----------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from nao_tf._tf import import_tf_quietly
    from nao_tf.search.baselines import make_method
    from nao_tf.search.loop import Search
    from nao_tf.search.runfolder import RunFolder
    from nao_tf.spaces import get_space

    started = time.perf_counter()
    if getattr(args, "resume", None):
        folder = RunFolder(args.resume)
        config, _, _ = folder.load()
        settings = dict(config.get("image_search") or {})
        if not settings:
            raise RunFolderError(f"run folder {args.resume!r} was not made by an image search")
        if getattr(args, "quiet", None):
            settings["quiet"] = True
        import_tf_quietly()
        evaluator = evaluator_from_config(config["evaluator"], getattr(args, "data_dir", None))
        if evaluator.space.name != config.get("space"):
            raise RunFolderError(f"run folder {args.resume!r} searched {config.get('space')!r}, not "
                                 f"{evaluator.space.name!r}")
        progress = Progress(bool(settings.get("quiet")))
        method = make_method(settings["method"], evaluator.space.name, nao_settings(settings),
                             int(settings.get("population") or 10), int(settings.get("sample_size") or 3),
                             settings.get("controller"), cache=progress_cache(progress))
        search = Search.resume(args.resume, method, evaluator, getattr(args, "budget", None))
    else:
        settings = settings_from_args(args)
        space = get_space(settings["space"])
        out = Path(settings.get("out") or
                   f"runs/{settings['method']}-{settings['evaluator']}-{settings['dataset']}-seed{settings['seed']}")
        RunFolder(out).check_new()
        import_tf_quietly()
        evaluator = build_evaluator(settings)
        progress = Progress(bool(settings.get("quiet")))
        method = make_method(settings["method"], space.name, nao_settings(settings),
                             int(settings.get("population") or 10), int(settings.get("sample_size") or 3),
                             settings.get("controller"), cache=progress_cache(progress))
        saved = {k: v for k, v in settings.items() if k not in ("out", "config") and _jsonable(v)}
        search = Search(method, evaluator, int(settings["budget"]), int(settings["seed"]), out,
                        extra_config={"image_search": saved})
        # config.json first: a run killed before its first step can already be resumed
        from nao_tf import __version__

        atomic_write_json(out / "config.json", {**search.config(), "nao_tf_version": __version__})
    return drive(search, evaluator, settings, progress, started)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def drive(search: Any, evaluator: Any, settings: dict[str, Any], progress: Progress, started: float) -> int:
    """Run the search (chief or local), re-rank, write the final files and print the summary."""
    run_dir = search.folder.path
    evaluator.progress = progress
    if hasattr(evaluator, "attach_run_dir"):
        evaluator.attach_run_dir(run_dir)
    quiet = bool(settings.get("quiet"))
    loop_evaluator = evaluator
    chief = None
    if int(settings.get("workers") or 0) > 0:
        from nao_tf.search.oracle import ChiefEvaluator

        chief = ChiefEvaluator(evaluator, run_dir, host=settings["host"], port=int(settings["port"]),
                               trial_timeout=float(settings["trial_timeout"]), progress=progress)
        search.evaluator = chief
        loop_evaluator = chief
        print(f"nao-tf: chief listening on {chief.address}; start workers with: KERASTUNER_ORACLE_IP="
              f"{chief.host} KERASTUNER_ORACLE_PORT={chief.port} nao-tf worker", file=sys.stderr, flush=True)

    def after_step(s: Any) -> None:
        if quiet:
            return
        best = s.best()
        step_scores = [r["score"] for r in s.records if r["step"] == s.step - 1]
        mean = sum(step_scores) / len(step_scores) if step_scores else float("nan")
        print(f"round {s.step - 1}: {len(step_scores)} evaluated, mean {mean:.4f}, best so far "
              f"{best.score:.4f} ({len(s.history)}/{s.budget})", file=sys.stderr, flush=True)

    try:
        result = search.run(after_step)
    finally:
        if chief is not None:
            chief.close()
    search.evaluator = evaluator
    if result.best is None:
        raise ConfigError("the search evaluated no architecture (every candidate is over --max-params?)")
    write_rounds_png(run_dir / "rounds.png", search.records,
                     "shared-weight validation accuracy" if evaluator.name == "ws" else "validation accuracy")
    final = finish(search, evaluator, loop_evaluator, result, run_dir)
    final["wall_seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_json(run_dir / "final.json", final)
    print_summary(final, run_dir, settings)
    return 0


def finish(search: Any, evaluator: Any, loop_evaluator: Any, result: Any, run_dir: Path) -> dict[str, Any]:
    space = search.space
    best = result.best
    reranked: list[dict[str, Any]] = []
    if getattr(evaluator, "name", "") == "ws" and evaluator.rerank_top > 0:
        reranked = evaluator.rerank(search.history, run_dir)
    if reranked:
        winner = space.parse_integers(reranked[0]["integers"])
        standalone = reranked[0]["standalone_accuracy"]
        params = reranked[0]["params"]
        how = (f"best of the top {len(reranked)} by shared-weight accuracy after {evaluator.rerank_epochs} "
               f"epochs of stand-alone training (N={evaluator.rerank_layers}, F={evaluator.rerank_channels})")
    else:
        winner = best.arch
        standalone = best.metadata.get("valid_accuracy", best.score) if evaluator.name == "child" else None
        params = best.metadata.get("params")
        how = "best validation accuracy of its own child training" if evaluator.name == "child" else \
            "best shared-weight accuracy (no re-ranking)"
    atomic_write_json(run_dir / "final_arch.json", space.to_dict(winner))
    diagram = None
    try:
        from nao_tf.render import render

        files = render(winner, run_dir / "best_cell.png", title="best architecture")
        diagram = str(files[0])
    except ImportError:
        diagram = None
    return {"space": space.name, "integers": space.format(winner, "integers"),
            "readable": space.format(winner, "readable"), "standalone_accuracy": standalone, "params": params,
            "chosen_by": how, "search_score": next((e.score for e in search.history if e.arch == winner), None),
            "reranked": reranked, "queries": len(search.history), "rounds": search.step,
            "status": result.status, "diagram": diagram}


def write_rounds_png(path: Path, records: list[dict[str, Any]], ylabel: str = "validation accuracy") -> None:
    """Best and pool-mean validation score per round."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted({int(r["step"]) for r in records})
    means, bests, best = [], [], -math.inf
    for st in steps:
        scores = [float(r["score"]) for r in records if int(r["step"]) == st and math.isfinite(float(r["score"]))]
        means.append(sum(scores) / len(scores) if scores else float("nan"))
        best = max([best, *scores])
        bests.append(best)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(steps, bests, "o-", color="C3", label="best so far")
    ax.plot(steps, means, "s--", color="C0", label="round mean")
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    ax.set_title("NAO search: validation score per round")
    ax.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def print_summary(final: dict[str, Any], run_dir: Path, settings: dict[str, Any]) -> None:
    acc = final["standalone_accuracy"]
    acc_text = "n/a" if acc is None else f"{acc:.4f}"
    dataset = settings.get("dataset", "embedded")
    lines = [
        f"best architecture ({final['space']}): {final['integers']}",
        f"  {final['readable']}",
        f"stand-alone validation accuracy: {acc_text} ({final['chosen_by']})",
        f"parameters: {final['params']}",
        f"run folder: {run_dir}  (final.json, evaluations.json, rounds.png, best_cell.png)",
        f"wall time: {final['wall_seconds']:.0f} s",
        "next:",
        f"  nao-tf train {run_dir / 'final_arch.json'} --dataset {dataset} --out {run_dir / 'final'}",
        f"  nao-tf export {run_dir / 'final'}",
    ]
    print("\n".join(lines), flush=True)


def build_for_cli(args: argparse.Namespace) -> Any:
    """``EvaluatorEntry.build`` (used only if the generic search path builds an image evaluator)."""
    return build_evaluator(settings_from_args(args))
