"""Published NAO cells (docs/method.md section 8), addressable by name wherever an architecture is accepted."""

from __future__ import annotations

from dataclasses import dataclass

from nao_tf.errors import ArchitectureError
from nao_tf.spaces import Architecture, get_space
from nao_tf.spaces.rnn import WS_ACT_TO_ID


@dataclass(frozen=True)
class ZooEntry:
    name: str
    space: str
    integers: str
    source: str

    @property
    def arch(self) -> Architecture:
        return get_space(self.space).parse_integers(self.integers)


def _ws_rnn(integers: str) -> str:
    """Rewrite a cell written with the NAO-WS activation ids into ours (see ``spaces.rnn``)."""
    vals = [int(v) for v in integers.split()]
    return " ".join(str(WS_ACT_TO_ID[v] if i % 2 else v) for i, v in enumerate(vals))


ZOO: dict[str, ZooEntry] = {
    e.name.lower(): e
    for e in (
        ZooEntry("NAONet-A", "nasnet-full",
                 "0 7 1 15 2 8 1 7 0 6 1 7 0 8 4 7 1 5 0 7  0 7 1 13 0 6 0 14 0 9 1 10 0 14 2 6 1 11 0 7",
                 "full NAO on CIFAR-10 (PyTorch code); 2.48% test error at F=36, 1.93% at F=128"),
        ZooEntry("NAONet-B", "nasnet-ws",
                 "0 1 0 2 0 1 2 2 1 3 0 2 4 0 1 3 2 1 0 3  1 1 1 0 2 1 2 4 1 0 2 3 3 1 2 2 0 2 0 2",
                 "NAO-WS on CIFAR-10 (PyTorch code); 2.93% test error at F=36 with cutout"),
        ZooEntry("NAONet-WS", "nasnet-ws",
                 "0 1 0 4 2 2 1 3 1 0 2 0 2 3 1 3 1 2 0 4  1 1 0 3 2 3 2 3 1 0 0 1 0 4 2 4 2 3 2 3",
                 "NAO-WS on CIFAR-10 (TF code); 3.53% test error, 2.5M params"),
        ZooEntry("PTB-NAONet", "rnn", "0 1 0 1 1 1 3 0 4 1 4 1 5 1 1 1 7 1 1 1 1 2",
                 "full NAO on PTB; 56.0 test perplexity, 67.0 on WikiText-2"),
        ZooEntry("PTB-NAONet-WS", "rnn", _ws_rnn("0 1 1 1 2 2 1 2 4 1 4 1 4 1 7 1 8 2 1 0 4 1"),
                 "NAO-WS on PTB; 56.6 test perplexity (activation ids converted from the NAO-WS code)"),
    )
}


def zoo_names() -> list[str]:
    return [e.name for e in ZOO.values()]


def get(name: str) -> ZooEntry:
    """A published cell by (case-insensitive) name; ``PTB NAONet`` and ``ptb_naonet`` also work."""
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    if key not in ZOO:
        raise ArchitectureError(f"unknown published cell {name!r}; expected one of {', '.join(zoo_names())}")
    return ZOO[key]


def is_zoo_name(text: str) -> bool:
    return text.strip().lower().replace(" ", "-").replace("_", "-") in ZOO
