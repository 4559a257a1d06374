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
- ``get_state() -> dict`` / ``set_state(state)``: everything needed to resume (e.g. supernet weights), the one
  resume protocol of searches, methods and evaluators (as keras-tuner's ``Stateful``). The dict is JSON-able
  except for the optional key ``"arrays"`` (a list of NumPy arrays), which the run folder stores in a ``.npz``
  next to the JSON. ``get_state`` is called after every completed step, ``set_state`` on ``--resume`` with the
  state of the last completed step. An evaluator that keeps no state returns ``{}``.
- ``attach_run_dir(run_dir)``: where to keep work journals written in the middle of a step (trained children,
  re-ranked networks), so a killed search redoes none of that work; not state (a journal is a cache keyed by
  architecture).
- ``config()``: JSON-able description of what the evaluator measures (sent to workers; written into reports).
- ``progress``: ``(phase, total) -> bar`` (with ``update(n)`` / ``close()``) supplied by the caller, or None.
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


class _NoBar:
    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


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

    progress: Any = None  # (phase, total) -> bar with update(n) / close(), supplied by the caller

    def get_state(self) -> dict[str, Any]:
        """What ``set_state`` needs to resume after the last completed step (see the module docstring)."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned."""
        return None

    def attach_run_dir(self, run_dir: Path) -> None:
        """Keep mid-step work journals in ``run_dir`` (and read the ones already there)."""
        return None

    def bar(self, phase: str, total: int) -> Any:
        """A progress bar from ``progress`` (a do-nothing one when there is none)."""
        bar = self.progress(phase, total) if self.progress is not None else None
        return bar if bar is not None else _NoBar()

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
