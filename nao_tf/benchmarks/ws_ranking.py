"""``nao-tf benchmark ws-ranking``: does the NAO-WS supernet rank architectures like stand-alone training does?

The search trusts the shared-weight score to order architectures; this benchmark measures that trust. For one
search preset (its data, supernet size and budget, and its re-ranking recipe) it

1. draws ``archs`` architectures uniformly at random (within the preset's parameter budget);
2. trains each stand-alone with the preset's re-ranking recipe (the ground truth; results are cached in a JSON
   file keyed by the recipe, so a later run, or a run with more architectures, trains only what is new);
3. trains a supernet exactly as the preset's search would (same steps, same rounds; the architectures NAO would
   propose are stood in for by random ones) and scores the same architectures with the shared weights;
4. reports Kendall tau, Spearman rho and top-k overlap between the two orders, and the distribution of
   stand-alone accuracy of random architectures (the baseline a search winner must beat).

Overrides (``settings``) let one measure one supernet lever at a time against the same cached ground truth.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun, Stopwatch
from nao_tf.errors import ConfigError
from nao_tf.runio import atomic_write_bytes, atomic_write_json
from nao_tf.search.baseline import (  # the cache and its recipe live with the search that reads them
    StandaloneCache,
    distribution,
    percentile_of,
    search_recipe,
)
from nao_tf.search.config import STANDALONE_CACHE

ARCH_STREAM = 9301  # random architectures scored by the benchmark
STANDIN_STREAM = 9302  # random architectures standing in for NAO's proposals while the supernet trains


def preset_settings(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of an image search with ``preset`` (plus ``overrides``, keyed by the long flag names of
    ``nao-tf search``), resolved by the search's own configuration tree, as flat values; ``recipe`` is the
    stand-alone recipe as the search itself reads it (``search_recipe``), ``config`` the whole tree."""
    from nao_tf.search.config import flag_specs, resolve

    names = {s.flag.lstrip("-").replace("-", "_") for s in flag_specs()}
    unknown = sorted(set(overrides or {}) - names)
    if unknown:
        raise ConfigError(f"unknown search setting {unknown[0]!r}; valid keys: {', '.join(sorted(names))}")
    config = resolve(preset=preset, overrides={f"--{k.replace('_', '-')}": v for k, v in (overrides or {}).items()})
    if config.evaluator.kind != "ws":
        raise ConfigError(f"preset {preset!r} does not search with weight sharing (evaluator "
                          f"{config.evaluator.kind!r}); ws-ranking needs a ws preset")
    ev, nao = config.evaluator, config.method.nao
    return {"preset": preset, "evaluator": "ws", "space": config.space, "seed": config.seed,
            "dataset": config.data.dataset, "data_dir": config.data.data_dir, "budget": config.budget,
            "initial_pool": nao.initial_pool, "per_round": nao.per_round, "layers": ev.layers,
            "channels": ev.channels, "max_params": ev.max_params, "recipe": search_recipe(config),
            "config": config.to_json()}


def random_architectures(settings: dict[str, Any], count: int, seed: int, stream: int,
                         allowed: Callable[[Any], Any] | None = None) -> list[Any]:
    """``count`` distinct uniformly random ``nasnet-ws`` architectures allowed by the parameter budget."""
    from nao_tf.seeding import rng
    from nao_tf.spaces import get_space

    space = get_space(settings.get("space") or "nasnet-ws")
    gen = rng(seed, stream)
    out: list[Any] = []
    seen: set[Any] = set()
    for _ in range(1000 * max(1, count)):
        if len(out) == count:
            break
        arch = space.sample(gen, 1)[0]
        if arch in seen or (allowed is not None and allowed(arch) is not True):
            continue
        seen.add(arch)
        out.append(arch)
    if len(out) < count:
        raise ConfigError(f"only {len(out)} of {count} random architectures fit --max-params; raise it")
    return out


def train_standalone(archs: list[Any], settings: dict[str, Any], cache: StandaloneCache, train_seed: int,
                     progress: Callable[[str], Any] | None = None) -> dict[str, dict[str, Any]]:
    """Stand-alone validation accuracy of every architecture (cached ones are not trained again)."""
    from nao_tf.children.train_cnn import train_child
    from nao_tf.data.images import load_images

    rec = settings["recipe"]
    done = cache.results(rec, train_seed)
    todo = [a for a in archs if a.integers not in done]
    data = load_images(settings["dataset"], settings.get("data_dir")) if todo else None
    for i, arch in enumerate(todo):
        out = train_child(arch, data, epochs=int(rec["rerank_epochs"]), layers=int(rec["rerank_layers"]),
                          channels=int(rec["rerank_channels"]), batch_size=int(rec["batch_size"]),
                          lr=float(rec["ws_lr"]), drop_path_keep=1.0, aux_head=False, cutout=0,
                          valid_size=int(rec["valid_size"]), seed=int(train_seed),
                          steps_per_epoch=rec["child_steps"])
        done[arch.integers] = {"standalone_accuracy": float(out["valid_accuracy"]), "params": int(out["params"]),
                               "seconds": float(out["seconds"])}
        cache.save()
        if progress is not None:
            progress(f"stand-alone {i + 1}/{len(todo)}: {out['valid_accuracy']:.4f} in {out['seconds']:.0f} s")
    return {a.integers: done[a.integers] for a in archs}


def shared_scores(archs: list[Any], settings: dict[str, Any], seed: int,
                  progress: Callable[[str], Any] | None = None) -> tuple[list[float], dict[str, Any]]:
    """Train a supernet as the preset's search would (random stand-ins for NAO's proposals), then score."""
    from nao_tf.search.config import SearchConfig
    from nao_tf.search.registry import build_evaluator

    config = SearchConfig.model_validate(settings["config"])
    evaluator = build_evaluator(config)
    rounds = config.planned_rounds()
    first, per = int(settings["initial_pool"]), int(settings["per_round"])
    standins = random_architectures(settings, first + per * (rounds - 1), seed, STANDIN_STREAM,
                                    evaluator.allowed)
    watch = Stopwatch()
    start = 0
    for r in range(rounds):
        batch = standins[start:start + (first if r == 0 else per)]
        start += len(batch)
        evaluator.begin_round(r, batch)
        evaluator.evaluate(batch)
        if progress is not None:
            progress(f"supernet round {r + 1}/{rounds}: {evaluator.total_steps} steps, loss "
                     f"{evaluator.last_loss:.3f}")
    train = watch.stop()
    train_s, train_cpu = train.wall, train.cpu
    with Stopwatch() as scoring:
        scores = [e.score for e in evaluator.evaluate(archs)]
    info = {"supernet_steps": evaluator.total_steps, "rounds": rounds, "train_seconds": round(train_s, 1),
            "train_cpu_seconds": round(train_cpu, 1),
            "score_seconds_per_arch": round(scoring.wall / max(1, len(archs)), 3),
            "final_loss": round(float(evaluator.last_loss), 4)}
    return scores, info


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), as Spearman's rho needs."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for v in np.unique(values):
        tie = values == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def kendall_tau(a: Any, b: Any) -> float:
    """Kendall's tau-b (tie-corrected) between two score lists."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    s = float((da * db)[iu].sum())
    na, nb = float((da[iu] != 0).sum()), float((db[iu] != 0).sum())
    return s / float(np.sqrt(na * nb)) if na and nb else 0.0


def spearman_rho(a: Any, b: Any) -> float:
    ra, rb = _ranks(np.asarray(a, np.float64)), _ranks(np.asarray(b, np.float64))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def top_k_overlap(a: Any, b: Any, k: int) -> float:
    """Share of the ``k`` best by ``a`` that are also among the ``k`` best by ``b``."""
    k = max(1, min(int(k), len(a)))
    top_a = set(np.argsort(-np.asarray(a), kind="mergesort")[:k].tolist())
    top_b = set(np.argsort(-np.asarray(b), kind="mergesort")[:k].tolist())
    return len(top_a & top_b) / k


def plot(result: dict[str, Any], path: Path) -> Path:
    """Shared-weight score against stand-alone accuracy, one dot per architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["results"]["architectures"]
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.scatter([r["standalone_accuracy"] for r in rows], [r["shared_accuracy"] for r in rows], s=18)
    ax.set_xlabel("stand-alone validation accuracy")
    ax.set_ylabel("shared-weight validation accuracy")
    m = result["results"]["ranking"]
    ax.set_title(f"{result['settings']['preset']}: Kendall tau {m['kendall_tau']:.2f}, "
                 f"Spearman {m['spearman_rho']:.2f} (K={len(rows)})", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def run_ws_ranking(preset: str = "default", archs: int = 24, top_k: int = 5, seed: int = 0,
                   train_seed: int | None = None, cache: str | os.PathLike = STANDALONE_CACHE,
                   overrides: dict[str, Any] | None = None, out_dir: str | os.PathLike | None = None,
                   standalone_only: bool = False,
                   progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """The whole benchmark (see the module docstring); returns the JSON-ready result.

    ``seed`` draws the architectures and seeds the supernet; ``train_seed`` (default: the preset's search seed,
    as the re-ranking uses) seeds stand-alone training. ``standalone_only`` fills the cache and reports the
    random distribution without training a supernet.
    """
    if int(archs) < 2:
        raise ConfigError(f"--archs must be >= 2 to rank anything, got {archs}")
    settings = preset_settings(preset, {**(overrides or {}), "seed": int(seed)})
    train_seed = int(settings["seed"] if train_seed is None else train_seed)
    from nao_tf.data.images import load_images
    from nao_tf.search.weight_sharing import ParamBudget

    rec = settings["recipe"]
    run = BenchmarkRun("ws-ranking", {
        "preset": preset, "archs": int(archs), "top_k": int(top_k), "seed": int(seed), "train_seed": train_seed,
        "overrides": dict(overrides or {}), "standalone_recipe": rec, "cache": str(Path(cache))})
    data = load_images(settings["dataset"], settings.get("data_dir"))
    budget = ParamBudget(settings.get("max_params"), rec["rerank_layers"], rec["rerank_channels"],
                         int(data.num_classes), int(data.x_train.shape[-1]))
    sample = random_architectures(settings, int(archs), seed, ARCH_STREAM, budget.allowed)
    store = StandaloneCache(cache)
    with Stopwatch() as standalone_time:
        truth = train_standalone(sample, settings, store, train_seed, progress)
    acc = [truth[a.integers]["standalone_accuracy"] for a in sample]
    results: dict[str, Any] = {
        "random_standalone": distribution(acc),
        "standalone_trained_now": {"wall_s": round(standalone_time.wall, 1),
                                   "cpu_s": round(standalone_time.cpu, 1)},
    }
    rows = [{"integers": a.integers, **truth[a.integers]} for a in sample]
    if not standalone_only:
        shared, info = shared_scores(sample, settings, seed, progress)
        for row, s in zip(rows, shared, strict=True):
            row["shared_accuracy"] = float(s)
        results["supernet"] = info
        results["ranking"] = {"kendall_tau": round(kendall_tau(acc, shared), 4),
                              "spearman_rho": round(spearman_rho(acc, shared), 4), "top_k": int(top_k),
                              "top_k_overlap": round(top_k_overlap(acc, shared, top_k), 4),
                              "shared_mean": round(float(np.mean(shared)), 4),
                              "best_by_shared_standalone_percentile": percentile_of(
                                  acc[int(np.argmax(shared))], acc)}
        results["targets"] = {"kendall_tau_min": 0.5}
    results["architectures"] = rows
    result = run.finish(results)
    if out_dir is not None:
        out = Path(out_dir)
        if not standalone_only:
            results["plot"] = str(plot(result, out / "ws-ranking.png"))
        atomic_write_json(out / "ws-ranking.json", result)
    return result
