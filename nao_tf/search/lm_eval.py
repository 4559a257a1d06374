"""Evaluators of RNN cells for the search loop (docs/method.md section 5): score = validation perplexity,
lower is better.

* ``LmChildEvaluator`` (full NAO): every architecture trains its own small LM briefly (``LmTrainer``: the
  paper's recipe at a small size), score = best validation perplexity.
* ``LmSharedEvaluator`` (NAO-WS): one weight-sharing LM (``SharedNaoRnnCell``: a matrix for every
  (node, predecessor) pair; the architecture is an int32 tensor, so one compiled training step and one
  compiled evaluation step serve every architecture). ``begin_round`` trains the shared weights for
  ``train_steps`` minibatches, each with an architecture drawn uniformly from every architecture seen so far
  (the pool); ``evaluate`` scores architectures on the same ``eval_windows`` validation windows. The supernet
  weights, the pool and the data position are saved with the search (``save_state``) for resume.

Both read the corpus once (``embedded`` by default; ``ptb``/``wikitext2`` from ``data_dir``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.runio import atomic_write_bytes, atomic_write_json, read_json
from nao_tf.search.evaluator import Evaluation, Evaluator
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


class LmChildEvaluator(Evaluator):
    """Train each cell briefly as its own LM; score = best validation perplexity (``mode = 'min'``)."""

    name = "lm-child"

    def __init__(self, dataset: str = "embedded", data_dir: str | None = None, epochs: int = 1,
                 max_steps: int | None = None, seed: int = 0, options: dict[str, Any] | None = None) -> None:
        from nao_tf.data.text import load_corpus
        from nao_tf.data.text_batches import batchify, check_bptt

        super().__init__(RNN, "min")
        self.data_dir = data_dir
        self.seed = seed
        self.corpus = load_corpus(dataset, data_dir)
        self.settings = _config(seed, {**(options or {}), "epochs": epochs, "max_steps": max_steps,
                                       "dataset": self.corpus.name, "data_dir": data_dir})
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
    STATE_FILE = "lm_supernet.npz"
    META_FILE = "lm_supernet.json"

    def __init__(self, dataset: str = "embedded", data_dir: str | None = None, train_steps: int = 100,
                 eval_windows: int = 1, seed: int = 0, options: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        from nao_tf.children.train_lm import LmTrainer
        from nao_tf.data.text import load_corpus
        from nao_tf.seeding import rng

        super().__init__(RNN, "min")
        if train_steps < 0:
            raise ConfigError(f"weight-sharing train steps must be >= 0, got {train_steps}")
        if eval_windows < 1:
            raise ConfigError(f"weight-sharing evaluation windows must be >= 1, got {eval_windows}")
        self.train_steps = int(train_steps)
        self.eval_windows = int(eval_windows)
        self.seed = seed
        self.corpus = load_corpus(dataset, data_dir)
        cfg = _config(seed, {**(options or {}), "dataset": self.corpus.name, "data_dir": data_dir,
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

    # ----- resume -----------------------------------------------------------------------------------------
    def _saved_vars(self) -> list[Any]:
        """Weights and the dropout seed-generator states (so a resumed search draws the same masks)."""
        return list(self.trainer.vars) + list(self.trainer.model.non_trainable_variables)

    def save_state(self, run_dir: Path) -> None:
        import io

        buf = io.BytesIO()
        np.savez(buf, *[v.numpy() for v in self._saved_vars()], state=self.trainer.state.numpy())
        atomic_write_bytes(Path(run_dir) / self.STATE_FILE, buf.getvalue())
        atomic_write_json(Path(run_dir) / self.META_FILE, {
            "pool": [list(a.values) for a in self.pool], "pos": self._pos, "total_steps": self.total_steps,
            "rng": self._rng.bit_generator.state,
            "scores": [[list(a.values), float(v)] for a, v in self.scores.items()]})

    def load_state(self, run_dir: Path) -> None:
        run_dir = Path(run_dir)
        if not (run_dir / self.META_FILE).is_file():
            return  # nothing saved yet: the search stopped before its first round
        try:
            meta = read_json(run_dir / self.META_FILE)
            with np.load(run_dir / self.STATE_FILE) as data:
                weights = [data[f"arr_{i}"] for i in range(len(self._saved_vars()))]
                state = data["state"]
        except (OSError, KeyError, ValueError) as exc:
            raise RunFolderError(f"cannot resume the weight-sharing LM from {run_dir}: {exc}") from None
        for v, w in zip(self._saved_vars(), weights, strict=True):
            if tuple(v.shape) != w.shape:
                raise RunFolderError(f"{run_dir / self.STATE_FILE} does not fit this supernet (other --hidden?)")
            v.assign(w)
        self.trainer.state.assign(state)
        self.pool = [RNN.make(v) for v in meta["pool"]]
        self._seen = set(self.pool)
        self.scores = {RNN.make(v): float(x) for v, x in meta.get("scores", [])}
        self._pos = int(meta["pos"])
        self.total_steps = int(meta["total_steps"])
        self._rng.bit_generator.state = meta["rng"]


def make_lm_evaluator(kind: str = "ws", dataset: str | None = None, data_dir: str | None = None, seed: int = 0,
                      hidden: int | None = None, child_epochs: int | None = None, child_steps: int | None = None,
                      ws_steps: int | None = None, eval_windows: int | None = None) -> Evaluator:
    """The evaluator ``nao-tf search --space rnn`` uses: ``ws`` (weight sharing, default) or ``child``."""
    options = {"hidden": hidden} if hidden else {}
    dataset = dataset or "embedded"
    if kind in ("ws", "weight-sharing", "shared", "supernet"):
        return LmSharedEvaluator(dataset, data_dir, train_steps=100 if ws_steps is None else ws_steps,
                                 eval_windows=eval_windows or 1, seed=seed, options=options)
    if kind in ("child", "train", "full"):
        return LmChildEvaluator(dataset, data_dir, epochs=child_epochs or 1, max_steps=child_steps, seed=seed,
                                options=options)
    raise ConfigError(f"unknown RNN evaluator {kind!r}; expected ws (weight sharing) or child (train each cell)")


# ----- ``nao-tf search`` glue (registered by ``nao_tf.cli.search``) -------------------------------------------
def add_search_arguments(group: Any) -> None:
    """Flags of the RNN evaluators; flags another evaluator already defined (``--dataset``) are shared."""
    existing = getattr(group, "_option_string_actions", {})
    flags = (
        ("--dataset", {"default": None, "help": "rnn space: embedded (default, pydoc corpus), ptb or wikitext2"}),
        ("--data-dir", {"default": None, "help": "folder holding the corpus files (ptb.*.txt / wiki.*.tokens)"}),
        ("--lm-hidden", {"type": int, "default": None,
                         "help": f"rnn space: hidden size of the LMs (default {SEARCH_DEFAULTS['hidden']})"}),
        ("--lm-ws-steps", {"type": int, "default": None,
                           "help": "lm-ws: supernet training minibatches per round (default 100)"}),
        ("--lm-eval-windows", {"type": int, "default": None,
                               "help": "lm-ws: validation windows each architecture is scored on (default 1)"}),
        ("--lm-child-epochs", {"type": int, "default": None, "help": "lm-child: epochs per child (default 1)"}),
        ("--lm-child-steps", {"type": int, "default": None,
                              "help": "lm-child: at most this many training steps per child"}),
    )
    for flag, kw in flags:
        if flag not in existing:
            group.add_argument(flag, **kw)


def _lm_dataset(args: Any) -> tuple[str, str | None]:
    from nao_tf.data.text import canonical_dataset

    dataset = getattr(args, "dataset", None) or "embedded"
    return canonical_dataset(dataset), getattr(args, "data_dir", None)


def build_for_search(kind: str, args: Any) -> Evaluator:
    if getattr(args, "space", None) not in (None, "rnn"):
        raise ConfigError(f"the lm-{kind} evaluator scores RNN cells; use --space rnn, not {args.space!r}")
    args.space = "rnn"
    dataset, data_dir = _lm_dataset(args)
    return make_lm_evaluator(kind, dataset, data_dir, args.seed, args.lm_hidden, args.lm_child_epochs,
                             args.lm_child_steps, args.lm_ws_steps, args.lm_eval_windows)


def from_search_config(kind: str, cfg: dict[str, Any], args: Any) -> Evaluator:
    """Rebuild the evaluator of a run folder (``--resume``) from its ``config.json`` entry."""
    lm = cfg.get("supernet" if kind == "ws" else "child") or {}
    data_dir = getattr(args, "data_dir", None) or lm.get("data_dir")
    seed = int(lm.get("seed", 0))
    if kind == "ws":
        return make_lm_evaluator("ws", lm.get("dataset", "embedded"), data_dir, seed, lm.get("hidden"),
                                 ws_steps=int(cfg.get("train_steps", 100)),
                                 eval_windows=int(cfg.get("eval_windows", 1)))
    return make_lm_evaluator("child", lm.get("dataset", "embedded"), data_dir, seed, lm.get("hidden"),
                             child_epochs=int(lm.get("epochs", 1)), child_steps=lm.get("max_steps"))
