"""``nao-tf benchmark lm``: training and evaluation throughput (tokens/s) of the NAO RNN language model.

Runs the real training step of ``nao_tf.children.train_lm`` (forward, TAR, clipped SGD update, state carry) and
its evaluation step on a synthetic corpus (uniform random ids; throughput does not depend on the text) for
the PTB NAONet cell at each requested hidden size (paper: 850; small: 200), batch 64, BPTT 35 (fixed length,
so one trace serves every step), with and without XLA (``jit_compile``). The first step of each phase is a
warm-up (tracing/compilation) and is reported separately, not included in the rates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun, Stopwatch
from nao_tf.errors import ConfigError


def _synthetic_corpus(vocab_size: int, train_tokens: int, eval_tokens: int, seed: int):
    from nao_tf.data.text import EOS, UNK, Corpus, Vocabulary

    words = [EOS, UNK] + [f"w{i}" for i in range(2, vocab_size)]
    g = np.random.default_rng(seed)
    splits = {"train": g.integers(0, vocab_size, train_tokens).astype(np.int32),
              "valid": g.integers(0, vocab_size, eval_tokens).astype(np.int32),
              "test": g.integers(0, vocab_size, eval_tokens).astype(np.int32)}
    return Corpus("synthetic", Vocabulary(words), splits, {"train": 0, "valid": 0, "test": 0})


def benchmark_lm(arch: str = "PTB-NAONet", sizes: tuple[int, ...] = (850, 200), batch_size: int = 64,
                 bptt: int = 35, vocab_size: int = 10000, steps: int = 5, jit: str = "both",
                 seed: int = 0) -> dict[str, Any]:
    """Tokens/s of training and evaluation for each hidden size and jit setting."""
    if steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {steps}")
    if jit not in ("off", "on", "both"):
        raise ConfigError(f"--jit must be off, on or both, got {jit!r}")
    if vocab_size < 3:
        raise ConfigError(f"--vocab-size must be at least 3, got {vocab_size}")
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--sizes must list positive hidden sizes, got {','.join(map(str, sizes)) or 'none'}")
    jits = {"off": [False], "on": [True], "both": [False, True]}[jit]

    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    import tensorflow as tf

    from nao_tf.children.train_lm import LmConfig, LmTrainer

    run = BenchmarkRun("lm", {"architecture": arch, "sizes": [int(h) for h in sizes], "batch_size": batch_size,
                              "bptt": bptt, "vocab_size": vocab_size, "steps": steps, "jit": jit, "seed": seed,
                              "corpus": "synthetic (uniform random ids)"})
    window = batch_size * bptt
    corpus = _synthetic_corpus(vocab_size, window * (steps + 1) + batch_size, window * (steps + 1) + batch_size,
                               seed)
    results = []
    for hidden in sizes:
        for use_jit in jits:
            cfg = LmConfig(arch=arch, hidden=int(hidden), batch_size=batch_size, eval_batch_size=batch_size,
                           bptt=bptt, variable_bptt=False, seed=seed, jit_compile=use_jit)
            trainer = LmTrainer(cfg, None, quiet=True, corpus=corpus)
            data = trainer.train_data
            lr = tf.constant(cfg.lr, tf.float32)

            def window_at(k: int, streams: np.ndarray = data) -> tuple[np.ndarray, np.ndarray]:
                return streams[:, k * bptt:(k + 1) * bptt], streams[:, k * bptt + 1:(k + 1) * bptt + 1]

            with Stopwatch() as train_warmup:
                x, y = window_at(0)
                float(trainer.train_step(x, y, lr))
            with Stopwatch() as train:
                for k in range(1, steps + 1):
                    loss = trainer.train_step(*window_at(k), lr)
                float(loss)

            evals = trainer.valid_data
            state = np.zeros((batch_size, cfg.hidden), np.float32)
            with Stopwatch() as eval_warmup:
                _, state = trainer.eval_step(*window_at(0, evals), state)
                float(_)
            with Stopwatch() as evaluation:
                for k in range(1, steps + 1):
                    total, state = trainer.eval_step(*window_at(k, evals), state)
                float(total)
            train_s, eval_s = train.wall, evaluation.wall
            tokens = steps * window
            results.append({
                "hidden": int(hidden),
                "jit_compile": use_jit,
                "parameters": int(sum(int(np.prod(v.shape)) for v in trainer.vars)),
                "train_tokens_per_s": round(tokens / train_s, 1),
                "eval_tokens_per_s": round(tokens / eval_s, 1),
                "train_step_ms": round(1000 * train_s / steps, 2),
                "eval_step_ms": round(1000 * eval_s / steps, 2),
                "train_warmup_s": round(train_warmup.wall, 2),
                "eval_warmup_s": round(eval_warmup.wall, 2),
                "final_train_loss": round(float(loss), 4),
            })
            del trainer
    return run.finish({"runs": results})
