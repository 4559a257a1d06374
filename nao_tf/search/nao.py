"""Neural Architecture Optimization as a search method (the controller itself lives in ``nao_tf.controller``).

Round 0 evaluates ``initial_pool`` random architectures. Every later round re-initializes the controller from
``(seed, round)``, trains it on all evaluations so far (targets: the evaluator's newest, higher-is-better
scores), takes the ``top_k`` best as seeds and moves their embeddings along the predictor's gradient until the
decoder yields new architectures (``nao_tf.controller.generation``). Settings: ``nao_tf.search.config.NaoConfig``
(paper defaults 100/100/100; presets per space).

Training data: what the authors' full-NAO scripts use, every architecture evaluated so far with its measured
score (min-max normalized per training by default; the nb201 preset uses rank targets), augmented with the
space's symmetric variants. A tabular or stand-alone-trained evaluator measures each architecture once, so
all of it is signal; with weight sharing, ``current_score`` re-scores the pool with the newest shared weights
(the authors' NAO-WS trains on the current pool's fresh scores).

``nao`` is pure NAO: every architecture after the initial pool comes from a gradient step and decoding. When
too few are new, it searches harder the NAO way (``NaoMethod._generate``: larger step sizes, more seeds, then
perturbed embeddings), never by mutation. ``nao+mutation`` (``NaoMutationMethod``) is the hybrid that tops a
round up with one-token mutations of the seeds (``fill``); it is reported under its own name.

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
    searches_harder = True

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
        self._attempts = 0
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
        fit = self._fit(trainer, archs, targets, step)
        self._trained_round = step
        order = sorted(range(len(archs)), key=lambda i: (-targets[i], i))
        seeds = [archs[i] for i in order[: st.top_k]]
        want = max(n, int(math.ceil(n * st.candidates_factor)))
        ranked = [archs[i] for i in order]
        proposals = self._phase("generation", self._generate, generator, ranked, want, step)
        if len(proposals) > n:
            scores = trainer.predict(proposals)
            keep = sorted(range(len(proposals)), key=lambda i: (-scores[i], i))[:n]
            proposals = [proposals[i] for i in sorted(keep)]
            for arch in proposals:
                self.sources[arch] = self.sources[arch].replace("gradient(", "screened(", 1)
        n_generated = len(proposals)
        proposals += self._top_up(seeds, n - len(proposals), {s.key(a) for a in proposals}, step)
        self.log.append({"step": step, "trained_on": len(archs), "loss": round(fit["loss"], 5),
                         "mse": round(fit["mse"], 5), "ce": round(fit["ce"], 5),
                         "train_seconds": round(fit["seconds"], 3), "generated": n_generated,
                         "filled": len(proposals) - n_generated, "attempts": self._attempts,
                         "pseudo_labelled": fit.get("pseudo_labelled", 0)})
        return proposals

    def _fit(self, trainer: Any, archs: list[Architecture], targets: list[float], step: int) -> dict[str, Any]:
        """Train the round's controller (``SemiNasMethod`` adds pseudo-labelled architectures here)."""
        s = self.s
        return self._phase("controller training", trainer.fit, archs, targets, seed=[s.seed, step, 3],
                           initial_weights=self._initial_weights)

    def _top_up(self, seeds: list[Architecture], n: int, taken: set[Architecture], step: int) -> list[Architecture]:
        """Pure NAO never tops up: a round that found fewer new architectures is smaller."""
        return []

    # ----- generation: the NAO way only --------------------------------------------------------------------
    def _generate(self, generator: Any, ranked: list[Architecture], want: int, step: int) -> list[Architecture]:
        """Up to ``want`` new architectures, from gradient steps only, searching harder while too few are new:
        the controller's step sizes from the ``top_k`` best; then larger step sizes (1.5-4x the largest); then
        more seeds (2x, 4x the top-k, up to every evaluated architecture); then decoding from perturbed
        embeddings (Gaussian noise of growing scale, ``noise_levels``, on the moved step outputs). Each
        proposal's source names the attempt that found it (``gradient(eta=3)``, ``gradient(eta=40,seeds=40)``,
        ``gradient(eta=2,noise=0.5)``)."""
        st, s = self.settings, self.s
        found: list[Architecture] = []
        taken: set[Architecture] = set()

        def is_new(arch: Architecture) -> bool:
            return s.key(arch) not in taken and s.is_candidate(arch)

        base = self.controller_config.step_sizes()
        larger = [round(self.controller_config.eta_max * f, 6) for f in (1.5, 2.0, 3.0, 4.0)]
        attempts: list[tuple[int, list[float], float]] = [(st.top_k, base, 0.0)]
        if st.search_harder and self.searches_harder:
            attempts.append((st.top_k, larger, 0.0))
            k = st.top_k
            while k < len(ranked):
                k = min(2 * k, len(ranked))
                attempts.append((k, base + larger, 0.0))
            attempts += [(st.top_k, base, noise) for noise in st.noise_levels]
        self._attempts = 0
        for i, (k, etas, noise) in enumerate(attempts):
            if len(found) >= want:
                break
            pad = st.top_k
            while pad < k:
                pad *= 2  # a few seed-batch shapes only: each one is compiled once
            gen = generator.generate(ranked[:k], want - len(found), is_new=is_new, step_sizes=etas,
                                     pad_seeds_to=pad, noise=noise,
                                     noise_seed=int(s.rng(step, 6 + i).integers(2**31 - 1)))
            self._attempts = i + 1
            for arch, eta in zip(gen.archs, gen.etas, strict=True):
                taken.add(s.key(arch))
                found.append(arch)
                detail = f"eta={eta:g}" + (f",seeds={k}" if k != st.top_k else "") + \
                    (f",noise={noise:g}" if noise else "")
                self.sources[arch] = f"gradient({detail})"
        return found

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


class NaoMutationMethod(NaoMethod):
    """The hybrid: NAO whose rounds are topped up by one-token mutations of the seeds (then random ones) when
    generation finds too few new architectures (``fill``), and without searching harder first. Reported
    under its own name: part of what it evaluates is regularized evolution's operator, not NAO."""

    name = "nao+mutation"

    searches_harder = False

    def _top_up(self, seeds: list[Architecture], n: int, taken: set[Architecture], step: int) -> list[Architecture]:
        if n <= 0 or self.settings.fill == "none":
            return []
        s = self.s
        out = self._mutants(seeds, n, taken, s.rng(step, 2)) if self.settings.fill == "mutate" else []
        if len(out) < n:
            out += self.random_new(s.rng(step, 4), n - len(out), taken)
        return out
