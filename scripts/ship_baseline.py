#!/usr/bin/env python
"""Refresh the random-architecture baseline shipped with nao-tf (``nao_tf/search/baselines/standalone.json``).

A search compares its winner with the stand-alone accuracies of random architectures trained with the same
recipe. Users who never ran ``nao-tf benchmark ws-ranking`` get the distribution shipped in the package for
the ``default`` preset's recipe. To refresh it after the benchmark measured more architectures (or after the
default recipe changed, which changes its key):

    nao-tf benchmark ws-ranking --preset default --standalone-only --archs 24   # fills runs/ws-ranking/standalone.json
    python scripts/ship_baseline.py [runs/ws-ranking/standalone.json]

Only the entries of the shipped presets' recipes are copied (``nao_tf.search.baseline.ship``).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nao_tf.search.baseline import SHIPPED, ship  # noqa: E402
from nao_tf.search.config import STANDALONE_CACHE  # noqa: E402

if __name__ == "__main__":
    cache = sys.argv[1] if len(sys.argv) > 1 else str(REPO / STANDALONE_CACHE)
    counts = ship(cache)
    print(f"{SHIPPED.relative_to(REPO)}: " + ", ".join(f"{p}: {n} architectures" for p, n in counts.items()))
