"""New architectures by a gradient step in the controller's embedding space (docs/method.md section 4).

For each seed architecture the encoder's step outputs ``h_t`` move to ``h_t + eta * d f / d h_t`` (``f`` the
predictor, so towards better predicted quality), are re-normalized and mean-pooled into a new embedding, and
the decoder greedily decodes it (attending over the moved outputs). The authors' scripts call the decoder once
per step size (eta = 1, 2, 3, ... until enough new architectures appear); here ONE compiled call decodes every
(step size, seed) pair of a chunk of ``etas_per_call`` step sizes: the gradient is computed once, the moved
outputs for all step sizes are stacked into one batch. New architectures are then collected in the order the
sequential algorithm would find them (smallest step size first, seeds in rank order), and another chunk of
larger step sizes is decoded only if too few were new.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nao_tf.controller.model import NaoController, _l2n, tf
from nao_tf.errors import ConfigError
from nao_tf.spaces import Architecture, SearchSpace, get_space


@dataclass
class GenerationResult:
    """``archs``: the new architectures in discovery order; ``etas``: the step size that produced each one;
    ``calls``: decode calls made; ``decoded``: (step size, seed) pairs decoded; ``seconds``: wall time;
    ``noise``: the scale of the Gaussian perturbation of the moved step outputs (0: none)."""

    archs: list[Architecture] = field(default_factory=list)
    etas: list[float] = field(default_factory=list)
    seed_index: list[int] = field(default_factory=list)
    calls: int = 0
    decoded: int = 0
    seconds: float = 0.0
    noise: float = 0.0


class _FastDecoder:
    """Vectorized token -> integer decoding for spaces whose decode is position-wise (all built-in ones),
    verified against ``space.decode`` on samples; other spaces fall back to ``space.decode``."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.table: np.ndarray | None = None
        rng = np.random.default_rng(0)
        samples = space.sample(rng, 8)
        base = space.encode(samples[0])
        table = np.full((space.length, space.vocab_size), -(10**9), dtype=np.int64)
        try:
            for pos in range(space.length):
                for tok in space.valid_tokens(pos):
                    tokens = base.copy()
                    tokens[pos] = tok
                    table[pos, tok] = space.decode(tokens).values[pos]
        except Exception:  # noqa: BLE001  (a space whose validity couples positions: use decode)
            return
        for arch in samples:
            tokens = space.encode(arch)
            if tuple(table[np.arange(space.length), tokens]) != arch.values:
                return
        self.table = table

    def __call__(self, tokens: np.ndarray) -> Architecture:
        if self.table is None:
            return self.space.decode(tokens)
        return Architecture(self.space.name, tuple(self.table[np.arange(self.space.length), tokens].tolist()))


class Generator:
    """Compiled gradient-step generation for one controller (reuse it: the decode call is traced once per
    batch shape)."""

    def __init__(self, controller: NaoController, space: SearchSpace | str | None = None,
                 jit_compile: bool | None = None) -> None:
        self.controller = controller
        self.space = get_space(space if space is not None else controller.space_name)
        if self.space.name != controller.space_name:
            raise ConfigError(f"controller is for space {controller.space_name!r}, not {self.space.name!r}")
        self.settings = controller.settings
        jit = self.settings.generation_jit if jit_compile is None else jit_compile
        self._jit = bool(jit)
        self._fused = bool(self.settings.fused_lstm and not self._jit)
        self._fn = tf.function(self._moved_decode, jit_compile=self._jit)
        self._fast = _FastDecoder(self.space)

    def _moved_decode(self, tokens: tf.Tensor, etas: tf.Tensor, noise: tf.Tensor, noise_seed: tf.Tensor) -> tf.Tensor:
        """Tokens ``[K, L]``, step sizes ``[S]`` -> decoded tokens ``[S, K, L]``; ``noise`` > 0 adds
        ``noise * N(0, 1)`` (stateless, from ``noise_seed``) to every moved step output before re-normalizing."""
        outputs, _ = self.controller.encode(tokens, fused=self._fused)
        with tf.GradientTape() as tape:
            tape.watch(outputs)
            predicted = tf.reduce_sum(self.controller.predict_from_outputs(outputs))
        grads = tape.gradient(predicted, outputs)
        moved = outputs[None] + etas[:, None, None, None] * grads[None]
        moved = tf.cond(noise > 0, lambda: moved + noise * tf.random.stateless_normal(tf.shape(moved), noise_seed),
                        lambda: moved)
        k, t, h = outputs.shape[0], outputs.shape[1], outputs.shape[2]
        moved = _l2n(tf.reshape(moved, (-1, t, h)))
        embedding = _l2n(tf.reduce_mean(moved, axis=1))
        decoded = self.controller.decoder.greedy(moved, embedding)
        return tf.reshape(decoded, (-1, k, self.controller.length))

    def decode_moved(self, seeds: Sequence[Architecture], etas: Sequence[float], noise: float = 0.0,
                     noise_seed: int = 0) -> np.ndarray:
        """The raw batched call: tokens ``[len(etas), len(seeds), L]``."""
        tokens = np.stack([self.space.encode(a) for a in seeds]).astype(np.int32)
        return np.asarray(self._call(tokens, etas, noise, noise_seed))

    def _call(self, tokens: np.ndarray, etas: Sequence[float], noise: float, noise_seed: int) -> Any:
        return self._fn(tokens, np.asarray(etas, dtype=np.float32), np.float32(noise),
                        np.array([int(noise_seed) % (2**31 - 1), 7], dtype=np.int32))

    def generate(self, seeds: Sequence[Architecture], n_new: int,
                 is_new: Callable[[Architecture], bool] | None = None,
                 step_sizes: Sequence[float] | None = None, etas_per_call: int | None = None,
                 pad_seeds_to: int | None = None, noise: float = 0.0, noise_seed: int = 0) -> GenerationResult:
        """Up to ``n_new`` architectures that ``is_new`` accepts (default: not among ``seeds``), none twice.

        ``seeds`` should be the top-k architectures, best first. ``step_sizes`` (default from the controller's
        config: ``eta_start .. eta_max`` by ``eta_step``) are tried smallest first, ``etas_per_call`` per decode
        call. ``pad_seeds_to`` pads the seed batch (by repeating seeds) to a fixed size so that searches whose
        pool grows reuse one compiled call. Symmetric variants count as the same architecture, on both sides of
        the default novelty check. ``noise`` > 0 decodes perturbed embeddings (seeded by ``noise_seed``): the
        NAO way to find more new architectures when the gradient step alone returns to known ones.
        """
        start = time.perf_counter()
        result = GenerationResult(noise=float(noise))
        if n_new <= 0 or not seeds:
            return result
        space = self.space
        if is_new is None:
            known = {space.canonical(a) for a in seeds}

            def is_new(arch: Architecture) -> bool:
                return space.canonical(arch) not in known

        etas = list(step_sizes) if step_sizes is not None else self.settings.step_sizes()
        per_call = int(etas_per_call or self.settings.etas_per_call)
        seeds = list(seeds)
        n_seeds = len(seeds)
        if pad_seeds_to and pad_seeds_to > n_seeds:
            seeds = seeds + [seeds[i % n_seeds] for i in range(pad_seeds_to - n_seeds)]
        tokens = np.stack([space.encode(a) for a in seeds]).astype(np.int32)
        seen_rows: set[bytes] = set()
        for row in tokens[:n_seeds]:
            seen_rows.add(row.tobytes())
        found: set[Architecture] = set()
        for c in range(0, len(etas), per_call):
            chunk = etas[c:c + per_call]
            padded = chunk + [chunk[-1]] * (per_call - len(chunk))
            decoded = np.asarray(self._call(tokens, padded, noise, noise_seed + c))
            result.calls += 1
            result.decoded += len(chunk) * n_seeds
            for s, eta in enumerate(chunk):
                for k in range(n_seeds):
                    row = decoded[s, k]
                    key = row.tobytes()
                    if key in seen_rows:
                        continue
                    seen_rows.add(key)
                    arch = self._fast(row)
                    canon = space.canonical(arch)
                    if canon in found or not is_new(arch):
                        continue
                    found.add(canon)
                    result.archs.append(arch)
                    result.etas.append(float(eta))
                    result.seed_index.append(k)
                    if len(result.archs) >= n_new:
                        result.seconds = time.perf_counter() - start
                        return result
        result.seconds = time.perf_counter() - start
        return result
