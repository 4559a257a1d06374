"""The NAO-WS supernet for the 5-op space (``nasnet-ws``; docs/method.md sections 2.1, 5 and 6).

One Keras model holds the weights of every op on every possible input of every node (as in the authors'
``model_search.py``: a separable conv has one set of weights per possible input, a reduction cell's identity
on h0/h1 is a factorized reduce, the cell output is a 1x1 conv whose weights are sliced by which states are
loose ends). The architecture is an int32 TENSOR of the 40-integer form, passed to ``call`` beside the images,
so one traced ``tf.function`` serves every architecture: a new architecture never retraces.

Two ways of picking a node's op from the architecture tensor (``select``):

- ``"switch"`` (default): ``tf.switch_case`` on the op id; only the chosen op runs.
- ``"onehot"``: every op of the chosen input runs and a one-hot vector picks one (no control flow, more work).

``nao-tf benchmark supernet`` (``nao_tf.benchmarks.supernet``) measures both. Batch norm always uses the
statistics of the batch it sees (the authors' ``bn_train=True`` during the search); there are no moving
statistics to go stale when one set of weights serves hundreds of architectures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nao_tf._tf import import_tf_quietly
from nao_tf.errors import ConfigError
from nao_tf.spaces.nasnet import CELL_LEN, NASNET_WS, NODES

import_tf_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

NUM_OPS = len(NASNET_WS.ops)  # sep3, sep5, avg3, max3, id
SELECT_MODES = ("switch", "onehot")
_EPS = 1e-5


def _bn(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
    """Batch norm with the batch's own statistics and the given affine parameters (one fused op)."""
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=_EPS, is_training=True)
    return y


def _he(fan_in: int) -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / max(1, fan_in)))


def _factorized_reduce(x: tf.Tensor, k1: tf.Tensor, k2: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor):
    """ReLU, two stride-2 1x1 convs (the second on the input shifted by one pixel), concat, batch norm."""
    x = tf.nn.relu(x)
    a = tf.nn.conv2d(x, k1, 2, "VALID")
    # pad the shifted input at the bottom/right so both convs give ceil(H/2) x ceil(W/2)
    b = tf.nn.conv2d(tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]]), k2, 2, "VALID")
    return _bn(tf.concat([a, b], axis=-1), gamma, beta)


@keras.saving.register_keras_serializable(package="nao_tf", name="SupernetReLUConvBN")
class ReLUConvBN(keras.layers.Layer):
    """ReLU, 1x1 conv (no bias), batch norm with batch statistics: the calibration of a cell's inputs."""

    def __init__(self, channels: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape: Any) -> None:
        cin = int(input_shape[-1])
        self.kernel = self.add_weight(shape=(1, 1, cin, self.channels), initializer=_he(cin), name="kernel")
        self.gamma = self.add_weight(shape=(self.channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(self.channels,), initializer="zeros", name="beta")
        super().build(input_shape)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return _bn(tf.nn.conv2d(tf.nn.relu(x), self.kernel, 1, "VALID"), self.gamma, self.beta)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="nao_tf", name="SupernetFactorizedReduceBN")
class FactorizedReduceBN(keras.layers.Layer):
    """The factorized reduce of docs/method.md section 6 (halves the spatial size, sets the channel count)."""

    def __init__(self, channels: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape: Any) -> None:
        cin, half = int(input_shape[-1]), self.channels // 2
        self.k1 = self.add_weight(shape=(1, 1, cin, half), initializer=_he(cin), name="conv1")
        self.k2 = self.add_weight(shape=(1, 1, cin, self.channels - half), initializer=_he(cin), name="conv2")
        self.gamma = self.add_weight(shape=(self.channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(self.channels,), initializer="zeros", name="beta")
        super().build(input_shape)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return _factorized_reduce(x, self.k1, self.k2, self.gamma, self.beta)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels}


_INPUTS = NODES + 2  # h0, h1, node 0..4: the most inputs a node can pick from, the weight slots per branch


@keras.saving.register_keras_serializable(package="nao_tf", name="SupernetWSCell")
class WSCell(keras.layers.Layer):
    """A weight-sharing cell: calibration, five nodes, loose-end 1x1 combine.

    Every (node, branch, input) has its own separable-conv weights (the authors' ``WSSepConv``), stacked in one
    variable per op with a slot index ``(node * 2 + branch) * 7 + input``; slots of inputs a node cannot pick
    are never read. The five nodes run in a ``tf.while_loop`` over a ``TensorArray`` of states, so the graph
    (and its gradient) holds one node's ops, not five: tracing stays fast at any N.
    """

    def __init__(self, channels: int, reduction: bool, prev_reduction: bool, index: int, num_cells: int,
                 select: str = "switch", in_channels: tuple[int, int] | list[int] | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if select not in SELECT_MODES:
            raise ConfigError(
                f"unknown supernet select mode {select!r}; expected one of {', '.join(SELECT_MODES)}")
        self.channels = int(channels)
        self.reduction = bool(reduction)
        self.prev_reduction = bool(prev_reduction)
        self.index = int(index)
        self.num_cells = int(num_cells)
        self.select = select
        c = self.channels
        self.in_channels = tuple(int(v) for v in in_channels) if in_channels is not None else (-1, -1)
        # calibration as the authors' MaybeCalibrateSize: only where sizes or channels differ
        self.pre0 = self.pre1 = None
        if self.prev_reduction:
            self.pre0 = FactorizedReduceBN(c, name="pre0_reduce")
        elif self.in_channels[0] != c:
            self.pre0 = ReLUConvBN(c, name="pre0")
        if self.in_channels[1] != c:
            self.pre1 = ReLUConvBN(c, name="pre1")

    def build(self, input_shape: Any = None) -> None:
        c, slots = self.channels, NODES * 2 * _INPUTS
        self.dw3 = self.add_weight(shape=(slots, 2, 3, 3, c, 1), initializer=_he(9), name="sep3_depthwise")
        self.dw5 = self.add_weight(shape=(slots, 2, 5, 5, c, 1), initializer=_he(25), name="sep5_depthwise")
        # row slot * 2 + kernel (0: sep3, 1: sep5), then [repeat]: pointwise kernels and batch-norm scale/offset,
        # one row per op as the authors keep one module per op, so a row is trained only with its own op
        self.pw = self.add_weight(shape=(slots * 2, 2, 1, 1, c, c), initializer=_he(c), name="sep_pointwise")
        self.gamma = self.add_weight(shape=(slots * 2, 2, c), initializer="ones", name="sep_gamma")
        self.beta = self.add_weight(shape=(slots * 2, 2, c), initializer="zeros", name="sep_beta")
        if self.reduction:
            # identity on h0/h1 in a reduction cell is a factorized reduce: slots (node * 2 + branch) * 2 + input
            half, fr = c // 2, NODES * 2 * 2
            self.fr = (
                self.add_weight(shape=(fr, 1, 1, c, half), initializer=_he(c), name="id_reduce_conv1"),
                self.add_weight(shape=(fr, 1, 1, c, c - half), initializer=_he(c), name="id_reduce_conv2"),
                self.add_weight(shape=(fr, c), initializer="ones", name="id_reduce_gamma"),
                self.add_weight(shape=(fr, c), initializer="zeros", name="id_reduce_beta"),
            )
            self.loose_fr = [FactorizedReduceBN(c, name=f"loose_h{i}_reduce") for i in range(2)]
            for layer in self.loose_fr:
                layer.build((None, None, None, c))
        self.combine = self.add_weight(shape=(_INPUTS, 1, 1, c, c), initializer=_he(2 * c), name="combine")
        self.combine_g = self.add_weight(shape=(c,), initializer="ones", name="combine_gamma")
        self.combine_b = self.add_weight(shape=(c,), initializer="zeros", name="combine_beta")
        super().build(input_shape)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(channels=self.channels, reduction=self.reduction, prev_reduction=self.prev_reduction,
                   index=self.index, num_cells=self.num_cells, select=self.select,
                   in_channels=self.in_channels)
        return cfg

    # ----- ops -------------------------------------------------------------------------------------------
    # A branch is (input, op). Control flow is kept small on purpose: the graph of the gradient of a
    # ``tf.cond`` grows with the size of its branches, so conditionals wrap single ops where possible.
    def _pick(self, flags: list, fns: list) -> tf.Tensor:
        """``fns[i]()`` for the one true ``flags[i]`` (a small case, or a one-hot sum in ``onehot`` mode)."""
        if len(fns) == 1:
            return fns[0]()
        if self.select == "switch":
            index = tf.argmax(tf.stack(flags), output_type=tf.int32)
            return tf.switch_case(index, fns)
        total = None
        for flag, fn in zip(flags, fns, strict=True):
            y = fn() * tf.cast(flag, tf.float32)
            total = y if total is None else total + y
        return total

    def _gather_weights(self, cell_arch: tf.Tensor) -> dict[str, tf.Tensor]:
        """The weights of the cell's ten branches, gathered once, outside the node loop.

        One ``tf.gather`` per variable with ten distinct rows makes each gradient an ``IndexedSlices`` of
        those rows: the optimizer then updates (and decays) only the rows this architecture used, instead of
        a dense zero gradient over every input's weights.
        """
        in_ids, ops = cell_arch[0::2], cell_arch[1::2]
        branch = tf.range(NODES * 2, dtype=tf.int32)
        slot = branch * _INPUTS + in_ids
        row = slot * 2 + tf.minimum(ops, 1)
        w = {"dw3": tf.gather(self.dw3, slot), "dw5": tf.gather(self.dw5, slot), "pw": tf.gather(self.pw, row),
             "gamma": tf.gather(self.gamma, row), "beta": tf.gather(self.beta, row)}
        if self.reduction:
            fr_slot = branch * 2 + tf.minimum(in_ids, 1)
            w["fr"] = tuple(tf.gather(v, fr_slot) for v in self.fr)
        return w

    def _sep(self, x: tf.Tensor, w: dict[str, Any], b: tf.Tensor, op: tf.Tensor,
             strided: tf.Tensor | None) -> tf.Tensor:
        """Separable conv 3x3 (op 0) or 5x5 (op 1), twice; stride 2 on the first if ``strided``."""
        dw3, dw5, pw, gamma, beta = w["dw3"][b], w["dw5"][b], w["pw"][b], w["gamma"][b], w["beta"][b]
        for rep in (0, 1):
            x = tf.nn.relu(x)

            def by_kernel(s: int, x: tf.Tensor = x, rep: int = rep) -> tf.Tensor:
                return self._pick([tf.equal(op, 0), tf.equal(op, 1)], [
                    lambda: tf.nn.depthwise_conv2d(x, dw3[rep], [1, s, s, 1], "SAME"),
                    lambda: tf.nn.depthwise_conv2d(x, dw5[rep], [1, s, s, 1], "SAME")])

            if strided is not None and rep == 0:  # the two strides give different shapes: a real branch
                x = tf.cond(strided, lambda: by_kernel(2), lambda: by_kernel(1))
            else:
                x = by_kernel(1)
            x = _bn(tf.nn.conv2d(x, pw[rep], 1, "VALID"), gamma[rep], beta[rep])
        return x

    def _cheap(self, x: tf.Tensor, op: tf.Tensor, stride: int, fr: tuple | None) -> tf.Tensor:
        """avg-pool 3x3 (op 2), max-pool 3x3 (op 3), identity (op 4; a factorized reduce at stride 2); only
        the chosen one runs."""
        identity = (lambda: x) if stride == 1 else (lambda: _factorized_reduce(x, *fr))
        return self._pick([tf.equal(op, 2), tf.equal(op, 3), tf.equal(op, 4)], [
            lambda: tf.nn.avg_pool2d(x, 3, stride, "SAME"),  # SAME excludes padding: count_include_pad=False
            lambda: tf.nn.max_pool2d(x, 3, stride, "SAME"),
            identity])

    def _branch(self, states: tf.TensorArray, w: dict[str, Any], b: tf.Tensor, in_id: tf.Tensor,
                op: tf.Tensor) -> tf.Tensor:
        x = states.read(in_id)
        if self.reduction:
            strided = in_id < 2  # ops on h0/h1 halve the size; nodes are already reduced
            fr = tuple(v[b] for v in w["fr"])
            sep = lambda: self._sep(x, w, b, op, strided)  # noqa: E731
            cheap = lambda: tf.cond(strided, lambda: self._cheap(x, op, 2, fr),  # noqa: E731
                                    lambda: self._cheap(x, op, 1, None))
        else:
            sep = lambda: self._sep(x, w, b, op, None)  # noqa: E731
            cheap = lambda: self._cheap(x, op, 1, None)  # noqa: E731
        return self._pick([op < 2, op >= 2], [sep, cheap])

    def call(self, s0: tf.Tensor, s1: tf.Tensor, cell_arch: tf.Tensor, drop_keep: tf.Tensor | None = None,
             training: bool = False, drop_seed: tf.Tensor | None = None) -> tf.Tensor:
        h0 = s0 if self.pre0 is None else self.pre0(s0)
        h1 = s1 if self.pre1 is None else self.pre1(s1)
        w = self._gather_weights(cell_arch)
        # all seven states in one list; in a reduction cell h0/h1 are twice the size of the nodes
        states = tf.TensorArray(h0.dtype, size=_INPUTS, dynamic_size=False, clear_after_read=False,
                                infer_shape=False, element_shape=tf.TensorShape([None, None, None, self.channels]))
        states = states.write(0, h0).write(1, h1)

        def body(k: tf.Tensor, states: tf.TensorArray) -> tuple:
            out = None
            for side in range(2):
                base = 4 * k + 2 * side
                y = self._branch(states, w, 2 * k + side, cell_arch[base], cell_arch[base + 1])
                if training and drop_keep is not None:
                    offset = tf.stack([0, 1000 * self.index + 2 * k + side])
                    y = _drop_path(y, drop_keep, drop_seed + offset)
                out = y if out is None else out + y
            return k + 1, states.write(k + 2, out)

        _, states = tf.while_loop(lambda k, _: k < NODES, body, (tf.constant(0), states),
                                  maximum_iterations=NODES)
        used = tf.reduce_sum(tf.one_hot(cell_arch[0::2], _INPUTS, dtype=tf.int32), axis=0)
        loose = tf.equal(used, 0)  # [7] True for loose ends: the cell output concatenates them
        # Each state is read once, here, and each conditional below captures only its own state: one that
        # captured the whole TensorArray would, when not taken, send back a zero gradient for all seven states.
        outs = [h0, h1, *(states.read(k) for k in range(2, _INPUTS))]
        total = tf.zeros(tf.concat([tf.shape(outs[2])[:3], [self.channels]], 0), h0.dtype)
        for i in range(_INPUTS):
            if i < 2 and self.reduction:
                src = lambda i=i: self.loose_fr[i](outs[i])  # noqa: E731
            else:
                src = lambda i=i: outs[i]  # noqa: E731
            # relu, then this state's slice of the 1x1 combine conv (only for loose ends)
            total = tf.cond(
                loose[i], lambda src=src, i=i, total=total: total + tf.nn.conv2d(
                    tf.nn.relu(src()), self.combine[i], 1, "VALID"),
                lambda total=total: total)
        return _bn(total, self.combine_g, self.combine_b)


def _accuracy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    hits = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
    return tf.reduce_mean(tf.cast(hits, tf.float32))


def _drop_path(x: tf.Tensor, keep: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Drop a branch per example with probability ``1 - keep`` (stateless: the mask depends on ``seed`` only,
    so a resumed search draws the same masks)."""
    batch = tf.shape(x)[0]
    mask = tf.floor(keep + tf.random.stateless_uniform([batch, 1, 1, 1], seed=seed, dtype=x.dtype))
    return x / keep * mask


@keras.saving.register_keras_serializable(package="nao_tf")
class Supernet(keras.Model):
    """Weight-sharing network; ``call((images, arch))``, ``arch`` an int32 ``[40]`` tensor (integer form)."""

    def __init__(self, layers: int = 3, channels: int = 20, num_classes: int = 10, select: str = "switch",
                 drop_path_keep: float = 1.0, dropout_keep: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        if layers < 1 or channels < 2:
            raise ConfigError(
                f"supernet needs layers >= 1 and channels >= 2, got layers={layers} channels={channels}")
        self.num_layers = int(layers)
        self.channels = int(channels)
        self.num_classes = int(num_classes)
        self.select = select
        self.drop_path_keep = float(drop_path_keep)
        self.dropout_keep = float(dropout_keep)
        f = self.channels
        self.stem_conv = keras.layers.Conv2D(3 * f, 3, padding="same", use_bias=False, name="stem_conv")
        num_cells = 3 * self.num_layers + 2
        reductions = {self.num_layers, 2 * self.num_layers + 1}
        self.cells = []
        c, prev_red = f, False
        in_ch = (3 * f, 3 * f)
        for i in range(num_cells):
            red = i in reductions
            if red:
                c *= 2
            self.cells.append(
                WSCell(c, red, prev_red, i, num_cells, select, in_channels=in_ch, name=f"cell{i}"))
            prev_red = red
            in_ch = (in_ch[1], c)
        self.classifier = keras.layers.Dense(self.num_classes, name="classifier")

    def build(self, input_shape: Any = None) -> None:
        self.stem_g = self.add_weight(shape=(3 * self.channels,), initializer="ones", name="stem_gamma")
        self.stem_b = self.add_weight(shape=(3 * self.channels,), initializer="zeros", name="stem_beta")
        super().build(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"layers": self.num_layers, "channels": self.channels, "num_classes": self.num_classes,
                "select": self.select, "drop_path_keep": self.drop_path_keep,
                "dropout_keep": self.dropout_keep, "name": self.name}

    def call(self, inputs: Any, training: bool = False, progress: tf.Tensor | float = 1.0,
             seed: tf.Tensor | None = None) -> tf.Tensor:
        images, arch = inputs
        arch = tf.cast(tf.reshape(arch, [2 * CELL_LEN]), tf.int32)
        x = _bn(self.stem_conv(images), self.stem_g, self.stem_b)
        s0 = s1 = x
        n = len(self.cells)
        for i, cell in enumerate(self.cells):
            cell_arch = arch[CELL_LEN:] if cell.reduction else arch[:CELL_LEN]
            keep = None
            if training and self.drop_path_keep < 1.0:
                keep = 1.0 - (i + 1) / n * (1.0 - self.drop_path_keep) * tf.cast(progress, tf.float32)
                seed = tf.zeros([2], tf.int32) if seed is None else tf.cast(seed, tf.int32)
            s0, s1 = s1, cell(s0, s1, cell_arch, keep, training=training, drop_seed=seed)
        x = tf.reduce_mean(s1, axis=[1, 2])
        if training and self.dropout_keep < 1.0:
            x = tf.nn.dropout(x, rate=1.0 - self.dropout_keep)
        return self.classifier(x)


@dataclass
class SupernetTrainer:
    """Compiled training / scoring steps for a ``Supernet`` (SGD Nesterov momentum, cosine lr, weight decay,
    gradient clipping at norm 5).

    ``train_step(images, labels, arch, progress, seed)`` trains one architecture on one batch; ``score(images,
    labels, arch)`` returns the accuracy of one architecture on one batch. Both are traced once per input
    signature and reused for every architecture.

    The optimizer updates only what the step's architecture used, as the authors' PyTorch SGD skips
    parameters without a gradient: the rows of the stacked per-input weights that were gathered (and got a
    non-zero gradient) and the variables with any non-zero gradient. Momentum and weight decay of unused
    weights stay put, so training one architecture neither erodes nor drags the weights of others, and a step
    costs what the architecture costs, not what the whole supernet holds.
    """

    model: Supernet
    lr_max: float = 0.025
    lr_min: float = 0.001
    total_steps: int = 1000
    weight_decay: float = 3e-4
    momentum: float = 0.9
    grad_clip: float = 5.0
    image_shape: tuple[int, int, int] = (32, 32, 3)

    def __post_init__(self) -> None:
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="supernet_step")
        alpha = self.lr_min / self.lr_max if self.lr_max else 0.0
        steps = max(1, int(self.total_steps))
        self.schedule = keras.optimizers.schedules.CosineDecay(self.lr_max, steps, alpha=alpha)
        h, w, c = self.image_shape
        dummy = np.zeros((2, h, w, c), np.float32)
        self.model((dummy, np.zeros(2 * CELL_LEN, np.int32)))  # build every weight
        self.momenta = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name="momentum")
                        for v in self.model.trainable_variables]
        img_spec = tf.TensorSpec([None, h, w, c], tf.float32)
        lab_spec = tf.TensorSpec([None], tf.int32)
        arch_spec = tf.TensorSpec([2 * CELL_LEN], tf.int32)
        self.train_step = tf.function(
            self._train_step, input_signature=[img_spec, lab_spec, arch_spec, tf.TensorSpec([], tf.float32),
                                               tf.TensorSpec([2], tf.int32)])
        self.score = tf.function(self._score, input_signature=[img_spec, lab_spec, arch_spec])

    def learning_rate(self) -> tf.Tensor:
        return tf.cast(self.schedule(self.step), tf.float32)

    def _apply(self, var: Any, momentum: tf.Variable, grad: Any, lr: tf.Tensor) -> None:
        """One Nesterov momentum update with weight decay, of the rows (or the variable) that got gradient."""
        mom = tf.constant(self.momentum, tf.float32)
        if isinstance(grad, tf.IndexedSlices):
            rows, seg = tf.unique(grad.indices)
            values = tf.math.unsorted_segment_sum(grad.values, seg, tf.size(rows))
            live = tf.reduce_any(tf.not_equal(tf.reshape(values, [tf.size(rows), -1]), 0.0), axis=1)
            rows, values = tf.boolean_mask(rows, live), tf.boolean_mask(values, live)
            values = values + self.weight_decay * tf.gather(var, rows)
            tf.raw_ops.ResourceSparseApplyMomentum(var=var.handle, accum=momentum.handle, lr=lr, grad=values,
                                                   indices=rows, momentum=mom, use_nesterov=True)
            return

        def update() -> tf.Tensor:
            tf.raw_ops.ResourceApplyMomentum(var=var.handle, accum=momentum.handle, lr=lr,
                                             grad=grad + self.weight_decay * var.value, momentum=mom,
                                             use_nesterov=True)
            return tf.constant(True)

        tf.cond(tf.reduce_any(tf.not_equal(grad, 0.0)), update, lambda: tf.constant(False))

    def _train_step(self, images: tf.Tensor, labels: tf.Tensor, arch: tf.Tensor, progress: tf.Tensor,
                    seed: tf.Tensor):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model((images, arch), training=True, progress=progress, seed=seed)
            ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        grads = tape.gradient(ce, variables)
        pairs = [(g, v, m) for g, v, m in zip(grads, variables, self.momenta, strict=True) if g is not None]
        clipped, _ = tf.clip_by_global_norm([g for g, _, _ in pairs], self.grad_clip)
        lr = self.learning_rate()
        for g, (_, v, m) in zip(clipped, pairs, strict=True):
            self._apply(v, m, g, lr)
        self.step.assign_add(1)
        return ce, _accuracy(logits, labels)

    def _score(self, images: tf.Tensor, labels: tf.Tensor, arch: tf.Tensor) -> tf.Tensor:
        return _accuracy(self.model((images, arch), training=False), labels)

    def score_pool(self, archs: list, images: np.ndarray, labels: np.ndarray,
                   callback: Any = None) -> list[float]:
        """Accuracy of every architecture (integer forms) on one batch with the shared weights."""
        images = tf.convert_to_tensor(images, tf.float32)
        labels = tf.convert_to_tensor(labels, tf.int32)
        out = []
        for arch in archs:
            out.append(float(self.score(images, labels, tf.constant(np.asarray(arch, np.int32)))))
            if callback is not None:
                callback()
        return out

    def state_variables(self) -> list[Any]:
        """Every variable a resumed search needs: weights, momenta, the step counter (which sets the lr)."""
        return [*self.model.weights, *self.momenta, self.step]

    def get_state(self) -> list[np.ndarray]:
        return [np.asarray(v.numpy()) for v in self.state_variables()]

    def set_state(self, arrays: list[np.ndarray]) -> None:
        variables = self.state_variables()
        if len(arrays) != len(variables):
            raise ConfigError(f"supernet checkpoint holds {len(arrays)} arrays, this supernet {len(variables)}")
        for v, a in zip(variables, arrays, strict=True):
            if tuple(v.shape) != tuple(a.shape):
                raise ConfigError(f"supernet checkpoint array of shape {a.shape} does not fit {v.path} {v.shape}")
            v.assign(a)
