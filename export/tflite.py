"""TensorFlow Lite export (``--format tflite``): converted from the SavedModel the export writes.

``TFLiteConverter.from_saved_model`` keeps the ``serving_default`` signature, so the ``.tflite`` file has the
same named inputs and outputs (``images`` -> ``logits``, ``probabilities``) and a dynamic batch; the weights
are frozen in (float32, no quantization, so verification holds it to the same tolerance as the others).
Converting the serving tf.function directly leaves the Keras variables as resource variables that the TFLite
runtime cannot read, which is why the SavedModel is the source. Image classifiers only.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from pathlib import Path
from typing import Any

from nao_tf._tf import import_tf_quietly
from nao_tf.export.metadata import ExportError

SIGNATURE = "serving_default"


@contextlib.contextmanager
def _quiet():
    """tf.lite warns on every use that the interpreter moves to the ai_edge_litert package."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def write_tflite(serving: Any, path: Path, savedmodel_dir: Path | None, meta: dict[str, Any]) -> Path:
    """Convert the SavedModel in ``savedmodel_dir`` (written first to a temporary folder when None)."""
    import_tf_quietly()
    import tensorflow as tf

    if meta.get("kind") != "cnn":
        raise ExportError("the tflite format is for image classifiers; export language models as savedmodel,onnx")
    with tempfile.TemporaryDirectory(prefix="nao_tf_tflite_") as tmp:
        if savedmodel_dir is None:
            from nao_tf.export.savedmodel import write_savedmodel

            savedmodel_dir = write_savedmodel(serving, Path(tmp) / "savedmodel", meta)
        with _quiet():
            converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel_dir), signature_keys=[SIGNATURE])
            data = converter.convert()
    path = Path(path)
    path.write_bytes(data)
    return path


class TfliteRunner:
    """A TensorFlow Lite interpreter's ``serving_default`` runner: NumPy inputs by name, NumPy outputs by name."""

    def __init__(self, path: str | Path) -> None:
        import_tf_quietly()
        import tensorflow as tf

        with _quiet():
            self._interpreter = tf.lite.Interpreter(model_path=str(path))
            signatures = self._interpreter.get_signature_list()
            if SIGNATURE not in signatures:
                raise ExportError(f"{path}: no {SIGNATURE!r} signature; export the model again")
            self._runner = self._interpreter.get_signature_runner(SIGNATURE)
        self.input_names = list(signatures[SIGNATURE]["inputs"])
        self.output_names = list(signatures[SIGNATURE]["outputs"])

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        with _quiet():
            out = self._runner(**{k: inputs[k] for k in self.input_names})
        return {k: v.copy() for k, v in out.items()}
