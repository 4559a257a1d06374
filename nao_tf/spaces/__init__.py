"""Search spaces: what an architecture is. See ``base.SearchSpace`` for the interface."""

from __future__ import annotations

from nao_tf.errors import ArchitectureError
from nao_tf.spaces.base import Architecture, SearchSpace
from nao_tf.spaces.nasnet import NASNET_FULL, NASNET_WS, NasnetSpace
from nao_tf.spaces.nb201 import NB201, Nb201Space
from nao_tf.spaces.rnn import RNN, RnnSpace

SPACES: dict[str, SearchSpace] = {s.name: s for s in (NASNET_WS, NASNET_FULL, RNN, NB201)}


def register_space(space: SearchSpace) -> SearchSpace:
    """Make a user-defined space addressable by name (``--space NAME``)."""
    SPACES[space.name] = space
    return space


def get_space(name: str | SearchSpace) -> SearchSpace:
    """The space called ``name``; a one-line error lists the known names."""
    if isinstance(name, SearchSpace):
        return name
    if not isinstance(name, str):
        raise ArchitectureError(f"a search space is named by a string such as 'nb201', got {name!r:.40}")
    try:
        return SPACES[name]
    except KeyError:
        raise ArchitectureError(f"unknown search space {name!r}; expected one of {', '.join(SPACES)}") from None


def space_of(arch: Architecture) -> SearchSpace:
    return get_space(arch.space)


__all__ = [
    "SPACES", "Architecture", "ArchitectureError", "NASNET_FULL", "NASNET_WS", "NB201", "RNN",
    "NasnetSpace", "Nb201Space", "RnnSpace", "SearchSpace", "get_space", "register_space", "space_of",
]
