"""Durations for people: how long a training run will take, said the same way everywhere (``nao-tf train``'s
estimate after the first epoch, the next steps ``nao-tf search`` prints). TensorFlow-free."""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """``42 s``, ``7 min``, ``3.5 h``, ``12 days``: rounded to what a person plans with."""
    s = max(0.0, float(seconds))
    if not math.isfinite(s):
        return "unknown"
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


def estimate_total(elapsed: float, epoch_seconds: float, epochs_done: int, epochs_total: int) -> float:
    """Seconds the whole run takes: what has elapsed plus the remaining epochs at ``epoch_seconds`` each."""
    return float(elapsed) + max(0, int(epochs_total) - int(epochs_done)) * float(epoch_seconds)


def untraced_epoch_seconds(first_step_end: float, train_end: float, steps: int, now: float) -> float | None:
    """Seconds of an epoch without its first step, which traces the training step: the steps after the first,
    scaled to all ``steps``, plus what followed training up to ``now`` (validation). None with fewer than 2
    steps, where nothing is left to measure the pace by."""
    if steps < 2:
        return None
    return (train_end - first_step_end) * steps / (steps - 1) + (now - train_end)


def estimate_line(elapsed: float, epoch_seconds: float, epochs_done: int, epochs_total: int,
                  epoch: int | None = None, later_seconds: float | None = None) -> str:
    """The one line a trainer reports after its first epoch (``log`` callbacks print it). Counts are of this
    invocation (a resumed run counts from where it resumed); ``epoch`` is the finished epoch's number.

    The first epoch includes tracing the train and validation steps, which later epochs skip: on a small network
    that is half of it, and an estimate at its pace says twice the real time. ``later_seconds`` (the first
    epoch without its first step, scaled to a whole epoch: what the trainer can measure) sets the pace instead;
    it still carries the validation tracing, so the estimate stays slightly high."""
    pace = epoch_seconds if later_seconds is None else later_seconds
    total = estimate_total(elapsed, pace, epochs_done, epochs_total)
    left = max(0, int(epochs_total) - int(epochs_done))
    later = "" if later_seconds is None else f" (later epochs about {format_duration(later_seconds)}: no tracing)"
    return (f"time estimate: epoch {epochs_done if epoch is None else epoch} took {format_duration(epoch_seconds)}"
            f"{later}; {epochs_total} epochs take about {format_duration(total)} in all "
            f"({format_duration(total - elapsed)} for the {left} left)")
