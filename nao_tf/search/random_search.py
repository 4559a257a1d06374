"""Random search: ``batch`` uniformly random new architectures per step (the baseline every method must beat)."""

from __future__ import annotations

from typing import Any

from nao_tf.errors import ConfigError
from nao_tf.search.method import SearchMethod
from nao_tf.spaces import Architecture


class RandomSearch(SearchMethod):
    name = "rs"

    def __init__(self, batch: int = 1) -> None:
        super().__init__()
        if int(batch) < 1:
            raise ConfigError("random search batch must be >= 1")
        self.batch = int(batch)

    def propose(self, remaining: int) -> list[Architecture]:
        return self.random_new(self.s.rng(self.s.step, 1), min(self.batch, remaining))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "batch": self.batch}
