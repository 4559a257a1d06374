"""The search driver: ``Search`` runs any ``SearchMethod`` against any ``Evaluator``.

``Search`` drives a method (``nao_tf.search.nao``, ``nao_tf.search.evolution``, ``nao_tf.search.random_search``)
against an evaluator until ``budget`` distinct architectures have been evaluated (repeats are free: an
architecture already measured is never measured again). Most users call ``nao_tf.search.run(config)``, which
builds both from a configuration tree; ``Search`` is the step-by-step API underneath (what a keras-tuner Oracle,
a benchmark or a custom driver uses)::

    search = Search(method, evaluator, budget=300, seed=0, run_dir="runs/x")   # or Search.resume(...)
    while not search.done:
        batch = search.propose()        # list[Architecture]: new, allowed, at most the remaining budget;
                                        # calling it again before recording returns the same pending batch
        evaluations = evaluator.evaluate(batch)      # or one by one, in any order, in several calls
        search.record(evaluations)      # when every pending architecture is recorded, the step completes:
                                        # the method learns from it and the run folder is saved
    result = search.result()            # best evaluation, trajectory, report
    # or simply: result = search.run()  (which also calls evaluator.begin_round / end_round)

Reproducibility: every random draw of step ``k`` comes from ``nao_tf.seeding.rng(seed, k, stream)``, and the NAO
controller of round ``k`` is re-initialized from ``(seed, k)`` and trained on the evaluations so far, so a
search is a pure function of (seed, evaluations); resuming from a run folder continues exactly where an
uninterrupted run would be.

Resume protocol (shared with methods and evaluators): ``get_state() -> dict`` / ``set_state(state)``. After
every completed step the run folder (``nao_tf.search.runfolder``) stores the evaluator's state, the records,
then the search state (step, evaluations, status, the method's state).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.search.method import SearchMethod
from nao_tf.search.runfolder import RunFolder
from nao_tf.seeding import rng as make_rng
from nao_tf.spaces import Architecture


# ----- the driver ----------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """``best``: the best evaluation (by the evaluator's orientation; ties: the earliest); ``history``: all
    evaluations in order; ``best_so_far``: the best score after each query; ``report``: the evaluator's
    extra fields for ``best``; ``status``: ``done``, ``exhausted`` or ``running``. ``nao_tf.search.run`` also
    fills ``run_dir``, ``space``, ``method``, ``evaluator`` and ``final`` (the image searches' final answer:
    re-ranked winner, stand-alone accuracy, files; see ``nao_tf.search.final``)."""

    best: Evaluation | None
    history: list[Evaluation]
    best_so_far: list[float]
    report: dict[str, Any]
    status: str
    run_dir: Path | None = None
    space: str = ""
    method: str = ""
    evaluator: str = ""
    final: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Search:
    """Drives ``method`` against ``evaluator`` for ``budget`` distinct evaluations (see module docstring).

    ``config``: the configuration tree (``nao_tf.search.config.SearchConfig``) the run folder's ``config.json``
    records, written when the first evaluation starts, so a run that fails before (bad input) leaves nothing."""

    def __init__(self, method: SearchMethod, evaluator: Evaluator, budget: int, seed: int = 0,
                 run_dir: str | Path | None = None, config: Any = None, plot_every_s: float = 10.0) -> None:
        if int(budget) < 1:
            raise ConfigError(f"budget must be at least 1 evaluation, got {budget}")
        self.method = method
        self.evaluator = evaluator
        self.space = evaluator.space
        self.budget = int(budget)
        self.seed = int(seed)
        self.config = config
        self.history: list[Evaluation] = []
        self.records: list[dict[str, Any]] = []
        self._seen: dict[Architecture, int] = {}
        self._cache: dict[Architecture, Evaluation] = {}
        self.step = 0
        self.pending: list[Architecture] = []
        self._pending_results: dict[Architecture, Evaluation] = {}
        self.status = "running"
        self.plot_every_s = plot_every_s
        self._last_plot = 0.0
        self.folder = RunFolder(run_dir) if run_dir is not None else None
        self._started = False
        method.bind(self)

    # ----- what methods read (``nao_tf.search.method.SearchView``) -----------------------------------------
    def key(self, arch: Architecture) -> Architecture:
        """The identity of an architecture for 'already evaluated' (symmetric variants are one network)."""
        return self.space.canonical(arch)

    def seen(self, arch: Architecture) -> bool:
        return self.key(arch) in self._seen

    def lookup(self, arch: Architecture) -> Evaluation | None:
        """The evaluation of ``arch`` (or of a symmetric variant) if it was evaluated in this search."""
        index = self._seen.get(self.key(arch))
        return None if index is None else self.history[index]

    def is_candidate(self, arch: Architecture) -> bool:
        """Never evaluated, not pending, and allowed by the evaluator."""
        key = self.key(arch)
        return key not in self._seen and arch not in set(self.pending) and self.evaluator.is_allowed(arch)

    def rng(self, step: int, stream: int = 0) -> np.random.Generator:
        return make_rng(self.seed, step, stream)

    def oriented(self, evaluation: Evaluation) -> float:
        return self.evaluator.oriented(evaluation.score)

    @property
    def remaining(self) -> int:
        return self.budget - len(self.history)

    @property
    def done(self) -> bool:
        return self.status != "running" or self.remaining <= 0

    # ----- step API -------------------------------------------------------------------------------------
    def propose(self) -> list[Architecture]:
        """The pending batch of step ``self.step`` (new, allowed, distinct, within the budget)."""
        if self.pending:
            return list(self.pending)
        if self.done:
            return []
        batch: list[Architecture] = []
        keys: set[Architecture] = set()
        for arch in self.method.propose(self.remaining):
            self.space.check_space(arch)
            key = self.key(arch)
            if key in keys or key in self._seen or not self.evaluator.is_allowed(arch):
                continue
            keys.add(key)
            batch.append(arch)
            if len(batch) >= self.remaining:
                break
        if not batch:
            self.status = "exhausted"
            self._save()
            return []
        self.pending = batch
        return list(batch)

    def cached(self, arch: Architecture) -> Evaluation | None:
        """A stored evaluation of ``arch`` from the run folder being resumed (never re-evaluate)."""
        return self._cache.get(self.key(arch))

    def record(self, evaluations: Sequence[Evaluation]) -> None:
        """Record results of pending architectures; completes the step once all are recorded."""
        pending_keys = {self.key(a): a for a in self.pending}
        for ev in evaluations:
            key = self.key(ev.arch)
            if key not in pending_keys:
                raise ConfigError(f"recorded architecture {ev.arch} was not proposed in this step")
            self._pending_results[pending_keys[key]] = ev
        if len(self._pending_results) < len(self.pending):
            return
        done = [self._pending_results[a] for a in self.pending]
        for ev in done:
            self._seen[self.key(ev.arch)] = len(self.history)
            self.history.append(ev)
            self.records.append({"query": len(self.history), "step": self.step,
                                 "source": self.method.sources.pop(ev.arch, self.method.name),
                                 **ev.to_dict(), "readable": self.space.format(ev.arch, "readable")})
        self.pending = []
        self._pending_results = {}
        self.method.observe(done)
        self.step += 1
        if self.remaining <= 0:
            self.status = "done"
        self._save()

    def start(self) -> None:
        """Open the run folder: write ``config.json`` and point the evaluator's journals at it. Called when the
        first evaluation starts (by ``evaluate_pending``), after every check that can fail on bad input."""
        if self._started or self.folder is None:
            return
        self._started = True
        if self.config is not None and not self.folder.has_config():
            self.folder.write_config(self.config)
        self.evaluator.attach_run_dir(self.folder.path)

    def evaluate_pending(self) -> list[Evaluation]:
        """Evaluate the pending batch (cached results first, then the evaluator with its round hooks)."""
        batch = list(self.pending)
        todo = [a for a in batch if self.cached(a) is None]
        results: dict[Architecture, Evaluation] = {}
        if todo:
            self.start()
            self.evaluator.begin_round(self.step, todo)
            evaluated = self.evaluator.evaluate(todo)
            if len(evaluated) != len(todo):
                raise RuntimeError("evaluator returned a different number of evaluations than architectures")
            self.evaluator.end_round(self.step, evaluated)
            results.update(zip(todo, evaluated, strict=True))
        for a in batch:
            if a not in results:
                cached = self.cached(a)
                assert cached is not None
                results[a] = Evaluation(a, cached.score, dict(cached.metadata))
        return [results[a] for a in batch]

    def run(self, callback: Callable[[Search], None] | None = None) -> SearchResult:
        """Run to the end of the budget (or of the space); ``callback(self)`` after every completed step."""
        while not self.done:
            if not self.propose():
                break
            self.record(self.evaluate_pending())
            if callback is not None:
                callback(self)
        if self.status == "running":
            self.status = "done"
        self._save(final=True)
        return self.result()

    # ----- results --------------------------------------------------------------------------------------
    def best_so_far(self) -> list[float]:
        out, best = [], -math.inf
        for ev in self.history:
            best = max(best, self.evaluator.oriented(ev.score))
            out.append(best if self.evaluator.mode == "max" else -best)
        return out

    def best_index_so_far(self) -> list[int]:
        """Index (into ``history``) of the best evaluation after each query (ties: the earliest)."""
        out, best, idx = [], -math.inf, -1
        for i, ev in enumerate(self.history):
            o = self.evaluator.oriented(ev.score)
            if o > best:
                best, idx = o, i
            out.append(idx)
        return out

    def best(self) -> Evaluation | None:
        idx = self.best_index_so_far()
        return self.history[idx[-1]] if idx else None

    def result(self) -> SearchResult:
        best = self.best()
        report = self.evaluator.report(best) if best is not None else {}
        return SearchResult(best, list(self.history), self.best_so_far(), report, self.status,
                            self.folder.path if self.folder else None, self.space.name, self.method.name,
                            self.evaluator.name)

    # ----- state and run folder -------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"step": self.step, "n_evaluations": len(self.history), "status": self.status,
                "budget": self.budget, "seed": self.seed, "method_state": self.method.get_state()}

    def set_state(self, state: dict[str, Any], records: Sequence[dict[str, Any]]) -> None:
        """Restore the step counter, history and method state; ``records`` (evaluations.json) may hold one
        more step than ``state`` (a process killed between the two writes): those become the cache the
        re-proposed step is served from."""
        evaluations = [Evaluation.from_dict(r, self.space) for r in records]
        n = min(int(state.get("n_evaluations", 0)), len(evaluations))
        for ev in evaluations:
            self._cache[self.key(ev.arch)] = ev
        self.history, self.records, self._seen = [], [], {}
        for rec, ev in zip(records[:n], evaluations[:n], strict=True):
            self._seen[self.key(ev.arch)] = len(self.history)
            self.history.append(ev)
            self.records.append(dict(rec))
        self.step = int(state.get("step", 0))
        if n == int(state.get("n_evaluations", -1)):
            self.method.set_state(dict(state.get("method_state") or {}))
        self.status = "done" if self.remaining <= 0 else "running"

    def _plot_data(self) -> dict[str, Any]:
        return {"scores": [e.score for e in self.history], "best_so_far": self.best_so_far(),
                "metric": self.evaluator.config().get("metric", "score"), "mode": self.evaluator.mode,
                "title": f"{self.method.name} on {self.space.name}, seed {self.seed}"}

    def _best_record(self) -> dict[str, Any] | None:
        best = self.best()
        if best is None:
            return None
        return {"space": self.space.name, "architecture": self.space.to_dict(best.arch), "score": best.score,
                "metric_mode": self.evaluator.mode, "metadata": best.metadata,
                "query": self.best_index_so_far()[-1] + 1, "queries": len(self.history), "status": self.status,
                "report": self.evaluator.report(best)}

    def _save(self, final: bool = False) -> None:
        if self.folder is None or not self.history:
            return
        now = time.monotonic()
        plot = final or self.done or now - self._last_plot >= self.plot_every_s
        self.start()
        self.method.save_artifacts(self.folder.path)
        self.folder.save_step(self.step, self.evaluator.get_state(), self.records, self.get_state(),
                              self._best_record(), self._plot_data() if plot else None,
                              prefix=getattr(self.evaluator, "state_prefix", "evaluator"))
        if plot:
            self._last_plot = now

    @classmethod
    def resume(cls, run_dir: str | Path, method: SearchMethod, evaluator: Evaluator, budget: int | None = None,
               seed: int | None = None, config: Any = None) -> Search:
        """Continue the search stored in ``run_dir`` (built with the same method and evaluator settings).
        ``budget`` (default: the stored one) may grow the search; ``seed`` is needed only for a folder whose
        first step never completed (no ``state.json``)."""
        folder = RunFolder(run_dir)
        records, state = folder.load_progress(evaluator.space)
        if state is None:
            if seed is None or (budget is None and config is None):
                raise RunFolderError(f"run folder {str(run_dir)!r} has no state.json; nothing to resume")
            state = {"step": 0, "n_evaluations": 0, "status": "running", "seed": seed,
                     "budget": budget if budget is not None else config.budget, "method_state": {}}
        search = cls(method, evaluator, budget if budget is not None else int(state["budget"]),
                     int(state["seed"]), None, config)
        search.folder = folder
        search._started = folder.has_config() or config is None
        search.set_state(state, records)
        step = search.step
        # the evaluator's state after the last completed step; if evaluations.json already holds the next
        # step (killed between the two writes), that step is served from the records, so the evaluator
        # continues from the snapshot written after it
        if any(int(r["step"]) == step for r in records):
            step += 1
        prefix = getattr(evaluator, "state_prefix", "evaluator")
        if step > 0:
            snapshot = folder.load_evaluator_state(prefix, step)
            if snapshot is not None:
                evaluator.set_state(snapshot)
        evaluator.attach_run_dir(folder.path)
        search._started = search._started or folder.has_config()
        return search
