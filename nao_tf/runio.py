"""Atomic file writes for run folders.

A run folder must never hold a half-written file, whatever moment a process is killed at: every write goes to a
temporary file in the same folder, is flushed and fsynced, then renamed over the target (rename is atomic on
POSIX file systems).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old or the new content, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (keys in insertion order, trailing newline)."""
    return atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def atomic_save_keras(model: Any, path: str | os.PathLike) -> Path:
    """Save a Keras model as a ``.keras`` file atomically. Keras writes the file itself, so it saves to a
    temporary ``.keras`` name in the same folder, which is then renamed over ``path`` (removed on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; let the caller decide what a missing or corrupt file means."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
