"""Run folders of ``nao-tf search``: the only module that writes or reads a search's files.

Files (each written atomically with ``nao_tf.runio``)::

    config.json        the configuration tree (``nao_tf.search.config``) plus the nao-tf version; written when the
                       first evaluation starts, so a search that fails on bad input leaves nothing behind
    evaluations.json   every evaluated architecture in evaluation order: query, step, source, arch, score,
                       metadata, readable form
    state.json         step, number of evaluations, status, budget, seed, the method's state (what --resume needs)
    <prefix>-<step>.json / .npz   the evaluator's state after each completed step (``get_state``; the two
                       newest are kept): ``supernet-0003.*`` for NAO-WS, ``lm-supernet-*`` for the LM supernet
    best.json          the best architecture (by the search metric) with the evaluator's report
    controller.keras   the last trained NAO controller (NAO only)
    progress.png       best score vs queries (and every evaluation)

Writing order per step: evaluator state, evaluations, then state. If a process dies between the last two,
``--resume`` re-proposes the step (deterministically the same architectures), takes their scores from
``evaluations.json``, and the evaluator continues from the snapshot written after that step.

Reading (``--resume``) checks every file's shape and refuses, in one line naming the file, anything
unreadable or of the wrong type: a run is never silently restarted or rewritten.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.errors import RunFolderError
from nao_tf.runio import atomic_write_bytes, atomic_write_json, read_run_file

KEEP_SNAPSHOTS = 2


class RunFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def has_config(self) -> bool:
        return (self.path / "config.json").is_file()

    def check_new(self) -> None:
        """Refuse to start a new search in a folder that holds one (or anything else)."""
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise RunFolderError(
                f"run folder {str(self.path)!r} already exists and is not empty; continue it with --resume "
                f"{self.path} or choose another --out"
            )

    def check_resumable(self) -> None:
        if not self.path.is_dir():
            raise RunFolderError(f"run folder {str(self.path)!r} does not exist; nothing to resume")
        if not self.has_config():
            raise RunFolderError(f"run folder {str(self.path)!r} has no config.json; not a nao-tf search run")

    # ----- config.json: written and read here only ------------------------------------------------------------
    def write_config(self, config: Any) -> None:
        from nao_tf.search.config import save

        self.path.mkdir(parents=True, exist_ok=True)
        save(config, self.path / "config.json")

    def load_config(self) -> Any:
        """The run's ``SearchConfig``."""
        from nao_tf.search.config import load_saved

        self.check_resumable()
        return load_saved(self.path / "config.json")

    # ----- per step -------------------------------------------------------------------------------------------
    def save_step(self, step: int, evaluator_state: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                  state: Mapping[str, Any], best: Mapping[str, Any] | None, plot: Mapping[str, Any] | None,
                  prefix: str = "evaluator") -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if evaluator_state:
            self._save_evaluator_state(prefix, step, evaluator_state)
        atomic_write_json(self.path / "evaluations.json", list(records))
        atomic_write_json(self.path / "state.json", dict(state))
        if best is not None:
            atomic_write_json(self.path / "best.json", dict(best))
        if plot is not None:
            atomic_write_bytes(self.path / "progress.png", progress_png(**plot))

    def _save_evaluator_state(self, prefix: str, step: int, state: Mapping[str, Any]) -> None:
        stem = self.path / f"{prefix}-{step:04d}"
        arrays = list(state.get("arrays") or [])
        if arrays:
            buf = io.BytesIO()
            np.savez(buf, *arrays)
            atomic_write_bytes(stem.with_suffix(".npz"), buf.getvalue())
        atomic_write_json(stem.with_suffix(".json"), {k: v for k, v in state.items() if k != "arrays"} |
                          {"step": step, "n_arrays": len(arrays)})
        for old in sorted(self.path.glob(f"{prefix}-[0-9][0-9][0-9][0-9].json"))[:-KEEP_SNAPSHOTS]:
            old.unlink(missing_ok=True)
            old.with_suffix(".npz").unlink(missing_ok=True)

    def load_evaluator_state(self, prefix: str, step: int) -> dict[str, Any] | None:
        """The evaluator state saved after ``step`` steps; None for an evaluator that never saved any."""
        stem = self.path / f"{prefix}-{step:04d}"
        if not stem.with_suffix(".json").is_file():
            if any(self.path.glob(f"{prefix}-[0-9][0-9][0-9][0-9].json")):
                raise RunFolderError(f"run folder {str(self.path)!r} lacks the evaluator snapshot of step {step} "
                                     f"({stem.name}.json); it cannot be resumed")
            return None
        meta = self._read(stem.name + ".json", dict)
        n = meta.pop("n_arrays", 0)
        meta.pop("step", None)
        if not isinstance(n, int) or n < 0:
            raise RunFolderError(f"{stem}.json: n_arrays must be a count, got {n!r}")
        if n:
            try:
                with np.load(stem.with_suffix(".npz")) as data:
                    meta["arrays"] = [data[f"arr_{i}"] for i in range(n)]
            except (OSError, ValueError, KeyError, EOFError) as exc:
                raise RunFolderError(f"cannot read {stem}.npz: {exc}") from None
        return meta

    # ----- --resume -------------------------------------------------------------------------------------------
    def load_progress(self, space: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """(evaluation records, search state or None); one line naming the file for anything malformed."""
        if not self.path.is_dir():
            raise RunFolderError(f"run folder {str(self.path)!r} does not exist; nothing to resume")
        records = self._read("evaluations.json", list, required=False)
        state = self._read("state.json", dict, required=False)
        records = [] if records is None else records
        for i, rec in enumerate(records):
            _check_record(self.path / "evaluations.json", i, rec, space)
        if state is not None:
            _check_state(self.path / "state.json", state, len(records))
        elif records:
            raise RunFolderError(f"run folder {str(self.path)!r} has evaluations.json but no state.json; it cannot "
                                 "be resumed")
        return records, state

    def _read(self, name: str, kind: type, required: bool = True) -> Any:
        path = self.path / name
        if not path.is_file():
            if required:
                raise RunFolderError(f"run folder {str(self.path)!r} has no {name}; not a nao-tf search run")
            return None
        data = read_run_file(path, "the run cannot be resumed")
        if not isinstance(data, kind):
            raise RunFolderError(f"{path} must hold a JSON {'list' if kind is list else 'object'}, not "
                                 f"{type(data).__name__ if data is not None else 'null'}; the run cannot be resumed")
        return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_state(path: Path, state: dict[str, Any], n_records: int) -> None:
    def bad(what: str) -> RunFolderError:
        return RunFolderError(f"{path}: {what}; the run cannot be resumed")

    for key in ("step", "n_evaluations"):
        if not _is_int(state.get(key)) or state[key] < 0:
            raise bad(f"{key!r} must be a non-negative integer, got {state.get(key)!r}")
    for key in ("budget", "seed"):
        if key in state and (not _is_int(state[key]) or state[key] < (1 if key == "budget" else 0)):
            raise bad(f"{key!r} must be an integer, got {state[key]!r}")
    if state.get("status", "running") not in ("running", "done", "exhausted"):
        raise bad(f"'status' must be running, done or exhausted, got {state.get('status')!r}")
    if not isinstance(state.get("method_state", {}), dict):
        raise bad("'method_state' must be an object")
    if state["n_evaluations"] > n_records:
        raise bad(f"it counts {state['n_evaluations']} evaluations but evaluations.json holds {n_records}")


def _check_record(path: Path, index: int, rec: Any, space: Any) -> None:
    def bad(what: str) -> RunFolderError:
        return RunFolderError(f"{path}: record {index + 1} {what}; the run cannot be resumed")

    if not isinstance(rec, dict):
        raise bad(f"must be an object, not {type(rec).__name__}")
    if not _is_int(rec.get("step")) or rec["step"] < 0:
        raise bad(f"has step {rec.get('step')!r} (expected a non-negative integer)")
    arch = rec.get("arch")
    if not isinstance(arch, list) or not all(_is_int(v) for v in arch):
        raise bad(f"has arch {str(arch)[:60]!r} (expected a list of integers)")
    score = rec.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        raise bad(f"has score {score!r} (expected a number)")
    if not isinstance(rec.get("metadata", {}), dict):
        raise bad("has metadata that is not an object")
    try:
        space.make(arch)
    except Exception as exc:  # noqa: BLE001 - any reason the architecture does not fit the space
        raise bad(f"holds an architecture that is not valid in space {space.name!r} ({exc})") from None


def progress_png(scores: Sequence[float], best_so_far: Sequence[float], metric: str, mode: str, title: str) -> bytes:
    """Best score so far (line) and every evaluation (dots) against the number of queries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = list(range(1, len(scores) + 1))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    finite = [(x, s) for x, s in zip(xs, scores, strict=True) if s is not None and math.isfinite(s)]
    if finite:
        ax.scatter(*zip(*finite, strict=True), s=6, alpha=0.35, label="evaluated")
    ax.plot(xs, list(best_so_far), color="C3", label="best so far")
    ax.set_xlabel("queries (distinct architectures evaluated)")
    ax.set_ylabel(f"{metric} ({mode})")
    ax.set_title(title)
    ax.legend(loc="lower right" if mode == "max" else "upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
