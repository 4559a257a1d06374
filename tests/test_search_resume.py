"""Resume equals uninterrupted, for every evaluator (table, ws, child, lm-ws, lm-child), through the Python API:
a search stopped after its second step and resumed writes the same evaluations and the same best as one that
ran straight through, and evaluates nothing twice."""

from __future__ import annotations

import json

import pytest
from test_search import write_table

from nao_tf.search import Callbacks, resolve, resume, run

pytest.importorskip("tensorflow")

TINY_IMAGES = {"--layers": "1", "--channels": "4", "--batch-size": "32", "--valid-size": "100",
               "--dataset": "embedded"}
TINY_LM = {"--lm-hidden": "8", "lm": {"batch_size": 8, "eval_batch_size": 8, "bptt": 10}}
CASES = {
    "table": {},
    "ws": {**TINY_IMAGES, "--eval-images": "50", "--warmup-epochs": "0.01", "--epochs-per-round": "0.01",
           "--rerank-top": "0", "--pool-size": "2"},
    "child": {**TINY_IMAGES, "--child-steps": "1", "evaluator": {"isolate": False}},
    "lm-ws": {"--lm-ws-steps": "3", **TINY_LM},
    "lm-child": {"--lm-child-steps": "2", **TINY_LM},
}


class _Stop(Exception):
    pass


class _StopAfter(Callbacks):
    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_step(self, info):
        if info.step + 1 == self.steps:
            raise _Stop


def _config(kind, out, table):
    overrides = dict(CASES[kind])
    lm = overrides.pop("lm", {})
    evaluator = overrides.pop("evaluator", {})
    tree = {**overrides, "--evaluator": kind, "--method": "re", "--population": "2", "--sample-size": "2",
            "--budget": "4", "--seed": "1", "--out": str(out), "evaluator": {**lm, **evaluator}}
    if kind == "table":
        tree["--table"] = str(table)
    return resolve(overrides=tree)


def _answer(run_dir):
    records = json.loads((run_dir / "evaluations.json").read_text())
    best = json.loads((run_dir / "best.json").read_text())
    return [(r["arch"], round(r["score"], 5), r["step"], r["source"]) for r in records], best["architecture"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_table(tmp_path_factory.mktemp("nb201") / "nb201.csv")


@pytest.mark.parametrize("kind", list(CASES))
def test_resume_equals_uninterrupted(tmp_path, table, kind):
    full = run(_config(kind, tmp_path / "full", table))
    assert len(full.history) == 4
    part = tmp_path / "part"
    with pytest.raises(_Stop):
        run(_config(kind, part, table), _StopAfter(2))
    assert len(json.loads((part / "evaluations.json").read_text())) == 2
    resumed = resume(part)
    assert _answer(part) == _answer(tmp_path / "full")
    assert [e.score for e in resumed.history] == pytest.approx([e.score for e in full.history], rel=1e-5)
