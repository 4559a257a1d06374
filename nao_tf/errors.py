"""User-facing errors.

Every error a user can cause (bad architecture strings, missing data, bad configs, diverging training) is a
``NaoError``. The CLI turns it into one line on stderr and exit code 2; anything else is a bug and keeps its
traceback. Messages are single lines that say what is wrong and how to fix it.
"""

from __future__ import annotations


class NaoError(Exception):
    """Base class of errors caused by the user's input, not by a bug in nao-tf."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ArchitectureError(NaoError, ValueError):
    """An architecture string, file or token sequence is malformed or invalid for its space."""


class ConfigError(NaoError, ValueError):
    """A configuration value, flag or config file is wrong."""


class DataError(NaoError):
    """A dataset is missing, corrupt or of the wrong shape."""


class RunFolderError(NaoError):
    """A run folder is missing, belongs to something else, or cannot be resumed."""


class TrainingDivergedError(NaoError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class WorkerLostError(NaoError):
    """Another worker of a multi-worker run disappeared; restarting the workers continues the run.

    Exit code 75 (``EX_TEMPFAIL``): a supervisor that restarts failed processes (``docker run --restart
    on-failure``, Kubernetes, systemd) is exactly what the job needs.
    """

    exit_code = 75
