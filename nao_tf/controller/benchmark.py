"""Controller benchmarks: ``nao-tf benchmark controller`` (speed) and ``controller-quality`` (NB201 ranking).

Speed: training throughput in architectures per second over 600 random architectures of the 5-op CNN space
(``nasnet-ws``), batch 100, the authors' NAO-WS sizes (``ControllerConfig.preset("ws")``); then, with that
controller trained, the time to generate 300 new architectures from the top 100 (one or more batched decode
calls). Wall-clock on a shared machine is noisy, so the process CPU time is reported beside it.

Quality: train on 1,000 random NB201 cells (target ``cifar10-val``), then the predictor's pairwise ranking
accuracy on 500 held-out cells (the fraction of pairs with different accuracies that it orders correctly)
and the reconstruction accuracy (encode then greedily decode gives back the same cell) on both sets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

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


def _timer() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    return time.perf_counter() - start[0], time.process_time() - start[1]


def controller_speed(seed: int = 0, archs: int = 600, epochs: int = 20, warm_epochs: int = 100,
                     repeats: int = 5, n_new: int = 300, top_k: int = 100,
                     overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Training archs/s (``epochs`` timed after one untimed epoch), then ``warm_epochs`` more untimed epochs
    so the controller is trained, then generation of ``n_new`` from the ``top_k`` best (median of
    ``repeats``, XLA on and off)."""
    from nao_tf.controller.generation import Generator
    from nao_tf.controller.training import ControllerTrainer, build_controller
    from nao_tf.seeding import set_global_seed
    from nao_tf.spaces import NASNET_WS

    set_global_seed(seed)
    config = ControllerConfig.preset("ws", **(overrides or {}))
    controller = build_controller(NASNET_WS, config, seed=seed)
    trainer = ControllerTrainer(controller, config)
    rng = make_rng(seed, 0)
    pool: list = []
    seen = set()
    while len(pool) < archs:
        for a in NASNET_WS.sample(rng, archs):
            if NASNET_WS.canonical(a) not in seen and len(pool) < archs:
                seen.add(NASNET_WS.canonical(a))
                pool.append(a)
    # a smooth synthetic target (so that the predictor has a gradient to follow): share of separable convs
    targets = [sum(1 for v in a.values[1::2] if v in (0, 1)) / 20.0 + 0.05 * rng.random() for a in pool]
    trainer.fit(pool, targets, epochs=1, seed=seed)  # traces the step
    start = _timer()
    trainer.fit(pool, targets, epochs=epochs, seed=seed, reset=False)
    wall, cpu = _since(start)
    trained = epochs * len(pool)
    trainer.fit(pool, targets, epochs=warm_epochs, seed=seed, reset=False)
    recon = trainer.reconstruct(pool[:200])
    recon_acc = float(np.mean([r == a for r, a in zip(recon, pool[:200], strict=True)]))
    order = np.argsort(-np.asarray(targets), kind="stable")[:top_k]
    seeds = [pool[i] for i in order]

    def is_new(arch: Any) -> bool:
        return NASNET_WS.canonical(arch) not in seen

    generation: dict[str, Any] = {}
    for jit in (False, True):
        gen = Generator(controller, NASNET_WS, jit_compile=jit)
        gen.generate(seeds, n_new, is_new=is_new)  # traces / compiles
        times, cpus, res = [], [], None
        for _ in range(repeats):
            start = _timer()
            res = gen.generate(seeds, n_new, is_new=is_new)
            w, c = _since(start)
            times.append(w)
            cpus.append(c)
        assert res is not None
        generation["xla" if jit else "graph"] = {
            "new_archs": len(res.archs), "decode_calls": res.calls, "decoded": res.decoded,
            "max_step_size": max(res.etas) if res.etas else None,
            "ms_median": round(1000 * float(np.median(times)), 2), "ms_min": round(1000 * min(times), 2),
            "cpu_ms_median": round(1000 * float(np.median(cpus)), 2),
        }
    best = min(generation, key=lambda k: generation[k]["ms_median"])
    return {
        "benchmark": "controller",
        "space": "nasnet-ws",
        "config": {k: getattr(config, k) for k in ("embedding_size", "tokens_per_step", "hidden_size",
                                                   "mlp_layers", "mlp_hidden", "mlp_dropout", "batch_size")},
        "training": {"archs": len(pool), "epochs_timed": epochs, "archs_per_s": round(trained / wall, 1),
                     "archs_per_cpu_s": round(trained / cpu, 1), "seconds": round(wall, 3),
                     "reference_pytorch_archs_per_s": 800, "speedup_vs_reference": round(trained / wall / 800, 2)},
        "trained_epochs_before_generation": 1 + epochs + warm_epochs,
        "reconstruction_accuracy_train": recon_acc,
        "generation": generation,
        "generation_best_ms": generation[best]["ms_median"],
        "generation_reference_ms": 250,
        "generation_speedup_vs_reference": round(250 / generation[best]["ms_median"], 2),
        "load_average": _loadavg(),
    }


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
    table = load_table(table, NB201, (metric,))
    config = ControllerConfig.preset("nb201", **(overrides or {}))
    if epochs is not None:
        config = config.replace(epochs=epochs)
    rng = make_rng(seed, 0)
    idx = rng.permutation(len(table.archs))[: n_train + n_test]
    archs = [table.archs[i] for i in idx]
    values = table.values(metric, archs)
    train, test = archs[:n_train], archs[n_train:]
    controller = build_controller(NB201, config, seed=seed)
    trainer = ControllerTrainer(controller, config)
    start = _timer()
    fit = trainer.fit(train, values[:n_train], seed=seed)
    wall, _ = _since(start)
    pred_test = trainer.predict(test)
    pred_train = trainer.predict(train)
    recon_train = trainer.reconstruct(train)
    recon_test = trainer.reconstruct(test)
    return {
        "benchmark": "controller-quality",
        "space": "nb201",
        "metric": metric,
        "train_archs": len(train),
        "test_archs": len(test),
        "epochs": config.epochs,
        "config": config.to_dict(),
        "pairwise_accuracy_test": round(pairwise_accuracy(pred_test, values[n_train:]), 4),
        "pairwise_accuracy_train": round(pairwise_accuracy(pred_train, values[:n_train]), 4),
        "reconstruction_accuracy_train": float(np.mean([r == a for r, a in zip(recon_train, train, strict=True)])),
        "reconstruction_accuracy_test": float(np.mean([r == a for r, a in zip(recon_test, test, strict=True)])),
        "final_loss": {k: round(fit[k], 5) for k in ("loss", "mse", "ce")},
        "train_seconds": round(wall, 2),
    }


def _loadavg() -> list[float] | None:
    try:
        import os

        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
