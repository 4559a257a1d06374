"""NASNet-style CNN cells (docs/method.md section 2.1): the 5-op weight-sharing set and the 11-op full set.

Integer form: normal cell then reduction cell, 20 integers each; node k is ``[in1, op1, in2, op2]`` with
``in`` in 0..k+1 (0 = h0, 1 = h1, j+2 = node j). Readable form, one cell after the other::

    normal: (h0 sep3, h1 id) (n0 avg3, h1 max3) ... -> concat n1 n3 n4; reduce: (...) ...

``-> concat ...`` lists the loose ends (inputs no node uses, h0/h1 included, as in the authors' code); it is
written by ``format`` and optional when parsing, where a wrong list is an error.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from nao_tf.errors import ArchitectureError
from nao_tf.spaces.base import Architecture, SearchSpace

NODES = 5
CELL_LEN = 4 * NODES
CELLS = ("normal", "reduce")
INPUT_TOKEN_OFFSET = 1
OP_TOKEN_BASE = 7

WS_OPS = ("sep3", "sep5", "avg3", "max3", "id")
FULL_OPS = ("id", "conv1", "conv3", "conv1x3", "conv1x7", "max2", "max3", "max5", "avg2", "avg3", "avg5")

# Long names users may also write (and the names the NASNet / DARTS literature uses).
OP_ALIASES = {
    "sep_conv_3x3": "sep3", "sep_conv_5x5": "sep5", "avg_pool_3x3": "avg3", "max_pool_3x3": "max3",
    "identity": "id", "skip": "id", "skip_connect": "id", "conv_1x1": "conv1", "conv_3x3": "conv3",
    "conv_1x3_3x1": "conv1x3", "conv_1x7_7x1": "conv1x7", "max_pool_2x2": "max2", "max_pool_5x5": "max5",
    "avg_pool_2x2": "avg2", "avg_pool_5x5": "avg5",
}

OP_DESCRIPTIONS = {
    "sep3": "separable conv 3x3", "sep5": "separable conv 5x5", "avg3": "avg-pool 3x3", "max3": "max-pool 3x3",
    "id": "identity", "conv1": "conv 1x1", "conv3": "conv 3x3", "conv1x3": "conv 1x3 then 3x1",
    "conv1x7": "conv 1x7 then 7x1", "max2": "max-pool 2x2", "max5": "max-pool 5x5", "avg2": "avg-pool 2x2",
    "avg5": "avg-pool 5x5",
}


def input_name(index: int) -> str:
    """h0, h1, n0, n1, ... for input index 0, 1, 2, 3, ..."""
    return f"h{index}" if index < 2 else f"n{index - 2}"


def position_label(pos: int) -> str:
    """Human description of a position of the 40-integer form, for error messages."""
    cell, rest = divmod(pos, CELL_LEN)
    node, slot = divmod(rest, 4)
    what = ("input", "op")[slot % 2]
    return f"position {pos} ({CELLS[cell]} cell, node {node}, {what} {slot // 2 + 1})"


class NasnetSpace(SearchSpace):
    """A NASNet cell space with a given op set; ids ``first_op .. first_op + len(ops) - 1``."""

    def __init__(self, name: str, ops: tuple[str, ...], first_op: int) -> None:
        self.name = name
        self.ops = ops
        self.first_op = first_op
        self.vocab_size = OP_TOKEN_BASE + len(ops)
        self.length = 2 * CELL_LEN
        self._op_ids = {op: first_op + i for i, op in enumerate(ops)}
        self._valid = [self._compute_valid(p) for p in range(self.length)]

    # ----- tokens ---------------------------------------------------------------------------------------
    def _compute_valid(self, pos: int) -> np.ndarray:
        node, slot = divmod(pos % CELL_LEN, 4)
        if slot % 2 == 0:
            return np.arange(INPUT_TOKEN_OFFSET, node + 3, dtype=np.int32)
        return np.arange(OP_TOKEN_BASE, self.vocab_size, dtype=np.int32)

    def valid_tokens(self, position: int) -> np.ndarray:
        return self._valid[position]

    def encode(self, arch: Architecture) -> np.ndarray:
        self.check_space(arch)
        vals = np.asarray(arch.values, dtype=np.int32)
        tokens = vals + INPUT_TOKEN_OFFSET
        ops = np.arange(self.length) % 2 == 1
        tokens[ops] = vals[ops] - self.first_op + OP_TOKEN_BASE
        return tokens

    def decode(self, tokens: Any) -> Architecture:
        arr = self._tokens_array(tokens)
        self._check_tokens(arr)
        vals = arr - INPUT_TOKEN_OFFSET
        ops = np.arange(self.length) % 2 == 1
        vals[ops] = arr[ops] - OP_TOKEN_BASE + self.first_op
        return Architecture(self.name, tuple(int(v) for v in vals))

    # ----- validity -------------------------------------------------------------------------------------
    def validate_values(self, values: tuple[int, ...]) -> None:
        if len(values) != self.length:
            raise ArchitectureError(
                f"{self.name}: got {len(values)} integers, expected {self.length} "
                f"(normal cell then reduction cell, {NODES} nodes of [in1 op1 in2 op2] each)"
            )
        last_op = self.first_op + len(self.ops) - 1
        for pos, v in enumerate(values):
            node = (pos % CELL_LEN) // 4
            if pos % 2 == 0 and not 0 <= v <= node + 1:
                hint = " (an input may only point to h0, h1 or an earlier node)" if v > node + 1 else ""
                raise ArchitectureError(
                    f"{self.name}: {position_label(pos)} is {v}; expected an input index in 0..{node + 1}{hint}"
                )
            if pos % 2 == 1 and not self.first_op <= v <= last_op:
                raise ArchitectureError(
                    f"{self.name}: {position_label(pos)} is {v}; expected an op id in {self.first_op}..{last_op} "
                    f"({', '.join(f'{self.first_op + i}={o}' for i, o in enumerate(self.ops))})"
                )

    # ----- structure ------------------------------------------------------------------------------------
    def cell_values(self, arch: Architecture, cell: int) -> tuple[int, ...]:
        """The 20 integers of cell 0 (normal) or 1 (reduction)."""
        return arch.values[cell * CELL_LEN:(cell + 1) * CELL_LEN]

    def nodes(self, arch: Architecture, cell: int) -> list[tuple[int, int, int, int]]:
        """The five ``(in1, op1, in2, op2)`` tuples of a cell."""
        vals = self.cell_values(arch, cell)
        return [tuple(vals[4 * k:4 * k + 4]) for k in range(NODES)]  # type: ignore[misc]

    def loose_ends(self, arch: Architecture, cell: int) -> list[int]:
        """Input indices (0 = h0, 1 = h1, k+2 = node k) that no node uses: the cell's concatenated output."""
        used = set()
        for in1, _, in2, _ in self.nodes(arch, cell):
            used.update((in1, in2))
        return [i for i in range(NODES + 2) if i not in used]

    def op_name(self, op_id: int) -> str:
        return self.ops[op_id - self.first_op]

    def op_id(self, name: str) -> int:
        key = OP_ALIASES.get(name.lower(), name.lower())
        if key not in self._op_ids:
            raise ArchitectureError(
                f"{self.name}: unknown op {name!r}; expected one of {', '.join(self.ops)}"
            )
        return self._op_ids[key]

    def edges(self, arch: Architecture) -> list[tuple[int, int, int, int]]:
        """Sorted ``(cell, node, input, op)`` branches: equal for all symmetric variants of a network."""
        out = []
        for cell in range(2):
            for node, (in1, op1, in2, op2) in enumerate(self.nodes(arch, cell)):
                out += [(cell, node, in1, op1), (cell, node, in2, op2)]
        return sorted(out)

    # ----- symmetry -------------------------------------------------------------------------------------
    def augment(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Swap the two branches of one random node in each cell: the same network, so the same target
        (docs/method.md section 2.1)."""
        vals = list(arch.values)
        for cell in range(2):
            base = cell * CELL_LEN + 4 * int(rng.integers(NODES))
            vals[base:base + 4] = vals[base + 2:base + 4] + vals[base:base + 2]
        return Architecture(self.name, tuple(vals))

    def canonical(self, arch: Architecture) -> Architecture:
        """Each node's two branches in sorted order."""
        vals = list(arch.values)
        for base in range(0, self.length, 4):
            a, b = tuple(vals[base:base + 2]), tuple(vals[base + 2:base + 4])
            vals[base:base + 4] = [*min(a, b), *max(a, b)]
        return Architecture(self.name, tuple(vals))

    # ----- written forms --------------------------------------------------------------------------------
    def format_integers(self, arch: Architecture) -> str:
        return " | ".join(" ".join(map(str, self.cell_values(arch, c))) for c in range(2))

    def format_readable(self, arch: Architecture) -> str:
        cells = []
        for cell in range(2):
            nodes = " ".join(
                f"({input_name(a)} {self.op_name(o)}, {input_name(b)} {self.op_name(p)})"
                for a, o, b, p in self.nodes(arch, cell)
            )
            concat = " ".join(input_name(i) for i in self.loose_ends(arch, cell))
            cells.append(f"{CELLS[cell]}: {nodes} -> concat {concat}")
        return "; ".join(cells)

    _CELL_RE = re.compile(r"^\s*(normal|reduce|reduction)\s*:\s*(.*?)\s*(?:->\s*concat\s*(.*))?$", re.I)
    _NODE_RE = re.compile(r"\(([^()]*)\)")

    def parse_readable(self, text: str) -> Architecture:
        parts = [p for p in text.strip().split(";") if p.strip()]
        if len(parts) != 2:
            raise ArchitectureError(
                f"{self.name}: readable form has {len(parts)} cells, expected two separated by ';' "
                "('normal: (h0 sep3, h1 id) ... ; reduce: ...')"
            )
        values: list[int] = []
        concats: list[str | None] = []
        for cell, part in enumerate(parts):
            match = self._CELL_RE.match(part)
            if not match:
                raise ArchitectureError(
                    f"{self.name}: cell {cell + 1} must start with '{CELLS[cell]}:', got {part.strip()[:40]!r}"
                )
            label = "reduce" if match.group(1).lower().startswith("red") else "normal"
            if label != CELLS[cell]:
                raise ArchitectureError(f"{self.name}: cell {cell + 1} is '{label}', expected '{CELLS[cell]}'")
            values += self._parse_cell_nodes(match.group(2), cell)
            concats.append(match.group(3))
        arch = self.make(values)
        for cell, concat in enumerate(concats):
            self._check_concat(arch, cell, concat)
        return arch

    def _parse_cell_nodes(self, body: str, cell: int) -> list[int]:
        nodes = self._NODE_RE.findall(body)
        leftover = self._NODE_RE.sub("", body).strip()
        if leftover:
            raise ArchitectureError(f"{self.name}: {CELLS[cell]} cell: unexpected text {leftover[:30]!r}")
        if len(nodes) != NODES:
            raise ArchitectureError(
                f"{self.name}: {CELLS[cell]} cell has {len(nodes)} nodes, expected {NODES} '(input op, input op)'"
            )
        values = []
        for k, node in enumerate(nodes):
            branches = [b.split() for b in node.split(",")]
            if len(branches) != 2 or any(len(b) != 2 for b in branches):
                raise ArchitectureError(
                    f"{self.name}: {CELLS[cell]} cell node {k} is ({node}); expected '(input op, input op)'"
                )
            for inp, op in branches:
                values += [self._input_index(inp, cell, k), self.op_id(op)]
        return values

    def _input_index(self, name: str, cell: int, node: int) -> int:
        match = re.fullmatch(r"([hn])(\d+)", name.lower())
        if not match:
            raise ArchitectureError(
                f"{self.name}: {CELLS[cell]} cell node {node}: unknown input {name!r}; expected h0, h1 or n0..n3"
            )
        index = int(match.group(2)) + (0 if match.group(1) == "h" else 2)
        if (match.group(1) == "h" and index > 1) or index > node + 1:
            allowed = ", ".join(input_name(i) for i in range(node + 2))
            raise ArchitectureError(
                f"{self.name}: {CELLS[cell]} cell node {node}: input {name!r} is not available; "
                f"expected one of {allowed}"
            )
        return index

    def _check_concat(self, arch: Architecture, cell: int, concat: str | None) -> None:
        if concat is None:
            return
        expected = [input_name(i) for i in self.loose_ends(arch, cell)]
        given = concat.replace(",", " ").split()
        if sorted(given) != sorted(expected):
            raise ArchitectureError(
                f"{self.name}: {CELLS[cell]} cell concatenates {' '.join(given) or 'nothing'}, but its loose "
                f"ends are {' '.join(expected)}; fix or drop the '-> concat' part"
            )

    def to_dict(self, arch: Architecture) -> dict[str, Any]:
        self.check_space(arch)
        out: dict[str, Any] = {"space": self.name, "integers": list(arch.values)}
        out["readable"] = self.format_readable(arch)
        for cell in range(2):
            out[CELLS[cell]] = [
                {"inputs": [input_name(a), input_name(b)], "ops": [self.op_name(o), self.op_name(p)]}
                for a, o, b, p in self.nodes(arch, cell)
            ]
        return out

    def from_dict(self, data: dict[str, Any]) -> Architecture:
        if "integers" in data:
            return self.make(data["integers"])
        if "readable" in data:
            return self.parse_readable(str(data["readable"]))
        values: list[int] = []
        for cell, label in enumerate(CELLS):
            nodes = data.get(label)
            if not isinstance(nodes, list) or len(nodes) != NODES:
                raise ArchitectureError(
                    f"{self.name}: JSON needs 'integers', 'readable', or '{label}' as a list of {NODES} nodes"
                )
            for k, node in enumerate(nodes):
                try:
                    (a, b), (o, p) = node["inputs"], node["ops"]
                except (KeyError, TypeError, ValueError):
                    raise ArchitectureError(
                        f"{self.name}: JSON {label} node {k} needs 'inputs': [a, b] and 'ops': [x, y]"
                    ) from None
                values += [self._input_index(str(a), cell, k), self.op_id(str(o))]
                values += [self._input_index(str(b), cell, k), self.op_id(str(p))]
        return self.make(values)


NASNET_WS = NasnetSpace("nasnet-ws", WS_OPS, first_op=0)
NASNET_FULL = NasnetSpace("nasnet-full", FULL_OPS, first_op=5)
