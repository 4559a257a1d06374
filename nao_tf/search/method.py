"""The ``SearchMethod`` interface: what a search strategy (NAO, regularized evolution, random search, ...) does.

A method is bound to a running search (``bind``) and sees it only through ``SearchView``, the read-only part of
``nao_tf.search.loop.Search`` that strategies need (the space, the step number, the history, seeded random
generators, "is this architecture new and allowed?", and the evaluator's orientation). Each step the driver
asks ``propose(remaining)`` for new architectures, evaluates them, and hands the completed step's evaluations
to ``observe``.

Resume: ``get_state() -> dict`` (JSON-able) / ``set_state(state)``, the protocol searches, methods and
evaluators share. Everything a method derives from (seed, step, history) need not be saved: every random draw
of step ``k`` comes from ``view.rng(k, stream)``, so a resumed method repeats exactly what an uninterrupted one
does.

Adding a method: subclass ``SearchMethod`` in its own module, give it a ``name``, add its settings section to
``nao_tf.search.config.MethodConfig`` and a factory to ``nao_tf.search.registry.METHODS``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.spaces import Architecture, SearchSpace


class SearchView(Protocol):
    """What a method may read of the search that drives it."""

    space: SearchSpace
    evaluator: Evaluator
    seed: int
    step: int
    history: list[Evaluation]

    def key(self, arch: Architecture) -> Architecture: ...

    def is_candidate(self, arch: Architecture) -> bool: ...

    def lookup(self, arch: Architecture) -> Evaluation | None: ...

    def rng(self, step: int, stream: int = 0) -> np.random.Generator: ...

    def oriented(self, evaluation: Evaluation) -> float: ...


class SearchMethod(abc.ABC):
    """A search strategy. ``propose`` returns new architectures for step ``view.step``; ``observe`` sees the
    completed step's evaluations. ``sources[arch]`` may name where a proposal came from (``random``,
    ``mutate``, ``nao(eta=3)``): the run folder records it for every evaluation."""

    name = "method"

    def __init__(self) -> None:
        self.view: SearchView | None = None
        self.sources: dict[Architecture, str] = {}

    def bind(self, view: SearchView) -> None:
        """Called once by the driver before the first proposal."""
        self.view = view

    @abc.abstractmethod
    def propose(self, remaining: int) -> list[Architecture]:
        """Up to ``remaining`` new (never evaluated), allowed, distinct architectures; [] when exhausted."""

    def observe(self, evaluations: Sequence[Evaluation]) -> None:
        """The evaluations of the step just completed (in evaluation order)."""
        return None

    def get_state(self) -> dict[str, Any]:
        """What is not derivable from (seed, step, history); JSON-able."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned."""
        return None

    def describe(self) -> dict[str, Any]:
        """JSON-able description of the method as it runs (for reports)."""
        return {"name": self.name}

    def save_artifacts(self, run_dir: Path) -> None:
        """Write method outputs (e.g. the controller) into the run folder, atomically."""
        return None

    # ----- helpers for subclasses -------------------------------------------------------------------------
    @property
    def s(self) -> SearchView:
        if self.view is None:
            raise RuntimeError(f"method {self.name!r} is not bound to a search")
        return self.view

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
