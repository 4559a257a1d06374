"""``nao-tf benchmark nb201``: search methods compared on a NAS-Bench-201-format table, with an honest protocol.

Protocol. Every method searches on the table's search metric (``cifar10-val`` by default) only, one query per
distinct architecture; after Q queries it returns the architecture with the best search metric seen so far,
and we report that architecture's report metric (``cifar10-test``) and its regret against the best report
value in the table. Every method runs once per seed with the largest budget; the result at a smaller budget Q
is the state of the same run after its first Q queries (every method here is anytime).

- **Own random streams.** A method's search seed is derived from (seed, method label), so two methods never
  share their first random queries; results are still paired by seed for the paired test.
- **Statistics.** Mean and standard error over seeds for every method and budget, and a paired Wilcoxon
  signed-rank test (scipy) of the best NAO-family method against every other method, per budget.
- **Sources.** For every method, the share of its queries by where they came from (``random``, ``gradient``,
  ``mutation``, ``screened`` (gradient proposals kept by the predictor), ...).
- **Tuning** (``nb201_tune``): every tuned method gets the same effort, ``TUNING_GRIDS`` (9 settings each),
  on tuning seeds that must be disjoint from the reported ones; the criterion is the mean best *search-metric*
  value found at each budget (averaged over the budgets), never the report metric.

Nothing here is tied to CIFAR-10: any table in the same CSV format works, with its search and report columns
named by ``metric`` / ``report_metric``.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun
from nao_tf.benchmarks.search_log import LOG_NAME, SearchLog, search_key, table_fingerprint
from nao_tf.errors import ConfigError
from nao_tf.runio import atomic_write_bytes, atomic_write_json

# label -> (method name, settings on top of the nb201 preset, which holds every method's tuned settings,
# SemiNAS's own top-k and candidates factor included: docs/nb201.md)
ENTRIES: dict[str, tuple[str, dict[str, Any]]] = {
    "nao": ("nao", {}),
    "nao+mutation": ("nao+mutation", {}),
    "seminas": ("seminas", {}),
    "re": ("re", {}),
    "re-10-3": ("re", {"population": 10, "sample_size": 3}),
    "rs": ("rs", {}),
}
SECTIONS = {"nao": "nao", "nao+mutation": "nao", "seminas": "nao", "re": "re", "rs": "rs"}
SEMINAS_KEYS = ("pseudo_labels", "pseudo_weight")
NAO_FAMILY = ("nao", "nao+mutation", "seminas")
TUNING_GRIDS: dict[str, list[dict[str, Any]]] = {
    "re": [{"population": p, "sample_size": s} for p in (10, 20, 50) for s in (3, 5, 10)],
    "nao": [{"top_k": k, "candidates_factor": c} for k in (5, 10, 20) for c in (1.0, 2.0, 4.0)],
    "seminas": [{"pseudo_labels": m, "candidates_factor": c} for m in (200, 1000, 5000) for c in (1.0, 2.0, 4.0)],
}
TUNE_FIRST_SEED = 10_000
"""Tuning seeds start here by default, far from the reported seeds (0, 1, ...)."""


def stream_seed(label: str, seed: int) -> int:
    """The search seed of method ``label`` at benchmark seed ``seed``: each method its own random stream."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(label.encode())]).generate_state(1)[0] & 0x7FFFFFFF)


def _stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean, standard error (None from a single seed: JSON has no NaN) and n."""
    arr = np.asarray(values, dtype=np.float64)
    sem = round(float(arr.std(ddof=1) / math.sqrt(arr.size)), 4) if arr.size > 1 else None
    return {"mean": round(float(arr.mean()), 4), "sem": sem, "n": int(arr.size)}


def _paired(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """``b - a`` over paired seeds: mean, standard error, Wilcoxon signed-rank p (two-sided)."""
    from scipy.stats import wilcoxon

    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    sem = float(d.std(ddof=1) / math.sqrt(d.size))
    p = 1.0 if not np.any(d) else float(wilcoxon(d).pvalue)
    return {"mean_diff": round(float(d.mean()), 4), "sem_diff": round(sem, 4), "wilcoxon_p": round(p, 5),
            "n": int(d.size)}


def _category(source: str) -> str:
    head = source.split("(")[0]
    return {"mutate": "mutation", "nao": "gradient"}.get(head, head)


def _entries(methods: Sequence[str], settings: dict[str, dict[str, Any]] | None) -> dict[str, tuple[str, dict]]:
    out = {}
    for label in methods:
        if label not in ENTRIES:
            raise ConfigError(f"unknown method {label!r}; expected some of {', '.join(ENTRIES)}")
        name, base = ENTRIES[label]
        out[label] = (name, {**base, **(settings or {}).get(label, {})})
    return out


def _base_config(table: str, metric: str, report_metric: str, q_max: int, method: str = "nao") -> dict[str, Any]:
    """The nb201 preset's tree for ``method`` (with the preset's own values for that method)."""
    from nao_tf.search.config import resolve

    return resolve(preset="nb201", overrides={"table": str(table), "metric": metric, "report-metrics": report_metric,
                                              "budget": q_max, "method": method}).to_json()


def _effective_settings(table: str, entries: dict[str, tuple[str, dict]], metric: str, report_metric: str,
                        q_max: int) -> dict[str, dict[str, Any]]:
    """What each method label actually runs with: its configuration section(s) after preset and settings."""
    out = {}
    for label, (name, settings) in entries.items():
        job = {"config": _base_config(table, metric, report_metric, q_max, name), "label": label, "name": name,
               "settings": settings}
        method = _search_tree(job, 0)["method"]
        sections = (SECTIONS[name], "seminas") if name == "seminas" else (SECTIONS[name],)
        out[label] = {"method": name, **{k: v for sec in sections for k, v in method[sec].items()}}
    return out


def run_searches(table: str, entries: dict[str, tuple[str, dict]], seeds: Sequence[int], q_max: int,
                 metric: str = "cifar10-val", report_metric: str = "cifar10-test", workers: int = 1,
                 on_result: Callable[[str, int, dict[str, Any]], None] | None = None,
                 log: SearchLog | None = None) -> dict[str, dict[int, Any]]:
    """Every (method, seed) search to ``q_max`` queries; ``{label: {seed: result}}`` where a result holds the
    best-so-far curves of the search and report metrics, the sources of the queries and the seconds taken.
    ``workers`` > 1 runs them in that many processes (same results: each search depends on its seed only).
    With ``log``, searches it already holds (same key) are reused (``on_result`` sees them with ``"reused":
    True``) and every new one is appended to it."""
    bases = {name: _base_config(table, metric, report_metric, q_max, name) for name, _ in entries.values()}
    jobs = [({"table": str(table), "config": bases[name], "label": label, "name": name, "settings": settings,
              "q_max": q_max, "metric": metric, "report_metric": report_metric}, seed)
            for seed in seeds for label, (name, settings) in entries.items()]
    results: dict[str, dict[int, Any]] = {label: {} for label in entries}
    fingerprint = table_fingerprint(table) if log is not None else ""
    keys = [search_key(fingerprint, _search_tree(job, seed)) if log is not None else "" for job, seed in jobs]

    def collect(job: dict[str, Any], seed: int, out: dict[str, Any], key: str, new: bool) -> None:
        results[job["label"]][seed] = out
        if new and log is not None:
            log.add(key, job["label"], seed, out)
        if on_result is not None:
            on_result(job["label"], seed, out if new else {**out, "reused": True})

    todo = []
    for (job, seed), key in zip(jobs, keys, strict=True):
        done = log.get(key) if log is not None else None
        if done is None:
            todo.append(((job, seed), key))
        else:
            collect(job, seed, done, key, new=False)
    if workers > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            outs = pool.map(_run_one, [item for item, _ in todo])
            for ((job, seed), key), out in zip(todo, outs, strict=True):
                collect(job, seed, out, key, new=True)
    else:
        for (job, seed), key in todo:
            collect(job, seed, _run_one((job, seed)), key, new=True)
    return results


_WORKER: dict[str, Any] = {}


def _search_tree(job: dict[str, Any], seed: int) -> dict[str, Any]:
    """The configuration tree of one search: the nb201 preset with the method's settings and its own seed."""
    tree = dict(job["config"])
    section = SECTIONS[job["name"]]
    settings = dict(job["settings"])
    semi = {k: settings.pop(k) for k in SEMINAS_KEYS if k in settings}
    tree["method"] = {**tree["method"], "name": job["name"],
                      section: {**tree["method"].get(section, {}), **settings},
                      "seminas": {**tree["method"].get("seminas", {}), **semi}}
    tree["seed"] = stream_seed(job["label"], seed)
    return tree


def _run_one(item: tuple[dict[str, Any], int]) -> dict[str, Any]:
    """One search (in this process; the evaluator and controllers are cached per process)."""
    from nao_tf.search.config import SearchConfig
    from nao_tf.search.loop import Search
    from nao_tf.search.nao import ControllerCache
    from nao_tf.search.registry import build_method
    from nao_tf.search.tabular import TableEvaluator

    job, seed = item
    key = (job["table"], job["metric"], job["report_metric"])
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, cache=ControllerCache(),
                       evaluator=TableEvaluator(job["table"], "nb201", job["metric"], (job["report_metric"],)))
    evaluator, q_max = _WORKER["evaluator"], job["q_max"]
    tree = _search_tree(job, seed)
    search_seed = tree["seed"]
    method = build_method(SearchConfig.model_validate(tree), cache=_WORKER["cache"])
    start = time.perf_counter()
    search = Search(method, evaluator, q_max, search_seed)
    search.run()
    idx = search.best_index_so_far()
    vals = [float(search.history[i].score) for i in idx]
    tests = [float(search.history[i].metadata[job["report_metric"]]) for i in idx]
    vals += [vals[-1]] * (q_max - len(vals))  # a space that ran out keeps its final answer
    tests += [tests[-1]] * (q_max - len(tests))
    return {"val": vals, "test": tests, "sources": [r["source"] for r in search.records],
            "seconds": time.perf_counter() - start, "describe": method.describe(), "search_seed": search_seed}


def summarize(results: dict[str, dict[int, Any]], budgets: Sequence[int], best_test: float) -> dict[str, Any]:
    """Mean +- standard error per method and budget, paired tests, and the share of queries by source."""
    by_budget: dict[str, Any] = {}
    for q in budgets:
        row: dict[str, Any] = {}
        for label, runs in results.items():
            if not runs:
                continue
            seeds = sorted(runs)
            row[label] = {"test_regret": _stats([best_test - runs[s]["test"][q - 1] for s in seeds]),
                          "test_accuracy": _stats([runs[s]["test"][q - 1] for s in seeds]),
                          "search_metric": _stats([runs[s]["val"][q - 1] for s in seeds])}
        family = [m for m in NAO_FAMILY if m in row]
        if family:
            best = min(family, key=lambda m: row[m]["test_regret"]["mean"])
            tests = {}
            for other in row:
                if other == best:
                    continue
                common = sorted(set(results[best]) & set(results[other]))
                if len(common) < 2:
                    continue
                regret = [[best_test - results[m][s]["test"][q - 1] for s in common] for m in (best, other)]
                test = _paired(regret[0], regret[1])  # positive: the NAO-family method has the lower regret
                test["margin_in_se"] = round(test["mean_diff"] / test["sem_diff"], 2) if test["sem_diff"] else None
                tests[other] = test
            row["paired"] = {"best_nao_family": best, "regret_of_other_minus_best": tests}
        by_budget[str(q)] = row
    sources = {}
    for label, runs in results.items():
        counts = Counter(_category(src) for r in runs.values() for src in r["sources"])
        total = sum(counts.values())
        sources[label] = {k: round(v / total, 4) for k, v in sorted(counts.items())} if total else {}
    return {"by_budget": by_budget, "query_sources": sources,
            "seconds_per_search": {label: round(float(np.mean([r["seconds"] for r in runs.values()])), 3)
                                   for label, runs in results.items() if runs},
            "seeds_done": {label: len(runs) for label, runs in results.items()}}


def nb201_tune(table: str, methods: Sequence[str] = ("nao", "seminas", "re"), budgets: Sequence[int] = (100, 300),
               tune_seeds: int = 5, first_seed: int = TUNE_FIRST_SEED, metric: str = "cifar10-val",
               report_metric: str = "cifar10-test", workers: int = 1,
               progress: Callable[[str], None] | None = None, log: SearchLog | None = None) -> dict[str, Any]:
    """Each method's ``TUNING_GRIDS`` settings on ``tune_seeds`` seeds from ``first_seed``; picks, per method,
    the setting with the highest mean best search-metric value (averaged over ``budgets``). Every (method,
    setting, seed) search goes to one ``run_searches`` call, so ``workers`` processes start (and compile the
    controller) once for the whole grid rather than once per setting. ``log`` as in ``run_searches``."""
    budgets = sorted({int(b) for b in budgets})
    out: dict[str, Any] = {"seeds": list(range(first_seed, first_seed + tune_seeds)), "criterion":
                           f"mean best {metric} at Q, averaged over Q in {budgets}", "methods": {}}
    for label in methods:
        if label not in TUNING_GRIDS:
            raise ConfigError(f"no tuning grid for method {label!r}; tunable: {', '.join(TUNING_GRIDS)}")
    grid = {f"{label}#{i}": (ENTRIES[label][0], {**ENTRIES[label][1], **setting})
            for label in methods for i, setting in enumerate(TUNING_GRIDS[label])}

    def on_result(tag: str, seed: int, res: dict[str, Any]) -> None:
        if progress is not None:
            progress(f"tune {tag} {grid[tag][1]} seed {seed}: best {metric} {res['val'][-1]:.2f} at "
                     f"Q={budgets[-1]} ({res['seconds']:.1f}s{', from ' + LOG_NAME if res.get('reused') else ''})")

    results = run_searches(table, grid, out["seeds"], budgets[-1], metric, report_metric, workers, on_result, log)
    for label in methods:
        rows = []
        for i, setting in enumerate(TUNING_GRIDS[label]):
            res = results[f"{label}#{i}"]
            per_q = {str(q): round(float(np.mean([r["val"][q - 1] for r in res.values()])), 4) for q in budgets}
            rows.append({"settings": setting, "search_metric_at_q": per_q,
                         "criterion": round(float(np.mean(list(per_q.values()))), 4),
                         "seconds_per_search": round(float(np.mean([r["seconds"] for r in res.values()])), 2)})
        best = max(rows, key=lambda r: r["criterion"])
        out["methods"][label] = {"grid": rows, "chosen": best["settings"]}
        if progress is not None:
            progress(f"tune {label}: chosen {best['settings']} (criterion {best['criterion']})")
    return out


def nb201_benchmark(table: str, methods: Sequence[str] = ("nao", "seminas", "re", "re-10-3", "rs"),
                    budgets: Sequence[int] = (100, 300), seeds: int = 30, first_seed: int = 0,
                    out_dir: str | Path | None = None, settings: dict[str, dict[str, Any]] | None = None,
                    metric: str = "cifar10-val", report_metric: str = "cifar10-test",
                    progress: Callable[[str], None] | None = None, workers: int = 1,
                    tune: bool = False, tune_seeds: int = 5, tune_first_seed: int = TUNE_FIRST_SEED) -> dict[str, Any]:
    """Run every method for ``seeds`` seeds up to ``max(budgets)`` queries and summarize (see the module
    docstring). With ``tune``, first tune the methods that have a grid on the tuning seeds and report with the
    chosen settings. ``out_dir`` receives ``summary.json`` (rewritten after every seed, so a long run can be
    read while it goes), ``curves.json``, ``nb201_benchmark.png`` and ``searches.jsonl``, every finished search
    (``search_log``): run again with the same ``out_dir`` and the searches already there are reused, so a stopped
    run continues and more seeds cost only the new ones."""
    from nao_tf.search.tabular import load_table

    budgets = sorted({int(b) for b in budgets})
    if not budgets or budgets[0] < 1:
        raise ConfigError("--budgets must be positive integers, e.g. 100,300")
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    reported = list(range(first_seed, first_seed + seeds))
    entries = _entries(methods, settings)
    log = SearchLog(out_dir) if out_dir is not None else None
    if log is not None and log.records and progress is not None:
        progress(f"{len(log.records)} finished searches in {log.path}: those that match are reused")
    tuning = None
    if tune:
        overlap = set(reported) & set(range(tune_first_seed, tune_first_seed + tune_seeds))
        if overlap:
            raise ConfigError(f"tuning seeds overlap the reported seeds (e.g. {min(overlap)}); move "
                              "--tune-first-seed past the reported ones")
        tunable = [m for m in methods if m in TUNING_GRIDS]
        tuning = nb201_tune(table, tunable, budgets, tune_seeds, tune_first_seed, metric, report_metric, workers,
                            progress, log)
        for label in tunable:
            entries[label] = (entries[label][0], {**entries[label][1], **tuning["methods"][label]["chosen"]})
    tab = load_table(table, "nb201", (metric, report_metric))
    best_test, best_val = tab.best(report_metric), tab.best(metric)
    run = BenchmarkRun("nb201", {
        "table": str(table), "space": "nb201", "search_metric": metric, "report_metric": report_metric,
        "methods": list(methods), "seeds": seeds, "first_seed": first_seed, "budgets": budgets, "workers": workers,
        "method_settings": _effective_settings(table, entries, metric, report_metric, budgets[-1]),
        "tuned": tune})
    out = Path(out_dir) if out_dir is not None else None
    partial: dict[str, dict[int, Any]] = {label: {} for label in entries}

    def on_result(label: str, seed: int, res: dict[str, Any]) -> None:
        partial[label][seed] = res
        if progress is not None:
            progress(f"seed {seed} {label}: {report_metric} {res['test'][-1]:.2f} at Q={budgets[-1]} "
                     f"({res['seconds']:.1f}s{', from ' + LOG_NAME if res.get('reused') else ''})")
        if out is not None and all(seed in runs for runs in partial.values()):
            atomic_write_json(out / "summary.json", _finish(run, partial, budgets, best_test, best_val, tuning))

    results = run_searches(table, entries, reported, budgets[-1], metric, report_metric, workers, on_result, log)
    summary = _finish(run, results, budgets, best_test, best_val, tuning)
    if out is not None:
        curves = {label: [runs[s]["test"] for s in sorted(runs)] for label, runs in results.items()}
        atomic_write_json(out / "curves.json", {"best_test_in_table": best_test, "curves": curves})
        atomic_write_bytes(out / "nb201_benchmark.png", _plot(curves, best_test, budgets, Path(table).name,
                                                              report_metric))
        summary["results"]["plot"] = str(out / "nb201_benchmark.png")
        atomic_write_json(out / "summary.json", summary)
    return summary


def _finish(run: BenchmarkRun, results: dict[str, dict[int, Any]], budgets: Sequence[int], best_test: float,
            best_val: float, tuning: dict[str, Any] | None) -> dict[str, Any]:
    body = {"best_test_in_table": best_test, "best_val_in_table": best_val,
            **summarize(results, budgets, best_test)}
    if tuning is not None:
        body["tuning"] = tuning
    return run.finish(body)


def _plot(curves: dict[str, list[list[float]]], best_test: float, budgets: Sequence[int], table: str,
          report_metric: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {"nao": "NAO", "seminas": "SemiNAS", "nao+mutation": "NAO + mutation", "re": "regularized evolution",
             "re-10-3": "regularized evolution 10/3", "rs": "random search"}
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
    ax.set_ylabel(f"{report_metric} of the best-by-search-metric arch")
    ax.set_title(f"{table}: mean and standard error over seeds")
    lo = float(np.min([np.mean(np.asarray(r), axis=0)[min(9, len(r[0]) - 1)] for r in curves.values()]))
    ax.set_ylim(bottom=lo)
    ax.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
