"""Evaluators of RNN cells for the search loop (spec section 5): score = validation perplexity, lower is better.

* ``LmChildEvaluator`` (full NAO): every architecture trains its own small LM briefly (``LmTrainer``: the
  paper's recipe at a small size), score = best validation perplexity.
* ``LmSharedEvaluator`` (NAO-WS): one weight-sharing LM (``SharedNaoRnnCell``: a matrix for every
  (node, predecessor) pair; the architecture is an int32 tensor, so one compiled training step and one
  compiled evaluation step serve every architecture). Each ``evaluate`` call first trains the shared weights
  for ``train_steps`` minibatches, each with an architecture drawn uniformly from every architecture seen so
  far (the pool), then scores the requested architectures on the same ``eval_windows`` validation windows.

Both read the corpus once (``embedded`` by default; ``ptb``/``wikitext2`` from ``data_dir``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError
from nao_tf.spaces.base import Architecture
from nao_tf.spaces.rnn import RNN

# Small, fast settings for search (the final training uses the PTB recipe of ``LmConfig``).
SEARCH_DEFAULTS: dict[str, Any] = {"hidden": 64, "batch_size": 32, "eval_batch_size": 32, "bptt": 35,
                                   "embed_dropout": 0.0, "input_dropout": 0.1, "x_dropout": 0.2,
                                   "hidden_dropout": 0.1, "output_dropout": 0.3, "log_every": 10**9}


def _config(seed: int, overrides: dict[str, Any]):
    from nao_tf.children.train_lm import LmConfig

    values = {**SEARCH_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    cfg = LmConfig.from_dict({**values, "seed": seed})
    cfg.validate()
    return cfg


def _finite(ppl: float, vocab_size: int) -> float:
    """A diverged child scores twice the uniform model's perplexity (the vocabulary size): worse than any
    working cell but finite, so the controller's min-max normalized targets stay defined."""
    return ppl if math.isfinite(ppl) else 2.0 * vocab_size


@dataclass
class LmChildEvaluator:
    """Train each cell briefly as its own LM; score = validation perplexity (``mode = 'min'``)."""

    dataset: str = "embedded"
    data_dir: str | None = None
    epochs: int = 1
    max_steps: int | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    mode: str = "min"
    metric: str = "valid_ppl"

    def __post_init__(self) -> None:
        from nao_tf.data.text import load_corpus

        self.space = RNN
        self.corpus = load_corpus(self.dataset, self.data_dir)
        self.config = _config(self.seed, {**self.options, "epochs": self.epochs, "max_steps": self.max_steps,
                                          "dataset": self.corpus.name, "data_dir": self.data_dir})
        self._check_sizes()

    def _check_sizes(self) -> None:
        from nao_tf.data.text_batches import batchify, check_bptt

        check_bptt(batchify(self.corpus.train, self.config.batch_size, "train"), self.config.bptt, "train")
        check_bptt(batchify(self.corpus.valid, self.config.eval_batch_size, "valid"), self.config.bptt, "valid")

    def evaluate_one(self, arch: Architecture) -> tuple[float, dict[str, Any]]:
        from nao_tf.children.train_lm import LmTrainer
        from nao_tf.errors import TrainingDivergedError

        RNN.check_space(arch)
        cfg = _config(self.seed, {**self.config.to_dict(), "arch": arch.integers})
        start = time.perf_counter()
        trainer = LmTrainer(cfg, None, quiet=True, corpus=self.corpus)
        try:
            result = trainer.run(test=False)
            ppl, diverged = float(result["best_valid_ppl"]), False
        except TrainingDivergedError:
            ppl, diverged = float("inf"), True
        return _finite(ppl, len(self.corpus.vocab)), {"valid_ppl": ppl, "steps": trainer.steps, "diverged": diverged,
                              "seconds": round(time.perf_counter() - start, 2)}

    def evaluate(self, archs: list[Architecture]) -> list[tuple[float, dict[str, Any]]]:
        return [self.evaluate_one(a) for a in archs]


@dataclass
class LmSharedEvaluator:
    """Weight-sharing evaluator: one supernet LM, the architecture passed as a tensor (``mode = 'min'``)."""

    dataset: str = "embedded"
    data_dir: str | None = None
    train_steps: int = 100
    eval_windows: int = 1
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    mode: str = "min"
    metric: str = "valid_ppl_shared"

    def __post_init__(self) -> None:
        import tensorflow as tf

        from nao_tf.children.train_lm import LmTrainer
        from nao_tf.data.text import load_corpus
        from nao_tf.seeding import rng

        if self.train_steps < 0:
            raise ConfigError(f"weight-sharing train steps must be >= 0, got {self.train_steps}")
        if self.eval_windows < 1:
            raise ConfigError(f"weight-sharing evaluation windows must be >= 1, got {self.eval_windows}")
        self.space = RNN
        self.corpus = load_corpus(self.dataset, self.data_dir)
        cfg = _config(self.seed, {**self.options, "dataset": self.corpus.name, "data_dir": self.data_dir,
                                  "variable_bptt": False})
        self.trainer = LmTrainer(cfg, None, quiet=True, corpus=self.corpus, shared=True)
        self.config = cfg
        self.pool: list[Architecture] = []
        self._seen: set[Architecture] = set()
        self._rng = rng(self.seed, 61)
        self._pos = 0
        self.total_steps = 0
        self._lr = tf.constant(cfg.lr, tf.float32)
        self._tf = tf
        windows = (self.trainer.valid_data.shape[1] - 1) // cfg.bptt
        if windows < self.eval_windows:
            raise ConfigError(f"the valid split holds {windows} windows of {cfg.bptt} tokens at batch "
                              f"{cfg.eval_batch_size}, fewer than the {self.eval_windows} to score on")

    def train(self, steps: int) -> float:
        """``steps`` minibatches of supernet training, each with a uniformly drawn pool architecture."""
        if not self.pool or steps <= 0:
            return float("nan")
        cfg, data = self.config, self.trainer.train_data
        losses = []
        for _ in range(steps):
            if self._pos + cfg.bptt + 1 > data.shape[1]:
                self._pos = 0
                self.trainer.state.assign(self._tf.zeros_like(self.trainer.state))
            arch = self.pool[int(self._rng.integers(len(self.pool)))]
            self.trainer.model.cell.set_arch(arch)
            x = data[:, self._pos:self._pos + cfg.bptt]
            y = data[:, self._pos + 1:self._pos + 1 + cfg.bptt]
            losses.append(self.trainer.train_step(x, y, self._lr))
            self._pos += cfg.bptt
        self.total_steps += steps
        values = [float(v) for v in losses]
        return float(np.mean(values))

    def score(self, arch: Architecture) -> float:
        """Validation perplexity of ``arch`` with the shared weights on the first ``eval_windows`` windows."""
        cfg = self.config
        self.trainer.model.cell.set_arch(arch)
        streams = self.trainer.valid_data[:, : self.eval_windows * cfg.bptt + 1]
        from nao_tf.children.train_lm import evaluate_streams

        return evaluate_streams(self.trainer.eval_step, streams, cfg.bptt, cfg.hidden)

    def evaluate(self, archs: list[Architecture]) -> list[tuple[float, dict[str, Any]]]:
        for a in archs:
            RNN.check_space(a)
            if a not in self._seen:
                self._seen.add(a)
                self.pool.append(a)
        loss = self.train(self.train_steps)
        out = []
        for a in archs:
            ppl = self.score(a)
            out.append((_finite(ppl, len(self.corpus.vocab)), {"valid_ppl": ppl, "supernet_steps": self.total_steps,
                                       "supernet_train_loss": loss}))
        return out
