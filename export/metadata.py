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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    try:
        meta = json.loads(props["nao_tf"])
    except (ValueError, RecursionError):
        raise ExportError("the ONNX model's nao_tf metadata is not JSON; export the model again") from None
    return check_metadata(meta, "the ONNX model")


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class ExportMetadata(_Strict):
    """What every export's metadata must hold; image classifiers (``kind: cnn``) more, since predict and
    serving code read their input shape and class names from it."""

    kind: str
    metadata_version: int = Field(ge=1)
    input_shape: list[int] | None = None
    num_classes: int | None = Field(default=None, ge=1)
    class_names: list[str] | None = None

    @model_validator(mode="after")
    def _classifier_fields(self) -> ExportMetadata:
        if self.kind != "cnn":
            return self
        if self.input_shape is None or len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError("input_shape must be [height, width, channels] of positive integers")
        if self.num_classes is None or self.class_names is None or len(self.class_names) != self.num_classes:
            raise ValueError("class_names must list num_classes names")
        return self


class ExportMarker(_Strict):
    metadata: ExportMetadata
    formats: list[str] = []
    files: dict[str, str] = {}

    @field_validator("files")
    @classmethod
    def _plain_names(cls, files: dict[str, str]) -> dict[str, str]:
        for name in files.values():  # names inside the export folder ("." is the folder), never a path out of it
            if not name or "/" in name or "\\" in name or name == "..":
                raise ValueError(f"{name!r} is not a file name inside the export folder")
        return files


def check_metadata(meta: Any, where: str) -> dict[str, Any]:
    """``meta`` validated against ``ExportMetadata``; one line naming ``where`` and the first problem."""
    try:
        ExportMetadata.model_validate(meta)
    except ValidationError as exc:
        raise ExportError(f"{where}: the export metadata is invalid ({_problem(exc)}); export the model again") \
            from None
    return meta


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def write_marker(folder: str | os.PathLike, info: dict[str, Any]) -> Path:
    return atomic_write_json(Path(folder) / MARKER, info)


def read_marker(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / MARKER
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{folder}: no {MARKER}; not an export written by 'nao-tf export'") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ExportError(f"{path}: unreadable ({type(exc).__name__}); export the model again") from None
    if not isinstance(info, dict) or "metadata" not in info:
        raise ExportError(f"{path}: not an export marker written by 'nao-tf export'; export the model again")
    try:
        ExportMarker.model_validate(info)
    except ValidationError as exc:
        raise ExportError(f"{path}: not a valid export marker ({_problem(exc)}); export the model again") from None
    return info


def is_our_export(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a marker that nao-tf wrote (the only folders --force may replace)."""
    try:
        read_marker(folder)
    except ExportError:
        return False
    return True
