"""``nao-tf predict EXPORT IMAGE...``: classify PNG/JPEG files with an export, as any user of it would.

``EXPORT`` is what ``nao-tf export`` wrote: a version folder ``OUT/NAME/VERSION``, a model folder ``OUT/NAME``
(the highest version is used), an ``OUT`` folder holding one model, or a ``model.onnx`` file on its own (its
metadata_props carry the class names). The backend is ONNX Runtime when the export has ``model.onnx``, else
the SavedModel; ``backend=`` picks one.

Images are read with Pillow and converted to the model's channels (RGB or grayscale). An image whose size
differs from the model's input is refused with a one-line error unless ``resize=True`` (``--resize``), which
resizes it bilinearly to the model's input size (no cropping, so the aspect ratio may change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.export.metadata import MARKER, ONNX_FILE, ExportError, read_marker

BACKENDS = ("auto", "onnx", "savedmodel", "tflite")


@dataclass
class ResolvedExport:
    folder: Path | None  # the version folder (None for a bare .onnx file)
    meta: dict[str, Any]
    onnx_file: Path | None
    savedmodel: bool
    tflite_file: Path | None


def resolve_export(path: str | Path) -> ResolvedExport:
    """Find the export that ``path`` names (see the module docstring); one-line error if there is none."""
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: no such file or folder; give a folder written by 'nao-tf export'")
    if path.is_file():
        if path.suffix.lower() != ".onnx":
            raise ExportError(f"{path}: not an export; give an export folder or its model.onnx")
        if (path.parent / MARKER).is_file():
            return resolve_export(path.parent)
        from nao_tf.export.onnx_export import read_onnx_metadata

        try:
            meta = read_onnx_metadata(path)
        except ExportError:
            raise
        except Exception as exc:  # a user's file that is not a readable ONNX model: any parser error
            raise ExportError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
        return ResolvedExport(None, meta, path, False, None)
    if (path / MARKER).is_file():
        info = read_marker(path)
        files = info.get("files", {})
        onnx_file = path / ONNX_FILE if "onnx" in files and (path / ONNX_FILE).is_file() else None
        tflite = path / files["tflite"] if "tflite" in files else None
        return ResolvedExport(path, info["metadata"], onnx_file, (path / "saved_model.pb").is_file(), tflite)
    versions = sorted((int(p.name), p) for p in path.iterdir()
                      if p.is_dir() and p.name.isdigit() and (p / MARKER).is_file())
    if versions:
        return resolve_export(versions[-1][1])
    models = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
              and any(v.is_dir() and v.name.isdigit() and (v / MARKER).is_file() for v in p.iterdir())]
    if len(models) == 1:
        return resolve_export(models[0])
    if len(models) > 1:
        raise ExportError(f"{path} holds several exported models ({', '.join(sorted(m.name for m in models))}); "
                          "give one of them")
    raise ExportError(f"{path}: no export here ({MARKER} missing); give a folder written by 'nao-tf export'")


class Predictor:
    """Runs an image-classifier export on uint8 NHWC batches; ``.meta`` is its metadata."""

    def __init__(self, export: str | Path, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ExportError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.export = resolve_export(export)
        self.meta = self.export.meta
        if self.meta.get("kind") != "cnn":
            raise ExportError(f"{export} is a {self.meta.get('kind')} export; predict classifies images with "
                              "image-classifier exports")
        ex = self.export
        if backend == "auto":
            backend = "onnx" if ex.onnx_file else "savedmodel" if ex.savedmodel else "tflite"
        self.backend = backend
        if backend == "onnx":
            if ex.onnx_file is None:
                raise ExportError(f"{export} has no ONNX model; export with --format onnx or use another backend")
            from nao_tf.export.onnx_export import OnnxRunner

            self._run = OnnxRunner(ex.onnx_file)
        elif backend == "savedmodel":
            if not ex.savedmodel:
                raise ExportError(f"{export} has no SavedModel; export with --format savedmodel or use --backend "
                                  "onnx")
            from nao_tf.export.savedmodel import SavedModelRunner

            self._run = SavedModelRunner(ex.folder)
        else:
            if ex.tflite_file is None:
                raise ExportError(f"{export} has no TensorFlow Lite model; export with --format tflite")
            from nao_tf.export.tflite import TfliteRunner

            self._run = TfliteRunner(ex.tflite_file)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.meta["input_shape"])  # type: ignore[return-value]

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._run({"images": np.ascontiguousarray(images, dtype=np.uint8)})["probabilities"])


def read_image(path: str | Path, shape: tuple[int, int, int], resize: bool = False) -> np.ndarray:
    """One image file as uint8 ``[H, W, C]`` for a model taking ``shape``; one-line errors for bad files."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    height, width, channels = shape
    try:
        with Image.open(path) as img:
            img.load()
            mode = "RGB" if channels == 3 else "L" if channels == 1 else None
            if mode is None:
                raise ExportError(f"the model takes {channels}-channel images; predict reads 1 or 3 channels")
            img = img.convert(mode)
            if img.size != (width, height):
                if not resize:
                    raise ExportError(f"{path}: image is {img.size[0]}x{img.size[1]}, the model takes "
                                      f"{width}x{height}; pass --resize to resize it (bilinear)")
                img = img.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise ExportError(f"{path}: no such image file") from None
    except UnidentifiedImageError:
        raise ExportError(f"{path}: not a PNG or JPEG image Pillow can read") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot read the image ({exc})") from None
    return array.reshape(height, width, channels)


def predict_files(export: str | Path, images: list[str | Path], *, backend: str = "auto", top: int = 5,
                  resize: bool = False) -> dict[str, Any]:
    """Top-``top`` classes of every image: ``{"backend", "export", "predictions": [{image, top: [...]}]}``."""
    if top < 1:
        raise ExportError(f"--top must be at least 1, got {top}")
    predictor = Predictor(export, backend)
    batch = np.stack([read_image(p, predictor.input_shape, resize) for p in images])
    probs = predictor.probabilities(batch)
    names = predictor.class_names
    k = min(top, probs.shape[-1])
    predictions = []
    for path, row in zip(images, probs, strict=True):
        order = np.argsort(-row, kind="stable")[:k]
        predictions.append({"image": str(path), "top": [
            {"class": names[i] if i < len(names) else str(i), "index": int(i), "probability": float(row[i])}
            for i in order]})
    where = predictor.export.folder or predictor.export.onnx_file
    return {"export": str(where), "backend": predictor.backend, "predictions": predictions}


def format_predictions(result: dict[str, Any]) -> str:
    lines = []
    for pred in result["predictions"]:
        lines.append(pred["image"])
        width = max(len(t["class"]) for t in pred["top"])
        for rank, t in enumerate(pred["top"], 1):
            lines.append(f"  {rank}. {t['class']:<{width}}  {t['probability']:.4f}")
    return "\n".join(lines)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
