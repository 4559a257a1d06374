"""The NAO controller: encoder-predictor-decoder (Keras 3), its training, and gradient-step generation.

Light imports only here (``ControllerConfig``); TensorFlow loads when ``model``, ``training`` or
``generation`` is imported::

    from nao_tf.controller.training import ControllerTrainer, build_controller, load_controller, save_controller
    from nao_tf.controller.generation import Generator
"""

from __future__ import annotations

from nao_tf.controller.config import ControllerConfig

__all__ = ["ControllerConfig"]
