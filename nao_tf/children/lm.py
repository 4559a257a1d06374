"""Word-level language model around the NAO RNN cell (the DARTS/NAO PyTorch ``RNNModel``), in Keras.

``tokens [batch, time] int -> embedding (embedding dropout: whole words) -> locked input dropout (0.2) ->
locked x dropout (0.75) -> keras.layers.RNN(NaoRnnCell) -> locked output dropout (0.75) -> decoder tied to the
embedding (logits = h E^T + b)``. "Locked" (variational) dropout draws one mask per sequence and reuses it at
every step, as in AWD-LSTM; hidden dropout (0.25) lives in the cell. Weight dropout of AWD-LSTM applies to
LSTM recurrent matrices and has no counterpart in this cell (the DARTS/NAO cell does not use it).

Public API (also what export uses):

* ``build_lm(arch, vocab_size, hidden=850, **dropouts) -> RnnLanguageModel`` (built at construction).
* ``model(tokens, state)`` / ``model.step(tokens, state)`` -> ``(logits [batch, time, vocab] float32,
  new_state [batch, hidden] float32)``; inference mode, ``tokens`` int32 ``[batch, time]``, ``state``
  ``[batch, hidden]`` (``model.initial_state(batch)`` gives zeros). Feed the returned state back for the next
  window (stateful evaluation across batches).
* ``inference_function(model)``: a ``tf.function(tokens, state) -> {"logits", "new_state"}`` (dynamic batch
  and time) for SavedModel / tf2onnx; ``tf2onnx.convert.from_function(fn, input_signature=fn.input_signature)``
  converts it (tested against onnxruntime).
* ``model.forward(tokens, state, training)`` -> ``(logits, state, raw_outputs, dropped_outputs)`` for training
  (activation regularization needs the RNN outputs before and after output dropout).
"""

from __future__ import annotations

from typing import Any

from nao_tf._tf import import_tf_quietly

import_tf_quietly()

import keras  # noqa: E402
from keras import ops  # noqa: E402

from nao_tf.children.rnn_cell import INIT_RANGE, NaoRnnCell, SharedNaoRnnCell  # noqa: E402

EMBED_INIT_RANGE = 0.1
# The PTB recipe of the paper (docs/method.md section 7): dropouts of the DARTS/NAO code.
DEFAULT_DROPOUTS = {"embed_dropout": 0.1, "input_dropout": 0.2, "x_dropout": 0.75, "hidden_dropout": 0.25,
                    "output_dropout": 0.75}


def _locked_dropout(x, rate: float, seed_gen):
    """One mask per sequence ``[batch, 1, features]``, reused at every step."""
    if rate <= 0:
        return x
    shape = ops.shape(x)
    mask = keras.random.dropout(ops.ones((shape[0], 1, shape[2]), dtype=x.dtype), rate, seed=seed_gen)
    return x * mask


@keras.saving.register_keras_serializable(package="nao_tf")
class RnnLanguageModel(keras.Model):
    """Embedding, NAO cell, tied decoder. ``arch=None`` with ``shared=True`` builds the weight-sharing LM."""

    def __init__(self, arch: Any = None, vocab_size: int = 10000, hidden: int = 850, embed_dropout: float = 0.1,
                 input_dropout: float = 0.2, x_dropout: float = 0.75, hidden_dropout: float = 0.25,
                 output_dropout: float = 0.75, tie_weights: bool = True, shared: bool = False,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = int(vocab_size)
        self.hidden = int(hidden)
        self.embed_dropout = float(embed_dropout)
        self.input_dropout = float(input_dropout)
        self.x_dropout = float(x_dropout)
        self.hidden_dropout = float(hidden_dropout)
        self.output_dropout = float(output_dropout)
        self.tie_weights = bool(tie_weights)
        self.shared = bool(shared)
        self.seed = seed
        if shared:
            self.cell = SharedNaoRnnCell(self.hidden, hidden_dropout=self.hidden_dropout, seed=seed, name="cell")
        else:
            self.cell = NaoRnnCell(self.hidden, arch, hidden_dropout=self.hidden_dropout, seed=seed, name="cell")
        self.rnn = keras.layers.RNN(self.cell, return_sequences=True, return_state=True, name="rnn")
        self.seed_gen = keras.random.SeedGenerator(None if seed is None else seed + 1)
        init = keras.initializers.RandomUniform(-EMBED_INIT_RANGE, EMBED_INIT_RANGE, seed=seed)
        self.embedding = self.add_weight(shape=(self.vocab_size, self.hidden), initializer=init, name="embedding")
        if not self.tie_weights:
            self.decoder = self.add_weight(
                shape=(self.hidden, self.vocab_size),
                initializer=keras.initializers.RandomUniform(-EMBED_INIT_RANGE, EMBED_INIT_RANGE, seed=seed),
                name="decoder")
        self.decoder_bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="decoder_bias")
        self.rnn.build((None, None, self.hidden))
        self.built = True

    # ----- pieces -------------------------------------------------------------------------------------
    @property
    def arch(self):
        return None if self.shared else self.cell.arch

    def initial_state(self, batch_size: int):
        return ops.zeros((batch_size, self.hidden), dtype="float32")

    def _embed(self, tokens, training: bool):
        table = ops.convert_to_tensor(self.embedding)
        if training and self.embed_dropout > 0:
            keep = keras.random.dropout(ops.ones((self.vocab_size, 1)), self.embed_dropout, seed=self.seed_gen)
            table = table * keep
        return ops.take(table, ops.cast(tokens, "int32"), axis=0)

    def decode(self, outputs):
        w = ops.transpose(self.embedding) if self.tie_weights else self.decoder
        return ops.matmul(outputs, w) + self.decoder_bias

    def forward(self, tokens, state, training: bool = False):
        """``(logits, new_state, raw_outputs, dropped_outputs)``."""
        x = self._embed(tokens, training)
        if training:
            x = _locked_dropout(x, self.input_dropout, self.seed_gen)
            x = _locked_dropout(x, self.x_dropout, self.seed_gen)
        if training and self.hidden_dropout > 0:  # one variational mask per sequence (see rnn_cell)
            self.cell.hidden_mask = keras.random.dropout(ops.ones_like(state), self.hidden_dropout,
                                                         seed=self.cell.seed_generator)
        try:
            raw, new_state = self.rnn(x, initial_state=[state], training=training)
        finally:
            self.cell.hidden_mask = None
        dropped = _locked_dropout(raw, self.output_dropout, self.seed_gen) if training else raw
        return self.decode(dropped), new_state, raw, dropped

    def call(self, tokens, state=None, training: bool = False):
        if state is None:
            state = self.initial_state(ops.shape(tokens)[0])
        logits, new_state, _, _ = self.forward(tokens, state, training=training)
        return logits, new_state

    def step(self, tokens, state):
        """Inference: ``(logits [batch, time, vocab], new_state [batch, hidden])``."""
        return self.call(tokens, state, training=False)

    def get_config(self) -> dict[str, Any]:
        base = super().get_config()
        base.pop("trainable", None)
        base.pop("dtype", None)
        return {**base, "arch": None if self.shared else list(self.cell.arch.values),
                "vocab_size": self.vocab_size, "hidden": self.hidden, "embed_dropout": self.embed_dropout,
                "input_dropout": self.input_dropout, "x_dropout": self.x_dropout,
                "hidden_dropout": self.hidden_dropout, "output_dropout": self.output_dropout,
                "tie_weights": self.tie_weights, "shared": self.shared, "seed": self.seed}


def build_lm(arch: Any, vocab_size: int, hidden: int = 850, seed: int | None = None,
             **options: Any) -> RnnLanguageModel:
    """The LM of ``arch`` (an ``Architecture`` of the ``rnn`` space or its 22 integers); options are the
    dropouts (``DEFAULT_DROPOUTS`` keys) and ``tie_weights``."""
    return RnnLanguageModel(arch, vocab_size=vocab_size, hidden=hidden, seed=seed, **options)


def build_shared_lm(vocab_size: int, hidden: int, seed: int | None = None, **options: Any) -> RnnLanguageModel:
    """The weight-sharing LM: ``model.cell.set_arch(arch)`` picks the architecture the next call runs."""
    return RnnLanguageModel(None, vocab_size=vocab_size, hidden=hidden, shared=True, seed=seed, **options)


def inference_function(model: RnnLanguageModel):
    """``tf.function(tokens int32 [batch, time], state float32 [batch, hidden])`` returning
    ``{"logits": [batch, time, vocab], "new_state": [batch, hidden]}`` (output names differ from input names, which
    tf2onnx requires)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="tokens"),
                                  tf.TensorSpec([None, model.hidden], tf.float32, name="state")])
    def lm_step(tokens, state):
        logits, new_state = model.step(tokens, state)
        return {"logits": logits, "new_state": new_state}

    return lm_step


__all__ = ["DEFAULT_DROPOUTS", "INIT_RANGE", "RnnLanguageModel", "build_lm", "build_shared_lm",
           "inference_function"]
