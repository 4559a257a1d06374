"""``nao-tf export``: write the requested formats into ``OUT/NAME/VERSION/``, verify them, then publish.

Layout (TF Serving reads ``--model_base_path=OUT/NAME`` and serves the highest ``VERSION``)::

    OUT/NAME/VERSION/
        saved_model.pb, variables/, assets.extra/   SavedModel with the serving_default signature  (savedmodel)
        model.onnx                            ONNX, opset 17 by default                     (onnx)
        model.tflite                          TensorFlow Lite                               (tflite)
        nao_tf_export.json                    metadata; marks the folder as written by nao-tf
        verification.json                     max abs differences against the Keras model

Everything is written to a hidden staging folder beside ``VERSION`` and renamed into place only after the
verification passed; a failed export leaves nothing behind. An existing ``VERSION`` folder is replaced only
with ``force=True`` and only when it holds ``nao_tf_export.json`` (never a folder nao-tf did not write).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nao_tf.export.metadata import MARKER, ONNX_FILE, VERIFICATION, ExportError, is_our_export, write_marker
from nao_tf.export.onnx_export import DEFAULT_OPSET, check_opset
from nao_tf.export.verify import DEFAULT_TOLERANCE, ExportVerificationError, failure_message, summary_line
from nao_tf.runio import atomic_write_json

FORMATS = ("savedmodel", "onnx", "tflite")
DEFAULT_FORMATS = ("savedmodel", "onnx")
TFLITE_FILE = "model.tflite"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def parse_formats(text: str | Iterable[str]) -> list[str]:
    """``"savedmodel,onnx"`` -> ``["savedmodel", "onnx"]``; one-line error on an unknown or empty format."""
    items = text.split(",") if isinstance(text, str) else list(text)
    formats: list[str] = []
    for item in items:
        fmt = item.strip().lower()
        if not fmt:
            continue
        if fmt not in FORMATS:
            raise ExportError(f"unknown export format {item.strip()!r}; expected a comma-separated list of "
                              f"{', '.join(FORMATS)}")
        if fmt not in formats:
            formats.append(fmt)
    if not formats:
        raise ExportError(f"no export format given; expected a comma-separated list of {', '.join(FORMATS)}")
    return formats


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ExportError(f"export name {name!r} is not a folder name; use letters, digits, '.', '_' and '-'")
    return name


def check_version(version: int) -> int:
    if int(version) < 1:
        raise ExportError(f"export version must be a positive integer (TF Serving's layout), got {version}")
    return int(version)


def check_target(target: Path, force: bool) -> None:
    """Refuse to overwrite: an existing target needs ``force`` and must be a nao-tf export."""
    if not (target.exists() or target.is_symlink()):
        return
    if not force:
        raise ExportError(f"{target} already exists; pass --force to replace it, or choose another "
                          "--out, --name or --version")
    if target.is_symlink() or not target.is_dir() or not is_our_export(target):
        raise ExportError(f"{target} exists and was not written by 'nao-tf export' (no {MARKER}); "
                          "refusing to replace it even with --force; remove it yourself or choose another --out")


def export_model(model_or_run: str | Path, out: str | Path, formats: str | Iterable[str] = DEFAULT_FORMATS, *,
                 name: str | None = None, version: int = 1, force: bool = False, opset: int = DEFAULT_OPSET,
                 tolerance: float = DEFAULT_TOLERANCE, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Export, verify and publish; returns a summary (paths, formats, verification report)."""
    formats = parse_formats(formats)
    version = check_version(version)
    if "onnx" in formats:
        check_opset(opset)
    if not tolerance >= 0:
        raise ExportError(f"tolerance must be >= 0, got {tolerance}")
    out = Path(out)
    if name is not None:
        check_name(name)
        check_target(out / name / str(version), force)  # fail fast, before loading TensorFlow

    from nao_tf.export.source import load_source

    source = load_source(model_or_run)
    if "tflite" in formats and source.kind != "cnn":
        raise ExportError("the tflite format is for image classifiers; export language models as savedmodel,onnx")
    name = check_name(name or source.default_name)
    model_dir = out / name
    target = model_dir / str(version)
    check_target(target, force)

    created = [p for p in (model_dir, *model_dir.parents) if not p.exists()][::-1]  # outermost first
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.partial-", dir=model_dir))
    try:
        report = _write_and_verify(source, staging, formats, opset, tolerance)
        if not report["passed"]:
            raise ExportVerificationError(failure_message(report, target))
        if target.exists():  # check_target made sure it is ours and force was given
            shutil.rmtree(target)
        staging.replace(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in reversed(created):  # only folders this call created, and only if left empty
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    log(f"exported {source.model_file} -> {target}")
    for fmt in formats:
        log(f"  {fmt}: {_describe(fmt, target, source, opset)}")
    log(f"  {summary_line(report)} -> {target / VERIFICATION}")
    return {"path": str(target), "name": name, "version": version, "formats": formats,
            "metadata": source.meta, "verification": report}


def _describe(fmt: str, target: Path, source: Any, opset: int) -> str:
    if fmt == "savedmodel":
        if source.kind == "cnn":
            names = "images (uint8 [batch, " + ", ".join(map(str, source.input_shape)) + "])"
            outs = "logits, probabilities"
        else:
            names = f"tokens (int32 [batch, time]), state (float32 [batch, {source.state_sizes[0]}])"
            outs = "logits, new_state"
        return f"{target} (serving_default: {names} -> {outs}; TF Serving base path {target.parent})"
    if fmt == "onnx":
        dynamic = "batch" if source.kind == "cnn" else "batch and time"
        return f"{target / ONNX_FILE} (opset {opset}, dynamic {dynamic})"
    return str(target / TFLITE_FILE)


def _write_and_verify(source: Any, folder: Path, formats: list[str], opset: int,
                      tolerance: float) -> dict[str, Any]:
    from nao_tf.export.onnx_export import OnnxRunner, write_onnx
    from nao_tf.export.savedmodel import SavedModelRunner, write_savedmodel
    from nao_tf.export.serving import make_serving
    from nao_tf.export.verify import verify

    meta = dict(source.meta)
    serving = make_serving(source)
    runners: dict[str, Any] = {}
    files: dict[str, str] = {}
    if "savedmodel" in formats:
        write_savedmodel(serving, folder, meta)
        files["savedmodel"] = "."
    if "onnx" in formats:
        write_onnx(serving, folder / ONNX_FILE, meta, opset)
        files["onnx"] = ONNX_FILE
    if "tflite" in formats:
        from nao_tf.export.tflite import write_tflite

        write_tflite(serving, folder / TFLITE_FILE, folder if "savedmodel" in formats else None, meta)
        files["tflite"] = TFLITE_FILE
    if "vocab_file" in source.extra:
        shutil.copyfile(source.extra["vocab_file"], folder / "vocab.txt")
    # Reload from disk: verification checks what was written, not what is still in memory.
    if "savedmodel" in formats:
        runners["savedmodel"] = SavedModelRunner(folder)
    if "onnx" in formats:
        runners["onnxruntime"] = OnnxRunner(folder / ONNX_FILE)
    if "tflite" in formats:
        from nao_tf.export.tflite import TfliteRunner

        runners["tflite"] = TfliteRunner(folder / TFLITE_FILE)
    report = verify(source, runners, tolerance)
    atomic_write_json(folder / VERIFICATION, report)
    write_marker(folder, {"metadata": meta, "formats": formats, "files": files,
                          "opset": opset if "onnx" in formats else None,
                          "source": str(source.model_file), "verification": VERIFICATION})
    return report
