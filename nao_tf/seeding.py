"""One place to seed every random number generator nao-tf uses.

The same ``--seed`` must give the same architectures: spaces and the search loop draw from NumPy generators made
here, and TensorFlow/Keras initializers and dropout are seeded through ``keras.utils.set_random_seed``.
"""

from __future__ import annotations

import numpy as np


def rng(seed: int | None, *stream: int) -> np.random.Generator:
    """A NumPy generator for ``seed``; ``stream`` numbers derive independent generators from one seed."""
    return np.random.default_rng(None if seed is None else [int(seed), *map(int, stream)])


def set_global_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (imports Keras lazily so that light commands stay fast)."""
    import keras

    keras.utils.set_random_seed(int(seed))
