"""Finished benchmark searches, one JSON line each, so a stopped benchmark continues where it stopped.

A 100-seed NAS-Bench-201 comparison is some 500 searches and hours of CPU; without this, stopping it (or the
machine going away) kept only the last ``summary.json``, and the per-seed results that the paired tests need
were lost. Every finished search is appended to ``searches.jsonl`` in the benchmark's folder, and a later run
with the same folder reuses every search whose *key* matches: a stopped run continues, a run with more seeds
runs only the new ones, and tuning searches are not repeated.

The key is everything a search's result depends on: a fingerprint of the table's bytes (not its path), the
whole configuration tree the search runs with (method, its settings, budget, search seed, columns) and the
nao-tf version. A record whose key differs is simply not reused.

Why a log rather than one JSON file: appending one line is one ``write`` on an ``O_APPEND`` descriptor plus an
``fsync``, whatever the size of the log; a process killed mid-write leaves at most a partial last line, which
reading drops (the file is cut back to its last whole line before the next append). Any other line that is not
a record means the file is not this log: it is refused in one line rather than guessed at.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from nao_tf.errors import RunFolderError

LOG_NAME = "searches.jsonl"


def table_fingerprint(table: str | os.PathLike) -> str:
    """A short hash of the table file's bytes: the same table under another path reuses the same searches."""
    digest = hashlib.sha256()
    with open(table, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def search_key(table_fp: str, tree: dict[str, Any]) -> str:
    """The key of one search: table fingerprint, configuration tree (its table path left out) and version."""
    from nao_tf import __version__

    body = {"table": table_fp, "version": __version__,
            "config": {k: v for k, v in tree.items() if k != "evaluator"},
            "evaluator": {k: v for k, v in tree.get("evaluator", {}).items() if k != "table"}}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]


class SearchLog:
    """``searches.jsonl`` of one benchmark folder: ``get(key)`` a finished search's result, ``add`` one more."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / LOG_NAME
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        remedy = "move it away or pass another --out"
        if not self.path.is_file():
            raise RunFolderError(f"{self.path} is not a file; {remedy}")
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise RunFolderError(f"{self.path} is unreadable ({type(exc).__name__}); {remedy}") from None
        whole = data[: data.rfind(b"\n") + 1]  # a partial last line is a search killed while being written
        for number, line in enumerate(whole.splitlines(), 1):
            try:
                record = json.loads(line)
                key, result = record["key"], record["result"]
                if not isinstance(key, str) or not isinstance(result, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise RunFolderError(f"{self.path} line {number} is not a nao-tf search record; {remedy}") from None
            self.records[key] = result
        if len(whole) < len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(len(whole))

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def add(self, key: str, label: str, seed: int, result: dict[str, Any]) -> None:
        """Append one finished search (one write, then fsync: it is on disk before the next one starts)."""
        line = json.dumps({"key": key, "label": label, "seed": int(seed), "result": result}) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = memoryview(line.encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records[key] = result
