"""Regularized evolution (Real et al. 2019, "aging evolution").

The first ``population`` evaluations are random; then each step samples ``sample_size`` members of the
population, mutates the best one (one token changed to another valid value, ``SearchSpace.mutate``),
evaluates the child, appends it to the population and removes the oldest member. A child that was evaluated
before costs no query (repeats are free): it joins the population with its known score and the step draws
again. Defaults (population 10, sample 3; ``nao_tf.search.config.EvolutionConfig``) are NAS-Bench-201's own RE
settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nao_tf.errors import ConfigError
from nao_tf.search.evaluator import Evaluation
from nao_tf.search.method import SearchMethod
from nao_tf.spaces import Architecture


class RegularizedEvolution(SearchMethod):
    name = "re"

    def __init__(self, population: int = 10, sample_size: int = 3, max_free_draws: int = 1000) -> None:
        super().__init__()
        if population < 1 or not 1 <= sample_size <= population:
            raise ConfigError("regularized evolution needs population >= 1 and 1 <= sample_size <= population")
        self.population_size = int(population)
        self.sample_size = int(sample_size)
        self.max_free_draws = int(max_free_draws)
        self.population: list[tuple[tuple[int, ...], float]] = []  # (arch values, oriented score), oldest first

    def propose(self, remaining: int) -> list[Architecture]:
        s = self.s
        rng = s.rng(s.step, 1)
        if len(self.population) < self.population_size:
            return self.random_new(rng, 1)
        for _ in range(self.max_free_draws):
            picks = rng.choice(len(self.population), size=self.sample_size, replace=False)
            parent_vals = max((self.population[i] for i in picks), key=lambda m: m[1])[0]
            parent = Architecture(s.space.name, parent_vals)
            child = s.space.mutate(parent, rng)
            if s.is_candidate(child):
                self.sources[child] = "mutate"
                return [child]
            known = s.lookup(child)
            if known is not None:  # a repeat: free, it ages the population like any child
                self._append(child, s.oriented(known))
        return self.random_new(rng, 1)  # population stuck on evaluated/disallowed children

    def observe(self, evaluations: Sequence[Evaluation]) -> None:
        for ev in evaluations:
            self._append(ev.arch, self.s.oriented(ev))

    def _append(self, arch: Architecture, oriented: float) -> None:
        self.population.append((tuple(arch.values), float(oriented)))
        if len(self.population) > self.population_size:
            self.population.pop(0)

    def get_state(self) -> dict[str, Any]:
        return {"population": [[list(v), o] for v, o in self.population]}

    def set_state(self, state: dict[str, Any]) -> None:
        self.population = [(tuple(v), float(o)) for v, o in state.get("population", [])]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "population": self.population_size, "sample_size": self.sample_size}
