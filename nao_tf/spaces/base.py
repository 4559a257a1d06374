"""What the controller needs from a search space, and the architecture value object.

The NAO controller is space-agnostic: it only needs a vocabulary size, a sequence length, the valid tokens at
each position, a way to encode/decode architectures to/from token sequences, and optionally a symmetry
augmentation. Every space (NASNet CNN cells, RNN cells, NAS-Bench-201 cells, a user's own) implements this
interface. Token 0 is reserved for start/end, so architecture tokens are always >= 1.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from nao_tf.errors import ArchitectureError

# No space has more values than this; longer inputs are refused before any work on them.
MAX_VALUES = 1000
# Longest integer accepted in an integer form: op ids and node indices are small, and int() of a huge digit
# string is slow (Python refuses beyond 4300 digits with a ValueError).
MAX_DIGITS = 9


def is_ascii_integer(text: str) -> bool:
    """``-12`` or ``7``: ASCII digits with an optional minus sign, at most ``MAX_DIGITS`` digits."""
    digits = text[1:] if text.startswith("-") else text
    return 0 < len(digits) <= MAX_DIGITS and digits.isascii() and digits.isdigit()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, order=True)
class Architecture:
    """An architecture: the name of its space and its integer form (hashable, so it can key a pool)."""

    space: str
    values: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(int(v) for v in self.values))

    def __str__(self) -> str:
        return " ".join(str(v) for v in self.values)

    @property
    def integers(self) -> str:
        """The integer form, one string (what the paper and the authors' scripts write)."""
        return str(self)


class SearchSpace(abc.ABC):
    """Interface every search space implements (see module docstring)."""

    name: str
    vocab_size: int
    length: int

    # ----- the controller's view -------------------------------------------------------------------------
    @abc.abstractmethod
    def valid_tokens(self, position: int) -> np.ndarray:
        """Sorted array of the tokens allowed at ``position`` (0-based, start token not counted)."""

    def token_mask(self) -> np.ndarray:
        """Boolean ``[length, vocab_size]`` mask: True where a token is valid at a position."""
        mask = np.zeros((self.length, self.vocab_size), dtype=bool)
        for pos in range(self.length):
            mask[pos, self.valid_tokens(pos)] = True
        return mask

    @abc.abstractmethod
    def encode(self, arch: Architecture) -> np.ndarray:
        """Token sequence (int32, length ``self.length``, values >= 1) of a valid architecture."""

    @abc.abstractmethod
    def decode(self, tokens: Any) -> Architecture:
        """Architecture of a token sequence; raises ``ArchitectureError`` if a token is invalid."""

    # ----- sampling and augmentation ---------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int = 1) -> list[Architecture]:
        """``n`` uniformly random valid architectures (uniform over the valid tokens of each position)."""
        out = []
        choices = [(c, len(c)) for c in (self.valid_tokens(p) for p in range(self.length))]
        for _ in range(n):
            # ``c[rng.integers(0, m)]`` draws what ``rng.choice(c)`` draws, at a sixth of its overhead (SemiNAS
            # samples thousands of architectures a round)
            tokens = np.array([c[rng.integers(0, m)] for c, m in choices], dtype=np.int32)
            out.append(self.decode(tokens))
        return out

    def augment(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """A symmetric variant (same network, different tokens); spaces without symmetry return ``arch``."""
        return arch

    def canonical(self, arch: Architecture) -> Architecture:
        """A representative that is equal for all symmetric variants (identity where there is no symmetry)."""
        return arch

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one token to another valid value (the mutation of regularized evolution)."""
        tokens = self.encode(arch).copy()
        while True:
            pos = int(rng.integers(self.length))
            options = [t for t in self.valid_tokens(pos) if t != tokens[pos]]
            if options:
                break
        tokens[pos] = options[rng.integers(0, len(options))]  # the draw of rng.choice(options), faster
        return self.decode(tokens)

    # ----- written forms ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def validate_values(self, values: tuple[int, ...]) -> None:
        """Raise ``ArchitectureError`` naming the first bad position of an integer form."""

    def make(self, values: Any) -> Architecture:
        """A validated architecture of this space from its integers.

        Strict on purpose: ``2.7`` or ``true`` in a JSON list is a mistake, not the integer 2 or 1, so only real
        integers (Python or NumPy, never booleans) pass; a string goes through ``parse_integers``.
        """
        if isinstance(values, str):
            return self.parse_integers(values)
        if isinstance(values, (dict, bytes)) or not hasattr(values, "__iter__"):
            raise ArchitectureError(f"{self.name}: architecture values must be a list of {self.length} integers, "
                                    f"got {type(values).__name__}")
        ints = []
        for i, value in enumerate(values):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise ArchitectureError(f"{self.name}: value {i} is {_short(value)}, not an integer; expected "
                                        f"{self.length} integers")
            ints.append(int(value))
            if i >= MAX_VALUES:
                raise ArchitectureError(f"{self.name}: more than {MAX_VALUES} values; expected {self.length}")
        self.validate_values(tuple(ints))
        return Architecture(self.name, tuple(ints))

    def parse_integers(self, text: str) -> Architecture:
        """Parse the integer form (whitespace/commas/``|`` separated). ASCII digits only: ``str.isdigit`` also
        accepts superscripts (which ``int()`` then rejects) and other scripts' digits, which no architecture uses."""
        parts = text.replace(",", " ").replace("|", " ").replace("[", " ").replace("]", " ").split()
        if not parts:
            raise ArchitectureError(f"{self.name}: empty architecture string; expected {self.length} integers")
        if len(parts) > MAX_VALUES:
            raise ArchitectureError(f"{self.name}: got {len(parts)} values; expected {self.length} integers")
        for i, part in enumerate(parts):
            if not is_ascii_integer(part):
                raise ArchitectureError(
                    f"{self.name}: value {i} is {_short(part)}, not an integer; expected {self.length} integers"
                )
        return self.make(int(p) for p in parts)

    @abc.abstractmethod
    def format_readable(self, arch: Architecture) -> str:
        """Readable form with named inputs and ops (documented in the README)."""

    @abc.abstractmethod
    def parse_readable(self, text: str) -> Architecture:
        """Inverse of ``format_readable``."""

    @abc.abstractmethod
    def to_dict(self, arch: Architecture) -> dict[str, Any]:
        """JSON-able structured form (space, integers, readable, and a named structure)."""

    @abc.abstractmethod
    def from_dict(self, data: dict[str, Any]) -> Architecture:
        """Inverse of ``to_dict``; accepts either ``integers`` or the named structure."""

    def format(self, arch: Architecture, style: str = "integers") -> str:
        """``integers``, ``readable`` or ``json``."""
        self.check_space(arch)
        if style == "integers":
            return self.format_integers(arch)
        if style == "readable":
            return self.format_readable(arch)
        if style == "json":
            return json.dumps(self.to_dict(arch))
        raise ArchitectureError(f"unknown format style {style!r}; use integers, readable or json")

    def format_integers(self, arch: Architecture) -> str:
        """Integer form; spaces made of several cells override this to put ``|`` between cells."""
        return str(arch)

    def check_space(self, arch: Architecture) -> None:
        """Refuse an architecture of another space with a clear message."""
        if arch.space != self.name:
            raise ArchitectureError(f"architecture belongs to space {arch.space!r}, not {self.name!r}")

    def _tokens_array(self, tokens: Any) -> np.ndarray:
        arr = np.asarray(tokens).reshape(-1)
        if arr.shape[0] != self.length:
            raise ArchitectureError(
                f"{self.name}: token sequence has length {arr.shape[0]}, expected {self.length}"
            )
        return arr.astype(np.int64)

    def _check_tokens(self, arr: np.ndarray) -> None:
        mask = self.__dict__.get("_mask_cache")
        if mask is None:
            mask = self.__dict__["_mask_cache"] = self.token_mask()
        if ((arr >= 0) & (arr < mask.shape[1])).all() and mask[np.arange(self.length), arr].all():
            return  # one vectorized look-up; the loop below only runs to name the first bad token
        for pos, tok in enumerate(arr):
            valid = self.valid_tokens(pos)
            if tok not in valid:
                raise ArchitectureError(
                    f"{self.name}: token {int(tok)} at position {pos} is invalid; expected one of "
                    f"{valid.min()}..{valid.max()}"
                )
