"""``nao-tf benchmark controller``: controller training throughput and generation time.

Training throughput in architectures per second over 600 random architectures of the 5-op CNN space
(``nasnet-ws``), batch 100, the authors' NAO-WS sizes (``ControllerConfig.preset("ws")``), for this trainer and
for the previous one (``BASELINE``: one compiled call per batch, LSTMs unrolled op by op), measured in
alternation so that both see the same machine load: on a shared machine the ratio is the number to read.
Then, with the controller trained until it reconstructs its inputs (the authors' generation time is for a
trained controller, which needs larger step sizes to leave its seeds), the time to generate 300 new
architectures from the top 100 (one or more batched decode calls). The process CPU time is reported beside
wall time. The authors' PyTorch controller trains 806 archs/s and generates in about 250 ms on the
project's 2-core reference machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun, Stopwatch
from nao_tf.controller.config import ControllerConfig
from nao_tf.seeding import rng as make_rng

REFERENCE_ARCHS_PER_S = 806
REFERENCE_GENERATION_MS = 250
BASELINE = {"steps_per_call": 1, "fused_lstm": False}
"""The previous trainer's execution, kept as settings so that every report measures old and new side by side."""


def controller_speed(seed: int = 0, archs: int = 600, epochs: int = 5, rounds: int = 3, warm_epochs: int = 300,
                     repeats: int = 5, n_new: int = 300, top_k: int = 100,
                     overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Training archs/s of this trainer and of ``BASELINE`` in alternation (``rounds`` x ``epochs`` each,
    after one untimed epoch), then ``warm_epochs`` more epochs so that the controller reconstructs its
    inputs, then generation of ``n_new`` from the ``top_k`` best (median of ``repeats``, XLA on and off)."""
    from nao_tf.controller.training import ControllerTrainer, build_controller
    from nao_tf.seeding import set_global_seed
    from nao_tf.spaces import NASNET_WS

    set_global_seed(seed)
    config = ControllerConfig.preset("ws", **(overrides or {}))
    keys = ("embedding_size", "tokens_per_step", "hidden_size", "mlp_layers", "mlp_hidden", "mlp_dropout",
            "batch_size", "steps_per_call", "fused_lstm")
    run = BenchmarkRun("controller", {
        "space": "nasnet-ws", "seed": seed, "archs": archs, "epochs_per_round": epochs, "rounds": rounds,
        "warm_epochs": warm_epochs, "repeats": repeats, "new_archs": n_new, "top_k": top_k,
        "controller": {k: getattr(config, k) for k in keys}, "baseline": BASELINE})
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
    trainers = {}
    for name, cfg in (("new", config), ("baseline", config.replace(**BASELINE))):
        trainers[name] = ControllerTrainer(build_controller(NASNET_WS, cfg, seed=seed), cfg)
        trainers[name].fit(pool, targets, epochs=1, seed=seed)  # traces the step
    wall: dict[str, list[float]] = {name: [] for name in trainers}
    cpu: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(rounds):
        for name, trainer in trainers.items():
            with Stopwatch() as sw:
                trainer.fit(pool, targets, epochs=epochs, seed=seed, reset=False)
            wall[name].append(epochs * len(pool) / sw.wall)
            cpu[name].append(epochs * len(pool) / sw.cpu)
    ratios = [n / b for n, b in zip(wall["new"], wall["baseline"], strict=True)]
    trainer = trainers["new"]
    trainer.fit(pool, targets, epochs=warm_epochs, seed=seed, reset=False)
    recon = trainer.reconstruct(pool[:200])
    recon_acc = float(np.mean([r == a for r, a in zip(recon, pool[:200], strict=True)]))
    order = np.argsort(-np.asarray(targets), kind="stable")[:top_k]
    generation = _generation(trainer.controller, [pool[i] for i in order], seen, n_new, repeats)
    best = min(generation, key=lambda k: generation[k]["ms_median"])
    rate = float(np.median(wall["new"]))
    return run.finish({
        "parameters": int(trainer.controller.count_params()),
        "training": {
            "archs": len(pool), "archs_per_s": round(rate, 1),
            "archs_per_cpu_s": round(float(np.median(cpu["new"])), 1),
            "baseline_archs_per_s": round(float(np.median(wall["baseline"])), 1),
            "baseline_archs_per_cpu_s": round(float(np.median(cpu["baseline"])), 1),
            "speedup_vs_baseline": round(float(np.median(ratios)), 2),
            "speedup_vs_baseline_per_round": [round(r, 2) for r in ratios],
            "reference_pytorch_archs_per_s": REFERENCE_ARCHS_PER_S,
            "speedup_vs_reference": round(rate / REFERENCE_ARCHS_PER_S, 2)},
        "trained_epochs_before_generation": 1 + rounds * epochs + warm_epochs,
        "reconstruction_accuracy_train": recon_acc,
        "generation": generation,
        "generation_best_ms": generation[best]["ms_median"],
        "generation_reference_ms": REFERENCE_GENERATION_MS,
        "generation_speedup_vs_reference": round(REFERENCE_GENERATION_MS / generation[best]["ms_median"], 2),
    })


def _generation(controller: Any, seeds: list, seen: set, n_new: int, repeats: int) -> dict[str, Any]:
    """Median time of ``n_new`` new architectures from ``seeds``, compiled as a graph and with XLA."""
    from nao_tf.controller.generation import Generator
    from nao_tf.spaces import NASNET_WS

    def is_new(arch: Any) -> bool:
        return NASNET_WS.canonical(arch) not in seen

    out: dict[str, Any] = {}
    for jit in (False, True):
        gen = Generator(controller, NASNET_WS, jit_compile=jit)
        gen.generate(seeds, n_new, is_new=is_new)  # traces / compiles
        times, cpus, res = [], [], None
        for _ in range(repeats):
            with Stopwatch() as sw:
                res = gen.generate(seeds, n_new, is_new=is_new)
            times.append(sw.wall)
            cpus.append(sw.cpu)
        assert res is not None
        out["xla" if jit else "graph"] = {
            "new_archs": len(res.archs), "decode_calls": res.calls, "decoded": res.decoded,
            "max_step_size": max(res.etas) if res.etas else None,
            "ms_median": round(1000 * float(np.median(times)), 2), "ms_min": round(1000 * min(times), 2),
            "cpu_ms_median": round(1000 * float(np.median(cpus)), 2),
        }
    return out
