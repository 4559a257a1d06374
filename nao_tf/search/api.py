"""The library entry point of architecture search: ``run(config, callbacks)`` and ``resume(run_dir, ...)``.

    from nao_tf.search import resolve, run
    config = resolve(preset="nb201", overrides={"table": "nb201_cifar10.csv.gz", "budget": 100})
    result = run(config)                # a SearchResult; the run folder is config.out (or the default name)

Both build the evaluator and the method from the configuration tree (``nao_tf.search.registry``), drive
``nao_tf.search.loop.Search`` (serving trials to keras-tuner workers when the child evaluator has
``workers`` > 0), and, for image searches, write the final answer (``nao_tf.search.final``). Nothing here
prints: progress bars and messages are ``Callbacks`` the caller supplies (the CLI's print to the terminal).

A start that fails on bad input (a missing table, a taken port, every architecture over ``max_params``)
leaves no run folder behind; ``resume`` refuses, in one line naming the file, a folder whose files are
unreadable or malformed, and never restarts or rewrites it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError, NaoError
from nao_tf.search.config import SearchConfig
from nao_tf.search.final import IMAGE_EVALUATORS, finalize
from nao_tf.search.loop import Search, SearchResult
from nao_tf.search.registry import build_evaluator, build_method, needs_tensorflow
from nao_tf.search.runfolder import RunFolder


@dataclass
class StepInfo:
    """What ``Callbacks.on_step`` gets after every completed step."""

    step: int  # index of the step just completed
    evaluated: int  # architectures it evaluated
    mean_score: float
    best_score: float | None
    queries: int  # distinct architectures evaluated so far
    budget: int


class Callbacks:
    """Hooks of a running search. Subclass and override what you need; the defaults do nothing."""

    def progress(self, phase: str, total: int) -> Any:
        """A progress bar for ``phase`` (``total`` units) with ``update(n)`` and ``close()``, or None."""
        return None

    def on_chief(self, address: str) -> None:
        """The chief listens on ``address`` (``host:port``) for ``nao-tf worker`` processes."""

    def on_step(self, info: StepInfo) -> None:
        """A step (NAO: a round) completed and was saved."""

    def on_end(self, result: SearchResult) -> None:
        """The search finished (``result.final`` holds an image search's final answer)."""


def run(config: SearchConfig, callbacks: Callbacks | None = None) -> SearchResult:
    """Run a new search described by ``config`` (see ``nao_tf.search.config``) into ``config.out``."""
    callbacks = callbacks or Callbacks()
    if config.budget is None:
        raise ConfigError("--budget Q is required: the number of distinct architectures to evaluate")
    out = Path(config.out) if config.out else config.default_out()
    RunFolder(out).check_new()
    existed = out.exists()
    try:
        search, evaluator = _build(config, callbacks, lambda method, evaluator: Search(
            method, evaluator, int(config.budget), config.seed, out, config=config))
        return _drive(search, evaluator, config, callbacks)
    except NaoError:
        _remove_unfinished(out, existed)
        raise


def resume(run_dir: str | Path, budget: int | None = None, data_dir: str | None = None,
           callbacks: Callbacks | None = None) -> SearchResult:
    """Continue the search in ``run_dir`` with its saved configuration (``budget`` may grow it; ``data_dir``
    points at the dataset when it moved)."""
    callbacks = callbacks or Callbacks()
    folder = RunFolder(run_dir)
    config = folder.load_config()
    if data_dir:
        config.data.data_dir = str(data_dir)
    if budget is not None and int(budget) < 1:
        raise ConfigError(f"--budget must be at least 1, got {budget}")
    search, evaluator = _build(config, callbacks, lambda method, evaluator: Search.resume(
        run_dir, method, evaluator, budget, seed=config.seed, config=config))
    return _drive(search, evaluator, config, callbacks)


def _build(config: SearchConfig, callbacks: Callbacks, make: Any) -> tuple[Search, Any]:
    if needs_tensorflow(config):
        from nao_tf._tf import import_tf_quietly

        import_tf_quietly()
    evaluator = build_evaluator(config)
    evaluator.progress = callbacks.progress
    method = build_method(config)
    if hasattr(method, "progress"):
        method.progress = callbacks.progress
    return make(method, evaluator), evaluator


def _drive(search: Search, evaluator: Any, config: SearchConfig, callbacks: Callbacks) -> SearchResult:
    started = time.perf_counter()
    chief = None
    settings = config.evaluator
    if settings.kind == "child" and settings.workers > 0:
        from nao_tf.search.oracle import ChiefEvaluator

        chief = ChiefEvaluator(evaluator, search.folder.path, host=settings.host, port=settings.port,
                               trial_timeout=settings.trial_timeout, progress=callbacks.progress)
        search.evaluator = chief
        callbacks.on_chief(chief.address)

    def after_step(s: Search) -> None:
        scores = [r["score"] for r in s.records if r["step"] == s.step - 1]
        best = s.best()
        callbacks.on_step(StepInfo(s.step - 1, len(scores), sum(scores) / len(scores) if scores else float("nan"),
                                   None if best is None else best.score, len(s.history), s.budget))

    try:
        result = search.run(after_step)
    finally:
        if chief is not None:
            chief.close()
            search.evaluator = evaluator
    if evaluator.name in IMAGE_EVALUATORS:
        if result.best is None:
            raise ConfigError("the search evaluated no architecture (every candidate is over --max-params?)")
        result.final = finalize(search, evaluator, search.folder.path, started, config)
    result.extra.update(method=search.method.describe(), dataset=config.data.dataset)
    callbacks.on_end(result)
    return result


def _remove_unfinished(path: Path, existed: bool) -> None:
    """A search that failed before completing its first step leaves nothing: remove what it created."""
    state = path / "state.json"
    if not path.is_dir() or state.is_file():
        return
    if not existed:
        shutil.rmtree(path, ignore_errors=True)
        return
    for child in path.iterdir():  # the folder existed empty: everything in it is ours
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
