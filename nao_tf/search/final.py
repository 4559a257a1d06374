"""The final answer of an image search (``ws`` / ``child`` evaluators), written into the run folder.

NAO-WS ranks architectures by one batch of shared-weight accuracy, a noisy proxy, so the ``rerank_top`` best
are trained stand-alone (``WeightSharingEvaluator.rerank``) and the best stand-alone validation accuracy wins.
With the child evaluator every score already is a stand-alone accuracy. Files: ``final.json`` (the winner, how
it was chosen, its accuracy and parameters), ``final_arch.json`` (ready for ``nao-tf train``), ``rounds.png``
(best and mean score per round) and ``best_cell.png`` (when rendering is available).
"""

from __future__ import annotations

import io
import math
from collections import Counter
from pathlib import Path
from typing import Any

from nao_tf.runio import atomic_write_bytes, atomic_write_json

IMAGE_EVALUATORS = ("ws", "child")
FINALISTS = 3  # without re-ranking, the sources of this many best are reported


def sources(records: list[dict[str, Any]], space: Any) -> dict[Any, tuple[str, int]]:
    """Where each evaluated architecture came from: (source, round). Sources are ``random`` (the initial pool),
    ``gradient(...)`` / ``screened(...)`` (NAO's generation), ``mutate`` (hybrids, evolution)."""
    return {space.make(r["arch"]): (str(r.get("source") or "unknown"), int(r["step"])) for r in records}


def finalize(search: Any, evaluator: Any, run_dir: Path, started: float, config: Any) -> dict[str, Any]:
    """Re-rank (NAO-WS), pick the winner, write the final files; returns ``final.json``'s content.

    Besides the winner, ``final.json`` says whether the search beat random picking (``baseline``:
    ``nao_tf.search.baseline``), where the finalists came from (``top_sources``: the random pool or NAO's
    rounds) and what to run next on this machine (``next_steps``: ``nao_tf.search.next_steps``). ``started`` is
    the ``time.perf_counter()`` of the search's start: the wall time covers the rounds and the re-ranking."""
    import time

    from nao_tf.search.baseline import baseline_section
    from nao_tf.search.next_steps import plan_training

    space = search.space
    best = search.best()
    reranked: list[dict[str, Any]] = []
    write_rounds_png(run_dir / "rounds.png", search.records,
                     "shared-weight validation accuracy" if evaluator.name == "ws" else "validation accuracy")
    if evaluator.name == "ws" and evaluator.rerank_top > 0:
        reranked = evaluator.rerank(search.history)
    if reranked:
        winner = space.parse_integers(reranked[0]["integers"])
        standalone = reranked[0]["standalone_accuracy"]
        params = reranked[0]["params"]
        how = (f"best of the top {len(reranked)} by shared-weight accuracy after {evaluator.rerank_epochs} "
               f"epochs of stand-alone training (N={evaluator.rerank_layers}, F={evaluator.rerank_channels})")
    else:
        winner = best.arch
        standalone = best.metadata.get("valid_accuracy", best.score) if evaluator.name == "child" else None
        params = best.metadata.get("params")
        how = "best validation accuracy of its own child training" if evaluator.name == "child" else \
            "best shared-weight accuracy (no re-ranking)"
    atomic_write_json(run_dir / "final_arch.json", space.to_dict(winner))
    try:
        from nao_tf.render import render

        diagram = str(render(winner, run_dir / "best_cell.png", title="best architecture")[0])
    except ImportError:
        diagram = None
    final = {"space": space.name, "integers": space.format(winner, "integers"),
             "readable": space.format(winner, "readable"), "standalone_accuracy": standalone, "params": params,
             "chosen_by": how, "search_score": next((e.score for e in search.history if e.arch == winner), None),
             "reranked": reranked, "queries": len(search.history), "rounds": search.step,
             "status": search.status, "diagram": diagram,
             "wall_seconds": round(time.perf_counter() - started, 1)}
    finalists = [space.parse_integers(r["integers"]) for r in reranked] or \
        [e.arch for e in sorted(search.history, key=lambda e: -e.score)[:FINALISTS]]
    origins = sources(search.records, space)
    final["top_sources"] = dict(Counter(origins.get(a, ("unknown", None))[0].split("(")[0] for a in finalists))
    source, step = origins.get(winner, ("unknown", None))
    final["winner_source"] = {"source": source, "round": step}
    final["baseline"] = baseline_section(config, standalone)
    final["next_steps"] = plan_training(config, final, search, evaluator, run_dir)
    atomic_write_json(run_dir / "final.json", final)
    return final


def write_rounds_png(path: Path, records: list[dict[str, Any]], ylabel: str = "validation accuracy") -> None:
    """Best and pool-mean validation score per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted({int(r["step"]) for r in records})
    means, bests, best = [], [], -math.inf
    for st in steps:
        scores = [float(r["score"]) for r in records if int(r["step"]) == st and math.isfinite(float(r["score"]))]
        means.append(sum(scores) / len(scores) if scores else float("nan"))
        best = max([best, *scores])
        bests.append(best)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(steps, bests, "o-", color="C3", label="best so far")
    ax.plot(steps, means, "s--", color="C0", label="round mean")
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    ax.set_title("NAO search: validation score per round")
    ax.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
