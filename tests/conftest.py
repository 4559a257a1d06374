"""Shared test fixtures: the CLI run in-process, and the shared NAS-Bench-201 table when it exists."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
# The installed console script. Not ``python -m nao_tf.cli.main``: run from the repository root, that would import
# the source folder ``nao_tf/`` (which has no ``cli`` inside; it is mapped at install time) instead of the package.
NAO_TF_CMD = [str(Path(sys.executable).parent / "nao-tf")]
if not Path(NAO_TF_CMD[0]).exists():
    NAO_TF_CMD = [shutil.which("nao-tf") or "nao-tf"]

SHARED_NB201 = REPO.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv.gz"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto`` (pyproject's addopts): one per core, at most 4. Most tests keep about one core
    busy (Python, small TensorFlow graphs), so two workers on two cores nearly halve the suite's time; each
    worker holds its own TensorFlow (1-2 GB), hence the cap."""
    return max(1, min(4, os.cpu_count() or 1))


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
