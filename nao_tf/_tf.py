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
