"""Full NAO on images (docs/method.md section 5): every architecture trains its own child network; score = the best
validation accuracy over its epochs.

``ChildTrainingEvaluator`` wraps ``nao_tf.children.train_cnn.train_child``. By default (``isolate``) each child
trains in a spawned process: in-process, TensorFlow keeps the traced training step of every child alive after
``keras.backend.clear_session`` (measured: about 100 MB of resident memory per child), so a long search would
grow without bound; with one process per child the search process stays flat.

Paper scale: N=3, F=32, 25 epochs, batch 128, cosine lr 0.024, drop-path keep 0.7, auxiliary head, 5000
validation images (``--preset paper-full``); the CPU defaults are much smaller. ``max_params``
(``--max-params``) bounds the child's parameters (docs/method.md section 6 counting, without the auxiliary head):
architectures over it are never trained nor proposed.

Each finished child is also appended to a journal (``children.json`` in the run folder, written atomically), so
a search killed in the middle of a round retrains none of the children it already finished.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.runio import atomic_write_json, read_json
from nao_tf.search.config import ChildConfig
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.search.weight_sharing import ImageSplit, ParamBudget
from nao_tf.spaces import Architecture, get_space

JOURNAL = "children.json"


class ChildTrainingEvaluator(Evaluator):
    """Train each architecture as a child network (see the module docstring)."""

    name = "child"

    def __init__(self, settings: ChildConfig | None = None, space: str = "nasnet-full", dataset: str = "embedded",
                 data_dir: str | None = None, seed: int = 0) -> None:
        super().__init__(get_space(space), "max")
        if not self.space.name.startswith("nasnet"):
            raise ConfigError(f"the child evaluator trains CNN cells (nasnet-ws or nasnet-full), not "
                              f"{self.space.name!r}")
        self.settings = cfg = settings or ChildConfig()
        self.dataset, self.data_dir, self.seed = dataset, data_dir, int(seed)
        self.layers, self.channels, self.epochs = cfg.layers, cfg.channels, cfg.epochs
        self.isolate = cfg.isolate
        self.split = ImageSplit(dataset, data_dir, cfg.valid_size, self.seed)
        self.budget = ParamBudget(cfg.max_params, self.layers, self.channels, self.split.num_classes,
                                  self.split.shape[-1])
        self.journal_dir: Path | None = None
        self.journal: dict[str, dict[str, Any]] = {}

    def allowed(self, arch: Architecture) -> bool | str:
        return self.budget.allowed(arch)

    def attach_run_dir(self, run_dir: str | Path) -> None:
        """Keep the journal of finished children in ``run_dir`` (read it if it exists)."""
        self.journal_dir = Path(run_dir)
        path = self.journal_dir / JOURNAL
        if path.is_file():
            try:
                self.journal = {r["integers"]: r for r in read_json(path)}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise RunFolderError(f"cannot read {path}: {exc}") from None

    def train_one(self, arch: Architecture) -> Evaluation:
        from nao_tf.children.train_cnn import train_child

        self.space.check_space(arch)
        key = arch.integers
        if key not in self.journal:
            started = time.perf_counter()
            cfg = self.settings
            kwargs = {"epochs": cfg.epochs, "layers": cfg.layers, "channels": cfg.channels,
                      "batch_size": cfg.batch_size, "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                      "drop_path_keep": cfg.drop_path_keep, "aux_head": cfg.aux_head, "cutout": cfg.cutout,
                      "valid_size": cfg.valid_size, "seed": self.seed, "steps_per_epoch": cfg.steps_per_epoch}
            if self.isolate:
                out = train_isolated(key, self.dataset, self.data_dir, kwargs)
            else:
                out = train_child(arch, self.split.data, **kwargs)
            self.journal[key] = {"integers": key, "valid_accuracy": float(out["valid_accuracy"]),
                                 "final_valid_accuracy": out["final_valid_accuracy"], "params": out["params"],
                                 "diverged": bool(out["diverged"]),
                                 "seconds": round(time.perf_counter() - started, 2)}
            if self.journal_dir is not None:
                self.journal_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_json(self.journal_dir / JOURNAL, list(self.journal.values()))
            release_memory()
        rec = self.journal[key]
        return Evaluation(arch, rec["valid_accuracy"], {k: v for k, v in rec.items() if k != "integers"})

    def evaluate(self, archs: Sequence[Architecture]) -> list[Evaluation]:
        bar = self.bar("child training", len(archs))
        out = []
        for a in archs:
            out.append(self.train_one(a))
            bar.update(1)
        bar.close()
        return out

    def config(self) -> dict[str, Any]:
        """What a worker needs to rebuild this evaluator (``from_config``): the settings tree and the data."""
        return {**super().config(), "metric": "valid_accuracy (best epoch)", "dataset": self.split.data.name,
                "data_dir": self.data_dir, "seed": self.seed, **self.budget.config(),
                "settings": self.settings.model_dump(mode="json")}

    @classmethod
    def from_config(cls, cfg: dict[str, Any], data_dir: str | None = None) -> ChildTrainingEvaluator:
        """The evaluator ``config()`` describes (on a ``nao-tf worker``); ``data_dir`` overrides the chief's."""
        try:
            settings = ChildConfig.model_validate(cfg["settings"])
        except (KeyError, TypeError, ValidationError) as exc:
            raise ConfigError(f"the chief sent evaluator settings this nao-tf cannot read: {exc}") from None
        return cls(settings, cfg.get("space", "nasnet-full"), cfg.get("dataset", "embedded"),
                   data_dir or cfg.get("data_dir"), int(cfg.get("seed", 0)))


def _child_entry(arch_text: str, dataset: str, data_dir: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh process: load the data, train one child under the process's strategy, return results."""
    from nao_tf.architectures import resolve
    from nao_tf.children.train_cnn import make_strategy, train_child
    from nao_tf.data.images import load_images

    data = load_images(dataset, data_dir)
    with make_strategy().scope():
        out = train_child(resolve(arch_text), data, **kwargs)
    return {k: v for k, v in out.items() if k != "history"}


def train_isolated(arch_text: str, dataset: str, data_dir: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Train one child in a child process (spawned): TensorFlow keeps part of every traced training step
    alive after ``clear_session`` (about 100 MB per child measured in-process), so a search that trains
    thousands of children gives each its own process and the search's memory stays flat."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_child_entry, (arch_text, dataset, data_dir, kwargs))


def release_memory() -> None:
    """After a child: collect the Python cycles that hold the dead model's graphs, then hand the freed heap
    back to the OS (glibc ``malloc_trim``), so resident memory stays flat over a long search."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_bytes() -> int:
    """Resident memory of this process now (Linux ``/proc``; 0 where it is not available)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def memory_over_children(evaluator: ChildTrainingEvaluator, archs: Sequence[Architecture]) -> dict[str, Any]:
    """Train ``archs`` one after the other; resident memory after each (MiB) and the growth after the first
    two (the first children load TensorFlow's kernels and the data pipeline once)."""
    rss = []
    for arch in archs:
        evaluator.train_one(arch)
        rss.append(round(rss_bytes() / 2**20, 1))
    base = rss[min(1, len(rss) - 1)]
    return {"children": len(rss), "rss_mib": rss, "growth_after_second_mib": round(rss[-1] - base, 1),
            "growth_per_child_mib": round((rss[-1] - base) / max(1, len(rss) - 2), 2)}
