"""NAO-WS on images (docs/method.md section 5): one supernet scores every architecture of the ``nasnet-ws`` space.

``WeightSharingEvaluator``:

- ``begin_round(k, batch)``: the training pool is the batch plus the best architectures scored so far (up to
  ``pool_size``); the supernet trains ``warmup_epochs`` (round 0) or ``epochs_per_round`` epochs, each
  minibatch with one architecture drawn uniformly from the pool (``nao_tf.children.supernet``: one compiled
  step serves every architecture); then the pool's earlier architectures are scored again with the new
  weights (``rescore_pool``), and ``current_score`` hands the newest score to the controller, the pool's
  pruning and the re-ranking, as the authors re-score the whole pool every round.
- ``evaluate(archs)``: accuracy of each architecture on ONE validation batch (``eval_images`` images held out
  of the training set) with the shared weights.
- ``rerank(evaluations)``: after the search, the ``top`` best by shared-weight score are trained
  stand-alone for ``rerank_epochs`` (``nao_tf.children.train_cnn.train_child``); the best stand-alone
  validation accuracy wins.
- ``allowed(arch)``: ``max_params`` bounds the parameters of the stand-alone network (``params_layers`` x
  ``params_channels``, docs/method.md section 6 counting); architectures over it are never evaluated nor proposed.
- ``get_state`` / ``set_state``: supernet weights, optimizer, pool, data order and random state; the run folder
  keeps one snapshot per completed round, so ``--resume`` after a kill continues exactly like an uninterrupted
  run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.runio import atomic_write_json, read_json
from nao_tf.search.config import WsConfig
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.spaces import Architecture, get_space

STATE_PREFIX = "supernet"


class ImageSplit:
    """A dataset split into train / valid parts (uint8), normalized per batch with the training statistics."""

    def __init__(self, dataset: str, data_dir: str | None, valid_size: int, seed: int) -> None:
        from nao_tf.data.images import load_images, split_train_valid

        self.data = load_images(dataset, data_dir)
        n = len(self.data.x_train)
        if not 0 < int(valid_size) < n:
            raise ConfigError(f"--valid-size {valid_size} must be between 1 and {n - 1} for dataset "
                              f"{self.data.name!r} ({n} training images)")
        self.x_train, self.y_train, self.x_valid, self.y_valid = split_train_valid(self.data, valid_size, seed)
        self.mean = np.asarray(self.data.mean, np.float32)
        self.std = np.asarray(self.data.std, np.float32)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(self.data.num_classes)

    def normalize(self, images: np.ndarray) -> np.ndarray:
        return (images.astype(np.float32) - self.mean) / self.std


class ParamBudget:
    """``max_params`` on the stand-alone network of ``layers`` x ``channels`` (docs/method.md section 6 counting)."""

    def __init__(self, max_params: int | None, layers: int, channels: int, num_classes: int,
                 input_channels: int) -> None:
        if max_params is not None and int(max_params) < 1:
            raise ConfigError(f"--max-params must be a positive number of parameters, got {max_params}")
        self.max_params = None if max_params is None else int(max_params)
        self.layers, self.channels = int(layers), int(channels)
        self.num_classes, self.input_channels = int(num_classes), int(input_channels)
        self._cache: dict[Architecture, int] = {}

    def params(self, arch: Architecture) -> int:
        if arch not in self._cache:
            from nao_tf.children.params import count_params

            self._cache[arch] = count_params(arch, self.layers, self.channels, self.num_classes,
                                             self.input_channels)
        return self._cache[arch]

    def allowed(self, arch: Architecture) -> bool | str:
        if self.max_params is None:
            return True
        n = self.params(arch)
        if n > self.max_params:
            return (f"{n} parameters at N={self.layers} F={self.channels}, over --max-params "
                    f"{self.max_params}")
        return True

    def config(self) -> dict[str, Any]:
        return {"max_params": self.max_params, "params_layers": self.layers, "params_channels": self.channels}


class WeightSharingEvaluator(Evaluator):
    """NAO-WS evaluator on images (see the module docstring); score = shared-weight validation accuracy.

    Every setting comes from ``settings`` (``nao_tf.search.config.WsConfig``, where the defaults live);
    ``planned_rounds`` sizes the cosine learning-rate schedule (``SearchConfig.planned_rounds``)."""

    name = "ws"
    state_prefix = STATE_PREFIX

    def __init__(self, settings: WsConfig | None = None, dataset: str = "embedded", data_dir: str | None = None,
                 seed: int = 0, planned_rounds: int = 4, space: str = "nasnet-ws") -> None:
        super().__init__(get_space(space), "max")
        if self.space.name != "nasnet-ws":
            raise ConfigError(f"the ws evaluator searches the 5-op space nasnet-ws, not {self.space.name!r}; use "
                              "--evaluator child for nasnet-full")
        if int(planned_rounds) < 1:
            raise ConfigError(f"ws planned_rounds must be >= 1, got {planned_rounds}")
        self.settings = cfg = settings or WsConfig()
        self.layers, self.channels, self.batch_size = cfg.layers, cfg.channels, cfg.batch_size
        self.warmup_epochs, self.epochs_per_round = cfg.warmup_epochs, cfg.epochs_per_round
        self.planned_rounds, self.eval_images = int(planned_rounds), cfg.eval_images
        self.valid_size, self.pool_size = cfg.valid_size, cfg.pool_size
        self.seed = int(seed)
        self.dataset, self.data_dir = dataset, data_dir
        standalone = cfg.standalone()
        self.rerank_top, self.rerank_epochs = cfg.rerank_top, standalone.epochs
        self.rerank_layers, self.rerank_channels = standalone.layers, standalone.channels
        self.split = ImageSplit(dataset, data_dir, self.valid_size, self.seed)
        self.budget = ParamBudget(cfg.max_params, self.rerank_layers, self.rerank_channels, self.split.num_classes,
                                  self.split.shape[-1])
        self.steps_per_epoch = max(1, len(self.split.x_train) // self.batch_size)
        self._trainer: Any = None
        # search state (``get_state``)
        self.pool: list[Architecture] = []
        self.scores: dict[Architecture, float] = {}
        self.scored_at: dict[Architecture, int] = {}  # the supernet step each score was taken at
        self.total_steps = 0
        self.round = -1
        self._rng = np.random.default_rng([self.seed, 5101])
        self._order = self._rng.permutation(len(self.split.x_train))
        self._pos = 0
        self.last_loss = float("nan")
        self.rescored = 0  # how many pool scores were refreshed with newer shared weights (all rounds)
        self.run_dir: Path | None = None

    # ----- the supernet ------------------------------------------------------------------------------------
    @property
    def total_planned_steps(self) -> int:
        epochs = self.warmup_epochs + self.epochs_per_round * max(0, self.planned_rounds - 1)
        return max(1, int(round(epochs * self.steps_per_epoch)))

    @property
    def trainer(self) -> Any:
        if self._trainer is None:
            from nao_tf.children.supernet import Supernet, SupernetTrainer
            from nao_tf.seeding import set_global_seed

            set_global_seed(self.seed)
            cfg = self.settings
            model = Supernet(self.layers, self.channels, self.split.num_classes, select=cfg.select,
                             drop_path_keep=cfg.drop_path_keep)
            self._trainer = SupernetTrainer(model, lr_max=cfg.lr, lr_min=cfg.lr_min,
                                            total_steps=self.total_planned_steps, weight_decay=cfg.weight_decay,
                                            grad_clip=cfg.grad_clip, image_shape=self.split.shape)
        return self._trainer

    def _next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pos + self.batch_size > len(self._order):
            self._order = self._rng.permutation(len(self.split.x_train))
            self._pos = 0
        idx = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.split.normalize(self.split.x_train[idx]), self.split.y_train[idx].astype(np.int32)

    def _training_arch(self) -> Architecture:
        """The architecture of the next supernet step: one of the pool, or (``train_on='uniform'``) a fresh
        random one within the parameter budget, so that every path gets trained, not only the pool's."""
        if self.settings.train_on == "pool":
            return self.pool[int(self._rng.integers(len(self.pool)))]
        for _ in range(1000):
            arch = self.space.sample(self._rng)[0]
            if self.is_allowed(arch):
                return arch
        raise ConfigError("no random architecture fits --max-params after 1000 draws; raise --max-params")

    def train(self, steps: int) -> float:
        """``steps`` supernet minibatches, each with one architecture drawn uniformly from the pool."""
        import tensorflow as tf

        if not self.pool or steps <= 0:
            return float("nan")
        trainer = self.trainer
        bar = self.bar("supernet training", steps)
        losses = []
        total = self.total_planned_steps
        for _ in range(steps):
            arch = self._training_arch()
            x, y = self._next_batch()
            progress = tf.constant(min(1.0, self.total_steps / total), tf.float32)
            seed = tf.constant([self.seed, self.total_steps], tf.int32)
            loss, _ = trainer.train_step(x, y, tf.constant(arch.values, tf.int32), progress, seed)
            losses.append(float(loss))
            self.total_steps += 1
            bar.update(1)
        bar.close()
        self.last_loss = float(np.mean(losses))
        if not math.isfinite(self.last_loss):
            from nao_tf.errors import TrainingDivergedError

            raise TrainingDivergedError(f"supernet loss became {self.last_loss} at step {self.total_steps}; "
                                        "lower --ws-lr or resume from the last round")
        return self.last_loss

    def score(self, archs: Sequence[Architecture]) -> list[float]:
        images = self.split.normalize(self.split.x_valid[: self.eval_images])
        labels = self.split.y_valid[: self.eval_images].astype(np.int32)
        return self.trainer.score_pool([a.values for a in archs], images, labels)

    # ----- Evaluator interface -------------------------------------------------------------------------------
    def allowed(self, arch: Architecture) -> bool | str:
        return self.budget.allowed(arch)

    def begin_round(self, round_index: int, pool: Sequence[Architecture]) -> None:
        batch = [a for a in pool if self.is_allowed(a)]
        keep = max(self.pool_size, len(batch)) - len(batch)
        ranked = sorted(self.scores, key=lambda a: (-self.scores[a], a.values))
        fresh = set(batch)
        self.pool = batch + [a for a in ranked if a not in fresh][:keep]
        epochs = self.warmup_epochs if self.total_steps == 0 else self.epochs_per_round
        self.round = int(round_index)
        self.train(int(round(epochs * self.steps_per_epoch)))
        self.rescore_pool()

    def rescore_pool(self) -> None:
        """Score the pool's earlier architectures again with the weights just trained (NAO-WS scores the whole
        pool every round), so the controller and the pool's pruning see current scores, not stale ones."""
        old = [a for a in self.pool if a in self.scores]
        self.rescored += len(old)
        self._keep(old, self.score_each(old, "re-scoring the pool"))

    def _keep(self, archs: Sequence[Architecture], accs: Sequence[float]) -> None:
        """Store scores just taken with the current weights, and the supernet step they were taken at."""
        self.scores.update(zip(archs, accs, strict=True))
        self.scored_at.update(dict.fromkeys(archs, self.total_steps))

    def final_scores(self, archs: Sequence[Architecture]) -> list[float]:
        """Every one of ``archs`` scored with the current (after the search: final) weights. The recorded scores
        come from a supernet that kept training between rounds, so only one set of weights compares the rounds
        fairly (``final.py``). Scores already taken with these weights (the last round's) are reused; ``scores``,
        which the re-ranking reads, stays as it is."""
        stale = [a for a in dict.fromkeys(archs) if self.scored_at.get(a) != self.total_steps]
        fresh = dict(zip(stale, self.score_each(stale, "re-scoring every architecture with the final supernet"),
                         strict=True))
        return [fresh[a] if a in fresh else self.scores[a] for a in archs]

    def score_each(self, archs: Sequence[Architecture], phase: str) -> list[float]:
        """Shared-weight accuracy of ``archs`` with the current weights, one progress step each."""
        if not archs:
            return []
        bar = self.bar(phase, len(archs))
        out = []
        for a in archs:
            out.append(self.score([a])[0])
            bar.update(1)
        bar.close()
        return out

    def current_score(self, evaluation: Evaluation) -> float:
        return self.scores.get(evaluation.arch, evaluation.score)

    def evaluate(self, archs: Sequence[Architecture]) -> list[Evaluation]:
        for a in archs:
            self.space.check_space(a)
        if self.total_steps == 0 and not self.pool:  # used without the loop's begin_round
            self.begin_round(0, archs)
        accs = self.score_each(archs, "evaluation")
        self._keep(archs, accs)
        return [Evaluation(a, acc, {"shared_accuracy": acc, "supernet_steps": self.total_steps,
                                    "params": self.budget.params(a)}) for a, acc in zip(archs, accs, strict=True)]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "metric": "valid_accuracy (shared weights, one batch)",
                "dataset": self.split.data.name, "data_dir": self.data_dir, "seed": self.seed,
                "planned_rounds": self.planned_rounds, **self.budget.config(),
                "settings": self.settings.model_dump(mode="json")}

    def attach_run_dir(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    # ----- re-ranking ----------------------------------------------------------------------------------------
    def rerank(self, evaluations: Sequence[Evaluation]) -> list[dict[str, Any]]:
        """Stand-alone training of the ``rerank_top`` best (by shared-weight score); best first.

        Each finished child is written to ``rerank.json`` in the attached run folder at once (a journal), so a
        resumed run retrains none.
        """
        from nao_tf.children.train_cnn import train_child

        ranked = sorted(evaluations, key=lambda e: (-self.current_score(e), e.arch.values))
        top = [e for e in ranked if self.is_allowed(e.arch)][: self.rerank_top]
        path = None if self.run_dir is None else self.run_dir / "rerank.json"
        done: dict[str, dict[str, Any]] = {}
        if path is not None and path.is_file():
            try:
                done = {r["integers"]: r for r in read_json(path)}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise RunFolderError(f"cannot read {path}: {exc}") from None
        bar = self.bar("re-ranking (stand-alone training)", len(top))
        results = []
        for ev in top:
            key = ev.arch.integers
            if key not in done:
                out = train_child(ev.arch, self.split.data, epochs=self.rerank_epochs, layers=self.rerank_layers,
                                  channels=self.rerank_channels, batch_size=self.settings.rerank_batch_size,
                                  lr=self.settings.rerank_lr, drop_path_keep=1.0, aux_head=False, cutout=0,
                                  valid_size=self.valid_size, seed=self.seed,
                                  steps_per_epoch=self.settings.rerank_steps)
                done[key] = {"integers": key, "shared_accuracy": ev.score,
                             "standalone_accuracy": out["valid_accuracy"], "params": out["params"],
                             "seconds": out["seconds"], "epochs": self.rerank_epochs,
                             "layers": self.rerank_layers, "channels": self.rerank_channels}
                if path is not None:
                    atomic_write_json(path, [done[e.arch.integers] for e in top if e.arch.integers in done])
            results.append(done[key])
            bar.update(1)
        bar.close()
        return sorted(results, key=lambda r: -r["standalone_accuracy"])

    # ----- resume ----------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Supernet weights and optimizer (``arrays``), pool, scores, data order and random state after the last
        completed round ({} before the first)."""
        if self.round < 0:
            return {}
        return {"completed_rounds": self.round + 1, "pool": [list(a.values) for a in self.pool],
                "scores": [[list(a.values), s] for a, s in self.scores.items()], "total_steps": self.total_steps,
                "scored_at": [[list(a.values), n] for a, n in self.scored_at.items()],
                "pos": self._pos, "order": self._order.tolist(), "rng": self._rng.bit_generator.state,
                "last_loss": self.last_loss, "rescored": self.rescored,
                "arrays": list(self.trainer.get_state())}

    def set_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        try:
            self.trainer.set_state(list(state["arrays"]))
            self.pool = [self.space.make(v) for v in state["pool"]]
            self.scores = {self.space.make(v): float(s) for v, s in state["scores"]}
            # absent from snapshots of earlier versions: then every architecture is re-scored at the end
            self.scored_at = {self.space.make(v): int(n) for v, n in state.get("scored_at", [])}
            self.total_steps = int(state["total_steps"])
            self._pos = int(state["pos"])
            self._order = np.asarray(state["order"], dtype=np.int64)
            self._rng.bit_generator.state = state["rng"]
            self.round = int(state["completed_rounds"]) - 1
            self.last_loss = float(state.get("last_loss", float("nan")))
            self.rescored = int(state.get("rescored", 0))
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise RunFolderError(f"cannot resume the supernet from its snapshot: {exc}") from None
