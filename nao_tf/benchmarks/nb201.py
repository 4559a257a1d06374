"""``nao-tf benchmark nb201``: NAO vs regularized evolution vs random search on a NAS-Bench-201 table.

Protocol (the table's README): every method searches on ``cifar10-val`` only, one query per distinct
architecture; after Q queries it returns the architecture with the best validation accuracy seen so far, and
we report that architecture's ``cifar10-test`` and its regret against the best test accuracy in the table, as
mean and standard error over seeds. Every method runs once per seed with the largest budget; the result at a
smaller budget Q is the state of the same run after its first Q queries (all three methods are anytime: their
behaviour up to query Q does not depend on the final budget).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun
from nao_tf.errors import ConfigError
from nao_tf.runio import atomic_write_bytes, atomic_write_json


def _stats(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    sem = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else float("nan")
    return {"mean": round(float(arr.mean()), 4), "sem": round(sem, 4)}


def nb201_benchmark(table: str, methods: Sequence[str] = ("nao", "re", "rs"), budgets: Sequence[int] = (100, 300),
                    seeds: int = 30, first_seed: int = 0, out_dir: str | Path | None = None,
                    nao_settings: dict[str, Any] | None = None, population: int = 10, sample_size: int = 3,
                    metric: str = "cifar10-val", report_metric: str = "cifar10-test",
                    progress: Any = None, workers: int = 1) -> dict[str, Any]:
    """Run every method for ``seeds`` seeds up to ``max(budgets)`` queries; returns the JSON summary and writes
    it as ``summary.json``, with ``curves.json`` and ``nb201_benchmark.png`` (best test accuracy vs queries,
    mean and standard error), into ``out_dir`` if given. ``progress(line)`` is called after each seed.
    ``workers`` > 1 runs seeds in that many processes (same results: every search is a function of its seed
    only)."""
    from nao_tf.search.config import METHOD_NAMES as METHODS
    from nao_tf.search.config import resolve
    from nao_tf.search.tabular import TableEvaluator

    budgets = sorted({int(b) for b in budgets})
    if not budgets or budgets[0] < 1:
        raise ConfigError("--budgets must be positive integers, e.g. 100,300")
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown method {m!r}; expected some of {', '.join(METHODS)}")
    run = BenchmarkRun("nb201", {})
    evaluator = TableEvaluator(table, "nb201", metric, (report_metric,))
    best_test = evaluator.table.best(report_metric)
    best_val = evaluator.table.best(metric)
    q_max = budgets[-1]
    curves: dict[str, list[list[float]]] = {m: [] for m in methods}
    seconds: dict[str, float] = {m: 0.0 for m in methods}
    # one configuration tree (the nb201 preset) for every search; per seed and method only these two change
    nao = dict(nao_settings or {})
    tree: dict[str, Any] = {"table": str(table), "metric": metric, "report-metrics": report_metric, "budget": q_max,
                            "method": {"re": {"population": population, "sample_size": sample_size}}}
    if "controller" in nao:
        tree["controller"] = nao.pop("controller")
    tree["method"]["nao"] = nao
    base = resolve(preset="nb201", overrides=tree)
    job = {"table": str(table), "methods": list(methods), "q_max": q_max, "config": base.to_json(),
           "metric": metric, "report_metric": report_metric}
    seed_list = list(range(first_seed, first_seed + seeds))
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        outputs = []
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for seed, out in zip(seed_list, pool.map(_run_seed, [(job, seed) for seed in seed_list]), strict=True):
                outputs.append(out)
                if progress is not None:
                    progress(_progress_line(seed, out, q_max))
    else:
        outputs = []
        for seed in seed_list:
            outputs.append(_run_seed((job, seed)))
            if progress is not None:
                progress(_progress_line(seed, outputs[-1], q_max))
    nao_config = None
    for out in outputs:  # seed order, whatever process ran it
        for m in methods:
            curves[m].append(out["curves"][m])
            seconds[m] += out["seconds"][m]
        nao_config = out.get("nao_config") or nao_config
    run.settings = {
        "table": str(table), "space": "nb201", "search_metric": metric, "report_metric": report_metric,
        "methods": list(methods), "seeds": seeds, "first_seed": first_seed, "budgets": budgets, "workers": workers,
        "method_settings": {"nao": nao_config, "re": {"population": population, "sample_size": sample_size},
                            "rs": {}},
    }
    by_budget: dict[str, Any] = {}
    for q in budgets:
        row: dict[str, Any] = {}
        for m in methods:
            tests = [c[q - 1] for c in curves[m]]
            row[m] = {"test_regret": _stats([best_test - t for t in tests]), "test_accuracy": _stats(tests)}
        by_budget[str(q)] = row
    results: dict[str, Any] = {
        "best_test_in_table": best_test,
        "best_val_in_table": best_val,
        "by_budget": by_budget,
        "seconds_per_search": {m: round(seconds[m] / seeds, 3) for m in methods},
    }
    if "nao" in methods:
        results["nao_wins"] = {
            str(q): all(by_budget[str(q)]["nao"]["test_regret"]["mean"]
                        < by_budget[str(q)][m]["test_regret"]["mean"] for m in methods if m != "nao")
            for q in budgets
        }
    if out_dir is not None:
        out = Path(out_dir)
        results["plot"] = str(out / "nb201_benchmark.png")
        atomic_write_json(out / "curves.json", {"best_test_in_table": best_test, "curves": curves})
        atomic_write_bytes(out / "nb201_benchmark.png", _plot(curves, best_test, budgets))
        summary = run.finish(results)
        atomic_write_json(out / "summary.json", summary)
        return summary
    return run.finish(results)


_WORKER: dict[str, Any] = {}


def _run_seed(item: tuple[dict[str, Any], int]) -> dict[str, Any]:
    """All methods on one seed (in this process; the evaluator and controller are cached per process)."""
    from nao_tf.search.config import SearchConfig
    from nao_tf.search.loop import Search
    from nao_tf.search.nao import ControllerCache
    from nao_tf.search.registry import build_method
    from nao_tf.search.tabular import TableEvaluator

    job, seed = item
    if _WORKER.get("table") != job["table"]:
        _WORKER.update(table=job["table"], cache=ControllerCache(),
                       evaluator=TableEvaluator(job["table"], "nb201", job["metric"], (job["report_metric"],)))
    evaluator, q_max = _WORKER["evaluator"], job["q_max"]
    out: dict[str, Any] = {"curves": {}, "seconds": {}, "nao_config": None}
    for m in job["methods"]:
        config = SearchConfig.model_validate({**job["config"], "seed": seed,
                                              "method": {**job["config"]["method"], "name": m}})
        method = build_method(config, cache=_WORKER["cache"])
        start = time.perf_counter()
        search = Search(method, evaluator, q_max, seed)
        search.run()
        out["seconds"][m] = time.perf_counter() - start
        if m == "nao":
            out["nao_config"] = method.describe()
        idx = search.best_index_so_far()
        tests = [float(search.history[i].metadata[job["report_metric"]]) for i in idx]
        tests += [tests[-1]] * (q_max - len(tests))  # a space that ran out keeps its final answer
        out["curves"][m] = tests
    return out


def _progress_line(seed: int, out: dict[str, Any], q_max: int) -> str:
    parts = [f"{m} {c[-1]:.2f} ({out['seconds'][m]:.1f}s)" for m, c in out["curves"].items()]
    return f"seed {seed}: test accuracy at Q={q_max}: " + ", ".join(parts)


def _plot(curves: dict[str, list[list[float]]], best_test: float, budgets: Sequence[int]) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {"nao": "NAO", "re": "regularized evolution", "rs": "random search"}
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for i, (m, runs) in enumerate(curves.items()):
        arr = np.asarray(runs, dtype=np.float64)
        xs = np.arange(1, arr.shape[1] + 1)
        mean = arr.mean(0)
        sem = arr.std(0, ddof=1) / math.sqrt(arr.shape[0]) if arr.shape[0] > 1 else np.zeros_like(mean)
        ax.plot(xs, mean, color=f"C{i}", label=f"{names.get(m, m)} ({arr.shape[0]} seeds)")
        ax.fill_between(xs, mean - sem, mean + sem, color=f"C{i}", alpha=0.25)
    ax.axhline(best_test, color="k", ls=":", lw=1, label=f"best in table ({best_test:.2f})")
    for q in budgets:
        ax.axvline(q, color="grey", lw=0.5)
    ax.set_xlabel("queries (distinct architectures evaluated)")
    ax.set_ylabel("test accuracy of the best-by-validation arch (%)")
    ax.set_title("NAS-Bench-201, CIFAR-10: mean and standard error")
    ax.set_ylim(bottom=max(80.0, ax.get_ylim()[0]))
    ax.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
