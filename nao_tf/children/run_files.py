"""The files of a ``nao-tf train`` run folder, checked before anything trusts them (TensorFlow-free).

Resuming must never guess. A ``state.json`` of ``{}`` once made a resume retrain from epoch 0, delete the good
checkpoint and overwrite ``model.keras``; ``epoch: 99`` made it report 99 epochs that never ran. So every file a
resume reads goes through a schema here (pydantic, strict types: ``"3"`` is not an epoch) and a consistency
check (the history has one row per finished epoch, the checkpoint is the one the state names and a readable
archive), and anything off is refused with one line that names the file. The CLI runs ``check_resumable`` before
it loads TensorFlow, so a broken run folder is refused in a fraction of a second and left exactly as it was.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nao_tf.errors import RunFolderError
from nao_tf.runio import read_run_file

CNN_KIND = "nao-tf-cnn-train"
LM_KIND = "lm"
CHECKPOINTS = "checkpoints"
# Run files are small JSON documents; a bigger one is not ours (and would be slow to parse).
MAX_JSON_BYTES = 64 << 20
REFUSE = "the run cannot be resumed safely; restore the file or start a new run with --out"


class _Strict(BaseModel):
    """Strict types (no ``"3"`` for 3, no ``true`` for 1); unknown keys are kept for newer nao-tf versions."""

    model_config = ConfigDict(strict=True, extra="allow")


class CnnSettings(_Strict):
    """``config.json["config"]`` of a CNN run: the fields a resume re-uses."""

    arch: str
    dataset: str
    data_dir: str | None = None
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    layers: int = Field(ge=1)
    channels: int = Field(ge=2)
    lr: float = Field(gt=0, allow_inf_nan=False)
    lr_min: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    momentum: float = Field(default=0.9, ge=0, allow_inf_nan=False)
    weight_decay: float = Field(default=3e-4, ge=0, allow_inf_nan=False)
    grad_clip: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    aux_head: bool = True
    aux_weight: float = Field(default=0.4, ge=0, allow_inf_nan=False)
    drop_path_keep: float = Field(default=0.8, gt=0, le=1, allow_inf_nan=False)
    dropout_keep: float = Field(default=0.6, gt=0, le=1, allow_inf_nan=False)
    augment: bool = True
    cutout: int | None = Field(default=None, ge=0)
    valid_size: int = Field(default=0, ge=0)
    seed: int = Field(default=0, ge=0)
    steps_per_epoch: int | None = Field(default=None, ge=1)


class LmSettings(_Strict):
    """``config.json["config"]`` of a language-model run."""

    arch: str
    dataset: str
    data_dir: str | None = None
    hidden: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    epochs: int = Field(ge=1)
    seed: int = Field(default=0, ge=0)


class ConfigFile(_Strict):
    kind: str
    config: dict[str, Any]
    architecture: str
    space: str


class CnnRow(_Strict):
    epoch: int = Field(ge=1)


class CnnState(_Strict):
    kind: Literal["nao-tf-cnn-train"]
    epoch: int = Field(ge=1)
    checkpoint: str
    history: list[CnnRow]


class LmRow(_Strict):
    epoch: int = Field(ge=1)
    steps: int = Field(ge=0)


class LmState(_Strict):
    epoch: int = Field(ge=1)
    steps: int = Field(ge=0)
    best_valid_ppl: float
    averaging: bool
    avg_count: float = Field(ge=0, allow_inf_nan=False)
    history: list[LmRow]

    @field_validator("best_valid_ppl")
    @classmethod
    def _not_nan(cls, value: float) -> float:
        if math.isnan(value) or value <= 0:  # +inf is the value before the first evaluation
            raise ValueError("must be a positive perplexity")
        return value


def _problem(exc: ValidationError) -> str:
    """The first schema violation as ``key.path: message (got value)``, one line."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "the file"
    got = err.get("input")
    got_text = json.dumps(got)[:40] if isinstance(got, (int, float, str, bool, type(None))) else type(got).__name__
    return f"{where}: {err['msg']} (got {got_text})" if err["type"] != "missing" else f"{where} is missing"


def read_json_file(path: Path) -> Any:
    """A training run file's JSON; one line naming the file when it is missing, unreadable, binary or not JSON."""
    return read_run_file(path, REFUSE, MAX_JSON_BYTES)


def _validate(model: type[BaseModel], data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RunFolderError(f"{path} is not a valid run file: {_problem(exc)}; {REFUSE}") from None


def read_config(run: Path, kind: str | None = None) -> dict[str, Any]:
    """The validated ``config.json`` of a training run (``kind``: the one the caller needs, or either)."""
    if not run.is_dir():
        what = "is a file" if run.exists() else "does not exist"
        raise RunFolderError(f"run folder {run} {what}; give the folder of an earlier 'nao-tf train'")
    path = run / "config.json"
    if not path.is_file():
        raise RunFolderError(f"{run} is not a training run folder (no config.json); start one with 'nao-tf train'")
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} is not a valid run file: it holds {_json_type(data)}, not an object; {REFUSE}")
    head = _validate(ConfigFile, data, path)
    if head.kind not in (CNN_KIND, LM_KIND):
        raise RunFolderError(f"{path} is not the config of a 'nao-tf train' run (kind {head.kind!r})")
    if kind is not None and head.kind != kind:
        raise RunFolderError(f"{run} is a {head.kind!r} run, not a {kind!r} run")
    settings = CnnSettings if head.kind == CNN_KIND else LmSettings
    try:
        settings.model_validate(head.config)
    except ValidationError as exc:
        raise RunFolderError(f"{path} is not a valid run file: config.{_problem(exc)}; {REFUSE}") from None
    return data


def _json_type(data: Any) -> str:
    return "null" if data is None else {list: "a list", str: "a string", bool: "a boolean"}.get(
        type(data), "a number")


def _check_history(path: Path, epoch: int, rows: list[Any]) -> None:
    if len(rows) != epoch or any(row.epoch != i + 1 for i, row in enumerate(rows)):
        raise RunFolderError(f"{path} claims {epoch} finished epochs but its history has {len(rows)} rows "
                             f"(epochs {[r.epoch for r in rows][:5]}); {REFUSE}")


def check_archive(path: Path, members: tuple[str, ...] = (), hint: str = REFUSE) -> None:
    """``path`` is a complete zip archive (``.keras`` and ``.npz`` files are) holding ``members``; checked here
    because Keras reports a truncated archive as "File not found" and NumPy with a bare ``BadZipFile``.
    ``hint`` ends the message: what the user can do about it."""
    if not path.is_file():
        raise RunFolderError(f"{path} is missing; {hint}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise RunFolderError(f"{path} is truncated or corrupt ({exc}); {hint}") from None
    if bad is not None:
        raise RunFolderError(f"{path} is corrupt (bad CRC in {bad}); {hint}")
    missing = [m for m in members if m not in names]
    if missing:
        raise RunFolderError(f"{path} is not a complete archive (no {missing[0]}); {hint}")


def read_cnn_state(run: Path) -> dict[str, Any] | None:
    """The validated ``state.json`` of a CNN run, or None when no epoch has finished (nor left a checkpoint)."""
    path = run / "state.json"
    checkpoints = sorted((run / CHECKPOINTS).glob("epoch-*.keras")) if (run / CHECKPOINTS).is_dir() else []
    if not path.exists():
        if checkpoints:
            raise RunFolderError(f"{path} is missing but {checkpoints[-1]} exists; {REFUSE}")
        return None
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} is not a valid run file: it holds {_json_type(data)}, not an object; {REFUSE}")
    state = _validate(CnnState, data, path)
    _check_history(path, state.epoch, state.history)
    expected = f"{CHECKPOINTS}/epoch-{state.epoch:04d}.keras"
    if state.checkpoint != expected:
        raise RunFolderError(f"{path} names checkpoint {state.checkpoint!r}, expected {expected!r}; {REFUSE}")
    check_archive(run / expected, ("config.json", "model.weights.h5"))
    return data


def read_lm_state(run: Path) -> dict[str, Any] | None:
    """The validated ``state.json`` of an LM run (its ``state.npz`` checked too), or None before epoch 1."""
    path = run / "state.json"
    if not path.exists():
        if (run / "state.npz").exists():
            raise RunFolderError(f"{path} is missing but {run / 'state.npz'} exists; {REFUSE}")
        return None
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} is not a valid run file: it holds {_json_type(data)}, not an object; {REFUSE}")
    state = _validate(LmState, data, path)
    _check_history(path, state.epoch, state.history)
    if state.history and state.history[-1].steps != state.steps:
        raise RunFolderError(f"{path} says {state.steps} steps but its last epoch ended at "
                             f"{state.history[-1].steps}; {REFUSE}")
    check_archive(run / "state.npz", ("w0.npy",))
    vocab = run / "vocab.txt"
    if not vocab.is_file():
        raise RunFolderError(f"{vocab} is missing; the model's vocabulary is needed to resume; {REFUSE}")
    return data


def check_resumable(run: Path) -> str:
    """Validate every file a resume of ``run`` reads; returns the run's space (picks the trainer)."""
    data = read_config(run)
    if data["kind"] == CNN_KIND:
        read_cnn_state(run)
    else:
        read_lm_state(run)
    return str(data["space"])
