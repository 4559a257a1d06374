"""``nao-tf benchmark lm``: training and evaluation throughput (tokens/s) of the NAO RNN language model.

Runs the real training step of ``nao_tf.children.train_lm`` (forward, TAR, clipped SGD update, state carry) and
its evaluation step on a synthetic corpus (uniform random ids; throughput does not depend on the text) for
the PTB NAONet cell at each requested hidden size (paper: 850; small: 200), batch 64, BPTT 35 (fixed length,
so one trace serves every step), with and without XLA (``jit_compile``). The first step of each phase is a
warm-up (tracing/compilation) and is reported separately, not included in the rates.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError


def _synthetic_corpus(vocab_size: int, train_tokens: int, eval_tokens: int, seed: int):
    from nao_tf.data.text import EOS, UNK, Corpus, Vocabulary

    words = [EOS, UNK] + [f"w{i}" for i in range(2, vocab_size)]
    g = np.random.default_rng(seed)
    splits = {"train": g.integers(0, vocab_size, train_tokens).astype(np.int32),
              "valid": g.integers(0, vocab_size, eval_tokens).astype(np.int32),
              "test": g.integers(0, vocab_size, eval_tokens).astype(np.int32)}
    return Corpus("synthetic", Vocabulary(words), splits, {"train": 0, "valid": 0, "test": 0})


def _device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            return str(tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU"))
        except (ValueError, RuntimeError):
            return "GPU"
    return "CPU"


def benchmark_lm(arch: str = "PTB-NAONet", sizes: tuple[int, ...] = (850, 200), batch_size: int = 64,
                 bptt: int = 35, vocab_size: int = 10000, steps: int = 5, jit: str = "both",
                 seed: int = 0) -> dict[str, Any]:
    """Tokens/s of training and evaluation for each hidden size and jit setting."""
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    import tensorflow as tf

    from nao_tf.children.train_lm import LmConfig, LmTrainer

    if steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {steps}")
    if jit not in ("off", "on", "both"):
        raise ConfigError(f"--jit must be off, on or both, got {jit!r}")
    if vocab_size < 3:
        raise ConfigError(f"--vocab-size must be at least 3, got {vocab_size}")
    jits = {"off": [False], "on": [True], "both": [False, True]}[jit]
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

            t0 = time.perf_counter()
            x, y = window_at(0)
            float(trainer.train_step(x, y, lr))
            train_warmup = time.perf_counter() - t0
            t0 = time.perf_counter()
            for k in range(1, steps + 1):
                loss = trainer.train_step(*window_at(k), lr)
            float(loss)
            train_s = time.perf_counter() - t0

            evals = trainer.valid_data
            state = np.zeros((batch_size, cfg.hidden), np.float32)
            t0 = time.perf_counter()
            _, state = trainer.eval_step(*window_at(0, evals), state)
            float(_)
            eval_warmup = time.perf_counter() - t0
            t0 = time.perf_counter()
            for k in range(1, steps + 1):
                total, state = trainer.eval_step(*window_at(k, evals), state)
            float(total)
            eval_s = time.perf_counter() - t0
            tokens = steps * window
            results.append({
                "hidden": int(hidden),
                "jit_compile": use_jit,
                "parameters": int(sum(int(np.prod(v.shape)) for v in trainer.vars)),
                "train_tokens_per_s": round(tokens / train_s, 1),
                "eval_tokens_per_s": round(tokens / eval_s, 1),
                "train_step_ms": round(1000 * train_s / steps, 2),
                "eval_step_ms": round(1000 * eval_s / steps, 2),
                "train_warmup_s": round(train_warmup, 2),
                "eval_warmup_s": round(eval_warmup, 2),
                "final_train_loss": round(float(loss), 4),
            })
            del trainer
    return {"benchmark": "lm", "architecture": arch, "device": _device(), "batch_size": batch_size,
            "bptt": bptt, "vocab_size": vocab_size, "steps": steps, "results": results}


def add_arguments(parser: Any) -> None:
    """Flags of ``nao-tf benchmark lm`` (the CLI module adds the subparser and calls this)."""
    parser.add_argument("--arch", default="PTB-NAONet", help="RNN cell (default PTB-NAONet)")
    parser.add_argument("--sizes", default="850,200",
                        help="comma-separated hidden sizes (default 850,200: the paper's and a small one)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--bptt", type=int, default=35, help="BPTT length (default 35)")
    parser.add_argument("--vocab-size", type=int, default=10000, help="vocabulary size (default 10000, PTB)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per phase after one warm-up (default 5)")
    parser.add_argument("--jit", choices=("off", "on", "both"), default="both",
                        help="XLA jit_compile for the steps (default both: report each)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run_from_args(args: Any) -> dict[str, Any]:
    try:
        sizes = tuple(int(s) for s in str(args.sizes).split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--sizes must list positive hidden sizes, got {args.sizes!r}")
    return benchmark_lm(args.arch, sizes, args.batch_size, args.bptt, args.vocab_size, args.steps, args.jit,
                        args.seed)
