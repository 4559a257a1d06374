"""``nao-tf benchmark controller-quality``: how well the controller ranks and reconstructs NB201 cells.

Train on 1,000 random NB201 cells (target ``cifar10-val``), then the predictor's pairwise ranking accuracy on
500 held-out cells (the fraction of pairs with different accuracies that it orders correctly) and the
reconstruction accuracy (encode then greedily decode gives back the same cell) on both sets.

Then what the trained controller would propose, the NAO way, next to what regularized evolution's operator
would: from the ``top_k`` best training cells, ``proposals`` new cells by the gradient step and decoding (the
controller's step sizes, smallest first) and as many one-token mutations of the same seeds. For both, the
number of edges changed from the nearest seed (a histogram) and the proposals' percentile of the metric among
all cells of the table; and the percentile of the predictor's own favourites among every table cell it was not
trained on. This is where a search's quality is decided: a step that lands two or three edges away from a good
cell is a long jump in a 6-edge space, where one-edge changes of the best cells are what finds the very best.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun, Stopwatch
from nao_tf.controller.config import ControllerConfig
from nao_tf.seeding import rng as make_rng


def pairwise_accuracy(predicted: Sequence[float], actual: Sequence[float]) -> float:
    """Fraction of pairs (i < j, actual_i != actual_j) ordered the same way by ``predicted``."""
    p = np.asarray(predicted, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    dp = np.sign(p[:, None] - p[None, :])
    da = np.sign(a[:, None] - a[None, :])
    upper = np.triu(np.ones_like(da, dtype=bool), k=1) & (da != 0)
    return float((dp[upper] == da[upper]).mean()) if upper.any() else float("nan")


def controller_quality(table: str, seed: int = 0, n_train: int = 1000, n_test: int = 500,
                       epochs: int | None = None, overrides: dict[str, Any] | None = None,
                       metric: str = "cifar10-val", top_k: int = 10, proposals: int = 30) -> dict[str, Any]:
    """Pairwise ranking accuracy on ``n_test`` held-out NB201 cells after training on ``n_train``, and
    reconstruction accuracy."""
    from nao_tf.controller.training import ControllerTrainer, build_controller
    from nao_tf.search.tabular import load_table
    from nao_tf.seeding import set_global_seed
    from nao_tf.spaces import NB201

    set_global_seed(seed)
    loaded = load_table(table, NB201, (metric,))
    config = ControllerConfig.preset("nb201", **(overrides or {}))
    if epochs is not None:
        config = config.replace(epochs=epochs)
    run = BenchmarkRun("controller-quality", {
        "space": "nb201", "table": str(table), "metric": metric, "seed": seed, "train_archs": n_train,
        "test_archs": n_test, "epochs": config.epochs, "controller": config.to_dict()})
    rng = make_rng(seed, 0)
    idx = rng.permutation(len(loaded.archs))[: n_train + n_test]
    archs = [loaded.archs[i] for i in idx]
    values = loaded.values(metric, archs)
    train, test = archs[:n_train], archs[n_train:]
    controller = build_controller(NB201, config, seed=seed)
    trainer = ControllerTrainer(controller, config)
    with Stopwatch() as sw:
        fit = trainer.fit(train, values[:n_train], seed=seed)
    pred_test = trainer.predict(test)
    pred_train = trainer.predict(train)
    recon_train = trainer.reconstruct(train)
    recon_test = trainer.reconstruct(test)
    proposed = _proposals(trainer, loaded, metric, train, values[:n_train], top_k, proposals, seed)
    return run.finish({
        "train_archs": len(train),
        "test_archs": len(test),
        "pairwise_accuracy_test": round(pairwise_accuracy(pred_test, values[n_train:]), 4),
        "pairwise_accuracy_train": round(pairwise_accuracy(pred_train, values[:n_train]), 4),
        "reconstruction_accuracy_train": float(np.mean([r == a for r, a in zip(recon_train, train, strict=True)])),
        "reconstruction_accuracy_test": float(np.mean([r == a for r, a in zip(recon_test, test, strict=True)])),
        "final_loss": {k: round(fit[k], 5) for k in ("loss", "mse", "ce")},
        "train_seconds": round(sw.wall, 2),
        "proposals": proposed,
    })


def _edges_changed(a: Any, b: Any) -> int:
    return sum(x != y for x, y in zip(a.values, b.values, strict=True))


def _proposals(trainer: Any, table: Any, metric: str, train: list[Any], values: np.ndarray, top_k: int, n: int,
               seed: int) -> dict[str, Any]:
    """Gradient-step proposals against one-token mutations from the same ``top_k`` seeds (module docstring)."""
    from nao_tf.controller.generation import Generator
    from nao_tf.spaces import NB201

    every = np.sort(table.columns[metric][np.isfinite(table.columns[metric])])

    def percentile(archs: list[Any]) -> list[float]:
        v = table.values(metric, archs)
        return [float(np.searchsorted(every, x, side="left") + np.searchsorted(every, x, side="right")) / 2
                / len(every) * 100 for x in v]

    order = np.argsort(-np.asarray(values), kind="stable")[:top_k]
    seeds = [train[i] for i in order]
    known = {NB201.canonical(a) for a in train}

    def is_new(arch: Any) -> bool:
        return NB201.canonical(arch) not in known and arch in table.index

    gen = Generator(trainer.controller, NB201).generate(seeds, n, is_new=is_new)
    rng = make_rng(seed, 1)
    mutants: list[Any] = []
    taken = set(known)
    for _ in range(100 * n):
        if len(mutants) >= n:
            break
        child = NB201.mutate(seeds[int(rng.integers(len(seeds)))], rng)
        if NB201.canonical(child) not in taken and child in table.index:
            taken.add(NB201.canonical(child))
            mutants.append(child)
    unseen = [a for a in table.archs if NB201.canonical(a) not in known]
    favourites = [unseen[i] for i in np.argsort(-trainer.predict(unseen), kind="stable")[:50]]

    def summary(archs: list[Any]) -> dict[str, Any]:
        changed = [min(_edges_changed(a, s) for s in seeds) for a in archs]
        pct = percentile(archs)
        return {"n": len(archs), "edges_changed_histogram": np.bincount(changed, minlength=NB201.length + 1).tolist(),
                "mean_edges_changed": round(float(np.mean(changed)), 2) if archs else None,
                "mean_percentile": round(float(np.mean(pct)), 1) if archs else None,
                "best_percentile": round(float(np.max(pct)), 2) if archs else None}

    return {"seeds": top_k, "seed_mean_percentile": round(float(np.mean(percentile(seeds))), 1),
            "gradient": {**summary(gen.archs), "mean_step_size": round(float(np.mean(gen.etas)), 2) if gen.etas
                         else None},
            "mutation": summary(mutants),
            "predictor_top50_mean_percentile": round(float(np.mean(percentile(favourites))), 1)}
