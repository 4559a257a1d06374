"""The JSON envelope every benchmark returns, and the wall/CPU stopwatch they share.

A benchmark result is read by people comparing runs on different machines and by scripts that plot them, so
every benchmark answers in one shape::

    {"benchmark": NAME, "settings": {...}, "machine": {...}, "results": {...}}

``settings`` holds every input that changes the numbers (rerunning with them reproduces the measurement),
``machine`` says where it ran (CPU count, devices, library versions and how busy the machine was: on a shared
machine wall-clock rates depend on the other processes, so the 1-minute load average at the start and end is
recorded beside them), ``results`` holds the measurements. Ratios inside one ``results`` were measured in the
same process at the same time and are what compares across machines.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any


def _load_1min() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):  # not available on every platform
        return None


def machine_info(load_at_start: float | None = None) -> dict[str, Any]:
    """CPU count, platform, versions, and the devices TensorFlow sees if the benchmark loaded it.

    TensorFlow is never imported here: a benchmark that did not need it (NB201 with the baselines only)
    stays free of it, and its ``devices`` entry says so."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
    }
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        info["tensorflow"] = getattr(tf, "__version__", None)
        keras = sys.modules.get("keras")
        info["keras"] = getattr(keras, "__version__", None) if keras is not None else None
        info["devices"] = [d.name for d in tf.config.list_logical_devices()]
        info["gpu"] = _gpu_name(tf)
    else:
        info["devices"] = ["CPU (TensorFlow not loaded)"]
        info["gpu"] = None
    info["load_average_1min"] = {"start": load_at_start, "end": _load_1min()}
    return info


def _gpu_name(tf: Any) -> str | None:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    try:
        return str(tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU"))
    except (ValueError, RuntimeError):
        return "GPU"


@dataclass
class BenchmarkRun:
    """Started before the measurements (it notes how busy the machine is), finished with the results."""

    name: str
    settings: dict[str, Any]
    load_at_start: float | None = field(default_factory=_load_1min)

    def finish(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"benchmark": self.name, "settings": self.settings, "machine": machine_info(self.load_at_start),
                "results": results}


class Stopwatch:
    """Wall-clock and process CPU time since it started (``with Stopwatch() as sw: ...; sw.wall, sw.cpu``).

    CPU seconds of this process are reported beside wall seconds because, on a shared machine, they are what
    the code itself cost."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self.wall = self.cpu = 0.0

    def stop(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu
        return self

    def __enter__(self) -> Stopwatch:
        self.restart()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
