"""``nao-tf benchmark controller``: controller training throughput and generation time.

Training throughput in architectures per second over 600 random architectures of the 5-op CNN space
(``nasnet-ws``), batch 100, the authors' NAO-WS sizes (``ControllerConfig.preset("ws")``); then, with that
controller trained, the time to generate 300 new architectures from the top 100 (one or more batched decode
calls). Wall-clock on a shared machine is noisy, so the process CPU time is reported beside it. The authors'
PyTorch controller trains about 800 archs/s and generates in about 250 ms on the reference machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun, Stopwatch
from nao_tf.controller.config import ControllerConfig
from nao_tf.seeding import rng as make_rng

REFERENCE_ARCHS_PER_S = 800
REFERENCE_GENERATION_MS = 250


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
    run = BenchmarkRun("controller", {
        "space": "nasnet-ws", "seed": seed, "archs": archs, "epochs_timed": epochs, "warm_epochs": warm_epochs,
        "repeats": repeats, "new_archs": n_new, "top_k": top_k,
        "controller": {k: getattr(config, k) for k in ("embedding_size", "tokens_per_step", "hidden_size",
                                                       "mlp_layers", "mlp_hidden", "mlp_dropout", "batch_size")}})
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
    with Stopwatch() as sw:
        trainer.fit(pool, targets, epochs=epochs, seed=seed, reset=False)
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
            with Stopwatch() as gsw:
                res = gen.generate(seeds, n_new, is_new=is_new)
            times.append(gsw.wall)
            cpus.append(gsw.cpu)
        assert res is not None
        generation["xla" if jit else "graph"] = {
            "new_archs": len(res.archs), "decode_calls": res.calls, "decoded": res.decoded,
            "max_step_size": max(res.etas) if res.etas else None,
            "ms_median": round(1000 * float(np.median(times)), 2), "ms_min": round(1000 * min(times), 2),
            "cpu_ms_median": round(1000 * float(np.median(cpus)), 2),
        }
    best = min(generation, key=lambda k: generation[k]["ms_median"])
    return run.finish({
        "training": {"archs": len(pool), "epochs_timed": epochs, "archs_per_s": round(trained / sw.wall, 1),
                     "archs_per_cpu_s": round(trained / sw.cpu, 1), "seconds": round(sw.wall, 3),
                     "reference_pytorch_archs_per_s": REFERENCE_ARCHS_PER_S,
                     "speedup_vs_reference": round(trained / sw.wall / REFERENCE_ARCHS_PER_S, 2)},
        "trained_epochs_before_generation": 1 + epochs + warm_epochs,
        "reconstruction_accuracy_train": recon_acc,
        "generation": generation,
        "generation_best_ms": generation[best]["ms_median"],
        "generation_reference_ms": REFERENCE_GENERATION_MS,
        "generation_speedup_vs_reference": round(REFERENCE_GENERATION_MS / generation[best]["ms_median"], 2),
    })
