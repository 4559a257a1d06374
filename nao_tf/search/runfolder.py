"""Run folders of ``nao-tf search``.

Files (each written atomically with ``nao_tf.runio``; the folder is created only when the first step has been
evaluated, so a search that fails on bad input leaves nothing behind)::

    config.json        space, budget, seed, method settings, evaluator settings, nao-tf version
    evaluations.json   every evaluated architecture in evaluation order: query, step, source, arch, score,
                       metadata, readable form
    state.json         step, number of evaluations, status, method state (what --resume needs)
    best.json          the best architecture (by the search metric) with the evaluator's report
    controller.keras   the last trained NAO controller (NAO only)
    progress.png       best score vs queries (and every evaluation)

Writing order: evaluations, then state. If a process dies between the two, ``--resume`` re-proposes the
step (deterministically the same architectures) and takes their scores from ``evaluations.json``.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nao_tf.errors import RunFolderError
from nao_tf.runio import atomic_write_bytes, atomic_write_json, read_json

if TYPE_CHECKING:
    from nao_tf.search.loop import Search

FILES = ("config.json", "evaluations.json", "state.json", "best.json", "progress.png", "controller.keras")


class RunFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return (self.path / "config.json").is_file()

    def check_new(self) -> None:
        """Refuse to start a new search in a folder that holds one (or anything else)."""
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise RunFolderError(
                f"run folder {str(self.path)!r} already exists and is not empty; continue it with --resume "
                f"{self.path} or choose another --out"
            )

    def save(self, search: Search, plot: bool = True) -> None:
        from nao_tf import __version__

        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / "config.json").is_file():
            atomic_write_json(self.path / "config.json", {**search.config(), "nao_tf_version": __version__})
        search.evaluator.save_state(self.path)
        search.method.save_artifacts(self.path)
        atomic_write_json(self.path / "evaluations.json", search.records)
        atomic_write_json(self.path / "state.json", search.state())
        best = search.best()
        if best is not None:
            atomic_write_json(self.path / "best.json", {
                "space": search.space.name,
                "architecture": search.space.to_dict(best.arch),
                "score": best.score,
                "metric_mode": search.evaluator.mode,
                "metadata": best.metadata,
                "query": search.best_index_so_far()[-1] + 1,
                "queries": len(search.history),
                "status": search.status,
                "report": search.evaluator.report(best),
            })
        if plot:
            atomic_write_bytes(self.path / "progress.png", progress_png(search))

    def load(self) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
        """(config, evaluation records, state or None); one-line errors for a missing or broken folder."""
        if not self.path.is_dir():
            raise RunFolderError(f"run folder {str(self.path)!r} does not exist; nothing to resume")
        config = self._read("config.json", required=True)
        records = self._read("evaluations.json", required=False) or []
        state = self._read("state.json", required=False)
        if not isinstance(config, dict) or not isinstance(records, list):
            raise RunFolderError(f"run folder {str(self.path)!r} is not a nao-tf search run")
        for key in ("space", "budget", "seed", "method", "evaluator"):
            if key not in config:
                raise RunFolderError(f"run folder {str(self.path)!r}: config.json lacks {key!r}; not a search run")
        return config, records, state

    def _read(self, name: str, required: bool) -> Any:
        path = self.path / name
        if not path.is_file():
            if required:
                raise RunFolderError(f"run folder {str(self.path)!r} has no {name}; not a nao-tf search run")
            return None
        try:
            return read_json(path)
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"cannot read {str(path)!r}: {exc}") from None


def progress_png(search: Search) -> bytes:
    """Best score so far (line) and every evaluation (dots) against the number of queries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [e.score for e in search.history]
    xs = list(range(1, len(scores) + 1))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    finite = [(x, s) for x, s in zip(xs, scores, strict=True) if s is not None and math.isfinite(s)]
    if finite:
        ax.scatter(*zip(*finite, strict=True), s=6, alpha=0.35, label="evaluated")
    ax.plot(xs, search.best_so_far(), color="C3", label="best so far")
    metric = search.evaluator.config().get("metric", "score")
    ax.set_xlabel("queries (distinct architectures evaluated)")
    ax.set_ylabel(f"{metric} ({search.evaluator.mode})")
    ax.set_title(f"{search.method.name} on {search.space.name}, seed {search.seed}")
    ax.legend(loc="lower right" if search.evaluator.mode == "max" else "upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
