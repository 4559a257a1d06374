"""Keras objects nao-tf defines: registered lazily, so that ``import nao_tf`` does not load TensorFlow.

Every layer and model nao-tf defines is decorated with ``keras.saving.register_keras_serializable`` in its own
module, so importing that module registers it. Importing them all costs TensorFlow's start-up (seconds, half
a gigabyte), which commands like ``nao-tf --help`` or ``nao-tf arch`` never need; so ``import nao_tf``
registers nothing, and every path that loads a ``.keras`` file calls ``register_all()`` first (or goes
through ``load_model`` below). Modules that build models import their layers' modules themselves, so a model
built in this process is always registered.

``nao_tf.load_model(path)`` is the documented way to reload a nao-tf ``.keras`` file; code that wants
Keras's own ``keras.saving.load_model`` calls ``nao_tf.register_keras_objects()`` once first.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# Modules that define serializable Keras objects. Add a module here when it defines one
# (tests/test_fast_import.py checks that every module using register_keras_serializable is listed).
MODULES: tuple[str, ...] = (
    "nao_tf.controller.model",
    "nao_tf.children.ops",
    "nao_tf.children.train_cnn",
    "nao_tf.children.rnn_cell",
    "nao_tf.children.lm",
    "nao_tf.children.supernet",
)

_registered = False


def register_all() -> None:
    """Import TensorFlow (quietly) and every module in ``MODULES``; idempotent and cheap after the first call."""
    global _registered
    if _registered:
        return
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    for name in MODULES:
        importlib.import_module(name)
    _registered = True


def load_model(path: str | os.PathLike, **kwargs: Any) -> Any:
    """``keras.saving.load_model`` with nao-tf's objects registered first (``kwargs`` go to Keras, e.g.
    ``compile=False``). Returns the ``keras.Model``."""
    register_all()
    import keras

    return keras.saving.load_model(os.fspath(path), **kwargs)
