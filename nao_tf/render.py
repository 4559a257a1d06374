"""Cell diagrams: Graphviz DOT always, and a picture (PNG/SVG/PDF) drawn by ``dot`` when it is installed,
otherwise by matplotlib, so that a person can look at any architecture without extra software.

Every space is first turned into ``CellGraph`` objects (nodes + labelled edges); DOT and matplotlib both draw
those, so the two outputs always show the same thing.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nao_tf.errors import ConfigError
from nao_tf.runio import atomic_write_text
from nao_tf.spaces import Architecture, get_space
from nao_tf.spaces.nasnet import CELLS, NasnetSpace, input_name
from nao_tf.spaces.nb201 import EDGES
from nao_tf.spaces.nb201 import OPS as NB201_OPS
from nao_tf.spaces.rnn import ACTIVATIONS, RnnSpace

PICTURE_FORMATS = (".png", ".svg", ".pdf")


@dataclass
class CellGraph:
    """A titled graph; node kinds: ``input``, ``node``, ``op``, ``output`` (colour and shape only)."""

    title: str
    nodes: dict[str, str] = field(default_factory=dict)  # id -> kind
    labels: dict[str, str] = field(default_factory=dict)  # id -> text shown (default: the id)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (src, dst, label)

    def add_node(self, name: str, kind: str, label: str | None = None) -> None:
        self.nodes[name] = kind
        self.labels[name] = name if label is None else label

    def depths(self) -> dict[str, int]:
        """Longest-path depth of each node (inputs at 0): the column it is drawn in."""
        depth = {n: 0 for n, k in self.nodes.items() if k == "input"}
        changed = True
        while changed:
            changed = False
            for src, dst, _ in self.edges:
                if src in depth and depth.get(dst, -1) < depth[src] + 1:
                    depth[dst] = depth[src] + 1
                    changed = True
        return {n: depth.get(n, 0) for n in self.nodes}


def cell_graphs(arch: Architecture) -> list[CellGraph]:
    """The diagrams of an architecture: two cells for CNN spaces, one for RNN and NAS-Bench-201."""
    space = get_space(arch.space)
    if isinstance(space, NasnetSpace):
        return [_nasnet_graph(space, arch, cell) for cell in range(2)]
    if isinstance(space, RnnSpace):
        return [_rnn_graph(space, arch)]
    if space.name == "nb201":
        return [_nb201_graph(arch)]
    raise ConfigError(f"no diagram for space {space.name!r}")


def _nasnet_graph(space: NasnetSpace, arch: Architecture, cell: int) -> CellGraph:
    graph = CellGraph(f"{CELLS[cell]} cell")
    graph.add_node("h0", "input")
    graph.add_node("h1", "input")
    for k, (a, o, b, p) in enumerate(space.nodes(arch, cell)):
        name = input_name(k + 2)
        # Each branch is its own op box: two branches from one input stay visible, labels never overlap.
        for branch, (src, op) in enumerate(((a, o), (b, p))):
            op_node = f"{name}.{branch}"
            graph.add_node(op_node, "op", space.op_name(op))
            graph.edges.append((input_name(src), op_node, ""))
            graph.edges.append((op_node, name, ""))
        graph.add_node(name, "node", f"{name} (+)")
    graph.add_node("concat", "output")
    graph.edges += [(input_name(i), "concat", "") for i in space.loose_ends(arch, cell)]
    return graph


def _rnn_graph(space: RnnSpace, arch: Architecture) -> CellGraph:
    graph = CellGraph("RNN cell")
    graph.add_node("x,h", "input")
    graph.add_node("s0", "node")
    graph.edges.append(("x,h", "s0", "highway tanh"))
    for i, (pred, act) in enumerate(space.pairs(arch), start=1):
        graph.add_node(f"s{i}", "node")
        graph.edges.append((f"s{pred}", f"s{i}", ACTIVATIONS[act]))
    graph.add_node("mean", "output")
    graph.edges += [(f"s{i}", "mean", "") for i in range(1, 12)]
    return graph


def _nb201_graph(arch: Architecture) -> CellGraph:
    graph = CellGraph("NAS-Bench-201 cell")
    graph.add_node("0", "input")
    for n in "123":
        graph.add_node(n, "output" if n == "3" else "node")
    for (to, frm), op in zip(EDGES, arch.values, strict=True):
        if NB201_OPS[op] != "none":
            graph.edges.append((str(frm), str(to), NB201_OPS[op]))
    return graph


_COLOURS = {"input": "#cfe2f3", "node": "#fff2cc", "op": "#ffffff", "output": "#d9ead3"}


def to_dot(graphs: list[CellGraph], title: str = "") -> str:
    """Graphviz source with one cluster per cell."""
    lines = ["digraph nao {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname=Helvetica];']
    if title:
        lines.append(f'  label="{title}"; labelloc=t;')
    for i, graph in enumerate(graphs):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label="{graph.title}";')
        for name, kind in graph.nodes.items():
            shape = ", shape=ellipse" if kind == "op" else ""
            lines.append(f'    "c{i}_{name}" [label="{graph.labels[name]}", fillcolor="{_COLOURS[kind]}"{shape}];')
        for src, dst, label in graph.edges:
            lines.append(f'    "c{i}_{src}" -> "c{i}_{dst}" [label="{label}"];')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(arch: Architecture, out: str | Path, title: str | None = None) -> list[Path]:
    """Write ``out`` (a picture, or a ``.dot`` file) plus the DOT source beside it; returns the files."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (*PICTURE_FORMATS, ".dot"):
        raise ConfigError(f"cannot render to {out.name!r}; use a .png, .svg, .pdf or .dot file name")
    graphs = cell_graphs(arch)
    title = title if title is not None else f"{arch.space}: {arch.integers}"
    dot_path = out.with_suffix(".dot")
    atomic_write_text(dot_path, to_dot(graphs, title))
    written = [dot_path]
    if suffix != ".dot":
        if shutil.which("dot"):
            _render_with_dot(dot_path, out)
        else:
            draw_matplotlib(graphs, out, title)
        written.append(out)
    return written


def _render_with_dot(dot_path: Path, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.tmp{out.suffix}")
    subprocess.run(["dot", f"-T{out.suffix[1:]}", str(dot_path), "-o", str(tmp)], check=True)
    tmp.replace(out)


def draw_matplotlib(graphs: list[CellGraph], out: Path, title: str = "") -> None:
    """Draw the graphs side by side: columns by depth, straight arrows labelled with the op."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(max(g.depths().values()) for g in graphs) + 1
    fig, axes = plt.subplots(len(graphs), 1, figsize=(1.6 * width + 1, 6.5 * len(graphs)), squeeze=False)
    for ax, graph in zip(axes[:, 0], graphs, strict=True):
        _draw_graph(ax, graph)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp{out.suffix}")
    fig.savefig(tmp, dpi=130, format=out.suffix[1:])
    plt.close(fig)
    tmp.replace(out)


def _layout(graph: CellGraph) -> dict[str, tuple[float, float]]:
    """Columns by depth (op boxes right before the node they feed), rows ordered by the mean row of their
    predecessors, which keeps most edges short and uncrossed."""
    depth = graph.depths()
    for src, dst, _ in graph.edges:
        if graph.nodes[src] == "op":
            depth[src] = depth[dst] - 1
    columns: dict[int, list[str]] = {}
    for name in graph.nodes:
        columns.setdefault(depth[name], []).append(name)
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for src, dst, _ in graph.edges:
        preds[dst].append(src)
    pos: dict[str, tuple[float, float]] = {}
    for col in sorted(columns):
        names = columns[col]
        names.sort(key=lambda n: -sum(pos[p][1] for p in preds[n] if p in pos) / max(1, len(preds[n])))
        for row, name in enumerate(names):
            pos[name] = (float(col), (len(names) - 1) / 2.0 - row)
    return pos


def _draw_graph(ax, graph: CellGraph) -> None:
    pos = _layout(graph)
    for src, dst, label in graph.edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        # Edges that skip columns are bent so that they never hide behind boxes or edges on their row.
        bend = 0.0 if x1 - x0 <= 1.0 else -0.25
        ax.annotate("", xy=(x1 - 0.12, y1), xytext=(x0 + 0.12, y0),
                    arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.0,
                                "connectionstyle": f"arc3,rad={bend}"})
        if label:
            t = 0.35 if abs(y1 - y0) > 0.01 else 0.5
            ax.text(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, label, fontsize=8, ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    for name, kind in graph.nodes.items():
        x, y = pos[name]
        style = "round4,pad=0.3" if kind == "op" else "round,pad=0.4"
        ax.text(x, y, graph.labels[name], ha="center", va="center", fontsize=9 if kind == "op" else 10,
                fontweight="normal" if kind == "op" else "bold",
                bbox={"boxstyle": style, "fc": _COLOURS[kind], "ec": "#333333"})
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_title(graph.title)
    ax.axis("off")
