"""nao-tf: Neural Architecture Optimization (Luo et al., NeurIPS 2018) in Keras 3 / TensorFlow.

Importing ``nao_tf`` registers every Keras layer and model the project defines (``nao_tf.keras_objects``), so
that ``keras.saving.load_model`` reloads nao-tf ``.keras`` files with nothing else imported.
"""

from __future__ import annotations

from nao_tf import keras_objects  # noqa: F401  (registers Keras objects)
from nao_tf.architectures import resolve
from nao_tf.errors import ArchitectureError, NaoError
from nao_tf.spaces import Architecture, get_space

__version__ = "0.1.0"

__all__ = ["Architecture", "ArchitectureError", "NaoError", "get_space", "resolve", "__version__"]
