"""A functional Keras CNN built from a NASNet cell architecture (docs/method.md section 6, the authors' PyTorch macro).

``build_cnn(arch, layers=N, channels=F, ...)``: images (float32, 0..255, NHWC) -> ``Normalize`` -> stem
conv 3x3 (3F) - BN -> 3N+2 cells (reductions at N and 2N+1, channels F, 2F, 4F) -> global average pool ->
dropout -> dense logits (float32). With ``aux_head=True`` the model outputs ``[logits, aux_logits]`` (the
auxiliary head after the second reduction cell); ``inference_model(model)`` gives the logits-only model for
evaluation and export. The cell structure comes from ``nao_tf.children.params.plan`` (the same plan the
TF-free ``count_params`` counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nao_tf._tf import import_tf_quietly

import_tf_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as kl  # noqa: E402

from nao_tf.architectures import resolve  # noqa: E402
from nao_tf.children import ops as O  # noqa: E402
from nao_tf.children.params import STEM_MULTIPLIER, CellPlan, count_params, plan  # noqa: E402
from nao_tf.errors import ConfigError, DataError  # noqa: E402
from nao_tf.spaces import Architecture  # noqa: E402

__all__ = ["DropPathStep", "build_cnn", "count_params", "drop_path_layers", "inference_model",
           "keras_param_count"]


def _check_keep(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{name} must be in (0, 1] (a keep probability), got {value}")
    return value


def _cell(s0: Any, s1: Any, cell: CellPlan, num_cells: int, drop_path_keep: float,
          total_steps: int | None) -> Any:
    c, prefix = cell.channels, f"cell{cell.index}_"
    if cell.h0_larger:
        s0 = O.FactorizedReduce(c, relu=True, name=prefix + "calib0")(s0)
    elif cell.in_channels[0] != c:
        s0 = O.ReLUConvBN(c, 1, name=prefix + "calib0")(s0)
    if cell.in_channels[1] != c:
        s1 = O.ReLUConvBN(c, 1, name=prefix + "calib1")(s1)
    states = [s0, s1]
    for k, (a, oa, b, ob) in enumerate(cell.nodes):
        branches = []
        for j, (inp, op) in enumerate(((a, oa), (b, ob))):
            stride = 2 if cell.reduction and inp < 2 else 1
            y = O.make_op(op, c, stride, name=f"{prefix}node{k}_{j}_{op}")(states[inp])
            if drop_path_keep < 1.0:
                y = O.DropPath(drop_path_keep, cell.index, num_cells, total_steps,
                               name=f"{prefix}node{k}_{j}_droppath")(y)
            branches.append(y)
        states.append(kl.Add(name=f"{prefix}node{k}")(branches))
    outs = []
    for i in cell.loose_ends:
        state = states[i]
        if cell.reduction and i < 2:  # still at the larger size
            state = O.FactorizedReduce(c, name=f"{prefix}reduce_h{i}")(state)
        outs.append(state)
    if len(outs) == 1:
        return outs[0]
    return kl.Concatenate(axis=-1, name=prefix + "concat")(outs)


def build_cnn(arch: Architecture | str, *, layers: int = 6, channels: int = 36, num_classes: int = 10,
              input_shape: Sequence[int] = (32, 32, 3), aux_head: bool = False,
              drop_path_keep: float = 1.0, dropout_keep: float = 1.0, mean: Sequence[float] | None = None,
              std: Sequence[float] | None = None, total_steps: int | None = None,
              name: str | None = None) -> keras.Model:
    """The network of ``arch`` (docs/method.md section 6) as a functional Keras model on 0..255 float images.

    ``mean`` / ``std``: per-channel statistics in pixel units (0..255); default 0 / 255 per channel.
    ``total_steps``: training steps for the drop-path schedule (keep probability reaches ``drop_path_keep``
    at the last step; None applies the full drop rate at once). Call ``DropPathStep`` every batch.
    """
    arch = resolve(arch)
    cells = plan(arch, layers, channels)
    if int(num_classes) < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"input_shape must be (height, width, channels), got {tuple(input_shape)}")
    if min(shape[:2]) < 4:
        raise ConfigError(f"images of {shape[0]}x{shape[1]} are too small for two reductions; need >= 4x4")
    drop_path_keep = _check_keep("drop-path keep", drop_path_keep)
    dropout_keep = _check_keep("dropout keep", dropout_keep)
    in_ch = shape[-1]
    mean = [0.0] * in_ch if mean is None else [float(m) for m in np.ravel(mean)]
    std = [255.0] * in_ch if std is None else [float(s) for s in np.ravel(std)]
    if len(mean) != in_ch or len(std) != in_ch:
        raise ConfigError(f"mean/std need {in_ch} values (one per image channel), got {len(mean)}/{len(std)}")

    images = keras.Input(shape, name="images")
    x = O.Normalize(mean, std, name="normalize")(images)
    x = kl.Conv2D(STEM_MULTIPLIER * int(channels), 3, padding="same", use_bias=False,
                  kernel_initializer=O.kaiming_normal(), name="stem_conv")(x)
    x = kl.BatchNormalization(momentum=O.BN_MOMENTUM, epsilon=O.BN_EPSILON, name="stem_bn")(x)
    s0 = s1 = x
    aux = None
    aux_index = 2 * int(layers) + 1
    for cell in cells:
        s0, s1 = s1, _cell(s0, s1, cell, len(cells), drop_path_keep, total_steps)
        if aux_head and cell.index == aux_index:
            aux = O.AuxHead(int(num_classes), name="aux_head")(s1)
    x = kl.GlobalAveragePooling2D(name="global_pool")(s1)
    if dropout_keep < 1.0:
        x = kl.Dropout(1.0 - dropout_keep, name="dropout")(x)
    logits = kl.Dense(int(num_classes), kernel_initializer=O.kaiming_normal(), dtype="float32",
                      name="logits")(x)
    outputs: Any = [logits, aux] if aux is not None else logits
    return keras.Model(images, outputs, name=name or "naonet")


def inference_model(model: keras.Model) -> keras.Model:
    """The logits-only model (no auxiliary head), sharing the weights of ``model``."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.outputs[0], name=f"{model.name}_inference")


def keras_param_count(model: keras.Model) -> int:
    """Trainable parameters of a built model, auxiliary head excluded (to compare with ``count_params``)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, O.AuxHead):
            continue
        total += sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    return total


def drop_path_layers(model: keras.Model) -> list[O.DropPath]:
    return [layer for layer in model.layers if isinstance(layer, O.DropPath)]


class DropPathStep(keras.callbacks.Callback):
    """Sets the training step of every ``DropPath`` layer from the optimizer's iteration count each batch."""

    def __init__(self, model: keras.Model | None = None) -> None:
        super().__init__()
        self._target = model
        self._variables: list[Any] | None = None

    def _collect(self) -> list[Any]:
        if self._variables is None:
            model = self._target or self.model
            self._variables = [layer.step for layer in drop_path_layers(model)]
        return self._variables

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        variables = self._collect()
        if not variables:
            return
        step = float(int(self.model.optimizer.iterations.numpy()))
        for var in variables:
            var.assign(step)


def check_image_shape(model: keras.Model, image_shape: Sequence[int]) -> None:
    """A one-line error when images do not fit the model (e.g. a CIFAR model on Fashion-MNIST)."""
    expected = tuple(model.inputs[0].shape[1:])
    got = tuple(int(v) for v in image_shape)
    if expected != got:
        raise DataError(
            f"the model takes images of shape {expected}, the data has {got}; train a model for this dataset"
        )
