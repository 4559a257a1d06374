"""Registers every Keras object nao-tf defines, so that ``.keras`` files reload after ``import nao_tf``.

Each module listed here decorates its layers/models with ``keras.saving.register_keras_serializable``;
importing them is all registration takes.
"""

from __future__ import annotations

import importlib

from nao_tf._tf import import_tf_quietly

# Modules that define serializable Keras objects. Add a module here when it defines one.
MODULES: tuple[str, ...] = (
    "nao_tf.controller.model",
    "nao_tf.children.ops",
    "nao_tf.children.train_cnn",
    "nao_tf.children.rnn_cell",
    "nao_tf.children.lm",
    "nao_tf.children.supernet",
)


def register_all() -> None:
    import_tf_quietly()
    for name in MODULES:
        importlib.import_module(name)


register_all()
