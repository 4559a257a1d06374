"""What an export says about itself: architecture, dataset, class names, input and normalization.

The same dictionary is written three ways so that every consumer finds it where it looks:
``nao_tf_export.json`` beside the exported files (also the marker that a folder is ours), the ONNX model's
``metadata_props`` (string values; lists and dicts as JSON) and the SavedModel's ``assets/nao_tf_metadata.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nao_tf.errors import DataError, NaoError
from nao_tf.runio import atomic_write_json

# The file in every export folder that holds the metadata and marks the folder as written by nao-tf.
MARKER = "nao_tf_export.json"
VERIFICATION = "verification.json"
ONNX_FILE = "model.onnx"
METADATA_VERSION = 1

# metadata_props keys whose values are JSON (everything else is a plain string).
_JSON_PROPS = ("class_names", "normalization", "input_shape", "num_classes", "state_shapes", "vocab_size")

class ExportError(NaoError):
    """A model that cannot be exported, an export folder in the way, or a broken export given to predict."""


def class_names_for(dataset: str | None, num_classes: int, given: Any = None) -> list[str]:
    """Class names from the run's config if it has them, else the dataset's, else ``class_0`` ...."""
    if given is not None:
        names = [str(n) for n in given]
        if len(names) == num_classes:
            return names
    if dataset:
        from nao_tf.data.images import DATASETS, canonical_name

        try:
            known = DATASETS[canonical_name(dataset)].class_names
        except DataError:  # a dataset nao-tf does not know by name: no class names from it
            known = ()
        if len(known) == num_classes:
            return list(known)
    return [f"class_{i}" for i in range(num_classes)]


def to_onnx_props(meta: dict[str, Any]) -> dict[str, str]:
    """The metadata as ONNX ``metadata_props`` (string to string)."""
    props: dict[str, str] = {}
    for key, value in meta.items():
        if value is None:
            continue
        props[key] = json.dumps(value) if (key in _JSON_PROPS or not isinstance(value, str)) else value
    props["nao_tf"] = json.dumps(meta, sort_keys=True)
    return props


def from_onnx_props(props: dict[str, str]) -> dict[str, Any]:
    """Inverse of ``to_onnx_props``: the full dictionary from the ``nao_tf`` entry."""
    if "nao_tf" not in props:
        raise ExportError("the ONNX model has no nao_tf metadata; it was not written by 'nao-tf export'")
    return json.loads(props["nao_tf"])


def write_marker(folder: str | os.PathLike, info: dict[str, Any]) -> Path:
    return atomic_write_json(Path(folder) / MARKER, info)


def read_marker(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / MARKER
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{folder}: no {MARKER}; not an export written by 'nao-tf export'") from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable ({exc}); export the model again") from None
    if not isinstance(info, dict) or "metadata" not in info:
        raise ExportError(f"{path}: not an export marker written by 'nao-tf export'; export the model again")
    return info


def is_our_export(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a marker that nao-tf wrote (the only folders --force may replace)."""
    try:
        read_marker(folder)
    except ExportError:
        return False
    return True
