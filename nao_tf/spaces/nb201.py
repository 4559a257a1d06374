"""The NAS-Bench-201 cell: 4 nodes, 6 edges, each one of 5 ops.

Integer form: the op id of each edge in NAS-Bench-201's order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), ids
0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3. Readable form: NAS-Bench-201's own
notation ``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``.
Tokens: op + 1 (1..5), vocabulary 6, length 6.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from nao_tf.errors import ArchitectureError
from nao_tf.spaces.base import Architecture, SearchSpace

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in NAS-Bench-201's order


class Nb201Space(SearchSpace):
    """NAS-Bench-201's cell space (15,625 architectures)."""

    name = "nb201"
    vocab_size = len(OPS) + 1
    length = len(EDGES)

    def __init__(self) -> None:
        self._valid = np.arange(1, self.vocab_size, dtype=np.int32)

    def valid_tokens(self, position: int) -> np.ndarray:
        if not 0 <= position < self.length:
            raise IndexError(position)
        return self._valid

    def encode(self, arch: Architecture) -> np.ndarray:
        self.check_space(arch)
        return np.asarray(arch.values, dtype=np.int32) + 1

    def decode(self, tokens: Any) -> Architecture:
        arr = self._tokens_array(tokens)
        self._check_tokens(arr)
        return Architecture(self.name, tuple(int(t) - 1 for t in arr))

    def validate_values(self, values: tuple[int, ...]) -> None:
        if len(values) != self.length:
            raise ArchitectureError(f"nb201: got {len(values)} integers, expected {self.length} (one op per edge)")
        for pos, v in enumerate(values):
            if not 0 <= v < len(OPS):
                to, frm = EDGES[pos]
                raise ArchitectureError(
                    f"nb201: position {pos} (edge {frm}->{to}) is {v}; expected an op id in 0..4 "
                    f"({', '.join(f'{i}={o}' for i, o in enumerate(OPS))})"
                )

    def format_readable(self, arch: Architecture) -> str:
        ops = [OPS[v] for v in arch.values]
        nodes, k = [], 0
        for to in (1, 2, 3):
            nodes.append("|" + "|".join(f"{ops[k + frm]}~{frm}" for frm in range(to)) + "|")
            k += to
        return "+".join(nodes)

    def parse_readable(self, text: str) -> Architecture:
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise ArchitectureError(
                f"nb201: cell string needs 3 nodes separated by '+', got {len(nodes)}; "
                "example: |nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|"
            )
        values = []
        for to, node in enumerate(nodes, start=1):
            edges = [e for e in node.strip().strip("|").split("|")]
            if len(edges) != to:
                raise ArchitectureError(f"nb201: node {to} has {len(edges)} edges, expected {to}")
            for frm, edge in enumerate(edges):
                match = re.fullmatch(r"\s*([a-z0-9_]+)~(\d+)\s*", edge)
                if not match or int(match.group(2)) != frm:
                    raise ArchitectureError(f"nb201: node {to} edge {frm} is {edge!r}; expected 'op~{frm}'")
                if match.group(1) not in OPS:
                    raise ArchitectureError(
                        f"nb201: unknown op {match.group(1)!r} on edge {frm}->{to}; expected one of {', '.join(OPS)}"
                    )
                values.append(OPS.index(match.group(1)))
        return self.make(values)

    def to_dict(self, arch: Architecture) -> dict[str, Any]:
        self.check_space(arch)
        return {
            "space": self.name,
            "integers": list(arch.values),
            "readable": self.format_readable(arch),
            "edges": [{"from": f, "to": t, "op": OPS[v]} for (t, f), v in zip(EDGES, arch.values, strict=True)],
        }

    def from_dict(self, data: dict[str, Any]) -> Architecture:
        if "integers" in data:
            return self.make(data["integers"])
        if "readable" in data:
            return self.parse_readable(str(data["readable"]))
        raise ArchitectureError("nb201: JSON needs 'integers' or 'readable'")


NB201 = Nb201Space()
