"""Turn whatever a user typed into an ``Architecture``: a zoo name, a JSON file, a text file, JSON text, the
readable form, NAS-Bench-201 notation or the integer form, with the space given or inferred.

Inference from an integer form: 6 integers -> nb201, 22 -> rnn, 40 -> nasnet-ws when the first op id is below
5, nasnet-full otherwise (the op ids of the two sets do not overlap).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nao_tf import zoo
from nao_tf.errors import ArchitectureError
from nao_tf.spaces import SPACES, Architecture, SearchSpace, get_space
from nao_tf.spaces.nasnet import NASNET_FULL, NASNET_WS


def resolve(text: str | Architecture, space: str | SearchSpace | None = None) -> Architecture:
    """Parse any accepted form; if ``space`` is given the result must belong to it."""
    if isinstance(text, Architecture):
        arch = text
    else:
        arch = _resolve_text(str(text), space)
    if space is not None:
        get_space(space).check_space(arch)
    return arch


def _resolve_text(text: str, space: str | SearchSpace | None) -> Architecture:
    stripped = text.strip()
    if not stripped:
        raise ArchitectureError("empty architecture string; give integers, a readable form, a file or a zoo name")
    if zoo.is_zoo_name(stripped):
        return zoo.get(stripped).arch
    path = Path(stripped)
    if len(stripped) < 4096 and "\n" not in stripped and path.suffix.lower() in (".json", ".txt", ".arch"):
        return load_file(path, space)
    if stripped.startswith("{"):
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
    numeric = sum(p.lstrip("-").isdigit() for p in parts)
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
        return NASNET_WS if parts[1].isdigit() and int(parts[1]) < NASNET_FULL.first_op else NASNET_FULL
    raise ArchitectureError(
        f"got {len(parts)} values; expected 40 (CNN cells), 22 (RNN cell) or 6 (nb201), or pass --space"
    )


def _nasnet_by_ops(lowered: str) -> SearchSpace:
    """A readable CNN form belongs to the full set if it names an op only that set has."""
    words = set(lowered.replace("(", " ").replace(")", " ").replace(",", " ").split())
    only_full = set(NASNET_FULL.ops) - set(NASNET_WS.ops)
    return NASNET_FULL if words & only_full else NASNET_WS


def from_json_text(text: str, space: str | SearchSpace | None = None) -> Architecture:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArchitectureError(f"architecture JSON is malformed: {exc.msg} at line {exc.lineno}") from None
    return from_dict(data, space)


def from_dict(data: Any, space: str | SearchSpace | None = None) -> Architecture:
    if not isinstance(data, dict):
        raise ArchitectureError("architecture JSON must be an object with 'space' and 'integers'")
    name = data.get("space", space.name if isinstance(space, SearchSpace) else space)
    if name is None:
        if "integers" in data:
            return resolve(" ".join(map(str, data["integers"])))
        raise ArchitectureError("architecture JSON has no 'space'; add one or pass --space")
    if "architecture" in data and isinstance(data["architecture"], dict):  # run-file wrapper
        return from_dict(data["architecture"], name)
    return get_space(name).from_dict(data)


def load_file(path: Path, space: str | SearchSpace | None = None) -> Architecture:
    """An architecture from a ``.json`` file (``to_dict`` form) or a text file holding any string form."""
    if not path.is_file():
        raise ArchitectureError(f"architecture file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchitectureError(f"cannot read architecture file {str(path)!r}: {exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        return from_json_text(text, space)
    return _resolve_text(text, space)


def to_dict(arch: Architecture) -> dict[str, Any]:
    return get_space(arch.space).to_dict(arch)


def save_file(arch: Architecture, path: str | Path) -> Path:
    """Write ``arch`` as JSON (atomically)."""
    from nao_tf.runio import atomic_write_json

    return atomic_write_json(path, to_dict(arch))
