"""The search driver and the NAO method.

``Search`` drives any ``SearchMethod`` (NAO here; random search and regularized evolution in
``nao_tf.search.baselines``) against any ``Evaluator`` until ``budget`` distinct architectures have been
evaluated (repeats are free: an architecture already measured is never measured again).

Step-by-step API (what a keras-tuner Oracle or a custom driver uses)::

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
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.seeding import rng as make_rng
from nao_tf.spaces import Architecture


# ----- methods -------------------------------------------------------------------------------------------------
class SearchMethod(abc.ABC):
    """A search strategy. ``propose`` returns new architectures for step ``search.step``; ``observe`` sees the
    completed step's evaluations. State that is not derivable from (seed, step, history) goes in ``state()``."""

    name = "method"

    def __init__(self) -> None:
        self.search: Search | None = None
        self.sources: dict[Architecture, str] = {}

    def bind(self, search: Search) -> None:
        self.search = search

    @abc.abstractmethod
    def propose(self, remaining: int) -> list[Architecture]:
        """Up to ``remaining`` new (never evaluated), allowed, distinct architectures; [] when exhausted."""

    def observe(self, evaluations: Sequence[Evaluation]) -> None:
        """The evaluations of the step just completed (in evaluation order)."""
        return None

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what ``state()`` returned."""
        return None

    def config(self) -> dict[str, Any]:
        return {"name": self.name}

    def save_artifacts(self, run_dir: Path) -> None:
        """Write method files (e.g. the controller) into the run folder, atomically."""
        return None

    # helpers for subclasses
    @property
    def s(self) -> Search:
        if self.search is None:
            raise RuntimeError("method is not bound to a Search")
        return self.search

    def random_new(self, rng: np.random.Generator, n: int, taken: set[Architecture] | None = None,
                   source: str = "random", max_tries: int = 10000) -> list[Architecture]:
        """``n`` uniformly random new allowed architectures (fewer if the space runs out)."""
        taken = set() if taken is None else taken
        out: list[Architecture] = []
        tries = 0
        while len(out) < n and tries < max_tries:
            batch = self.s.space.sample(rng, min(max(2 * (n - len(out)), 8), 512))
            for arch in batch:
                tries += 1
                key = self.s.key(arch)
                if key in taken or not self.s.is_candidate(arch):
                    continue
                taken.add(key)
                out.append(arch)
                self.sources[arch] = source
                if len(out) >= n:
                    break
        return out


@dataclass
class NaoSettings:
    """NAO's search settings. Round 0 evaluates ``initial_pool`` random architectures; every later round
    retrains the controller from scratch (seeded by the round) on all evaluations so far, takes the ``top_k``
    best as seeds and generates ``per_round`` new architectures by gradient steps. With
    ``candidates_factor`` > 1 it generates that many times more and keeps the ones the predictor ranks best.
    If generation finds too few new architectures, ``fill`` tops the round up with ``mutate``d copies of the
    best ones (one token changed), ``random`` ones, or ``none``. With ``round_fraction`` > 0 a round proposes
    ``max(per_round, round_fraction * evaluated so far)`` (fewer, larger rounds as the data grows)."""

    initial_pool: int = 100
    per_round: int = 100
    round_fraction: float = 0.0
    top_k: int = 100
    candidates_factor: float = 1.0
    fill: str = "mutate"
    controller: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("initial_pool", "per_round", "top_k"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"nao {name} must be >= 1, got {getattr(self, name)}")
        if self.fill not in ("mutate", "random", "none"):
            raise ConfigError(f"nao fill must be mutate, random or none, got {self.fill!r}")
        if self.candidates_factor < 1:
            raise ConfigError("nao candidates_factor must be >= 1")
        if not 0 <= self.round_fraction <= 1:
            raise ConfigError("nao round_fraction must be in [0, 1]")

    @classmethod
    def preset(cls, space_name: str, **overrides: Any) -> NaoSettings:
        """Defaults per space: the paper's 100/100/100 for CNN/RNN spaces; the NB201 settings tuned on the
        cifar10 columns (see README, 'Search on NAS-Bench-201')."""
        base: dict[str, Any] = {}
        if space_name == "nb201":
            # tuned on NB201's cifar10-val column with seeds 100-107 (the benchmark reports seeds 0-29); a fixed
            # 150 controller steps per round (lr 3e-3) keeps a 300-query search at a few CPU-minutes
            base = {"initial_pool": 20, "per_round": 10, "round_fraction": 0.15, "top_k": 10,
                    "candidates_factor": 1.0, "fill": "mutate",
                    "controller": {"steps": 150, "learning_rate": 3e-3, "l2_reg": 1e-4, "mlp_dropout": 0.0}}
        merged = {**base, **{k: v for k, v in overrides.items() if v is not None and k != "controller"}}
        given = dict(overrides.get("controller") or {})
        if "epochs" in given and "steps" not in given:
            given["steps"] = 0  # epochs given explicitly win over the preset's fixed step count
        merged["controller"] = {**base.get("controller", {}), **given}
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        return {"initial_pool": self.initial_pool, "per_round": self.per_round,
                "round_fraction": self.round_fraction, "top_k": self.top_k,
                "candidates_factor": self.candidates_factor, "fill": self.fill, "controller": dict(self.controller)}


class NaoMethod(SearchMethod):
    """Neural Architecture Optimization (docs/method.md section 5) on any evaluator.

    The controller and its compiled functions are built once and re-initialized every round, so a benchmark
    that runs many searches pays for tracing once (pass the same ``ControllerCache``)."""

    name = "nao"

    def __init__(self, settings: NaoSettings | None = None, initial_controller: str | None = None,
                 cache: ControllerCache | None = None) -> None:
        super().__init__()
        self.settings = settings or NaoSettings()
        self.initial_controller = initial_controller
        self.cache = cache or ControllerCache()
        self.log: list[dict[str, Any]] = []
        self._trained_round = -1
        self._initial_weights: list[np.ndarray] | None = None

    def bind(self, search: Search) -> None:
        super().bind(search)
        from nao_tf.controller.config import ControllerConfig

        self.controller_config = ControllerConfig.for_space(search.space.name, **self.settings.controller)
        if self.initial_controller:
            from nao_tf.controller.training import load_controller

            model = load_controller(self.initial_controller, search.space, self.controller_config)
            self._initial_weights = model.get_weights()

    def propose(self, remaining: int) -> list[Architecture]:
        st, s = self.settings, self.s
        step = s.step
        rng = s.rng(step, 1)
        if step == 0 or len(s.history) < 2:
            return self.random_new(rng, min(st.initial_pool, remaining))
        n = min(max(st.per_round, int(st.round_fraction * len(s.history))), remaining)
        trainer, generator = self.cache.get(s.space, self.controller_config)
        history = s.history
        archs = [e.arch for e in history]
        targets = [s.evaluator.oriented(s.evaluator.current_score(e)) for e in history]
        finite = [i for i, t in enumerate(targets) if math.isfinite(t)]
        archs = [archs[i] for i in finite]
        targets = [targets[i] for i in finite]
        fit = trainer.fit(archs, targets, seed=[s.seed, step, 3], initial_weights=self._initial_weights)
        self._trained_round = step
        order = sorted(range(len(archs)), key=lambda i: (-targets[i], i))
        seeds = [archs[i] for i in order[: st.top_k]]
        want = max(n, int(math.ceil(n * st.candidates_factor)))
        gen = generator.generate(seeds, want, is_new=s.is_candidate, pad_seeds_to=st.top_k)
        proposals = list(gen.archs)
        for arch, eta in zip(gen.archs, gen.etas, strict=True):
            self.sources[arch] = f"nao(eta={eta:g})"
        if len(proposals) > n:
            scores = trainer.predict(proposals)
            keep = sorted(range(len(proposals)), key=lambda i: (-scores[i], i))[:n]
            proposals = [proposals[i] for i in sorted(keep)]
        n_generated = len(proposals)
        if len(proposals) < n and st.fill != "none":
            taken = {s.key(a) for a in proposals}
            if st.fill == "mutate":
                proposals += self._mutants(seeds, n - len(proposals), taken, s.rng(step, 2))
            if len(proposals) < n:
                proposals += self.random_new(s.rng(step, 4), n - len(proposals), taken)
        self.log.append({"step": step, "trained_on": len(archs), "loss": round(fit["loss"], 5),
                         "mse": round(fit["mse"], 5), "ce": round(fit["ce"], 5),
                         "train_seconds": round(fit["seconds"], 3), "generated": n_generated,
                         "filled": len(proposals) - n_generated, "decode_calls": gen.calls,
                         "max_eta": max(gen.etas) if gen.etas else None})
        return proposals

    def _mutants(self, parents: Sequence[Architecture], n: int, taken: set[Architecture],
                 rng: np.random.Generator) -> list[Architecture]:
        out: list[Architecture] = []
        s = self.s
        for _ in range(50 * n):
            if len(out) >= n:
                break
            parent = parents[int(rng.integers(len(parents)))]
            child = s.space.mutate(parent, rng)
            key = s.key(child)
            if key in taken or not s.is_candidate(child):
                continue
            taken.add(key)
            out.append(child)
            self.sources[child] = "mutate"
        return out

    def state(self) -> dict[str, Any]:
        return {"log": self.log}

    def load_state(self, state: dict[str, Any]) -> None:
        self.log = list(state.get("log", []))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self.settings.to_dict(), "controller_config": self.controller_config.to_dict(),
                "initial_controller": self.initial_controller}

    def save_artifacts(self, run_dir: Path) -> None:
        if self._trained_round < 0:
            return
        from nao_tf.controller.training import save_controller

        trainer, _ = self.cache.get(self.s.space, self.controller_config)
        save_controller(trainer.controller, run_dir / "controller.keras")
        self._trained_round = -1


class ControllerCache:
    """One controller + trainer + generator per (space, model config), reused across rounds and searches."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[Any, Any]] = {}

    def get(self, space: Any, config: Any) -> tuple[Any, Any]:
        import json

        key = (space.name, json.dumps(config.to_dict(), sort_keys=True))
        if key not in self._items:
            from nao_tf.controller.generation import Generator
            from nao_tf.controller.training import ControllerTrainer, build_controller

            controller = build_controller(space, config)
            self._items[key] = (ControllerTrainer(controller, config), Generator(controller, space))
        return self._items[key]


# ----- the driver ----------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """``best``: the best evaluation (by the evaluator's orientation; ties: the earliest); ``history``: all
    evaluations in order; ``best_so_far``: the best score after each query; ``report``: the evaluator's
    extra fields for ``best``; ``status``: ``done``, ``exhausted`` or ``running``."""

    best: Evaluation | None
    history: list[Evaluation]
    best_so_far: list[float]
    report: dict[str, Any]
    status: str


class Search:
    """Drives ``method`` against ``evaluator`` for ``budget`` distinct evaluations (see module docstring)."""

    def __init__(self, method: SearchMethod, evaluator: Evaluator, budget: int, seed: int = 0,
                 run_dir: str | Path | None = None, extra_config: dict[str, Any] | None = None,
                 plot_every_s: float = 10.0) -> None:
        if int(budget) < 1:
            raise ConfigError(f"budget must be at least 1 evaluation, got {budget}")
        self.method = method
        self.evaluator = evaluator
        self.space = evaluator.space
        self.budget = int(budget)
        self.seed = int(seed)
        self.history: list[Evaluation] = []
        self.records: list[dict[str, Any]] = []
        self._seen: dict[Architecture, int] = {}
        self._cache: dict[Architecture, Evaluation] = {}
        self.step = 0
        self.pending: list[Architecture] = []
        self._pending_results: dict[Architecture, Evaluation] = {}
        self.status = "running"
        self.extra_config = dict(extra_config or {})
        self.plot_every_s = plot_every_s
        self._last_plot = 0.0
        self.folder = None
        if run_dir is not None:
            from nao_tf.search.runfolder import RunFolder

            self.folder = RunFolder(run_dir)
        method.bind(self)

    # ----- helpers used by methods ----------------------------------------------------------------------
    def key(self, arch: Architecture) -> Architecture:
        """The identity of an architecture for 'already evaluated' (symmetric variants are one network)."""
        return self.space.canonical(arch)

    def seen(self, arch: Architecture) -> bool:
        return self.key(arch) in self._seen

    def is_candidate(self, arch: Architecture) -> bool:
        """Never evaluated, not pending, and allowed by the evaluator."""
        key = self.key(arch)
        return key not in self._seen and arch not in self._pending_set() and self.evaluator.is_allowed(arch)

    def _pending_set(self) -> set[Architecture]:
        return set(self.pending)

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

    def evaluate_pending(self) -> list[Evaluation]:
        """Evaluate the pending batch (cached results first, then the evaluator with its round hooks)."""
        batch = list(self.pending)
        todo = [a for a in batch if self.cached(a) is None]
        results: dict[Architecture, Evaluation] = {}
        if todo:
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
        """Run to the end of the budget (or of the space)."""
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
        return SearchResult(best, list(self.history), self.best_so_far(), report, self.status)

    # ----- run folder -----------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"space": self.space.name, "budget": self.budget, "seed": self.seed,
                "method": self.method.config(), "evaluator": self.evaluator.config(), **self.extra_config}

    def state(self) -> dict[str, Any]:
        return {"step": self.step, "n_evaluations": len(self.history), "status": self.status,
                "method_state": self.method.state()}

    def _save(self, final: bool = False) -> None:
        if self.folder is None or not self.history:
            return
        now = time.monotonic()
        plot = final or self.done or now - self._last_plot >= self.plot_every_s
        self.folder.save(self, plot=plot)
        if plot:
            self._last_plot = now

    @classmethod
    def resume(cls, run_dir: str | Path, method: SearchMethod, evaluator: Evaluator,
               budget: int | None = None) -> Search:
        """Continue the search stored in ``run_dir`` (built with the same method and evaluator settings)."""
        from nao_tf.search.runfolder import RunFolder

        folder = RunFolder(run_dir)
        config, records, state = folder.load()
        if config.get("space") != evaluator.space.name:
            raise RunFolderError(
                f"run folder {str(run_dir)!r} searched space {config.get('space')!r}, not {evaluator.space.name!r}"
            )
        search = cls(method, evaluator, budget if budget is not None else int(config["budget"]),
                     int(config["seed"]), None, {k: v for k, v in config.items()
                                                  if k not in ("space", "budget", "seed", "method", "evaluator")})
        search.folder = folder
        evaluations = [Evaluation.from_dict(r, evaluator.space) for r in records]
        n = int(state.get("n_evaluations", 0)) if state else 0
        n = min(n, len(evaluations))
        for ev in evaluations:
            search._cache[search.key(ev.arch)] = ev
        for rec, ev in zip(records[:n], evaluations[:n], strict=True):
            search._seen[search.key(ev.arch)] = len(search.history)
            search.history.append(ev)
            search.records.append(rec)
        search.step = int(state.get("step", 0)) if state else 0
        if state and n == int(state.get("n_evaluations", -1)):
            method.load_state(state.get("method_state") or {})
        evaluator.load_state(folder.path)
        if search.remaining <= 0:
            search.status = "done"
        return search
