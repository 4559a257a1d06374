"""Did the search beat picking an architecture at random? The winner against random architectures.

A search winner's stand-alone accuracy means little alone: on the embedded sample almost any cell reaches
0.72-0.77 after two epochs. What tells whether the search searched is where the winner falls in the accuracy
distribution of *random* architectures trained with the *same* recipe (data, split, N, F, epochs, batch,
learning rate, steps, parameter budget). ``nao-tf benchmark ws-ranking`` measures that distribution and caches
it (``StandaloneCache``, keyed by ``recipe_key``); a search reads it from ``--baseline-cache`` and, when that
file lacks the run's recipe, from the distribution shipped with nao-tf (``SHIPPED``, the ``default`` preset's
recipe, made from a benchmark cache by ``ship``). With neither, the ``baseline`` section says so in one line
with the command that measures it.

This module is the one home of the recipe and the cache format: the benchmark imports it from here (search
must not import benchmarks).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from shlex import quote
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError
from nao_tf.runio import atomic_write_json, read_json

# the settings of the stand-alone recipe: two runs with the same values give comparable accuracies ("ws_lr" is
# the re-ranking's learning rate, --rerank-lr; the key keeps its first name so that existing caches stay valid)
RECIPE_KEYS = ("dataset", "data_dir", "valid_size", "rerank_epochs", "rerank_layers", "rerank_channels",
               "batch_size", "ws_lr", "child_steps", "max_params")
# recipe key -> the 'nao-tf benchmark ws-ranking --set KEY=VALUE' key that changes it (batch_size there is the
# supernet's, so the recipe's batch cannot be set)
SETTABLE = {"dataset": "dataset", "data_dir": "data_dir", "valid_size": "valid_size",
            "rerank_epochs": "rerank_epochs", "rerank_layers": "rerank_layers", "rerank_channels": "rerank_channels",
            "ws_lr": "rerank_lr", "child_steps": "child_steps", "max_params": "max_params"}
SHIPPED = Path(__file__).resolve().parent / "baselines" / "standalone.json"
SHIPPED_PRESETS = ("default",)
WS_PRESETS = ("default", "paper-ws")


def recipe(settings: dict[str, Any]) -> dict[str, Any]:
    """The stand-alone recipe's settings (what a cached accuracy depends on), from flat preset settings."""
    out = {k: settings.get(k) for k in RECIPE_KEYS}
    out["rerank_layers"] = out["rerank_layers"] or settings["layers"]
    out["rerank_channels"] = out["rerank_channels"] or settings["channels"]
    return out


def recipe_key(rec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()[:16]


def search_recipe(config: Any) -> dict[str, Any] | None:
    """The recipe whose stand-alone accuracy a search's winner reports (a ``SearchConfig``), or None when no
    random baseline can share it (a child evaluator training with drop-path, auxiliary head, cutout or another
    weight decay than the re-ranking)."""
    from nao_tf.search.config import WsConfig

    ev, data = config.evaluator, config.data
    if ev.kind not in ("ws", "child"):
        return None
    if ev.kind == "child" and not (ev.drop_path_keep == 1.0 and not ev.aux_head and not ev.cutout
                                   and ev.weight_decay == WsConfig.model_fields["weight_decay"].default):
        return None  # children trained another way than the re-ranking: no random baseline shares it
    st = ev.standalone()
    return recipe({"dataset": data.dataset, "data_dir": data.data_dir, "valid_size": ev.valid_size,
                   "max_params": ev.max_params, "layers": ev.layers, "channels": ev.channels,
                   "rerank_epochs": st.epochs, "rerank_layers": st.layers, "rerank_channels": st.channels,
                   "batch_size": st.batch_size, "ws_lr": st.lr, "child_steps": st.steps})


class StandaloneCache:
    """Stand-alone accuracies per (recipe, training seed, architecture), in one JSON file written atomically
    after every trained network, so a killed run loses at most the network in progress."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {"version": 1, "recipes": {}}
        if self.path.is_file():
            try:
                data = read_json(self.path)
                if not isinstance(data, dict) or not isinstance(data.get("recipes"), dict):
                    raise ValueError("no 'recipes' mapping")
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read the stand-alone cache {str(self.path)!r}: {exc}; delete it or "
                                  "pass another --cache") from None
            self.data = data

    def results(self, rec: dict[str, Any], train_seed: int) -> dict[str, Any]:
        entry = self.data["recipes"].setdefault(recipe_key(rec), {"recipe": rec, "seeds": {}})
        return entry["seeds"].setdefault(str(int(train_seed)), {})

    def accuracies(self, rec: dict[str, Any]) -> dict[tuple[str, str], float]:
        """Every cached accuracy of ``rec``, keyed by (training seed, architecture); malformed rows skipped."""
        entry = self.data["recipes"].get(recipe_key(rec))
        out: dict[tuple[str, str], float] = {}
        if not isinstance(entry, dict) or not isinstance(entry.get("seeds"), dict):
            return out
        for seed, rows in entry["seeds"].items():
            for arch, row in (rows.items() if isinstance(rows, dict) else ()):
                acc = row.get("standalone_accuracy") if isinstance(row, dict) else None
                if isinstance(acc, int | float) and np.isfinite(acc):
                    out[(str(seed), str(arch))] = float(acc)
        return out

    def save(self) -> None:
        atomic_write_json(self.path, self.data)


def distribution(values: Any) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(len(v)), "mean": round(float(v.mean()), 4), "std": round(float(v.std(ddof=1)), 4)
            if len(v) > 1 else 0.0, "min": round(float(v.min()), 4), "q1": round(float(q1), 4),
            "median": round(float(med), 4), "q3": round(float(q3), 4), "max": round(float(v.max()), 4)}


def percentile_of(value: float, values: Any) -> float:
    """Share (in percent) of ``values`` strictly below ``value``, ties counted half."""
    v = np.asarray(values, np.float64)
    return round(100.0 * (float((v < value).sum()) + 0.5 * float((v == value).sum())) / max(1, len(v)), 1)


def verdict(value: float, dist: dict[str, float]) -> str:
    """Where ``value`` falls: ``top quartile`` (above Q3), ``above median``, ``at median`` or ``below median``."""
    if value > dist["q3"]:
        return "top quartile"
    if value > dist["median"]:
        return "above median"
    return "at median" if value == dist["median"] else "below median"


def measure_command(config: Any, rec: dict[str, Any]) -> str | None:
    """The ``nao-tf benchmark ws-ranking`` command that measures random architectures with ``rec`` (None when
    its flags cannot express the recipe)."""
    from nao_tf.search.config import STANDALONE_CACHE, resolve

    preset = config.preset if config.preset in WS_PRESETS else "default"
    base = search_recipe(resolve(preset=preset))
    assert base is not None
    if rec["batch_size"] != base["batch_size"]:
        return None
    sets = [f"--set {name}={quote(str(rec[k]))}" for k, name in SETTABLE.items()
            if rec[k] != base[k] and rec[k] is not None]
    if any(rec[k] is None and base[k] is not None for k in SETTABLE):
        return None
    cache = config.evaluator.baseline_cache
    parts = [f"nao-tf benchmark ws-ranking --preset {preset} --standalone-only", *sets]
    if cache != STANDALONE_CACHE:
        parts.append(f"--cache {quote(str(cache))}")
    return " ".join(parts)


def random_accuracies(rec: dict[str, Any], cache_path: str | os.PathLike,
                      shipped: str | os.PathLike = SHIPPED) -> tuple[list[float], list[str], list[str]]:
    """Accuracies of random architectures trained with ``rec``: the cache's and the shipped file's, merged
    (the cache wins on the same seed and architecture). Returns (accuracies, sources used, problems): an
    unreadable cache is a problem to report, never a reason to lose a finished search."""
    merged: dict[tuple[str, str], float] = {}
    sources, problems = [], []
    for path in (shipped, cache_path):
        if not Path(path).is_file():
            continue
        try:
            found = StandaloneCache(path).accuracies(rec)
        except ConfigError as exc:
            problems.append(str(exc).split(";")[0])
            continue
        if found:
            merged.update(found)
            sources.append("shipped with nao-tf" if Path(path) == Path(shipped) else str(path))
    return list(merged.values()), sources, problems


def baseline_section(config: Any, accuracy: float | None, shipped: str | os.PathLike = SHIPPED) -> dict[str, Any]:
    """``final.json``'s ``baseline``: the winner's stand-alone ``accuracy`` against random architectures trained
    with the run's recipe (n, mean, median, quartiles, percentile, verdict), or why there is none; ``text`` is
    the one line a person reads."""
    rec = search_recipe(config)
    if rec is None:
        return {"available": False, "text": "no random-architecture baseline: the child training uses drop-path, "
                                            "an auxiliary head, cutout or a weight decay the random baseline "
                                            "(trained like the NAO-WS re-ranking) does not"}
    key = recipe_key(rec)
    if accuracy is None:
        return {"available": False, "recipe": rec, "recipe_key": key,
                "text": "no random-architecture baseline: the winner was not trained stand-alone (--rerank-top 0)"}
    accs, sources, problems = random_accuracies(rec, config.evaluator.baseline_cache, shipped)
    if len(accs) < 2:
        command = measure_command(config, rec)
        how = f"measure them with: {command}" if command else \
            f"no 'nao-tf benchmark ws-ranking' preset trains with batch {rec['batch_size']}"
        why = f" ({'; '.join(problems)})" if problems else ""
        return {"available": False, "recipe": rec, "recipe_key": key, "n": len(accs), "command": command,
                "text": f"no baseline: fewer than 2 random architectures were trained with this run's recipe "
                        f"(key {key}) in {config.evaluator.baseline_cache} or shipped with nao-tf{why}; {how}"}
    dist = distribution(accs)
    pct = percentile_of(float(accuracy), accs)
    where = verdict(float(accuracy), dist)
    text = (f"winner {accuracy:.4f} vs {dist['n']} random architectures (same recipe): median {dist['median']:.4f}, "
            f"quartiles {dist['q1']:.4f}-{dist['q3']:.4f}, mean {dist['mean']:.4f}; better than {pct:.0f}% "
            f"of them: {where}")
    return {"available": True, "recipe": rec, "recipe_key": key, "sources": sources, **dist,
            "winner_accuracy": round(float(accuracy), 4), "percentile": pct, "verdict": where, "text": text,
            **({"problems": problems} if problems else {})}


def ship(cache_path: str | os.PathLike, out: str | os.PathLike = SHIPPED,
         presets: tuple[str, ...] = SHIPPED_PRESETS) -> dict[str, Any]:
    """Write the shipped distribution: ``cache_path``'s entries for the recipes of ``presets`` (each preset as
    a bare ``nao-tf search`` resolves it), nothing else. Returns {preset: number of architectures}."""
    from nao_tf.search.config import resolve

    cache = StandaloneCache(cache_path)
    kept: dict[str, Any] = {}
    counts = {}
    for preset in presets:
        rec = search_recipe(resolve(preset=preset))
        key = recipe_key(rec)
        entry = cache.data["recipes"].get(key)
        counts[preset] = len(cache.accuracies(rec)) if entry else 0
        if not counts[preset]:
            raise ConfigError(f"{str(cache_path)!r} holds no stand-alone accuracies for preset {preset!r}'s recipe "
                              f"(key {key}); run 'nao-tf benchmark ws-ranking --preset {preset} --standalone-only' "
                              "first")
        kept[key] = {"recipe": rec, "preset": preset, "seeds": entry["seeds"]}
    atomic_write_json(out, {"version": 1, "recipes": kept})
    return counts
