"""The NAO controller as Keras 3 layers: encoder, predictor, decoder (docs/method.md section 3).

Shapes: ``B`` batch, ``L`` architecture length (tokens), ``T = L / tokens_per_step`` encoder steps, ``H`` hidden
size, ``V`` vocabulary. Token 0 is the decoder's start token; architecture tokens are >= 1.

- ``NaoEncoder``: embedding, ``tokens_per_step`` embeddings concatenated per step, one LSTM, every step output
  L2-normalized; the architecture embedding is their mean, L2-normalized again.
- ``NaoPredictor``: ReLU MLP on the architecture embedding, then one sigmoid unit.
- ``NaoDecoder``: one LSTM whose initial state (h and c) is the architecture embedding, its own embedding,
  attention over the encoder outputs with scores ``(W_in h) . e_t`` and output ``tanh(W_out [context; h])``
  (the authors' PyTorch attention: both projections without bias). Teacher forcing for training; greedy
  decoding restricted, at each position, to the space's valid tokens (``token_mask``), so it can only emit
  valid architectures. The same mask is applied to the training
  logits (the cross-entropy is over the valid tokens of each position).
- ``NaoController``: the three together, a ``keras.Model`` that knows its space (name and token mask) and
  its ``ControllerConfig``; saved and reloaded as a ``.keras`` file.

Parameter counts match the authors' PyTorch controller (279,533 at the NAO-WS sizes): their LSTMs carry two
bias vectors (input and recurrent), so ``NaoLSTM`` does too; the two add up, so the function is unchanged.

The fused execution (``fused``: the one-op LSTM kernels, used for training) computes the same function with
fewer multiplies: the embedded tokens enter the kernels as one-hot vectors against token tables
(``NaoLSTM.token_tables``), and attention projects the encoder outputs rather than the decoder outputs
(``NaoDecoder._head``): 2.18 instead of 3.50 GFLOP per training step of 100 at the NAO-WS sizes.

Every layer creates its weights with a recorded initializer kind, so ``NaoController.reinitialize(seed)`` can
reset the whole model from a seed with NumPy (used by the search loop: every round's controller is a pure
function of the run seed and the round, whatever happened before in the process).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nao_tf._tf import import_tf_quietly

import_tf_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from nao_tf.controller.config import ControllerConfig  # noqa: E402

PACKAGE = "nao_tf"
_NEG = -1e9


def _l2n(x: tf.Tensor) -> tf.Tensor:
    return tf.math.l2_normalize(x, axis=-1, epsilon=1e-12)


def _dropout(x: tf.Tensor, rate: float, training: bool, seed: tf.Tensor | None, site: int) -> tf.Tensor:
    if not training or rate <= 0.0 or seed is None:
        return x
    sub = tf.random.experimental.stateless_fold_in(seed, site)
    return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=sub)


def uses_token_tables(fused: bool, training: bool, dropout: float) -> bool:
    """Whether an LSTM over embedded tokens runs on one-hot inputs and token tables (``NaoLSTM.token_tables``):
    only in the one-op kernel, and not when dropout acts on the embeddings (it must come before the kernel)."""
    return fused and not (training and dropout > 0.0)


class _Weights(keras.layers.Layer):
    """A layer whose weights remember how to re-initialize themselves (see ``init_values``)."""

    def _weight(self, name: str, shape: tuple[int, ...], kind: str) -> keras.Variable:
        if "_init_kinds" not in self.__dict__:  # plain attribute: Keras must not track it a second time
            object.__setattr__(self, "_init_kinds", [])
        var = self.add_weight(name=name, shape=shape, initializer="zeros", trainable=True)
        self._init_kinds.append((var, kind))
        return var


def init_values(kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """NumPy initial values: ``glorot`` uniform, ``orthogonal``, ``embedding`` U(-0.1, 0.1), ``zeros``, and
    ``lstm_bias`` (zeros with the forget gate's bias at 1; gates ordered i, f, g, o)."""
    if kind == "glorot":
        limit = np.sqrt(6.0 / (shape[0] + shape[-1]))
        return rng.uniform(-limit, limit, size=shape)
    if kind == "orthogonal":
        rows, cols = shape
        a = rng.normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        return q if rows >= cols else q.T
    if kind == "embedding":
        return rng.uniform(-0.1, 0.1, size=shape)
    if kind == "zeros":
        return np.zeros(shape)
    if kind == "lstm_bias":
        bias = np.zeros(shape)
        units = shape[0] // 4
        bias[units:2 * units] = 1.0
        return bias
    raise ValueError(kind)


@keras.saving.register_keras_serializable(package=PACKAGE)
class NaoLSTM(_Weights):
    """A single-layer LSTM: gates ordered input, forget, candidate, output; biases ``bias + recurrent_bias``.

    Two implementations of the same function: unrolled over the static length (compiles under XLA, and is
    what the step-by-step decoder uses) and ``fused``, TensorFlow's one-op ``BlockLSTM`` kernel (no XLA
    kernel), about twice as fast on a CPU for a training step because its gradient is one op per sequence
    instead of a dozen per time step."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape: Any) -> None:
        dim, units = int(input_shape[-1]), self.units
        self.kernel = self._weight("kernel", (dim, 4 * units), "glorot")
        self.recurrent_kernel = self._weight("recurrent_kernel", (units, 4 * units), "orthogonal")
        self.bias = self._weight("bias", (4 * units,), "lstm_bias")
        self.recurrent_bias = self._weight("recurrent_bias", (4 * units,), "zeros")
        self.built = True

    def project(self, x: tf.Tensor) -> tf.Tensor:
        """The input part of the gates (``[..., D] -> [..., 4H]``), for step-by-step decoding."""
        return tf.tensordot(x, self.kernel, axes=1) + (self.bias + self.recurrent_bias)

    def cell(self, x_proj: tf.Tensor, h: tf.Tensor, c: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One step; gates ordered input, forget, candidate, output."""
        z = x_proj + tf.matmul(h, self.recurrent_kernel)
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, c

    def call(self, inputs: tf.Tensor, initial_state: tuple[tf.Tensor, tf.Tensor] | None = None,
             fused: bool = False, input_kernel: tf.Tensor | None = None) -> Any:
        """Whole sequence ``[B, T, D]`` -> (outputs ``[B, T, H]``, last h, last c).

        ``fused`` runs ``BlockLSTM`` (version 1: the registered gradient of ``BlockLSTMV2`` disagrees with its
        forward pass in TF 2.21, checked against autodiff; version 1's agrees, tests/test_controller.py).
        ``input_kernel`` (fused only) stands in for ``kernel``: one-hot inputs times their token table (see
        ``token_tables``)."""
        if initial_state is None:
            zeros = tf.zeros((tf.shape(inputs)[0], self.units))
            h, c = zeros, zeros
        else:
            h, c = initial_state
        if fused:
            return self._block(inputs, h, c, self.kernel if input_kernel is None else input_kernel)
        if input_kernel is not None:
            raise ValueError("input_kernel needs fused=True")
        proj = self.project(inputs)
        outputs = []
        for t in range(int(inputs.shape[1])):
            h, c = self.cell(proj[:, t], h, c)
            outputs.append(h)
        return tf.stack(outputs, axis=1), h, c

    def _block(self, inputs: tf.Tensor, h: tf.Tensor, c: tf.Tensor, kernel: tf.Tensor) -> Any:
        """``BlockLSTM``: time-major, gates ordered input, candidate, forget, output; no peepholes, no clip."""
        def icfo(w: tf.Tensor) -> tf.Tensor:
            i, f, g, o = tf.split(w, 4, axis=-1)
            return tf.concat([i, g, f, o], axis=-1)

        zeros = tf.zeros((self.units,))
        out = tf.raw_ops.BlockLSTM(
            seq_len_max=tf.constant(int(inputs.shape[1]), tf.int64), x=tf.transpose(inputs, (1, 0, 2)),
            cs_prev=c, h_prev=h, w=icfo(tf.concat([kernel, self.recurrent_kernel], axis=0)),
            wci=zeros, wcf=zeros, wco=zeros, b=icfo(self.bias + self.recurrent_bias), forget_bias=0.0,
            cell_clip=-1.0, use_peephole=False)
        cs, hs = out[1], out[6]
        return tf.transpose(hs, (1, 0, 2)), hs[-1], cs[-1]

    def token_tables(self, embeddings: tf.Tensor, tokens: tf.Tensor, slots: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
        """(one-hot inputs ``[B, T, slots * V]``, their input kernel ``[slots * V, 4H]``) for tokens ``[B, T *
        slots]`` embedded by ``embeddings`` ``[V, E]`` and concatenated ``slots`` per step.

        The same gates as embedding the tokens and multiplying by ``kernel``, since an embedding times a matrix
        is a row of the table ``embeddings @ kernel`` (each slot has its own rows of ``kernel``). A step's
        input then has ``slots * V`` columns instead of ``slots * E``: with the controller's 12-token
        vocabulary, a third fewer multiplies in the encoder's ``BlockLSTM`` (24 + 96 instead of 96 + 96 rows)
        and 44% fewer in the decoder's (12 + 96 instead of 96 + 96), forward and backward."""
        vocab = int(embeddings.shape[0])
        steps = int(tokens.shape[1]) // slots
        onehot = tf.reshape(tf.one_hot(tokens, vocab), (-1, steps, slots * vocab))
        table = tf.concat([tf.matmul(embeddings, part) for part in tf.split(self.kernel, slots, axis=0)], axis=0)
        return onehot, table

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package=PACKAGE)
class NaoEncoder(_Weights):
    """Tokens ``[B, L]`` -> (normalized step outputs ``[B, T, H]``, architecture embedding ``[B, H]``)."""

    def __init__(self, vocab_size: int, length: int, embedding_size: int, hidden_size: int,
                 tokens_per_step: int = 1, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if length % tokens_per_step:
            raise ValueError(f"length {length} is not a multiple of tokens_per_step {tokens_per_step}")
        self.vocab_size, self.length = int(vocab_size), int(length)
        self.embedding_size, self.hidden_size = int(embedding_size), int(hidden_size)
        self.tokens_per_step, self.dropout = int(tokens_per_step), float(dropout)
        self.steps = self.length // self.tokens_per_step
        self.lstm = NaoLSTM(self.hidden_size, name="lstm")

    def build(self, input_shape: Any = None) -> None:
        self.embeddings = self._weight("embeddings", (self.vocab_size, self.embedding_size), "embedding")
        self.lstm.build((None, self.steps, self.embedding_size * self.tokens_per_step))
        self.built = True

    def call(self, tokens: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None,
             fused: bool = False) -> Any:
        if uses_token_tables(fused, training, self.dropout):
            onehot, table = self.lstm.token_tables(self.embeddings, tokens, self.tokens_per_step)
            outputs, _, _ = self.lstm(onehot, fused=True, input_kernel=table)
        else:
            x = tf.gather(self.embeddings, tokens)
            x = tf.reshape(x, (-1, self.steps, self.embedding_size * self.tokens_per_step))
            x = _dropout(x, self.dropout, training, seed, 1)
            outputs, _, _ = self.lstm(x, fused=fused)
        outputs = _l2n(outputs)
        return outputs, _l2n(tf.reduce_mean(outputs, axis=1))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.vocab_size, "length": self.length,
                "embedding_size": self.embedding_size, "hidden_size": self.hidden_size,
                "tokens_per_step": self.tokens_per_step, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=PACKAGE)
class NaoPredictor(_Weights):
    """Architecture embedding ``[B, H]`` -> predicted quality in (0, 1), ``[B]``."""

    def __init__(self, input_size: int, layers: int = 3, hidden: int = 200, dropout: float = 0.1,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_size, self.layers, self.hidden, self.dropout = int(input_size), int(layers), int(hidden), \
            float(dropout)

    def build(self, input_shape: Any = None) -> None:
        self.kernels, self.biases = [], []
        size = self.input_size
        for i in range(self.layers):
            self.kernels.append(self._weight(f"kernel_{i}", (size, self.hidden), "glorot"))
            self.biases.append(self._weight(f"bias_{i}", (self.hidden,), "zeros"))
            size = self.hidden
        self.out_kernel = self._weight("out_kernel", (size, 1), "glorot")
        self.out_bias = self._weight("out_bias", (1,), "zeros")
        self.built = True

    def call(self, embedding: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None) -> tf.Tensor:
        x = embedding
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases, strict=True)):
            x = tf.nn.relu(tf.matmul(x, kernel) + bias)
            x = _dropout(x, self.dropout, training, seed, 10 + i)
        return tf.sigmoid(tf.matmul(x, self.out_kernel) + self.out_bias)[:, 0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_size": self.input_size, "layers": self.layers,
                "hidden": self.hidden, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=PACKAGE)
class NaoDecoder(_Weights):
    """Decoder with attention; ``call`` is teacher-forced, ``greedy`` is masked greedy decoding."""

    def __init__(self, token_mask: Any, hidden_size: int, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token_mask = np.asarray(token_mask, dtype=bool)
        self.length, self.vocab_size = self.token_mask.shape
        self.hidden_size, self.dropout = int(hidden_size), float(dropout)
        self.mask_bias = np.where(self.token_mask, 0.0, _NEG).astype("float32")
        self.lstm = NaoLSTM(self.hidden_size, name="lstm")

    def build(self, input_shape: Any = None) -> None:
        h = self.hidden_size
        self.embeddings = self._weight("embeddings", (self.vocab_size, h), "embedding")
        self.lstm.build((None, self.length, h))
        self.attn_in_kernel = self._weight("attn_in_kernel", (h, h), "glorot")
        self.attn_kernel = self._weight("attn_kernel", (2 * h, h), "glorot")
        self.out_kernel = self._weight("out_kernel", (h, self.vocab_size), "glorot")
        self.out_bias = self._weight("out_bias", (self.vocab_size,), "zeros")
        self.built = True

    def _head(self, out: tf.Tensor, enc: tf.Tensor, encoder_side: bool = False) -> tf.Tensor:
        """Attention and output logits for decoder outputs ``[B, L, H]`` over encoder outputs ``[B, T, H]``.

        ``encoder_side`` computes the same function with the two projections that touch the encoder outputs
        moved onto them: ``(W_in h) . e = h . (W_in^T e)`` and ``W_c context = softmax(scores) (W_c e)``
        (``W_c``: the context's rows of ``attn_kernel``), so they multiply the ``T`` encoder steps instead of
        the ``L`` decoder steps (20 instead of 40 for ``nasnet-ws``)."""
        if encoder_side:
            h = self.hidden_size
            keys = tf.tensordot(enc, self.attn_in_kernel, axes=[[2], [1]])
            scores = tf.matmul(out, keys, transpose_b=True)
            values = tf.tensordot(enc, self.attn_kernel[:h], axes=1)
            combined = tf.tanh(tf.matmul(tf.nn.softmax(scores, axis=-1), values)
                               + tf.tensordot(out, self.attn_kernel[h:], axes=1))
        else:
            scores = tf.matmul(tf.tensordot(out, self.attn_in_kernel, axes=1), enc, transpose_b=True)
            context = tf.matmul(tf.nn.softmax(scores, axis=-1), enc)
            combined = tf.tanh(tf.tensordot(tf.concat([context, out], axis=-1), self.attn_kernel, axes=1))
        return tf.tensordot(combined, self.out_kernel, axes=1) + self.out_bias

    def call(self, targets: tf.Tensor, encoder_outputs: tf.Tensor, embedding: tf.Tensor,
             training: bool = False, seed: tf.Tensor | None = None, fused: bool = False) -> tf.Tensor:
        """Teacher-forced logits ``[B, L, V]`` (invalid tokens at each position get -1e9)."""
        start = tf.zeros_like(targets[:, :1])
        inputs = tf.concat([start, targets[:, :-1]], axis=1)
        if uses_token_tables(fused, training, self.dropout):
            onehot, table = self.lstm.token_tables(self.embeddings, inputs)
            out, _, _ = self.lstm(onehot, initial_state=(embedding, embedding), fused=True, input_kernel=table)
        else:
            x = _dropout(tf.gather(self.embeddings, inputs), self.dropout, training, seed, 2)
            out, _, _ = self.lstm(x, initial_state=(embedding, embedding), fused=fused)
        return self._head(out, encoder_outputs, encoder_side=fused) + self.mask_bias

    def greedy(self, encoder_outputs: tf.Tensor, embedding: tf.Tensor) -> tf.Tensor:
        """Masked greedy decoding: tokens ``[B, L]`` (int32), valid at every position by construction."""
        h = c = embedding
        token = tf.zeros_like(embedding[:, 0], dtype=tf.int32)
        table = self.lstm.project(self.embeddings)  # [V, 4H]: the input part of the gates of every token
        tokens = []
        for t in range(self.length):
            h, c = self.lstm.cell(tf.gather(table, token), h, c)
            logits = self._head(h[:, None, :], encoder_outputs)[:, 0] + self.mask_bias[t]
            token = tf.argmax(logits, axis=-1, output_type=tf.int32)
            tokens.append(token)
        return tf.stack(tokens, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "token_mask": self.token_mask.astype(int).tolist(),
                "hidden_size": self.hidden_size, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=PACKAGE)
class NaoController(keras.Model):
    """Encoder + predictor + decoder for one search space.

    ``NaoController(space_name, token_mask, config)``; ``call(tokens)`` returns ``{"prediction": [B],
    "logits": [B, L, V]}`` (teacher-forced). ``encode``, ``predict_from_outputs`` and ``decoder.greedy`` are the
    pieces generation composes (see ``nao_tf.controller.generation``).
    """

    def __init__(self, space_name: str, token_mask: Any, config: dict[str, Any] | None = None,
                 seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.space_name = str(space_name)
        self.token_mask = np.asarray(token_mask, dtype=bool)
        self.length, self.vocab_size = self.token_mask.shape
        self.settings = ControllerConfig.from_dict(config or {})
        s = self.settings
        self.encoder = NaoEncoder(self.vocab_size, self.length, s.embedding_size, s.hidden_size,
                                  s.tokens_per_step, s.encoder_dropout, name="encoder")
        self.predictor = NaoPredictor(s.hidden_size, s.mlp_layers, s.mlp_hidden, s.mlp_dropout, name="predictor")
        self.decoder = NaoDecoder(self.token_mask, s.hidden_size, s.decoder_dropout, name="decoder")
        self.build((None, self.length))
        self.reinitialize(seed)

    def build(self, input_shape: Any = None) -> None:
        if self.built:
            return
        self.encoder.build()
        self.predictor.build()
        self.decoder.build()
        self.built = True

    def call(self, tokens: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None,
             fused: bool = False) -> dict[str, Any]:
        """``fused`` selects the one-op LSTM kernels (same function; not under XLA, see ``NaoLSTM``)."""
        tokens = tf.cast(tokens, tf.int32)
        outputs, embedding = self.encoder(tokens, training=training, seed=seed, fused=fused)
        prediction = self.predictor(embedding, training=training, seed=seed)
        logits = self.decoder(tokens, outputs, embedding, training=training, seed=seed, fused=fused)
        return {"prediction": prediction, "logits": logits}

    def encode(self, tokens: tf.Tensor, fused: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """(normalized step outputs ``[B, T, H]``, architecture embedding ``[B, H]``)."""
        return self.encoder(tf.cast(tokens, tf.int32), fused=fused)

    def predict_from_outputs(self, outputs: tf.Tensor) -> tf.Tensor:
        """Predicted quality from (possibly moved) encoder step outputs: mean, normalize, MLP.

        The step outputs are used as they are, not re-normalized first (the authors' code): the gradient that
        generation follows then keeps its radial part; re-normalizing here would project it out."""
        return self.predictor(_l2n(tf.reduce_mean(outputs, axis=1)))

    # ----- initialization -------------------------------------------------------------------------------
    def _weight_kinds(self) -> list[tuple[keras.Variable, str]]:
        out = []
        for layer in (self.encoder, self.encoder.lstm, self.predictor, self.decoder, self.decoder.lstm):
            out += getattr(layer, "_init_kinds", [])
        return out

    def reinitialize(self, seed: int | list[int]) -> None:
        """Reset every weight from ``seed`` (NumPy; same seed, same weights, whatever the process did before)."""
        rng = np.random.default_rng(seed)
        for var, kind in self._weight_kinds():
            var.assign(init_values(kind, tuple(var.shape), rng).astype("float32"))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "space_name": self.space_name,
                "token_mask": self.token_mask.astype(int).tolist(), "config": self.settings.to_dict()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NaoController:
        return cls(**config)
