"""``nao-tf benchmark controller-quality``: how well the controller ranks and reconstructs NB201 cells.

Train on 1,000 random NB201 cells (target ``cifar10-val``), then the predictor's pairwise ranking accuracy on
500 held-out cells (the fraction of pairs with different accuracies that it orders correctly) and the
reconstruction accuracy (encode then greedily decode gives back the same cell) on both sets.
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
                       metric: str = "cifar10-val") -> dict[str, Any]:
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
    return run.finish({
        "train_archs": len(train),
        "test_archs": len(test),
        "pairwise_accuracy_test": round(pairwise_accuracy(pred_test, values[n_train:]), 4),
        "pairwise_accuracy_train": round(pairwise_accuracy(pred_train, values[:n_train]), 4),
        "reconstruction_accuracy_train": float(np.mean([r == a for r, a in zip(recon_train, train, strict=True)])),
        "reconstruction_accuracy_test": float(np.mean([r == a for r, a in zip(recon_test, test, strict=True)])),
        "final_loss": {k: round(fit[k], 5) for k in ("loss", "mse", "ce")},
        "train_seconds": round(sw.wall, 2),
    })
