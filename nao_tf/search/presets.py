"""Search presets: partial configuration trees (``nao_tf.search.config``), data only.

A preset only states what differs from the tree's defaults (which live in ``nao_tf.search.config`` and, for
the controller, ``nao_tf.controller.config``). Precedence: preset < ``--config`` file < flags.

- ``default``: what a bare ``nao-tf search`` runs. NAO-WS on the embedded Fashion-MNIST sample at a CPU size:
  a supernet N=1, F=8 trained on uniformly drawn architectures (lr 0.1, 4 epochs, then 1 per round), 30 initial
  architectures, 15 per round, budget 75, 150 controller epochs per round, the best 3 re-ranked by 2 epochs of
  stand-alone training. Also the base of ``--evaluator child`` searches.
- ``paper-ws``: NAO-WS on CIFAR-10 at the paper's size (supernet N=3, F=20, 600 initial architectures, 300
  per round from the top 100, 1000 controller epochs, supernet trained 30 epochs per round, the top 5
  re-ranked by 10 epochs of stand-alone training).
- ``paper-full``: full NAO on CIFAR-10 (each child N=3, F=32, 25 epochs, batch 128, cosine lr 0.024,
  drop-path keep 0.7, auxiliary head, 45k/5k split; 600 initial, 300 new per round from the top 100).
- ``nb201``: NAO on a NAS-Bench-201 table (the ``table`` evaluator's own preset): 20 initial, rounds of
  max(10, 15% of the evaluated), a fixed 150 controller steps per round (lr 3e-3) so that a 300-query search
  takes seconds; top-k 5 (nao), 5,000 pseudo-labels with top-k 10 and candidates factor 2 (seminas) and
  regularized evolution population 10, sample 10, each chosen on the cifar10-val column with tuning seeds
  10000-10004, disjoint from the reported ones (``nao-tf benchmark nb201 --tune``; docs/nb201.md).

A preset may hold ``for_method``: ``{method name: partial tree}``, merged into the preset when that method is
the one the search runs (methods that share a section, like ``seminas`` and ``nao``, can have their own tuned
values there); a config file and flags still override it.
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
        # a supernet that trains a fresh random architecture every step, at lr 0.1, 4 + 3 x 1 epochs: measured
        # with ws-ranking and five searches (docs/weight-sharing.md), its NAO rounds beat the random round
        "evaluator": {"kind": "ws", "warmup_epochs": 4.0, "epochs_per_round": 1.0, "pool_size": 30,
                      "train_on": "uniform", "lr": 0.1},
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
        # tuned by `nao-tf benchmark nb201 --tune --tune-seeds 5` (docs/nb201.md): best mean cifar10-val found
        # at Q = 100 and 300 on seeds 10000-10004, over top-k x candidates factor in {5, 10, 20} x {1, 2, 4}
        # (nao), pseudo-labels x candidates factor in {200, 1000, 5000} x {1, 2, 4} (seminas, at top-k 10) and
        # population x sample in {10, 20, 50} x {3, 5, 10} (re)
        "method": {"nao": {"initial_pool": 20, "per_round": 10, "round_fraction": 0.15, "top_k": 5,
                           "candidates_factor": 1.0},
                   "seminas": {"pseudo_labels": 5000},
                   "re": {"population": 10, "sample_size": 10}},
        "controller": {"steps": 150, "learning_rate": 3e-3, "l2_reg": 1e-4, "mlp_dropout": 0.0},
        "evaluator": {"kind": "table"},
        # SemiNAS generates from the nao section too; its own tuned values apply when it is the method
        "for_method": {"seminas": {"method": {"nao": {"top_k": 10, "candidates_factor": 2.0}}}},
    },
}


def get_preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name`` (a partial configuration tree)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
