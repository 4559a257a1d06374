"""The ops of the NASNet cell spaces as registered, serializable Keras layers (docs/method.md sections 2.1 and 6).

Every op maps ``C`` channels to ``C`` channels (``filters``), NHWC, following the authors' PyTorch code so
that parameter counts agree:

- ``ReLUConvBN``: ReLU - conv k (no bias) - BN (``conv1``, ``conv3``, and the 1x1 calibration of cell inputs);
- ``ConvPair``: ReLU - conv 1xk - BN - ReLU - conv kx1 - BN (``conv1x3``, ``conv1x7``), stride split
  over both;
- ``SepConv``: (ReLU - depthwise k - pointwise 1x1 - BN) twice, stride only on the first depthwise;
- ``Pool``: max / average pooling that keeps channels; 2x2 pools pad one pixel at the bottom/right, odd pools
  use ``same`` padding (average pooling does not count the padding, as ``count_include_pad=False``);
- ``FactorizedReduce``: optional ReLU, two 1x1 stride-2 convs of C/2 channels, the second on the input
  shifted by one pixel, concatenated, BN (identity at stride 2, calibration of a twice-larger h0, loose-end
  reduction);
- ``DropPath``: per-example branch dropping with ``tf.random`` (independent masks per replica), keep
  probability ``1 - step_ratio * layer_ratio * (1 - keep_prob)`` as in the authors' ``apply_drop_path``;
- ``Normalize``: per-channel ``(x - mean) / std`` inside the model, so exports take raw 0..255 images;
- ``AuxHead``: ReLU, avg-pool 5 stride 3, conv1x1 128-BN-ReLU, conv 2x2 768-BN-ReLU, dense.

``make_op(name, filters, strides)`` builds any op of either op set by its short name (``sep3`` .. ``avg5``).
Stride-2 geometry uses TensorFlow's ``same`` padding (output ``ceil(h / 2)``); the authors' symmetric PyTorch
padding gives the same output sizes with windows offset by one pixel (no effect on parameter counts).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from nao_tf._tf import import_tf_quietly

import_tf_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers as kl  # noqa: E402
from keras import ops  # noqa: E402

from nao_tf.children.params import op_params  # noqa: E402,F401  (re-exported)
from nao_tf.errors import ArchitectureError  # noqa: E402

PACKAGE = "nao_tf"
BN_MOMENTUM = 0.9  # PyTorch momentum 0.1
BN_EPSILON = 1e-5
register = keras.saving.register_keras_serializable(package=PACKAGE)


def kaiming_normal() -> keras.initializers.Initializer:
    """PyTorch's ``kaiming_normal_`` (fan-in, gain sqrt 2, untruncated), the authors' init for conv/dense."""
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


def _bn(name: str) -> kl.BatchNormalization:
    return kl.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _conv(filters: int, kernel: Any, strides: Any = 1, padding: str = "same",
          name: str = "conv") -> kl.Conv2D:
    return kl.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                     kernel_initializer=kaiming_normal(), name=name)


def _depthwise(kernel: int, strides: int, name: str) -> kl.DepthwiseConv2D:
    # PyTorch's fan-in of a depthwise kernel is k*k (one input channel per group).
    init = keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / (kernel * kernel)))
    return kl.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False,
                              depthwise_initializer=init, name=name)


def _check_positive(name: str, value: int) -> int:
    if int(value) < 1:
        raise ArchitectureError(f"{name} must be a positive integer, got {value}")
    return int(value)


def _check_stride(strides: int) -> int:
    if int(strides) not in (1, 2):
        raise ArchitectureError(f"op stride must be 1 or 2, got {strides}")
    return int(strides)


# Registered as "nao_tf>CellReLUConvBN": the supernet (nao_tf.children.supernet) registers its own ReLUConvBN.
@keras.saving.register_keras_serializable(package=PACKAGE, name="CellReLUConvBN")
class ReLUConvBN(kl.Layer):
    """ReLU - conv (k x k, no bias) - batch norm."""

    def __init__(self, filters: int, kernel_size: int = 1, strides: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.kernel_size = int(kernel_size)
        self.strides = _check_stride(strides)
        self.conv = _conv(self.filters, self.kernel_size, self.strides, name="conv")
        self.bn = _bn("bn")

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.conv.build(input_shape)
        self.bn.build(self.conv.compute_output_shape(input_shape))

    def call(self, x: Any, training: bool | None = None) -> Any:
        return self.bn(self.conv(ops.relu(x)), training=training)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return self.conv.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides}


@register
class ConvPair(kl.Layer):
    """ReLU - conv 1xk - BN - ReLU - conv kx1 - BN (the full set's ``conv1x3`` / ``conv1x7``)."""

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.kernel_size = int(kernel_size)
        self.strides = _check_stride(strides)
        k, s = self.kernel_size, self.strides
        self.conv1 = _conv(self.filters, (1, k), (1, s), name="conv1")
        self.bn1 = _bn("bn1")
        self.conv2 = _conv(self.filters, (k, 1), (s, 1), name="conv2")
        self.bn2 = _bn("bn2")

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.conv1.build(input_shape)
        mid = self.conv1.compute_output_shape(input_shape)
        self.bn1.build(mid)
        self.conv2.build(mid)
        self.bn2.build(self.conv2.compute_output_shape(mid))

    def call(self, x: Any, training: bool | None = None) -> Any:
        x = self.bn1(self.conv1(ops.relu(x)), training=training)
        return self.bn2(self.conv2(ops.relu(x)), training=training)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return self.conv2.compute_output_shape(self.conv1.compute_output_shape(input_shape))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides}


@register
class SepConv(kl.Layer):
    """(ReLU - depthwise k - pointwise 1x1 - BN) twice; stride on the first depthwise only.

    As in the authors' code the first pointwise conv keeps the input's channels, the second maps to
    ``filters``.
    """

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.kernel_size = int(kernel_size)
        self.strides = _check_stride(strides)

    def build(self, input_shape: Sequence[int | None]) -> None:
        c_in = int(input_shape[-1])
        k = self.kernel_size
        self.dw1 = _depthwise(k, self.strides, "dw1")
        self.pw1 = _conv(c_in, 1, name="pw1")
        self.bn1 = _bn("bn1")
        self.dw2 = _depthwise(k, 1, "dw2")
        self.pw2 = _conv(self.filters, 1, name="pw2")
        self.bn2 = _bn("bn2")
        shape = tuple(input_shape)
        for layer in (self.dw1, self.pw1, self.bn1, self.dw2, self.pw2, self.bn2):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, x: Any, training: bool | None = None) -> Any:
        x = self.bn1(self.pw1(self.dw1(ops.relu(x))), training=training)
        return self.bn2(self.pw2(self.dw2(ops.relu(x))), training=training)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        h, w = input_shape[1], input_shape[2]
        s = self.strides
        return (input_shape[0], None if h is None else -(-h // s), None if w is None else -(-w // s),
                self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides}


@register
class Pool(kl.Layer):
    """Max or average pooling that keeps channels; even sizes pad at the bottom/right (authors' 2x2 pools)."""

    def __init__(self, kind: str = "max", pool_size: int = 3, strides: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if kind not in ("max", "avg"):
            raise ArchitectureError(f"pool kind must be 'max' or 'avg', got {kind!r}")
        self.kind = kind
        self.pool_size = _check_positive("pool_size", pool_size)
        self.strides = _check_stride(strides)

    def call(self, x: Any) -> Any:
        k, s = self.pool_size, self.strides
        if k % 2 == 0:
            # PyTorch: F.pad(x, [0, 1, 0, 1]) (zeros) then a valid k x k pool.
            pad = k - 1
            x = ops.pad(x, [[0, 0], [0, pad], [0, pad], [0, 0]])
            padding = "valid"
        else:
            padding = "same"
        if self.kind == "max":
            return ops.max_pool(x, k, s, padding=padding)
        return ops.average_pool(x, k, s, padding=padding)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        s = self.strides
        h, w = input_shape[1], input_shape[2]
        return (input_shape[0], None if h is None else -(-h // s), None if w is None else -(-w // s),
                input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kind": self.kind, "pool_size": self.pool_size,
                "strides": self.strides}


@register
class FactorizedReduce(kl.Layer):
    """[ReLU] - two 1x1 stride-2 convs (the second on the input shifted by one pixel) - concat - BN.

    Halves the spatial size (``ceil(h / 2)``) and maps to ``filters`` channels (``filters // 2`` per path).
    """

    def __init__(self, filters: int, relu: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        if self.filters < 2:
            raise ArchitectureError(f"a factorized reduce needs at least 2 filters, got {filters}")
        self.relu = bool(relu)
        half = self.filters // 2
        self.conv1 = _conv(half, 1, 2, padding="valid", name="conv1")
        self.conv2 = _conv(self.filters - half, 1, 2, padding="valid", name="conv2")
        self.bn = _bn("bn")

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.conv1.build(input_shape)
        self.conv2.build(input_shape)
        self.bn.build(self.compute_output_shape(input_shape))

    def call(self, x: Any, training: bool | None = None) -> Any:
        if self.relu:
            x = ops.relu(x)
        shifted = ops.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
        out = ops.concatenate([self.conv1(x), self.conv2(shifted)], axis=-1)
        return self.bn(out, training=training)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        h, w = input_shape[1], input_shape[2]
        return (input_shape[0], None if h is None else -(-h // 2), None if w is None else -(-w // 2),
                self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "relu": self.relu}


@register
class DropPath(kl.Layer):
    """Drops a whole branch per example while training, scaling kept ones by ``1 / keep``.

    ``keep = 1 - step_ratio * layer_ratio * (1 - keep_prob)`` with ``layer_ratio = (cell + 1) / num_cells``
    and
    ``step_ratio = min((step + 1) / total_steps, 1)`` (1 when ``total_steps`` is None). ``step`` is a
    non-trainable variable that ``DropPathStep`` (a callback in ``nao_tf.children.cnn``) sets every batch.
    The mask comes from ``tf.random.uniform``: each replica of a MirroredStrategy draws its own.
    """

    def __init__(self, keep_prob: float = 1.0, cell_index: int = 0, num_cells: int = 1,
                 total_steps: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keep_prob = float(keep_prob)
        if not 0.0 < self.keep_prob <= 1.0:
            raise ArchitectureError(f"drop-path keep probability must be in (0, 1], got {keep_prob}")
        self.cell_index = int(cell_index)
        self.num_cells = max(1, int(num_cells))
        self.total_steps = None if total_steps is None else max(1, int(total_steps))
        self.layer_ratio = (self.cell_index + 1) / self.num_cells

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.step = self.add_weight(name="step", shape=(), dtype="float32", trainable=False,
                                    initializer="zeros")

    def current_keep_prob(self) -> Any:
        if self.total_steps is None:
            step_ratio = tf.constant(1.0)
        else:
            # under a mixed policy Keras reads the variable in the compute dtype: count in float32
            step = tf.cast(tf.convert_to_tensor(self.step), tf.float32)
            step_ratio = tf.minimum((step + 1.0) / float(self.total_steps), 1.0)
        return 1.0 - step_ratio * self.layer_ratio * (1.0 - self.keep_prob)

    def call(self, x: Any, training: bool | None = None) -> Any:
        if not training or self.keep_prob >= 1.0:
            return x
        keep = self.current_keep_prob()
        batch = tf.shape(x)[0]
        mask = tf.cast(tf.random.uniform(tf.stack([batch, 1, 1, 1])) < tf.cast(keep, tf.float32), x.dtype)
        return x * (mask / tf.cast(keep, x.dtype))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "keep_prob": self.keep_prob, "cell_index": self.cell_index,
                "num_cells": self.num_cells, "total_steps": self.total_steps}


@register
class Normalize(kl.Layer):
    """``(x - mean) / std`` per channel; mean and std in the input's units (0..255 for raw images)."""

    def __init__(self, mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ArchitectureError(
                f"normalization needs one positive std per mean, got {self.mean} / {self.std}")

    def call(self, x: Any) -> Any:
        x = ops.cast(x, self.compute_dtype)
        mean = ops.cast(ops.convert_to_tensor(self.mean), self.compute_dtype)
        std = ops.cast(ops.convert_to_tensor(self.std), self.compute_dtype)
        return (x - mean) / std

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@register
class AuxHead(kl.Layer):
    """ReLU, avg-pool 5 stride 3, conv1x1 128-BN-ReLU, conv 2x2 768-BN-ReLU, flatten, dense (float32 logits).

    Made for 8x8 inputs (CIFAR after two reductions); smaller inputs shrink the pool and the 2x2 conv so that
    the head still fits (e.g. 7x7 for 28x28 Fashion-MNIST).
    """

    def __init__(self, num_classes: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = _check_positive("num_classes", num_classes)

    def build(self, input_shape: Sequence[int | None]) -> None:
        size = int(min(input_shape[1], input_shape[2]))
        self.pool_size = min(5, size)
        pooled = (size - self.pool_size) // 3 + 1
        self.conv1 = _conv(128, 1, name="conv1")
        self.bn1 = _bn("bn1")
        self.conv2 = _conv(768, min(2, pooled), padding="valid", name="conv2")
        self.bn2 = _bn("bn2")
        self.flatten = kl.Flatten(name="flatten")
        self.dense = kl.Dense(self.num_classes, kernel_initializer=kaiming_normal(), dtype="float32",
                              name="dense")
        shape = (input_shape[0], pooled, pooled, input_shape[-1])
        for layer in (self.conv1, self.bn1, self.conv2, self.bn2, self.flatten, self.dense):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, x: Any, training: bool | None = None) -> Any:
        x = ops.average_pool(ops.relu(x), self.pool_size, 3, padding="valid")
        x = ops.relu(self.bn1(self.conv1(x), training=training))
        x = ops.relu(self.bn2(self.conv2(x), training=training))
        return self.dense(self.flatten(x))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return (input_shape[0], self.num_classes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}


# ----- op factory ------------------------------------------------------------------------------------------
OpFactory = Callable[[int, int, str], kl.Layer]


def _identity(filters: int, strides: int, name: str) -> kl.Layer:
    if strides == 1:
        return kl.Identity(name=name)
    return FactorizedReduce(filters, name=name)


OP_FACTORIES: dict[str, OpFactory] = {
    "sep3": lambda c, s, n: SepConv(c, 3, s, name=n),
    "sep5": lambda c, s, n: SepConv(c, 5, s, name=n),
    "avg3": lambda c, s, n: Pool("avg", 3, s, name=n),
    "max3": lambda c, s, n: Pool("max", 3, s, name=n),
    "id": _identity,
    "conv1": lambda c, s, n: ReLUConvBN(c, 1, s, name=n),
    "conv3": lambda c, s, n: ReLUConvBN(c, 3, s, name=n),
    "conv1x3": lambda c, s, n: ConvPair(c, 3, s, name=n),
    "conv1x7": lambda c, s, n: ConvPair(c, 7, s, name=n),
    "max2": lambda c, s, n: Pool("max", 2, s, name=n),
    "max5": lambda c, s, n: Pool("max", 5, s, name=n),
    "avg2": lambda c, s, n: Pool("avg", 2, s, name=n),
    "avg5": lambda c, s, n: Pool("avg", 5, s, name=n),
}


def make_op(op: str, filters: int, strides: int = 1, name: str | None = None) -> kl.Layer:
    """A layer for op ``op`` (short name of either op set, e.g. ``sep3``, ``conv1x7``), C -> C channels.

    The input must already have ``filters`` channels (cells calibrate their inputs first); pools and identity
    keep channels, identity at stride 2 is a ``FactorizedReduce``.
    """
    if op not in OP_FACTORIES:
        raise ArchitectureError(f"unknown op {op!r}; expected one of {', '.join(OP_FACTORIES)}")
    return OP_FACTORIES[op](_check_positive("filters", filters), _check_stride(strides), name or op)
