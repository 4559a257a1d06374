"""SavedModel export: ``serving_default`` from the serving endpoint, metadata in ``assets.extra/``.

The folder written here is a TF Serving model version: serve it with ``--model_base_path=OUT/NAME``, which
holds ``VERSION/saved_model.pb``. ``saved_model_cli show --dir OUT/NAME/VERSION --all`` lists the signature.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nao_tf._tf import import_tf_quietly
from nao_tf.export.metadata import ExportError

SIGNATURE = "serving_default"
METADATA_ASSET = "nao_tf_metadata.json"


def write_savedmodel(serving: Any, folder: Path, meta: dict[str, Any]) -> Path:
    """Write the serving endpoint (``serving.make_serving``) as a SavedModel into ``folder`` (must not hold
    one yet); the metadata goes to ``assets.extra/``, which TensorFlow and TF Serving leave alone."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    serving.archive.write_out(str(folder), verbose=False)
    extra = folder / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / METADATA_ASSET).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


class SavedModelRunner:
    """A loaded SavedModel's ``serving_default``, called with NumPy inputs by name, NumPy outputs by name."""

    def __init__(self, folder: str | Path) -> None:
        import_tf_quietly()
        import tensorflow as tf

        self._loaded = tf.saved_model.load(str(folder))  # keeps the variables the signature reads alive
        if SIGNATURE not in self._loaded.signatures:
            raise ExportError(f"{folder}: the SavedModel has no {SIGNATURE!r} signature; export the model again")
        self._fn = self._loaded.signatures[SIGNATURE]
        self.input_names = sorted(self._fn.structured_input_signature[1])
        self.output_names = sorted(self._fn.structured_outputs)

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        out = self._fn(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in out.items()}
