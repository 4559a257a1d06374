"""Argument types shared by the commands, so every number and path a user types is checked in one place.

Each is an argparse ``type``: a bad value becomes argparse's one-line error (exit 2) before any work starts,
instead of a traceback or a silent wrap-around deep inside a command (a port of -5 once became 65531 and a
connect timeout of ``nan`` waited forever).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

# Seeds go to NumPy and to TensorFlow, whose global seed must fit in 32 bits unsigned.
MAX_SEED = 2**32 - 1


def _integer(text: str) -> int:
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(text)


def int_in_range(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers in ``[minimum, maximum]`` (ASCII digits only)."""

    def parse(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers >= ``minimum``."""
    return int_in_range(minimum)


def finite_float(minimum: float | None = None, maximum: float | None = None, *,
                 open_min: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number (``nan`` and ``inf`` refused) in ``[minimum, maximum]``
    (``(minimum, maximum]`` with ``open_min``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if minimum is not None and (value <= minimum if open_min else value < minimum):
            raise argparse.ArgumentTypeError(f"must be {'above' if open_min else 'at least'} {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def output_path(text: str) -> str:
    """A file or folder nao-tf will create: refused when something on its way is a file (``--out a.txt/run``
    would otherwise fail half-way with an OS error), or when it is empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    if "\0" in text:
        raise argparse.ArgumentTypeError("a path cannot hold a NUL character")
    path = Path(text)
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise argparse.ArgumentTypeError(f"{str(parent)!r} is a file, so {text!r} cannot be created under it")
    return text


def keep_probability(text: str) -> float:
    """A keep probability of dropout or drop-path: a finite number in (0, 1]."""
    value = finite_float()(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"is a keep probability in (0, 1], got {value}")
    return value


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)
seed = int_in_range(0, MAX_SEED)
port = int_in_range(1, 65535)
nonnegative_float = finite_float(0.0)
positive_float = finite_float(0.0, open_min=True)
