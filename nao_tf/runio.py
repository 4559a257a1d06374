"""Atomic file writes for run folders.

A run folder must never hold a half-written file, whatever moment a process is killed at: every write goes to a
temporary file in the same folder, is flushed and fsynced, then renamed over the target (rename is atomic on
POSIX file systems).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def rollback_new_run(run: str | os.PathLike, started: Callable[[Path], bool]) -> Iterator[None]:
    """Undo what a command wrote into ``run`` if it fails before ``started(run)`` is true.

    A start that fails (a model over budget, a port taken, a dataset that does not load) must not leave a
    ``config.json`` behind: the corrected retry with the same ``--out`` would be refused as "already holds a
    run", and ``--resume`` would repeat the old error. Once the first unit of work is committed (``started``),
    the folder is a real run and is kept whatever happens. Only what appeared during the command is removed:
    the folder itself if the command created it, else the entries that were not there before.
    """
    run = Path(run)
    existed = run.is_dir()
    before = set(os.listdir(run)) if existed else set()
    try:
        yield
    except BaseException:
        if run.is_dir() and not started(run):
            if not existed:
                shutil.rmtree(run, ignore_errors=True)
            else:
                for name in set(os.listdir(run)) - before:
                    target = run / name
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target, ignore_errors=True)
                    else:
                        target.unlink(missing_ok=True)
        raise


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; let the caller decide what a missing or corrupt file means."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_run_file(path: str | os.PathLike, remedy: str, max_bytes: int | None = None) -> Any:
    """A run file's JSON that must be there and parse, or ``RunFolderError`` in one line naming the file, what
    is wrong with it (missing, a folder, over ``max_bytes``, unreadable, binary, not JSON) and ``remedy``: the
    one reader behind resuming searches and training runs, so every broken file is refused the same way."""
    from nao_tf.errors import RunFolderError

    path = Path(path)
    if path.is_dir():
        raise RunFolderError(f"{path} is a directory, not a run file; {remedy}")
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise RunFolderError(f"{path} is larger than {max_bytes >> 20} MiB, not a nao-tf run file; {remedy}")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path} does not exist; {remedy}") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise RunFolderError(f"{path} is unreadable ({reason}); {remedy}") from None
