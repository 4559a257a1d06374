"""Turn whatever a user typed into an ``Architecture``: a zoo name, a JSON file, a text file, JSON text, the
readable form, NAS-Bench-201 notation or the integer form, with the space given or inferred.

Inference from an integer form: 6 integers -> nb201, 22 -> rnn, 40 -> nasnet-ws when the first op id is below
5, nasnet-full otherwise (the op ids of the two sets do not overlap).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nao_tf import zoo
from nao_tf.errors import ArchitectureError
from nao_tf.spaces import SPACES, Architecture, SearchSpace, get_space
from nao_tf.spaces.base import is_ascii_integer
from nao_tf.spaces.nasnet import NASNET_FULL, NASNET_WS

# An architecture file is a few hundred bytes; anything much larger is the wrong file.
MAX_FILE_BYTES = 1 << 20
# A file may name another file (e.g. best.txt -> run/best.json); a longer chain than this is a mistake.
MAX_FILE_HOPS = 8


def resolve(text: str | Architecture, space: str | SearchSpace | None = None) -> Architecture:
    """Parse any accepted form; if ``space`` is given the result must belong to it."""
    if isinstance(text, Architecture):
        arch = text
    else:
        arch = _resolve_text(str(text), space, ())
    if space is not None:
        get_space(space).check_space(arch)
    return arch


def _resolve_text(text: str, space: str | SearchSpace | None, chain: tuple[Path, ...]) -> Architecture:
    """``chain``: the files that led here (each naming the next), so a file naming itself is caught."""
    if space is not None and not isinstance(space, (str, SearchSpace)):
        raise ArchitectureError(f"the space must be a name such as 'nb201', got {type(space).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ArchitectureError("empty architecture string; give integers, a readable form, a file or a zoo name")
    if zoo.is_zoo_name(stripped):
        return zoo.get(stripped).arch
    path = Path(stripped)
    if len(stripped) < 4096 and "\n" not in stripped and path.suffix.lower() in (".json", ".txt", ".arch"):
        return _load_file(path, space, chain)
    if stripped.startswith(("{", "[")) and not _looks_like_integers(stripped):
        return from_json_text(stripped, space)
    if _looks_like_integers(stripped):
        sp = get_space(space) if space is not None else _space_by_count(_int_parts(stripped))
        return sp.parse_integers(stripped)
    sp = get_space(space) if space is not None else _infer_space(stripped)
    return sp.parse_readable(stripped)


def _int_parts(text: str) -> list[str]:
    return text.replace(",", " ").replace("|", " ").replace("[", " ").replace("]", " ").split()


def _looks_like_integers(text: str) -> bool:
    """Mostly integers (so a stray non-number is reported as such, not as an unknown form)."""
    parts = _int_parts(text)
    numeric = sum(is_ascii_integer(p) for p in parts)
    return bool(parts) and numeric >= 0.75 * len(parts)


def _infer_space(text: str) -> SearchSpace:
    lowered = text.lower()
    if "~" in text:
        return SPACES["nb201"]
    if "normal" in lowered or "reduce" in lowered:
        return _nasnet_by_ops(lowered)
    if "(s" in lowered.replace(" ", ""):
        return SPACES["rnn"]
    if any(c.isalpha() for c in text):
        raise ArchitectureError(
            f"cannot tell the space of {text[:40]!r}: not a zoo name ({', '.join(zoo.zoo_names())}), file, JSON, "
            "readable form or integer form; pass --space"
        )
    return _space_by_count(_int_parts(text))


def _space_by_count(parts: list[str]) -> SearchSpace:
    by_length = {6: "nb201", 22: "rnn"}
    if len(parts) in by_length:
        return SPACES[by_length[len(parts)]]
    if len(parts) == 40:
        return NASNET_WS if is_ascii_integer(parts[1]) and int(parts[1]) < NASNET_FULL.first_op else NASNET_FULL
    raise ArchitectureError(
        f"got {len(parts)} values; expected 40 (CNN cells), 22 (RNN cell) or 6 (nb201), or pass --space"
    )


def _nasnet_by_ops(lowered: str) -> SearchSpace:
    """A readable CNN form belongs to the full set if it names an op only that set has."""
    words = set(lowered.replace("(", " ").replace(")", " ").replace(",", " ").split())
    only_full = set(NASNET_FULL.ops) - set(NASNET_WS.ops)
    return NASNET_FULL if words & only_full else NASNET_WS


def _no_constant(name: str) -> Any:
    raise ArchitectureError(f"architecture JSON holds {name}; architecture values are integers")


def parse_json(text: str, what: str = "architecture JSON") -> Any:
    """Strict JSON: ``NaN``/``Infinity`` (which Python's json accepts) are refused, and nesting too deep for
    the parser is a one-line error rather than a ``RecursionError``."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ArchitectureError(f"{what} is malformed: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ArchitectureError(f"{what} is nested too deeply; an architecture is a flat list of integers") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ArchitectureError(f"{what} is not usable: {str(exc).split(';')[0]}") from None


def from_json_text(text: str, space: str | SearchSpace | None = None) -> Architecture:
    return from_dict(parse_json(text), space)


def from_dict(data: Any, space: str | SearchSpace | None = None) -> Architecture:
    if not isinstance(data, dict):
        raise ArchitectureError("architecture JSON must be an object with 'space' and 'integers', "
                                f"got {type(data).__name__ if data is not None else 'null'}")
    name = data.get("space", space.name if isinstance(space, SearchSpace) else space)
    if name is not None and not isinstance(name, str):
        raise ArchitectureError(f"architecture JSON 'space' must be a name such as 'nb201', got {name!r:.40}")
    if name is None:
        if "integers" in data:
            values = data["integers"]
            if not isinstance(values, list):
                raise ArchitectureError("architecture JSON 'integers' must be a list of integers; add 'space' "
                                        "or pass --space")
            return _space_by_count([str(v) for v in values]).make(values)
        raise ArchitectureError("architecture JSON has no 'space'; add one or pass --space")
    if "architecture" in data and isinstance(data["architecture"], dict):  # run-file wrapper
        return from_dict(data["architecture"], name)
    return get_space(name).from_dict(data)


def load_file(path: Path, space: str | SearchSpace | None = None) -> Architecture:
    """An architecture from a ``.json`` file (``to_dict`` form) or a text file holding any string form."""
    return _load_file(Path(path), space, ())


def _load_file(path: Path, space: str | SearchSpace | None, chain: tuple[Path, ...]) -> Architecture:
    key = Path(os.path.realpath(path))
    if key in chain:
        raise ArchitectureError(f"architecture file {str(path)!r} names itself (through "
                                f"{' -> '.join(p.name for p in (*chain, key))}); put the architecture in it")
    if len(chain) >= MAX_FILE_HOPS:
        raise ArchitectureError(f"architecture file {str(path)!r} is reached through more than {MAX_FILE_HOPS} "
                                "files naming each other; put the architecture in the first one")
    try:
        is_dir, is_file, exists = path.is_dir(), path.is_file(), path.exists()
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte or a name too long for the file system
        raise ArchitectureError(f"cannot use {str(path)[:60]!r} as an architecture file: {exc}") from None
    if is_dir:
        raise ArchitectureError(f"{str(path)!r} is a directory, not an architecture file")
    if not is_file:
        what = "does not exist" if not exists else "is not a regular file"
        raise ArchitectureError(f"architecture file {str(path)!r} {what}")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ArchitectureError(f"architecture file {str(path)!r} is larger than {MAX_FILE_BYTES >> 20} MiB; "
                                    "it is not an architecture")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchitectureError(f"cannot read architecture file {str(path)!r}: {exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        return from_dict(parse_json(text, f"architecture file {str(path)!r}"), space)
    return _resolve_text(text, space, (*chain, key))


def to_dict(arch: Architecture) -> dict[str, Any]:
    return get_space(arch.space).to_dict(arch)


def save_file(arch: Architecture, path: str | Path) -> Path:
    """Write ``arch`` as JSON (atomically)."""
    from nao_tf.runio import atomic_write_json

    return atomic_write_json(path, to_dict(arch))
