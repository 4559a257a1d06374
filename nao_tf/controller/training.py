"""Training the controller: joint loss, target normalization, symmetry augmentation, compiled step, save/load.

``ControllerTrainer(controller).fit(archs, targets, seed=...)`` trains on (architecture, measured quality)
pairs, higher target = better (the search loop orients minimized metrics before calling it). Targets are
normalized to [0, 1] (min-max, or quantiles with ``target_transform="rank"``); the loss is
``trade_off * MSE(prediction, target) + (1 - trade_off) * CE(reconstruction)``; Adam with PyTorch-style coupled
L2 (added to the clipped gradient), global-norm gradient clip.

Speed: NumPy draws every epoch's shuffling and augmentation variant up front, as index arrays; one compiled
call then runs ``steps_per_call`` steps (default: all of them) in a ``tf.while_loop`` that gathers each batch
from the token variants already on the TensorFlow side, so Python runs once per training instead of once per
batch. The step itself (``jit_compile`` per the config) always sees batches padded to ``batch_size`` with
zero-weight rows, so it is compiled once per controller, whatever the data size. Dropout uses stateless RNG
seeded from ``(seed, step)``, the shuffling a NumPy generator from ``seed``: the same call gives the same
weights, whatever ``steps_per_call``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.controller.config import ControllerConfig
from nao_tf.controller.model import NaoController, tf
from nao_tf.errors import ConfigError, RunFolderError, TrainingDivergedError
from nao_tf.runio import atomic_save_keras
from nao_tf.spaces import Architecture, SearchSpace, get_space

AUGMENT_VARIANTS = 4


def build_controller(space: SearchSpace | str, config: ControllerConfig | None = None, seed: int = 0) -> NaoController:
    """A fresh controller for ``space`` (config defaults to ``ControllerConfig.for_space``)."""
    space = get_space(space)
    config = config or ControllerConfig.for_space(space.name)
    if space.length % config.tokens_per_step:
        raise ConfigError(
            f"controller tokens_per_step={config.tokens_per_step} does not divide the length {space.length} "
            f"of space {space.name}"
        )
    return NaoController(space.name, space.token_mask(), config.to_dict(), seed=seed)


def normalize_targets(values: Sequence[float], transform: str = "minmax") -> np.ndarray:
    """Targets in [0, 1], higher = better: min-max (as the authors) or average-rank quantiles."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    if transform == "rank":
        order = np.argsort(v, kind="stable")
        ranks = np.empty(v.size)
        _, starts, counts = np.unique(v[order], return_index=True, return_counts=True)
        for start, count in zip(starts, counts, strict=True):  # ties share their mean rank
            ranks[order[start:start + count]] = start + (count - 1) / 2.0
        return ranks / max(v.size - 1, 1)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return np.full_like(v, 0.5)
    return (v - lo) / (hi - lo)


class ControllerTrainer:
    """Owns the optimizer state and the compiled functions of one controller (reuse it across rounds)."""

    def __init__(self, controller: NaoController, config: ControllerConfig | None = None) -> None:
        self.controller = controller
        self.config = config or controller.settings
        self.space = get_space(controller.space_name) if _known(controller.space_name) else None
        self.variables = list(controller.trainable_variables)
        self._m = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in self.variables]
        self._v = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in self.variables]
        self._t = tf.Variable(0.0, trainable=False)
        self._lr = tf.Variable(self.config.learning_rate, trainable=False)
        self._fused = self.config.training_fused
        towers = 1 if self.config.jit_compile else min(self.config.towers, self.config.batch_size)
        self._tower_sizes = [len(p) for p in np.array_split(np.arange(self.config.batch_size), towers)]
        self._step = tf.function(self._step_fn, jit_compile=self.config.jit_compile)
        length, bs = controller.length, self.config.batch_size
        self._loop = tf.function(self._loop_fn, input_signature=[
            tf.TensorSpec((None, None, length), tf.int32), tf.TensorSpec((None,), tf.float32),
            tf.TensorSpec((None, bs), tf.int32), tf.TensorSpec((None, bs), tf.int32),
            tf.TensorSpec((None, bs), tf.float32), tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.int32)])
        self._predict = tf.function(self._predict_fn)
        self.steps_done = 0

    # ----- state ----------------------------------------------------------------------------------------
    def reset(self, seed: int | list[int] | None = None, initial_weights: list[np.ndarray] | None = None) -> None:
        """Fresh optimizer state; weights from ``initial_weights`` if given, else re-initialized from ``seed``."""
        for var in (*self._m, *self._v):
            var.assign(tf.zeros(var.shape))
        self._t.assign(0.0)
        self._lr.assign(self.config.learning_rate)
        self.steps_done = 0
        if initial_weights is not None:
            self.controller.set_weights(initial_weights)
        elif seed is not None:
            self.controller.reinitialize(seed)

    # ----- compiled pieces ------------------------------------------------------------------------------
    def _step_fn(self, tokens: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor, seed: tf.Tensor) -> Any:
        cfg = self.config
        with tf.GradientTape() as tape:
            out = self._forward(tokens, seed)
            # rows that count (padding and zero-weight rows do not): a batch of pseudo-labelled rows at weight
            # 0.1 weighs a tenth of a batch of measured ones, rather than being renormalized to full weight
            wsum = tf.maximum(tf.reduce_sum(tf.cast(weights > 0, weights.dtype)), 1.0)
            mse = tf.reduce_sum(weights * tf.square(out["prediction"] - targets)) / wsum
            ce_tok = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tokens, logits=out["logits"])
            ce = tf.reduce_sum(weights * tf.reduce_mean(ce_tok, axis=1)) / wsum
            loss = cfg.trade_off * mse + (1.0 - cfg.trade_off) * ce
        grads = tape.gradient(loss, self.variables)
        grads = [tf.convert_to_tensor(g) for g in grads]
        grads, _ = tf.clip_by_global_norm(grads, cfg.grad_clip)
        self._t.assign_add(1.0)
        b1, b2 = 0.9, 0.999
        for var, g, m, v in zip(self.variables, grads, self._m, self._v, strict=True):
            if cfg.l2_reg:
                g = g + cfg.l2_reg * var
            # one fused kernel per variable (the per-op overhead dominates this small model's step time)
            tf.raw_ops.ResourceApplyAdam(
                var=_handle(var), m=m.handle, v=v.handle, beta1_power=tf.pow(b1, self._t),
                beta2_power=tf.pow(b2, self._t), lr=self._lr, beta1=b1, beta2=b2, epsilon=1e-8, grad=g,
            )
        return loss, mse, ce

    def _forward(self, tokens: tf.Tensor, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """The controller on the batch, as ``towers`` sub-batches (each with its own dropout stream) whose
        graphs share nothing but the weights, so that they run in parallel (``ControllerConfig.towers``)."""
        if len(self._tower_sizes) == 1:
            return self.controller(tokens, training=True, seed=seed, fused=self._fused)
        outs = [self.controller(part, training=True, seed=tf.random.experimental.stateless_fold_in(seed, 100 + t),
                                fused=self._fused)
                for t, part in enumerate(tf.split(tokens, self._tower_sizes, axis=0))]
        return {key: tf.concat([o[key] for o in outs], axis=0) for key in outs[0]}

    def _loop_fn(self, variants: tf.Tensor, targets: tf.Tensor, rows: tf.Tensor, picks: tf.Tensor,
                 weights: tf.Tensor, seed_base: tf.Tensor, step0: tf.Tensor) -> Any:
        """``len(rows)`` training steps in one call: step ``i`` trains on the variants ``picks[i]`` of the
        architectures ``rows[i]``; returns the losses of the last step."""
        def body(i: tf.Tensor, loss: tf.Tensor, mse: tf.Tensor, ce: tf.Tensor) -> Any:
            tokens = tf.gather(tf.gather(variants, rows[i]), picks[i], batch_dims=1)
            seed = tf.stack([seed_base, step0 + i])
            return (i + 1, *self._step(tokens, tf.gather(targets, rows[i]), weights[i], seed))

        nan = tf.constant(float("nan"))
        _, loss, mse, ce = tf.while_loop(lambda i, *_: i < tf.shape(rows)[0], body, (0, nan, nan, nan),
                                         parallel_iterations=1)
        return loss, mse, ce

    def _predict_fn(self, tokens: tf.Tensor) -> tf.Tensor:
        return self.controller(tokens, training=False, fused=self._fused)["prediction"]

    # ----- training -------------------------------------------------------------------------------------
    def token_variants(self, archs: Sequence[Architecture], rng: np.random.Generator) -> np.ndarray:
        """``[N, K, L]``: each architecture's tokens and (with ``augment``) K-1 random symmetric variants."""
        space = self._space_of(archs)
        k = AUGMENT_VARIANTS if self.config.augment else 1
        out = np.empty((len(archs), k, self.controller.length), dtype=np.int32)
        for i, arch in enumerate(archs):
            out[i, 0] = space.encode(arch)
            for j in range(1, k):
                out[i, j] = space.encode(space.augment(arch, rng))
        return out

    def fit(self, archs: Sequence[Architecture], targets: Sequence[float], epochs: int | None = None,
            seed: int | list[int] = 0, normalized: bool = False, reset: bool = True,
            initial_weights: list[np.ndarray] | None = None,
            sample_weights: Sequence[float] | None = None) -> dict[str, Any]:
        """Train on ``archs`` with ``targets`` (higher = better; normalized here unless ``normalized``).

        ``sample_weights`` weighs each architecture's loss (e.g. pseudo-labelled ones lower than measured
        ones): a batch's loss is the weighted sum over its rows divided by the number of rows with weight > 0.

        With ``reset`` (default) the weights are re-initialized from ``seed`` (or set to ``initial_weights``)
        and the optimizer state cleared first, so the result depends only on the arguments.
        Returns ``{"loss", "mse", "ce", "epochs", "steps", "seconds"}`` (losses of the last epoch).
        """
        if len(archs) != len(targets) or not archs:
            raise ConfigError("controller training needs as many targets as architectures (and at least one)")
        cfg = self.config
        epochs = cfg.epochs if epochs is None else int(epochs)
        seeds = [int(s) for s in (seed if isinstance(seed, list | tuple) else [seed])]
        if reset:
            self.reset(seeds, initial_weights)
        rng = np.random.default_rng([*seeds, 7])
        variants = self.token_variants(archs, rng)
        y = np.asarray(targets, dtype=np.float32) if normalized else \
            normalize_targets(targets, cfg.target_transform).astype(np.float32)
        n, bs = len(archs), cfg.batch_size
        if cfg.steps and epochs == cfg.epochs:
            epochs = -(-cfg.steps // -(-n // bs))  # ceil(steps / steps per epoch)
        seed_base = int(np.random.default_rng([*seeds, 11]).integers(2**31 - 1))
        start = time.perf_counter()
        rows, picks, weights = self._batches(rng, n, variants.shape[1], epochs)
        if sample_weights is not None:
            sw = np.asarray(sample_weights, dtype=np.float32)
            if sw.shape != (n,) or not np.all(np.isfinite(sw)) or np.any(sw < 0):
                raise ConfigError("controller sample_weights must be one finite weight >= 0 per architecture")
            weights = weights * sw[rows]
        loss = mse = ce = float("nan")
        per_call = cfg.steps_per_call or max(len(rows), 1)
        v, t = tf.constant(variants), tf.constant(y)
        for c in range(0, len(rows), per_call):
            result = self._loop(v, t, rows[c:c + per_call], picks[c:c + per_call], weights[c:c + per_call],
                                np.int32(seed_base), np.int32(self.steps_done))
            self.steps_done += len(rows[c:c + per_call])
            loss, mse, ce = (float(r) for r in result)
            if not np.isfinite(loss):
                raise TrainingDivergedError(
                    f"controller loss became {loss} after {self.steps_done} steps; lower learning_rate"
                )
        return {"loss": loss, "mse": mse, "ce": ce, "epochs": epochs, "steps": self.steps_done,
                "seconds": time.perf_counter() - start}

    def _batches(self, rng: np.random.Generator, n: int, k: int, epochs: int) -> tuple[np.ndarray, ...]:
        """Every step's rows, augmentation variants and row weights, ``[steps, batch_size]`` each: each epoch
        a fresh permutation cut into batches, the last one padded with zero-weight copies of its first row."""
        bs = self.config.batch_size
        per_epoch = -(-n // bs)
        rows = np.empty((epochs * per_epoch, bs), dtype=np.int32)
        picks = np.zeros_like(rows)
        weights = np.zeros(rows.shape, dtype=np.float32)
        for e in range(epochs):
            perm = rng.permutation(n)
            pick = rng.integers(k, size=n) if k > 1 else np.zeros(n, dtype=int)
            for j, b in enumerate(range(0, n, bs)):
                idx = perm[b:b + bs]
                full = np.concatenate([idx, np.full(bs - idx.size, idx[0])]) if idx.size < bs else idx
                rows[e * per_epoch + j] = full
                picks[e * per_epoch + j] = pick[full]
                weights[e * per_epoch + j, : idx.size] = 1.0
        return rows, picks, weights

    # ----- inference ------------------------------------------------------------------------------------
    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Predicted quality in (0, 1) (higher = better) of each architecture."""
        space = self._space_of(archs)
        tokens = np.stack([space.encode(a) for a in archs]) if archs else np.zeros((0, self.controller.length))
        return self._batched(self._predict, tokens).astype(np.float64)

    def reconstruct(self, archs: Sequence[Architecture]) -> list[Architecture]:
        """Encode then greedily decode each architecture (what ``reconstruction accuracy`` measures)."""
        space = self._space_of(archs)
        if not hasattr(self, "_recon"):
            fused = bool(self.config.fused_lstm and not self.config.generation_jit)

            def recon(tokens: tf.Tensor) -> tf.Tensor:
                outputs, emb = self.controller.encode(tokens, fused=fused)
                return self.controller.decoder.greedy(outputs, emb)
            self._recon = tf.function(recon, jit_compile=self.config.generation_jit)
        tokens = np.stack([space.encode(a) for a in archs])
        decoded = self._batched(self._recon, tokens)
        return [space.decode(row) for row in decoded]

    def _batched(self, fn: Any, tokens: np.ndarray) -> np.ndarray:
        bs = max(self.config.batch_size, 100)
        outs = []
        for b in range(0, len(tokens), bs):
            chunk = tokens[b:b + bs]
            pad = np.concatenate([chunk, np.repeat(chunk[:1], bs - len(chunk), axis=0)]) if len(chunk) < bs else chunk
            outs.append(np.asarray(fn(pad.astype(np.int32)))[: len(chunk)])
        return np.concatenate(outs) if outs else np.zeros((0,))

    def _space_of(self, archs: Sequence[Architecture]) -> SearchSpace:
        space = self.space or (get_space(archs[0].space) if archs else None)
        if space is None:
            raise ConfigError(f"space {self.controller.space_name!r} is not registered")
        return space


def _handle(var: Any) -> Any:
    """The resource handle of a Keras variable (TensorFlow backend)."""
    return getattr(var, "value", var).handle


def _known(name: str) -> bool:
    from nao_tf.spaces import SPACES

    return name in SPACES


# ----- checkpoints --------------------------------------------------------------------------------------------
def save_controller(controller: NaoController, path: str | os.PathLike) -> Path:
    """Save as a ``.keras`` file, atomically (temporary file in the same folder, then ``os.replace``)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ConfigError(f"controller checkpoint {str(path)!r} must end in .keras")
    return atomic_save_keras(controller, path)


def load_controller(path: str | os.PathLike, space: SearchSpace | str | None = None,
                    config: ControllerConfig | None = None) -> NaoController:
    """Load a ``.keras`` controller; refuse one of another space, or with other sizes than ``config``."""

    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"controller checkpoint {str(path)!r} does not exist")
    from nao_tf.keras_objects import load_model

    try:
        model = load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  (a corrupt or foreign file is a user error)
        raise RunFolderError(f"cannot load controller checkpoint {str(path)!r}: {type(exc).__name__}") from None
    if not isinstance(model, NaoController):
        raise RunFolderError(f"{str(path)!r} is a Keras model but not a nao-tf controller")
    if space is not None:
        sp = get_space(space)
        if model.space_name != sp.name or model.token_mask.shape != (sp.length, sp.vocab_size) or \
                not np.array_equal(model.token_mask, sp.token_mask()):
            raise ConfigError(
                f"controller checkpoint {str(path)!r} was trained for space {model.space_name!r}, not {sp.name!r}; "
                "use a checkpoint of the same space"
            )
    if config is not None and model.settings.model_dict() != config.model_dict():
        raise ConfigError(
            f"controller checkpoint {str(path)!r} has sizes {model.settings.model_dict()}, but the search asks for "
            f"{config.model_dict()}"
        )
    return model
