"""The evaluator interface: architectures in, measured scores out. Evaluator-agnostic search builds on it.

An ``Evaluator`` measures architectures of one ``space``: a table lookup (``nao_tf.search.tabular``), training
child networks, or scoring with a weight-sharing supernet. The search loop only talks to this interface:

- ``mode``: ``"max"`` (accuracy) or ``"min"`` (perplexity, error). ``Evaluation.score`` is always the
  measured quantity as is; ``oriented(score)`` turns it into higher-is-better for the controller and for
  ranking (``score`` for max, ``-score`` for min).
- ``evaluate(archs) -> list[Evaluation]``, one per architecture, same order. Raise a ``NaoError`` subclass
  for a user problem (e.g. an architecture missing from a table).
- ``allowed(arch) -> True | str``: a constraint (e.g. at most N parameters); a string is the reason it is not
  allowed. Disallowed architectures are never proposed nor evaluated.
- ``begin_round(round_index, pool)``: called by the driver before each batch is scored, with the batch;
  weight-sharing evaluators train their supernet here. ``end_round(round_index, evaluations)`` after.
- ``save_state(run_dir)`` / ``load_state(run_dir)``: everything needed to resume (e.g. supernet weights);
  called after every completed step and on ``--resume``.
- ``config()``: JSON-able description (goes into the run folder's ``config.json``).
- ``report(evaluation) -> dict``: extra fields for ``best.json`` (e.g. test accuracy, regret).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.spaces import Architecture, SearchSpace, get_space

MODES = ("max", "min")


@dataclass
class Evaluation:
    """One measured architecture: ``score`` is the measured quantity as is (accuracy, perplexity, ...);
    ``metadata`` holds anything else (test accuracy, parameters, seconds, ...), JSON-able."""

    arch: Architecture
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": list(self.arch.values), "space": self.arch.space, "score": self.score,
                "metadata": self.metadata}

    @classmethod
    def from_dict(cls, data: dict[str, Any], space: SearchSpace | None = None) -> Evaluation:
        try:
            sp = space or get_space(data["space"])
            return cls(sp.make(data["arch"]), float(data["score"]), dict(data.get("metadata") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise RunFolderError(f"malformed evaluation record {str(data)[:80]!r}: {exc}") from None


class Evaluator(abc.ABC):
    """Base class of everything that scores architectures (see the module docstring for the contract)."""

    space: SearchSpace
    mode: str = "max"
    name: str = "evaluator"

    def __init__(self, space: SearchSpace | str, mode: str = "max") -> None:
        self.space = get_space(space)
        if mode not in MODES:
            raise ConfigError(f"evaluator mode must be 'max' or 'min', got {mode!r}")
        self.mode = mode

    @abc.abstractmethod
    def evaluate(self, archs: Sequence[Architecture]) -> list[Evaluation]:
        """Measure every architecture (same order)."""

    def allowed(self, arch: Architecture) -> bool | str:
        """True, or a one-line reason why ``arch`` must not be evaluated or proposed."""
        return True

    def is_allowed(self, arch: Architecture) -> bool:
        return self.allowed(arch) is True

    def begin_round(self, round_index: int, pool: Sequence[Architecture]) -> None:
        """Hook before a batch (``pool``) is scored; weight-sharing evaluators train here."""
        return None

    def current_score(self, evaluation: Evaluation) -> float:
        """The latest score of an evaluated architecture. Weight-sharing evaluators re-score their pool as the
        shared weights train, so what the controller learns from is the newest score, not the first one."""
        return evaluation.score

    def end_round(self, round_index: int, evaluations: Sequence[Evaluation]) -> None:
        """Hook after a batch is scored."""
        return None

    def save_state(self, run_dir: Path) -> None:
        """Persist what ``load_state`` needs to resume (atomically); stateless evaluators do nothing."""
        return None

    def load_state(self, run_dir: Path) -> None:
        """Restore what ``save_state`` wrote."""
        return None

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "space": self.space.name, "mode": self.mode}

    def report(self, evaluation: Evaluation) -> dict[str, Any]:
        """Extra fields for the final report of the best architecture."""
        return {}

    # ----- orientation ----------------------------------------------------------------------------------
    def oriented(self, score: float) -> float:
        """Higher-is-better version of a score (NaN becomes -inf: a failed evaluation is the worst)."""
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return -math.inf
        return float(score) if self.mode == "max" else -float(score)

    def better(self, a: float, b: float) -> bool:
        return self.oriented(a) > self.oriented(b)
