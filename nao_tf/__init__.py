"""nao-tf: Neural Architecture Optimization (Luo et al., NeurIPS 2018) in Keras 3 / TensorFlow.

``import nao_tf`` is light: search spaces, architectures and the zoo need only NumPy, and TensorFlow loads
when a model is first built or loaded. Reload a nao-tf ``.keras`` file with ``nao_tf.load_model(path)``; to
use Keras's own loaders instead, call ``nao_tf.register_keras_objects()`` once first (``nao_tf.keras_objects``
says why registration is lazy).
"""

from __future__ import annotations

import os
from typing import Any

from nao_tf.architectures import resolve
from nao_tf.errors import ArchitectureError, NaoError
from nao_tf.spaces import Architecture, get_space

__version__ = "0.1.0"

__all__ = ["Architecture", "ArchitectureError", "NaoError", "get_space", "load_model", "register_keras_objects",
           "resolve", "__version__"]


def register_keras_objects() -> None:
    """Register every Keras layer and model nao-tf defines (imports TensorFlow); idempotent."""
    from nao_tf.keras_objects import register_all

    register_all()


def load_model(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Load a ``.keras`` file saved by nao-tf (any of its models: CNN, language model, controller, supernet);
    ``kwargs`` go to ``keras.saving.load_model`` (e.g. ``compile=False``)."""
    from nao_tf.keras_objects import load_model as _load

    return _load(path, **kwargs)
