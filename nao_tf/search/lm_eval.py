"""Evaluators of RNN cells for the search loop (docs/method.md section 5): score = validation perplexity,
lower is better.

* ``LmChildEvaluator`` (full NAO): every architecture trains its own small LM briefly (``LmTrainer``: the
  paper's recipe at a small size), score = best validation perplexity.
* ``LmSharedEvaluator`` (NAO-WS): one weight-sharing LM (``SharedNaoRnnCell``: a matrix for every
  (node, predecessor) pair; the architecture is an int32 tensor, so one compiled training step and one
  compiled evaluation step serve every architecture). ``begin_round`` trains the shared weights for
  ``train_steps`` minibatches, each with an architecture drawn uniformly from every architecture seen so far
  (the pool); ``evaluate`` scores architectures on the same ``eval_windows`` validation windows. The supernet
  weights, the pool and the data position are the evaluator's state (``get_state``) for resume.

Both read the corpus once (``embedded`` by default; ``ptb``/``wikitext2`` from ``data_dir``). Their settings
(and defaults) are ``nao_tf.search.config.LmWsConfig`` / ``LmChildConfig``: small, fast LMs for search (the
final training uses the full PTB recipe of ``LmConfig``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.search.config import LmChildConfig, LmWsConfig
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.spaces.base import Architecture
from nao_tf.spaces.rnn import RNN


def _config(seed: int, overrides: dict[str, Any]):
    from nao_tf.children.train_lm import LmConfig

    values = {"log_every": 10**9, **{k: v for k, v in overrides.items() if v is not None}}
    cfg = LmConfig.from_dict({**values, "seed": seed})
    cfg.validate()
    return cfg


def _finite(ppl: float, vocab_size: int) -> float:
    """A diverged child scores twice the uniform model's perplexity (the vocabulary size): worse than any
    working cell but finite, so the controller's min-max normalized targets stay defined."""
    return ppl if math.isfinite(ppl) else 2.0 * vocab_size


class LmChildEvaluator(Evaluator):
    """Train each cell briefly as its own LM; score = best validation perplexity (``mode = 'min'``)."""

    name = "lm-child"

    def __init__(self, settings: LmChildConfig | None = None, dataset: str = "embedded",
                 data_dir: str | None = None, seed: int = 0) -> None:
        from nao_tf.data.text import load_corpus
        from nao_tf.data.text_batches import batchify, check_bptt

        super().__init__(RNN, "min")
        self.options = settings or LmChildConfig()
        self.data_dir = data_dir
        self.seed = seed
        self.corpus = load_corpus(dataset, data_dir)
        self.settings = _config(seed, {**self.options.lm_options(), "epochs": self.options.epochs,
                                       "max_steps": self.options.max_steps, "dataset": self.corpus.name,
                                       "data_dir": data_dir})
        cfg = self.settings
        check_bptt(batchify(self.corpus.train, cfg.batch_size, "train"), cfg.bptt, "train")
        check_bptt(batchify(self.corpus.valid, cfg.eval_batch_size, "valid"), cfg.bptt, "valid")

    def evaluate_one(self, arch: Architecture) -> Evaluation:
        from nao_tf.children.train_lm import LmTrainer
        from nao_tf.errors import TrainingDivergedError

        RNN.check_space(arch)
        cfg = _config(self.seed, {**self.settings.to_dict(), "arch": arch.integers})
        start = time.perf_counter()
        trainer = LmTrainer(cfg, None, quiet=True, corpus=self.corpus)
        try:
            ppl, diverged = float(trainer.run(test=False)["best_valid_ppl"]), False
        except TrainingDivergedError:
            ppl, diverged = float("inf"), True
        return Evaluation(arch, _finite(ppl, len(self.corpus.vocab)),
                          {"valid_ppl": None if diverged else ppl, "steps": trainer.steps, "diverged": diverged,
                           "seconds": round(time.perf_counter() - start, 2)})

    def evaluate(self, archs: Sequence[Architecture]) -> list[Evaluation]:
        return [self.evaluate_one(a) for a in archs]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "metric": "valid_ppl", "child": self.settings.to_dict()}


class LmSharedEvaluator(Evaluator):
    """Weight-sharing evaluator: one supernet LM, the architecture passed as a tensor (``mode = 'min'``)."""

    name = "lm-ws"
    state_prefix = "lm-supernet"

    def __init__(self, settings: LmWsConfig | None = None, dataset: str = "embedded", data_dir: str | None = None,
                 seed: int = 0) -> None:
        import tensorflow as tf

        from nao_tf.children.train_lm import LmTrainer
        from nao_tf.data.text import load_corpus
        from nao_tf.seeding import rng

        super().__init__(RNN, "min")
        self.options = settings or LmWsConfig()
        self.train_steps = self.options.train_steps
        self.eval_windows = self.options.eval_windows
        self.seed = seed
        self.corpus = load_corpus(dataset, data_dir)
        cfg = _config(seed, {**self.options.lm_options(), "dataset": self.corpus.name, "data_dir": data_dir,
                             "variable_bptt": False})
        self.trainer = LmTrainer(cfg, None, quiet=True, corpus=self.corpus, shared=True)
        self.settings = cfg
        self.pool: list[Architecture] = []
        self._seen: set[Architecture] = set()
        self.scores: dict[Architecture, float] = {}  # newest shared-weight perplexity of each pool member
        self._rng = rng(seed, 61)
        self._pos = 0
        self.total_steps = 0
        self._lr = tf.constant(cfg.lr, tf.float32)
        self._tf = tf
        self._seed_vars = [v for v in self.trainer.model.non_trainable_variables if "seed_generator" in v.path]
        windows = (self.trainer.valid_data.shape[1] - 1) // cfg.bptt
        if windows < self.eval_windows:
            raise ConfigError(f"the valid split holds {windows} windows of {cfg.bptt} tokens at batch "
                              f"{cfg.eval_batch_size}, fewer than the {self.eval_windows} to score on")

    def _add(self, archs: Sequence[Architecture]) -> None:
        for a in archs:
            RNN.check_space(a)
            if a not in self._seen:
                self._seen.add(a)
                self.pool.append(a)

    def train(self, steps: int) -> float:
        """``steps`` minibatches of supernet training, each with a uniformly drawn pool architecture."""
        if not self.pool or steps <= 0:
            return float("nan")
        cfg, data = self.settings, self.trainer.train_data
        losses = []
        for _ in range(steps):
            if self._pos + cfg.bptt + 1 > data.shape[1]:
                self._pos = 0
                self.trainer.state.assign(self._tf.zeros_like(self.trainer.state))
            arch = self.pool[int(self._rng.integers(len(self.pool)))]
            self.trainer.model.cell.set_arch(arch)
            self._reseed()
            x = data[:, self._pos:self._pos + cfg.bptt]
            y = data[:, self._pos + 1:self._pos + 1 + cfg.bptt]
            losses.append(self.trainer.train_step(x, y, self._lr))
            self._pos += cfg.bptt
            self.total_steps += 1
        self.last_loss = float(np.mean([float(v) for v in losses]))
        return self.last_loss

    def _reseed(self) -> None:
        """Dropout masks of a training step depend only on (seed, step number): Keras draws an unused
        recurrent mask at evaluation too, so the generators' own counters depend on how often we scored."""
        for i, var in enumerate(self._seed_vars):
            var.assign(np.array([self.seed * 1009 + i, self.total_steps * 64], dtype=var.dtype))

    def begin_round(self, round_index: int, pool: Sequence[Architecture]) -> None:
        self._add(pool)
        self.train(self.train_steps)
        # NAO-WS scores the whole pool every round: earlier members are scored again with the new weights
        for a in [a for a in self.pool if a in self.scores]:
            self.scores[a] = _finite(self.score(a), len(self.corpus.vocab))

    def current_score(self, evaluation: Evaluation) -> float:
        return self.scores.get(evaluation.arch, evaluation.score)

    def score(self, arch: Architecture) -> float:
        """Validation perplexity of ``arch`` with the shared weights on the first ``eval_windows`` windows."""
        from nao_tf.children.train_lm import evaluate_streams

        cfg = self.settings
        self.trainer.model.cell.set_arch(arch)
        streams = self.trainer.valid_data[:, : self.eval_windows * cfg.bptt + 1]
        return evaluate_streams(self.trainer.eval_step, streams, cfg.bptt, cfg.hidden)

    def evaluate(self, archs: Sequence[Architecture]) -> list[Evaluation]:
        self._add(archs)
        if self.total_steps == 0:  # used without the loop's begin_round: train once before scoring
            self.train(self.train_steps)
        out = []
        for a in archs:
            ppl = self.score(a)
            self.scores[a] = _finite(ppl, len(self.corpus.vocab))
            out.append(Evaluation(a, _finite(ppl, len(self.corpus.vocab)),
                                  {"valid_ppl": ppl if math.isfinite(ppl) else None,
                                   "supernet_steps": self.total_steps}))
        return out

    def report(self, evaluation: Evaluation) -> dict[str, Any]:
        """Scores of different rounds come from differently trained shared weights, so the report re-scores
        every pool architecture with the current weights and lists the 5 best (memoized per training step)."""
        if getattr(self, "_report_at", None) != (self.total_steps, len(self.pool)):
            ranked = sorted(((self.score(a), a) for a in self.pool), key=lambda t: (t[0], t[1].values))
            self._report = {"rescored_with_final_weights": [
                {"integers": a.integers, "readable": RNN.format_readable(a), "valid_ppl": round(p, 3)}
                for p, a in ranked[:5]], "supernet_steps": self.total_steps}
            self._report_at = (self.total_steps, len(self.pool))
        return self._report

    def config(self) -> dict[str, Any]:
        return {**super().config(), "metric": "valid_ppl (shared weights)", "train_steps": self.train_steps,
                "eval_windows": self.eval_windows, "supernet": self.settings.to_dict()}

    # ----- resume ----------------------------------------------------------------------------------------
    def _saved_vars(self) -> list[Any]:
        """Weights and the dropout seed-generator states (so a resumed search draws the same masks)."""
        return list(self.trainer.vars) + list(self.trainer.model.non_trainable_variables)

    def get_state(self) -> dict[str, Any]:
        """Supernet weights, recurrent state and seed generators (``arrays``), pool, scores, data position and
        random state ({} before the first training step)."""
        if self.total_steps == 0 and not self.pool:
            return {}
        return {"pool": [list(a.values) for a in self.pool], "pos": self._pos, "total_steps": self.total_steps,
                "rng": self._rng.bit_generator.state,
                "scores": [[list(a.values), float(v)] for a, v in self.scores.items()],
                "arrays": [v.numpy() for v in self._saved_vars()] + [self.trainer.state.numpy()]}

    def set_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        try:
            arrays = list(state["arrays"])
            variables = self._saved_vars()
            if len(arrays) != len(variables) + 1:
                raise ValueError(f"{len(arrays)} arrays for {len(variables) + 1} variables")
            for v, w in zip(variables, arrays, strict=False):
                if tuple(v.shape) != tuple(w.shape):
                    raise ValueError("the snapshot does not fit this supernet (other --lm-hidden?)")
                v.assign(w)
            self.trainer.state.assign(arrays[-1])
            self.pool = [RNN.make(v) for v in state["pool"]]
            self._seen = set(self.pool)
            self.scores = {RNN.make(v): float(x) for v, x in state.get("scores", [])}
            self._pos = int(state["pos"])
            self.total_steps = int(state["total_steps"])
            self._rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise RunFolderError(f"cannot resume the weight-sharing LM from its snapshot: {exc}") from None
