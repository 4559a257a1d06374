"""Search presets: partial configuration trees (``nao_tf.search.config``), data only.

A preset only states what differs from the tree's defaults (which live in ``nao_tf.search.config`` and, for
the controller, ``nao_tf.controller.config``). Precedence: preset < ``--config`` file < flags.

- ``default``: what a bare ``nao-tf search`` runs. NAO-WS on the embedded Fashion-MNIST sample at a CPU size:
  a supernet N=1, F=8, 30 initial architectures, 15 per round, budget 75, 150 controller epochs per round,
  the best 3 re-ranked by 2 epochs of stand-alone training. Also the base of ``--evaluator child`` searches.
- ``paper-ws``: NAO-WS on CIFAR-10 at the paper's size (supernet N=3, F=20, 600 initial architectures, 300
  per round from the top 100, 1000 controller epochs, supernet trained 30 epochs per round, the top 5
  re-ranked by 10 epochs of stand-alone training).
- ``paper-full``: full NAO on CIFAR-10 (each child N=3, F=32, 25 epochs, batch 128, cosine lr 0.024,
  drop-path keep 0.7, auxiliary head, 45k/5k split; 600 initial, 300 new per round from the top 100).
- ``nb201``: NAO on a NAS-Bench-201 table (the ``table`` evaluator's own preset), tuned on the cifar10-val
  column with seeds 100-107 (the benchmark reports seeds 0-29): 20 initial, rounds of max(10, 15% of the
  evaluated) from the top 10, a fixed 150 controller steps per round (lr 3e-3) so that a 300-query search
  takes a few CPU-minutes; regularized evolution population 20, sample 5, tuned on cifar10-val with tuning
  seeds 10000-10009 (``nao-tf benchmark nb201 --tune``; docs/nb201.md).
"""

from __future__ import annotations

import copy
from typing import Any

from nao_tf.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "space": "nasnet-ws", "budget": 75,
        "method": {"nao": {"initial_pool": 30, "per_round": 15, "top_k": 15}},
        # a few hundred controller steps: compiling them with XLA costs more than it saves on a CPU
        "controller": {"epochs": 150, "jit_compile": False},
        "evaluator": {"kind": "ws", "epochs_per_round": 0.5, "pool_size": 30},
    },
    "paper-ws": {
        "space": "nasnet-ws", "budget": 1800, "data": {"dataset": "cifar10"},
        "method": {"nao": {"initial_pool": 600, "per_round": 300, "top_k": 100}},
        "controller": {"epochs": 1000},
        "evaluator": {"kind": "ws", "layers": 3, "channels": 20, "valid_size": 5000, "warmup_epochs": 30.0,
                      "epochs_per_round": 30.0, "pool_size": 600, "rerank_top": 5, "rerank_epochs": 10,
                      "rerank_layers": 3, "rerank_channels": 20},
    },
    "paper-full": {
        "space": "nasnet-full", "budget": 1500, "data": {"dataset": "cifar10"},
        "method": {"nao": {"initial_pool": 600, "per_round": 300, "top_k": 100}},
        "controller": {"epochs": 1000},
        "evaluator": {"kind": "child", "layers": 3, "channels": 32, "epochs": 25, "batch_size": 128,
                      "drop_path_keep": 0.7, "aux_head": True, "valid_size": 5000},
    },
    "nb201": {
        "space": "nb201",
        "method": {"nao": {"initial_pool": 20, "per_round": 10, "round_fraction": 0.15, "top_k": 10},
                   # tuned on cifar10-val, seeds 10000-10009 (docs/nb201.md): population x sample in
                   # {10, 20, 50} x {3, 5, 10}, best mean validation accuracy at Q = 100 and 300
                   "re": {"population": 20, "sample_size": 5}},
        "controller": {"steps": 150, "learning_rate": 3e-3, "l2_reg": 1e-4, "mlp_dropout": 0.0},
        "evaluator": {"kind": "table"},
    },
}


def get_preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name`` (a partial configuration tree)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
