"""A tabular evaluator: architectures are looked up in a table file (e.g. NAS-Bench-201's accuracy table).

Table format: CSV (optionally ``.gz``) with a header. One column names the architecture: ``cellstr`` (the
NAS-Bench-201 notation) or ``arch`` (any form ``nao_tf.architectures.resolve`` accepts for the space, e.g. the
integer form); the search reads ``metric`` (default ``cifar10-val``), and ``report_metrics`` (default
``cifar10-test``) are copied into each evaluation's metadata and into the final report, with the regret
against the table's best value of each. The table is given by the user (``--table PATH``); nao-tf ships none.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.errors import ArchitectureError, DataError
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.spaces import Architecture, SearchSpace, get_space

ARCH_COLUMNS = ("cellstr", "arch")


@dataclass
class Table:
    """A loaded table: ``archs`` (row order), ``columns[name]`` float arrays, ``index[arch] -> row``."""

    path: str
    space: SearchSpace
    archs: list[Architecture]
    columns: dict[str, np.ndarray]
    index: dict[Architecture, int]

    def best(self, column: str, mode: str = "max") -> float:
        values = self.columns[column]
        return float(np.nanmax(values) if mode == "max" else np.nanmin(values))

    def values(self, column: str, archs: Sequence[Architecture]) -> np.ndarray:
        return self.columns[column][[self.index[a] for a in archs]]


_CACHE: dict[tuple[str, float, int, str], Table] = {}


def load_table(path: str | os.PathLike, space: SearchSpace | str = "nb201",
               required: Sequence[str] = ("cifar10-val",)) -> Table:
    """Load (and cache per process) a table; one-line ``DataError`` if it is missing or malformed."""
    sp = get_space(space)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"table file {str(p)!r} does not exist; pass --table PATH to a CSV table "
                        "in the NAS-Bench-201 table format (see docs/configuration.md)")
    stat = p.stat()
    key = (str(p.resolve()), stat.st_mtime, stat.st_size, sp.name)
    table = _CACHE.get(key)
    if table is None:
        table = _read(p, sp)
        _CACHE[key] = table
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(
            f"table {str(p)!r} has no column {missing[0]!r}; its numeric columns are {', '.join(table.columns)}"
        )
    return table


def _read(path: Path, space: SearchSpace) -> Table:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read table {str(path)!r}: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise DataError(f"table {str(path)!r} is empty; expected a CSV header with 'cellstr' or 'arch'")
    header = [h.strip() for h in header]
    arch_col = next((c for c in ARCH_COLUMNS if c in header), None)
    if arch_col is None:
        raise DataError(
            f"table {str(path)!r} has no architecture column ('cellstr' or 'arch'); its columns are "
            f"{', '.join(header)}"
        )
    a = header.index(arch_col)
    numeric = [i for i, h in enumerate(header) if i != a and h != "index"]
    archs: list[Architecture] = []
    values: list[list[float]] = []
    parse = _cellstr_parser(space) if arch_col == "cellstr" else _resolver(space)
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"table {str(path)!r} line {line}: {len(row)} fields, expected {len(header)}")
        try:
            archs.append(parse(row[a]))
        except ArchitectureError as exc:
            raise DataError(f"table {str(path)!r} line {line}: {exc}") from None
        vals = []
        for i in numeric:
            try:
                vals.append(float(row[i]) if row[i].strip() else math.nan)
            except ValueError:
                vals.append(math.nan)
        values.append(vals)
    if not archs:
        raise DataError(f"table {str(path)!r} has a header but no rows")
    arr = np.asarray(values, dtype=np.float64).reshape(len(archs), len(numeric))
    columns = {header[i]: arr[:, j] for j, i in enumerate(numeric) if not np.all(np.isnan(arr[:, j]))}
    index = {arch: i for i, arch in enumerate(archs)}
    return Table(str(path), space, archs, columns, index)


def _cellstr_parser(space: SearchSpace) -> Any:
    """NAS-Bench-201 cell strings: a fast split-based parse (15,625 rows in well under a second), checked
    against ``parse_readable``; anything unusual goes through ``parse_readable`` itself."""
    from nao_tf.spaces.nb201 import OPS

    op_ids = {op: i for i, op in enumerate(OPS)}
    expected = ("0", "0", "1", "0", "1", "2")

    def parse(text: str) -> Architecture:
        edges = [e for e in text.strip().replace("+", "|").split("|") if e]
        pairs = [e.split("~") for e in edges]
        if space.name == "nb201" and len(pairs) == 6 and all(len(p) == 2 for p in pairs) and \
                tuple(p[1] for p in pairs) == expected and all(p[0] in op_ids for p in pairs):
            return Architecture(space.name, tuple(op_ids[p[0]] for p in pairs))
        return space.parse_readable(text)

    return parse


def _resolver(space: SearchSpace) -> Any:
    from nao_tf.architectures import resolve

    return lambda text: resolve(text, space)


class TableEvaluator(Evaluator):
    """Looks every architecture up in a ``Table``; ``metric`` is the score, ``report_metrics`` go to metadata."""

    name = "table"

    def __init__(self, path: str | os.PathLike, space: SearchSpace | str = "nb201", metric: str = "cifar10-val",
                 report_metrics: Sequence[str] = ("cifar10-test",), mode: str = "max") -> None:
        super().__init__(space, mode)
        self.path = str(path)
        self.metric = metric
        self.report_metrics = tuple(report_metrics)
        self.table = load_table(path, self.space, (metric, *self.report_metrics))

    def evaluate(self, archs: Sequence[Architecture]) -> list[Evaluation]:
        out = []
        cols = self.table.columns
        for arch in archs:
            row = self.table.index.get(arch)
            if row is None:
                raise DataError(
                    f"architecture {self.space.format(arch, 'readable')} is not in table {self.path!r}; "
                    "the table must hold every architecture of the space"
                )
            meta = {m: float(cols[m][row]) for m in self.report_metrics}
            out.append(Evaluation(arch, float(cols[self.metric][row]), meta))
        return out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "table": os.path.abspath(self.path), "metric": self.metric,
                "report_metrics": list(self.report_metrics)}

    def report(self, evaluation: Evaluation) -> dict[str, Any]:
        """Each report metric and its regret (table best minus it, for accuracies), plus the search metric's."""
        out: dict[str, Any] = {}
        for m in (self.metric, *self.report_metrics):
            value = evaluation.score if m == self.metric else evaluation.metadata.get(m)
            if value is None:
                continue
            best = self.table.best(m, self.mode)
            out[m] = value
            out[f"{m}_best_in_table"] = best
            out[f"{m}_regret"] = (best - value) if self.mode == "max" else (value - best)
        return out
