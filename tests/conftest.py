"""Shared test fixtures: the CLI run in-process, and the shared NAS-Bench-201 table when it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_NB201 = REPO.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv.gz"


@pytest.fixture
def cli(capsys):
    """Run ``nao-tf ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from nao_tf.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 2
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def nb201_table() -> Path | None:
    return SHARED_NB201 if SHARED_NB201.exists() else None
