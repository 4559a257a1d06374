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
    the ``time.perf_counter()`` of the search's start: the wall time covers the rounds and the re-ranking.
    ``search_vs_random`` (``rounds_section``) compares the proposals' scores with the random draws'."""
    import time

    from nao_tf.search.baseline import baseline_section
    from nao_tf.search.next_steps import plan_training

    space = search.space
    best = search.best()
    reranked: list[dict[str, Any]] = []
    final_scores = None
    if evaluator.name == "ws":
        final_scores = evaluator.final_scores([e.arch for e in search.history])  # one per record, same order
    rounds = rounds_section(search.records, final_scores)
    write_rounds_png(run_dir / "rounds.png", rounds["rounds"],
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
    final["search_vs_random"] = rounds
    final["baseline"] = baseline_section(config, standalone)
    final["next_steps"] = plan_training(config, final, search, evaluator, run_dir)
    atomic_write_json(run_dir / "final.json", final)
    return final


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return round(sum(finite) / len(finite), 4) if finite else None


def _best(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return round(max(finite), 4) if finite else None


def rounds_section(records: list[dict[str, Any]], final_scores: list[float] | None = None,
                   top: int = 10) -> dict[str, Any]:
    """Did the search's proposals score better than random draws (the initial pool and any random top-up)?
    Mean score per round, and of the random draws against the method's own proposals.

    ``final_scores`` (NAO-WS; one per record) are the accuracies under the final supernet. The recorded scores
    come from a supernet that trained more before each later round, which alone lifts later rounds, so with
    ``final_scores`` the comparison uses them: the same weights for every architecture. ``top_from_search``
    counts the search's proposals among the ``top`` best, next to what drawing them at random would give."""
    compared = final_scores if final_scores is not None else [float(r["score"]) for r in records]
    is_random = [str(r.get("source")) == "random" for r in records]
    rounds = []
    for step in sorted({int(r["step"]) for r in records}):
        idx = [i for i, r in enumerate(records) if int(r["step"]) == step]
        recorded = [float(records[i]["score"]) for i in idx]
        row = {"round": step, "queries": len(idx), "random": sum(is_random[i] for i in idx),
               "recorded_mean": _mean(recorded), "recorded_best": _best(recorded)}
        if final_scores is not None:
            row["final_mean"] = _mean([final_scores[i] for i in idx])
        rounds.append(row)
    random_mean = _mean([v for v, rnd in zip(compared, is_random, strict=True) if rnd])
    search_mean = _mean([v for v, rnd in zip(compared, is_random, strict=True) if not rnd])
    order = sorted(range(len(records)), key=lambda i: -compared[i] if math.isfinite(compared[i]) else math.inf)
    top = min(top, len(records))
    proposals = len(records) - sum(is_random)
    return {"scored_by": "final supernet" if final_scores is not None else "recorded score",
            "rounds": rounds, "random_mean": random_mean, "proposals_mean": search_mean,
            "proposals_beat_random": None if random_mean is None or search_mean is None
            else search_mean > random_mean,
            "top": top, "top_from_search": sum(not is_random[i] for i in order[:top]),
            "top_from_search_by_chance": round(top * proposals / len(records), 1) if records else None}


def write_rounds_png(path: Path, rounds: list[dict[str, Any]], ylabel: str = "validation accuracy") -> None:
    """Best so far and mean recorded score per round (``rounds_section``'s rows) and, when the rows have them
    (NAO-WS), each round's mean under the final supernet: the curve that compares rounds on the same weights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def curve(key: str) -> list[float]:
        return [math.nan if r.get(key) is None else float(r[key]) for r in rounds]

    steps, means = [r["round"] for r in rounds], curve("recorded_mean")
    bests, best = [], -math.inf
    for value in curve("recorded_best"):
        best = max(best, value) if math.isfinite(value) else best
        bests.append(best if math.isfinite(best) else math.nan)
    final_means = curve("final_mean") if any("final_mean" in r for r in rounds) else None
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(steps, bests, "o-", color="C3", label="best so far")
    ax.plot(steps, means, "s--", color="C0", label="round mean")
    if final_means is not None:
        ax.plot(steps, final_means, "d-.", color="C2",
                label="round mean, final supernet")
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    ax.set_title("NAO search: validation score per round")
    ax.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
