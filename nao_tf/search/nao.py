"""Neural Architecture Optimization as a search method (the controller itself lives in ``nao_tf.controller``).

Round 0 evaluates ``initial_pool`` random architectures. Every later round re-initializes the controller from
``(seed, round)``, trains it on all evaluations so far (targets: the evaluator's newest, higher-is-better
scores), takes the ``top_k`` best as seeds and moves their embeddings along the predictor's gradient until the
decoder yields new architectures (``nao_tf.controller.generation``). Settings: ``nao_tf.search.config.NaoConfig``
(paper defaults 100/100/100; presets per space).

The controller and its compiled functions are built once per (space, controller config) and re-initialized
every round, so a benchmark that runs many searches pays for tracing once (pass the same ``ControllerCache``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.search.config import NaoConfig
from nao_tf.search.method import SearchMethod, SearchView
from nao_tf.spaces import Architecture


class ControllerCache:
    """One controller + trainer + generator per (space, model config), reused across rounds and searches."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[Any, Any]] = {}

    def get(self, space: Any, config: Any) -> tuple[Any, Any]:
        key = (space.name, json.dumps(config.to_dict(), sort_keys=True))
        if key not in self._items:
            from nao_tf.controller.generation import Generator
            from nao_tf.controller.training import ControllerTrainer, build_controller

            controller = build_controller(space, config)
            self._items[key] = (ControllerTrainer(controller, config), Generator(controller, space))
        return self._items[key]


class NaoMethod(SearchMethod):
    """NAO on any evaluator. ``controller`` holds ``ControllerConfig`` overrides of the space's preset;
    ``checkpoint`` a trained controller every round starts from instead of a random initialization."""

    name = "nao"

    def __init__(self, settings: NaoConfig | None = None, controller: dict[str, Any] | None = None,
                 checkpoint: str | None = None, cache: ControllerCache | None = None) -> None:
        super().__init__()
        self.settings = settings or NaoConfig()
        self.controller_overrides = dict(controller or {})
        self.checkpoint = checkpoint
        self.cache = cache or ControllerCache()
        self.log: list[dict[str, Any]] = []
        self._trained_round = -1
        self._initial_weights: list[np.ndarray] | None = None
        self.progress: Any = None  # (phase, total) -> bar, supplied by the caller

    def bind(self, view: SearchView) -> None:
        super().bind(view)
        from nao_tf.controller.config import ControllerConfig

        self.controller_config = ControllerConfig.for_space(view.space.name, **self.controller_overrides)
        if self.checkpoint:
            from nao_tf.controller.training import load_controller

            model = load_controller(self.checkpoint, view.space, self.controller_config)
            self._initial_weights = model.get_weights()

    def _phase(self, phase: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        bar = self.progress(phase, 1) if self.progress is not None else None
        try:
            return fn(*args, **kwargs)
        finally:
            if bar is not None:
                bar.update(1)
                bar.close()

    def propose(self, remaining: int) -> list[Architecture]:
        st, s = self.settings, self.s
        step = s.step
        rng = s.rng(step, 1)
        if step == 0 or len(s.history) < 2:
            return self.random_new(rng, min(st.initial_pool, remaining))
        n = min(max(st.per_round, int(st.round_fraction * len(s.history))), remaining)
        trainer, generator = self.cache.get(s.space, self.controller_config)
        archs = [e.arch for e in s.history]
        targets = [s.evaluator.oriented(s.evaluator.current_score(e)) for e in s.history]
        finite = [i for i, t in enumerate(targets) if math.isfinite(t)]
        archs = [archs[i] for i in finite]
        targets = [targets[i] for i in finite]
        fit = self._phase("controller training", trainer.fit, archs, targets, seed=[s.seed, step, 3],
                          initial_weights=self._initial_weights)
        self._trained_round = step
        order = sorted(range(len(archs)), key=lambda i: (-targets[i], i))
        seeds = [archs[i] for i in order[: st.top_k]]
        want = max(n, int(math.ceil(n * st.candidates_factor)))
        gen = self._phase("generation", generator.generate, seeds, want, is_new=s.is_candidate,
                          pad_seeds_to=st.top_k)
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

    def get_state(self) -> dict[str, Any]:
        return {"log": self.log}

    def set_state(self, state: dict[str, Any]) -> None:
        self.log = list(state.get("log", []))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.settings.model_dump(),
                "controller_config": self.controller_config.to_dict(), "initial_controller": self.checkpoint}

    def save_artifacts(self, run_dir: Path) -> None:
        if self._trained_round < 0:
            return
        from nao_tf.controller.training import save_controller

        trainer, _ = self.cache.get(self.s.space, self.controller_config)
        save_controller(trainer.controller, run_dir / "controller.keras")
        self._trained_round = -1
