"""The NAO RNN cell (docs/method.md section 2.2) as Keras RNN cells.

For input ``x_t`` and previous hidden state ``h``::

    c0 = sigmoid(W0_c [x; h]),   s0 = h + c0 * (tanh(W0_h [x; h]) - h)
    node i = 1..11, predecessor p_i < i, activation f_i:
    c_i = sigmoid(W_c^i s_p),    s_i = s_p + c_i * (f_i(W_h^i s_p) - s_p)
    h_t = mean(s_1, ..., s_11)

``W0 = [W0_c | W0_h]`` is one ``[input + units, 2 * units]`` matrix and each ``[W_c^i | W_h^i]`` one
``[units, 2 * units]`` matrix, without biases, initialized uniformly in +-0.04 (the DARTS/NAO PyTorch code).
Hidden dropout (``hidden_dropout``, training only) is the DARTS/NAO variational mask on ``h`` and on every
``s_p`` fed to a matrix, one mask per sequence: the language model draws it before the recurrent loop and hands
it to the cell (``hidden_mask``); a cell used on its own in training draws a fresh mask at each step instead.
At inference the cell has no random ops and no state updates, so its graph freezes and converts (tf2onnx).
(Keras' ``DropoutRNNCell`` is not used on purpose: ``keras.layers.RNN`` makes such cells draw a mask even at
inference, which updates a seed variable inside the inference graph.) The input-side dropouts live in the
language model.

* ``NaoRnnCell``: one architecture, fixed at construction (what training and export use). Works inside
  ``keras.layers.RNN``; the state is one ``[batch, units]`` tensor.
* ``SharedNaoRnnCell``: the weight-sharing supernet cell. It holds a matrix for every (node, predecessor)
  pair (66 of them) and reads the architecture from an int32 variable (``set_arch``), so one compiled step
  serves every architecture of the space; activations have no weights, all four are computed and one is
  selected by the architecture tensor.
"""

from __future__ import annotations

from typing import Any

from nao_tf._tf import import_tf_quietly

import_tf_quietly()

import keras  # noqa: E402
from keras import ops  # noqa: E402

from nao_tf.spaces.rnn import ACTIVATIONS, NODES, RNN  # noqa: E402

INIT_RANGE = 0.04
N_PAIRS = NODES * (NODES + 1) // 2  # (node, predecessor) pairs of the weight-sharing cell


def activation_fn(act_id: int):
    name = ACTIVATIONS[act_id]
    if name == "tanh":
        return ops.tanh
    if name == "relu":
        return ops.relu
    if name == "identity":
        return lambda z: z
    if name == "sigmoid":
        return ops.sigmoid
    raise ValueError(f"no activation with id {act_id}")


def _highway(s_prev, s_in, w, units: int, act):
    ch = ops.matmul(s_in, w)
    c = ops.sigmoid(ch[:, :units])
    return s_prev + c * (act(ch[:, units:]) - s_prev)


class _CellBase(keras.layers.Layer):
    def __init__(self, units: int, hidden_dropout: float = 0.0, init_range: float = INIT_RANGE,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.hidden_dropout = float(hidden_dropout)
        self.init_range = float(init_range)
        self.seed = seed
        self.state_size = self.units
        self.output_size = self.units
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.hidden_mask = None  # [batch, units] mask for the next call sequence, set by the language model

    def _init(self):
        return keras.initializers.RandomUniform(-self.init_range, self.init_range, seed=self.seed)

    def _build_w0(self, input_dim: int) -> None:
        self.w0 = self.add_weight(shape=(input_dim + self.units, 2 * self.units), initializer=self._init(),
                                  name="w0")

    def _s0(self, x, h, training):
        mask = None
        if training and self.hidden_dropout > 0:
            mask = self.hidden_mask
            if mask is None:
                mask = keras.random.dropout(ops.ones_like(h), self.hidden_dropout, seed=self.seed_generator)
        h_in = h * mask if mask is not None else h
        s0 = _highway(h, ops.concatenate([x, h_in], axis=-1), self.w0, self.units, ops.tanh)
        return s0, mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "hidden_dropout": self.hidden_dropout,
                "init_range": self.init_range, "seed": self.seed}


@keras.saving.register_keras_serializable(package="nao_tf")
class NaoRnnCell(_CellBase):
    """The cell of one architecture of the ``rnn`` space (22 integers, see ``nao_tf.spaces.rnn``)."""

    def __init__(self, units: int, arch: Any, hidden_dropout: float = 0.0, init_range: float = INIT_RANGE,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(units, hidden_dropout, init_range, seed, **kwargs)
        values = arch.values if hasattr(arch, "values") else arch
        self.arch = RNN.make(values)
        self.pairs = RNN.pairs(self.arch)

    def build(self, input_shape) -> None:
        self._build_w0(int(input_shape[-1]))
        self.ws = self.add_weight(shape=(NODES, self.units, 2 * self.units), initializer=self._init(),
                                  name="ws")

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        s0, mask = self._s0(inputs, h, training)
        s = [s0]
        for i, (pred, act) in enumerate(self.pairs):
            sp = s[pred]
            s.append(_highway(sp, sp * mask if mask is not None else sp, self.ws[i], self.units,
                              activation_fn(act)))
        out = ops.mean(ops.stack(s[1:], axis=0), axis=0)
        return out, ([out] if isinstance(states, (list, tuple)) else out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "arch": list(self.arch.values)}


@keras.saving.register_keras_serializable(package="nao_tf")
class SharedNaoRnnCell(_CellBase):
    """Weight-sharing cell: every (node, predecessor) pair has its own matrix; the architecture is a tensor."""

    def build(self, input_shape) -> None:
        self._build_w0(int(input_shape[-1]))
        self.ws = self.add_weight(shape=(N_PAIRS, self.units, 2 * self.units), initializer=self._init(),
                                  name="ws")
        self.arch_var = self.add_weight(shape=(2 * NODES,), dtype="int32", initializer="zeros",
                                        trainable=False, name="arch")

    def set_arch(self, arch: Any) -> None:
        values = arch.values if hasattr(arch, "values") else arch
        self.arch_var.assign(list(RNN.make(values).values))

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        s0, mask = self._s0(inputs, h, training)
        arch = ops.convert_to_tensor(self.arch_var)
        s = [s0]
        for i in range(NODES):
            pred, act = arch[2 * i], arch[2 * i + 1]
            sp = ops.take(ops.stack(s, axis=0), pred, axis=0)
            sp_in = sp * mask if mask is not None else sp
            ch = ops.matmul(sp_in, ops.take(self.ws, i * (i + 1) // 2 + pred, axis=0))
            c = ops.sigmoid(ch[:, :self.units])
            z = ch[:, self.units:]
            f = ops.take(ops.stack([activation_fn(a)(z) for a in range(len(ACTIVATIONS))], axis=0), act, axis=0)
            s.append(sp + c * (f - sp))
        out = ops.mean(ops.stack(s[1:], axis=0), axis=0)
        return out, ([out] if isinstance(states, (list, tuple)) else out)
