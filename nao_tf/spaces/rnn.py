"""The NAO RNN cell space (docs/method.md section 2.2).

Integer form: 22 integers, one ``(pred, act)`` pair for each node i = 1..11, ``pred`` in 0..i-1 (state s_pred),
``act`` an activation id. We use the full-NAO ids (0 tanh, 1 relu, 2 identity, 3 sigmoid); the NAO-WS code's
order differs, so the readable form names activations and nobody has to know the ids::

    (s0 relu) (s0 relu) (s1 relu) ... (s1 identity)

Tokens: pred + 1 (1..11), act + 12 (12..15); vocabulary 16, length 22.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from nao_tf.errors import ArchitectureError
from nao_tf.spaces.base import Architecture, SearchSpace

NODES = 11
ACTIVATIONS = ("tanh", "relu", "identity", "sigmoid")
ACT_TOKEN_BASE = 12
# The NAO-WS code numbers activations 0 tanh, 1 relu, 2 sigmoid, 3 identity: map its ids to ours.
WS_ACT_TO_ID = {0: 0, 1: 1, 2: 3, 3: 2}


def position_label(pos: int) -> str:
    node, slot = divmod(pos, 2)
    return f"position {pos} (node {node + 1}, {'predecessor' if slot == 0 else 'activation'})"


class RnnSpace(SearchSpace):
    """RNN cells: 11 nodes, each one predecessor state and one activation."""

    name = "rnn"
    vocab_size = ACT_TOKEN_BASE + len(ACTIVATIONS)
    length = 2 * NODES

    def __init__(self) -> None:
        self._valid = [
            np.arange(ACT_TOKEN_BASE, self.vocab_size, dtype=np.int32) if p % 2 else
            np.arange(1, p // 2 + 2, dtype=np.int32)
            for p in range(self.length)
        ]

    def valid_tokens(self, position: int) -> np.ndarray:
        return self._valid[position]

    def encode(self, arch: Architecture) -> np.ndarray:
        self.check_space(arch)
        vals = np.asarray(arch.values, dtype=np.int32)
        return np.where(np.arange(self.length) % 2 == 1, vals + ACT_TOKEN_BASE, vals + 1).astype(np.int32)

    def decode(self, tokens: Any) -> Architecture:
        arr = self._tokens_array(tokens)
        self._check_tokens(arr)
        vals = np.where(np.arange(self.length) % 2 == 1, arr - ACT_TOKEN_BASE, arr - 1)
        return Architecture(self.name, tuple(int(v) for v in vals))

    def validate_values(self, values: tuple[int, ...]) -> None:
        if len(values) != self.length:
            raise ArchitectureError(
                f"rnn: got {len(values)} integers, expected {self.length} ({NODES} (predecessor, activation) pairs)"
            )
        for pos, v in enumerate(values):
            node = pos // 2 + 1
            if pos % 2 == 0 and not 0 <= v <= node - 1:
                raise ArchitectureError(
                    f"rnn: {position_label(pos)} is {v}; expected a predecessor state in 0..{node - 1}"
                )
            if pos % 2 == 1 and not 0 <= v < len(ACTIVATIONS):
                raise ArchitectureError(
                    f"rnn: {position_label(pos)} is {v}; expected an activation id in 0..3 "
                    "(0=tanh, 1=relu, 2=identity, 3=sigmoid)"
                )

    def pairs(self, arch: Architecture) -> list[tuple[int, int]]:
        """``(pred, act)`` of nodes 1..11."""
        v = arch.values
        return [(v[2 * i], v[2 * i + 1]) for i in range(NODES)]

    def activation_names(self, arch: Architecture) -> list[str]:
        return [ACTIVATIONS[a] for _, a in self.pairs(arch)]

    def format_readable(self, arch: Architecture) -> str:
        return " ".join(f"(s{p} {ACTIVATIONS[a]})" for p, a in self.pairs(arch))

    def parse_readable(self, text: str) -> Architecture:
        nodes = re.findall(r"\(([^()]*)\)", text)
        if re.sub(r"\([^()]*\)", "", text).strip() or len(nodes) != NODES:
            raise ArchitectureError(
                f"rnn: readable form has {len(nodes)} nodes, expected {NODES} like '(s0 relu)'"
            )
        values: list[int] = []
        for i, node in enumerate(nodes, start=1):
            parts = node.replace(",", " ").split()
            match = re.fullmatch(r"s(\d+)", parts[0].lower()) if len(parts) == 2 else None
            if not match:
                raise ArchitectureError(f"rnn: node {i} is ({node}); expected '(sN activation)'")
            act = parts[1].lower()
            if act not in ACTIVATIONS:
                raise ArchitectureError(
                    f"rnn: node {i}: unknown activation {parts[1]!r}; expected one of {', '.join(ACTIVATIONS)}"
                )
            values += [int(match.group(1)), ACTIVATIONS.index(act)]
        return self.make(values)

    def to_dict(self, arch: Architecture) -> dict[str, Any]:
        self.check_space(arch)
        return {
            "space": self.name,
            "integers": list(arch.values),
            "readable": self.format_readable(arch),
            "nodes": [{"input": f"s{p}", "activation": ACTIVATIONS[a]} for p, a in self.pairs(arch)],
        }

    def from_dict(self, data: dict[str, Any]) -> Architecture:
        if "integers" in data:
            return self.make(data["integers"])
        if "readable" in data:
            return self.parse_readable(str(data["readable"]))
        nodes = data.get("nodes")
        if not isinstance(nodes, list):
            raise ArchitectureError("rnn: JSON needs 'integers', 'readable' or 'nodes'")
        text = " ".join(f"({n.get('input')} {n.get('activation')})" for n in nodes if isinstance(n, dict))
        return self.parse_readable(text)


RNN = RnnSpace()
