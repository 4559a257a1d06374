"""Import TensorFlow without the C++ start-up chatter.

TensorFlow's native libraries write several lines to stderr when they load (before absl logging is set up, so
no environment variable silences them), and again when they first look for GPUs. A command that fails on bad
input must print exactly one line, so the first import runs with file descriptor 2 pointed at /dev/null.
"""

from __future__ import annotations

import os
import sys


def import_tf_quietly() -> None:
    """Import tensorflow and keras once, with native stderr output suppressed during the load."""
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): import as is
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow

        # Device discovery (cuInit on machines without a GPU driver) logs errors on first use: do it here.
        tensorflow.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def set_threads_per_op(threads: int) -> None:
    """Run each TensorFlow op on at most ``threads`` threads (0: TensorFlow's default, one per core).

    Small ops lose more to handing work between threads than they gain: the controller's training (batch
    100, hidden 96) runs faster on one thread per op, with its sub-batches on separate cores
    (``ControllerConfig.towers``). TensorFlow fixes its thread pools when it runs its first op, so this must
    come before that; afterwards a different value is refused."""
    from nao_tf.errors import ConfigError

    import_tf_quietly()
    import tensorflow as tf

    if threads < 0:
        raise ConfigError(f"threads per op must be >= 0, got {threads}")
    if tf.config.threading.get_intra_op_parallelism_threads() == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        raise ConfigError("TensorFlow's threads per op can only be set before it runs its first op; set them "
                          "at the start of the process") from None
