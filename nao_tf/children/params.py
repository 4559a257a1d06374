"""The macro-architecture plan of a CNN built from a cell, and its parameter count, without TensorFlow.

``plan(arch, layers, channels)`` lists the 3N+2 cells of docs/method.md section 6 (reduction cells at N and 2N+1,
channels F, 2F, 4F) with what each cell does to its inputs; ``nao_tf.children.cnn`` builds exactly this plan
in Keras, and ``count_params`` adds up the trainable weights of the same plan (auxiliary head excluded, as
the authors' ``count_parameters_in_MB`` does), so ``nao-tf arch show --params`` needs no TensorFlow. A test
checks that both agree on random architectures of both op sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from nao_tf.architectures import resolve
from nao_tf.errors import ArchitectureError, ConfigError
from nao_tf.spaces import Architecture, get_space
from nao_tf.spaces.nasnet import NasnetSpace

STEM_MULTIPLIER = 3
PARAMETER_FREE_OPS = ("avg2", "avg3", "avg5", "max2", "max3", "max5")
AUX_WEIGHT = 0.4


@dataclass(frozen=True)
class CellPlan:
    """One cell of the network: index, kind, channel count C and how its two inputs are calibrated."""

    index: int
    reduction: bool
    channels: int
    nodes: tuple[tuple[int, str, int, str], ...]  # (in1, op1 name, in2, op2 name)
    loose_ends: tuple[int, ...]
    in_channels: tuple[int, int]  # channels of h0 and h1 before calibration
    h0_larger: bool  # h0 has twice h1's spatial size: ReLU + factorized reduce
    out_channels: int


def nasnet_space(arch: Architecture) -> NasnetSpace:
    space = get_space(arch.space)
    if not isinstance(space, NasnetSpace):
        raise ArchitectureError(
            f"a CNN needs a nasnet-ws or nasnet-full architecture, got one of space {arch.space!r}"
        )
    return space


def check_macro(layers: int, channels: int) -> None:
    if int(layers) < 1:
        raise ConfigError(f"--layers (cells per stage, N) must be >= 1, got {layers}")
    if int(channels) < 2:
        raise ConfigError(f"--channels (filters F) must be >= 2, got {channels}")


def plan(arch: Architecture | str, layers: int, channels: int) -> list[CellPlan]:
    """The 3N+2 cells of the network (docs/method.md section 6)."""
    arch = resolve(arch)
    space = nasnet_space(arch)
    check_macro(layers, channels)
    n, c = int(layers), int(channels)
    reductions = (n, 2 * n + 1)
    stem = STEM_MULTIPLIER * c
    # (channels, level) of h0 and h1; level counts the reductions so far (spatial size / 2**level)
    h0, h1 = (stem, 0), (stem, 0)
    cells = []
    for i in range(3 * n + 2):
        reduction = i in reductions
        if reduction:
            c *= 2
        cell = 1 if reduction else 0
        nodes = tuple(
            (a, space.op_name(oa), b, space.op_name(ob)) for a, oa, b, ob in space.nodes(arch, cell)
        )
        loose = tuple(space.loose_ends(arch, cell))
        out = CellPlan(i, reduction, c, nodes, loose, (h0[0], h1[0]), h0[1] != h1[1], c * len(loose))
        cells.append(out)
        h0, h1 = h1, (out.out_channels, h1[1] + (1 if reduction else 0))
    return cells


def op_params(op: str, filters: int, strides: int = 1) -> int:
    """Trainable parameters of ``make_op(op, filters, strides)`` on a ``filters``-channel input (no TF)."""
    c = int(filters)
    bn = 2 * c
    if op in ("sep3", "sep5"):
        k = 3 if op == "sep3" else 5
        return 2 * (k * k * c + c * c + bn)
    if op == "id":
        return 0 if strides == 1 else c * (c // 2) + c * (c - c // 2) + bn
    if op in ("conv1", "conv3"):
        k = 1 if op == "conv1" else 3
        return k * k * c * c + bn
    if op in ("conv1x3", "conv1x7"):
        k = 3 if op == "conv1x3" else 7
        return 2 * (k * c * c + bn)
    if op in PARAMETER_FREE_OPS:
        return 0
    raise ArchitectureError(f"unknown op {op!r}")


def _conv_bn(c_in: int, c_out: int, k: int = 1) -> int:
    return k * k * c_in * c_out + 2 * c_out


def _factorized_reduce(c_in: int, c_out: int) -> int:
    return c_in * (c_out // 2) + c_in * (c_out - c_out // 2) + 2 * c_out


def cell_params(cell: CellPlan) -> int:
    c = cell.channels
    total = 0
    if cell.h0_larger:
        total += _factorized_reduce(cell.in_channels[0], c)
    elif cell.in_channels[0] != c:
        total += _conv_bn(cell.in_channels[0], c)
    if cell.in_channels[1] != c:
        total += _conv_bn(cell.in_channels[1], c)
    for a, oa, b, ob in cell.nodes:
        total += op_params(oa, c, 2 if cell.reduction and a < 2 else 1)
        total += op_params(ob, c, 2 if cell.reduction and b < 2 else 1)
    if cell.reduction:  # loose h0/h1 keep the larger size: factorized reduce before the concat
        total += sum(_factorized_reduce(c, c) for i in cell.loose_ends if i < 2)
    return total


def count_params(arch: Architecture | str, layers: int, channels: int, num_classes: int = 10,
                 input_channels: int = 3) -> int:
    """Trainable parameters of the network WITHOUT the auxiliary head (docs/method.md section 6)."""
    cells = plan(arch, layers, channels)
    stem = STEM_MULTIPLIER * int(channels)
    total = _conv_bn(int(input_channels), stem, 3)
    total += sum(cell_params(cell) for cell in cells)
    last = cells[-1].out_channels
    return total + last * int(num_classes) + int(num_classes)
