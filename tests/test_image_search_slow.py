"""Long image-search checks (``pytest -m slow``): resume after kill -9 at several moments gives the same answer
as an uninterrupted run; memory stays flat over 20 children."""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
import pytest
from conftest import NAO_TF_CMD

TOY = ["--layers", "1", "--channels", "4", "--batch-size", "32", "--valid-size", "200", "--eval-images", "100",
       "--warmup-epochs", "0.03", "--epochs-per-round", "0.02", "--budget", "8", "--initial-pool", "4",
       "--per-round", "2", "--top-k", "4", "--controller-epochs", "3", "--controller-set", "jit_compile=false",
       "--rerank-top", "2", "--rerank-epochs", "1", "--child-steps", "2", "--quiet", "--seed", "3"]
NAO = list(NAO_TF_CMD)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(argv, timeout=1800):
    proc = subprocess.run([*NAO, *argv], env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _kill_when(argv, path, timeout=1800):
    """Start a search and kill -9 it as soon as ``path`` exists; True if it was killed (not finished)."""
    proc = subprocess.Popen([*NAO, *argv], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if path.exists():
                proc.kill()
                proc.wait()
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.05)
        raise AssertionError(f"{path.name} never appeared")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answer(run):
    final = json.loads((run / "final.json").read_text())
    evals = [(tuple(r["arch"]), round(r["score"], 6)) for r in json.loads((run / "evaluations.json").read_text())]
    return final["integers"], evals


@pytest.mark.slow
def test_resume_after_kill_9_matches_uninterrupted_run(tmp_path):
    ref = tmp_path / "ref"
    _run(["search", "--out", str(ref), *TOY])
    expected = _answer(ref)
    # kill: during round 0 (first snapshot written), right after round 1, during the re-ranking
    for i, trigger in enumerate(("supernet-0001.npz", "supernet-0002.json", "rerank.json")):
        run = tmp_path / f"killed{i}"
        killed = _kill_when(["search", "--out", str(run), *TOY], run / trigger)
        assert killed, f"the search finished before {trigger} appeared"
        _run(["search", "--resume", str(run), "--quiet"])
        assert _answer(run) == expected, trigger


@pytest.mark.slow
def test_memory_is_flat_over_20_children(tmp_path):
    from nao_tf.search.child_eval import ChildTrainingEvaluator, memory_over_children
    from nao_tf.spaces.nasnet import NASNET_WS

    # each child in its own process (the default): in-process training keeps ~100 MB per child alive
    evaluator = ChildTrainingEvaluator("nasnet-ws", "embedded", layers=1, channels=4, epochs=1, batch_size=32,
                                       valid_size=100, steps_per_epoch=2, isolate=True)
    archs = NASNET_WS.sample(np.random.default_rng(0), 20)
    report = memory_over_children(evaluator, archs)
    print("memory over 20 children:", json.dumps(report))
    (tmp_path / "memory.json").write_text(json.dumps(report))
    assert report["children"] == 20
    # the search process holds no child: growth stays far below one child's ~100 MB per child in-process
    assert report["growth_after_second_mib"] < 100, report
