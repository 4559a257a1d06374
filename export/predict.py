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
                      if p.is_dir() and p.name.isascii() and p.name.isdigit() and (p / MARKER).is_file())
    if versions:
        return resolve_export(versions[-1][1])
    models = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
              and any(v.is_dir() and v.name.isascii() and v.name.isdigit() and (v / MARKER).is_file()
                      for v in p.iterdir())]
    if len(models) == 1:
        return resolve_export(models[0])
    if len(models) > 1:
        raise ExportError(f"{path} holds several exported models ({', '.join(sorted(m.name for m in models))}); "
                          "give one of them")
    raise ExportError(f"{path}: no export here ({MARKER} missing); give a folder written by 'nao-tf export'")


class Predictor:
    """Runs an image-classifier export on uint8 NHWC batches; ``.meta`` is its metadata."""

    def __init__(self, export: str | Path | ResolvedExport, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ExportError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.export = export if isinstance(export, ResolvedExport) else resolve_export(export)
        export = self.export.folder or self.export.onnx_file
        self.meta = self.export.meta
        if self.meta.get("kind") != "cnn":
            raise ExportError(f"{export} is a {self.meta.get('kind')} export; predict classifies images with "
                              "image-classifier exports")
        ex = self.export
        if backend == "auto":
            backend = "onnx" if ex.onnx_file else "savedmodel" if ex.savedmodel else "tflite"
        self.backend = backend
        try:
            self._run = self._runner(backend)
        except ExportError:
            raise
        except Exception as exc:  # noqa: BLE001  a garbage model file is the user's input, not a bug of ours
            first = " ".join(str(exc).split())[:160] or type(exc).__name__
            what = {"onnx": "ONNX model", "savedmodel": "SavedModel", "tflite": "TensorFlow Lite model"}[backend]
            raise ExportError(f"{export}: the {what} cannot be loaded ({first}); export the model again") from None

    def _runner(self, backend: str) -> Any:
        ex, export = self.export, self.export.folder or self.export.onnx_file
        if backend == "onnx":
            if ex.onnx_file is None:
                raise ExportError(f"{export} has no ONNX model; export with --format onnx or use another backend")
            from nao_tf.export.onnx_export import OnnxRunner

            return OnnxRunner(ex.onnx_file)
        elif backend == "savedmodel":
            if not ex.savedmodel:
                raise ExportError(f"{export} has no SavedModel; export with --format savedmodel or use --backend "
                                  "onnx")
            from nao_tf.export.savedmodel import SavedModelRunner

            return SavedModelRunner(ex.folder)
        else:
            if ex.tflite_file is None:
                raise ExportError(f"{export} has no TensorFlow Lite model; export with --format tflite")
            from nao_tf.export.tflite import TfliteRunner

            return TfliteRunner(ex.tflite_file)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.meta["input_shape"])  # type: ignore[return-value]

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._run({"images": np.ascontiguousarray(images, dtype=np.uint8)})["probabilities"])


# Largest image predict decodes (64 megapixels, at most 32768 per side): checked from the header, before
# decoding, so a PNG whose header claims 100000x100000 pixels is refused instead of allocating 30 GB.
MAX_PIXELS = 1 << 26
MAX_SIDE = 1 << 15
MAX_FILE_BYTES = 256 << 20


def read_image(path: str | Path, shape: tuple[int, int, int], resize: bool = False) -> np.ndarray:
    """One image file as uint8 ``[H, W, C]`` for a model taking ``shape``; one-line errors for bad files."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    height, width, channels = shape
    try:
        if path.is_dir():
            raise ExportError(f"{path}: a directory, not an image file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ExportError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; not an image predict reads")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # ours is the one-line error
            img_file = Image.open(path)
        with img_file as img:
            w, h = img.size
            if w < 1 or h < 1 or w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
                raise ExportError(f"{path}: the image header says {w}x{h} pixels, more than predict decodes "
                                  f"({MAX_PIXELS >> 20} megapixels, {MAX_SIDE} per side); resize it first")
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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ExportError(f"{path}: the image is too large to decode safely ({exc})") from None
    except (SyntaxError, ValueError, EOFError) as exc:  # Pillow's "broken PNG file" (bad CRC) is a SyntaxError
        raise ExportError(f"{path}: the image is corrupt ({exc}); save it again as PNG or JPEG") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot read the image ({exc})") from None
    return array.reshape(height, width, channels)


def predict_files(export: str | Path, images: list[str | Path], *, backend: str = "auto", top: int = 5,
                  resize: bool = False) -> dict[str, Any]:
    """Top-``top`` classes of every image: ``{"backend", "export", "predictions": [{image, top: [...]}]}``."""
    if top < 1:
        raise ExportError(f"--top must be at least 1, got {top}")
    if backend not in BACKENDS:
        raise ExportError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    resolved = resolve_export(export)
    if resolved.meta.get("kind") != "cnn":
        raise ExportError(f"{export} is a {resolved.meta.get('kind')} export; predict classifies images with "
                          "image-classifier exports")
    shape = tuple(int(v) for v in resolved.meta["input_shape"])
    # every image is checked before the runtime loads: a bad file is reported at once, whatever the model
    batch = np.stack([read_image(p, shape, resize) for p in images])  # type: ignore[arg-type]
    predictor = Predictor(resolved, backend)
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
