"""RNN-space search: child-training and weight-sharing evaluators (perplexity, mode min)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import nao_tf  # noqa: E402
from nao_tf.search.config import LmChildConfig, LmWsConfig  # noqa: E402
from nao_tf.search.lm_eval import LmChildEvaluator, LmSharedEvaluator  # noqa: E402
from nao_tf.seeding import rng  # noqa: E402
from nao_tf.spaces.rnn import RNN  # noqa: E402

SMALL = {"hidden": 16, "batch_size": 16, "eval_batch_size": 16, "bptt": 20}


def test_weight_sharing_one_compiled_step_for_all_archs(tmp_path):
    ev = LmSharedEvaluator(LmWsConfig(train_steps=30, **SMALL), seed=0)
    assert ev.mode == "min" and ev.space is RNN
    archs = RNN.sample(rng(1), 4)
    ev.begin_round(0, archs)
    first = ev.evaluate(archs)
    assert [e.arch for e in first] == archs
    scores = [e.score for e in first]
    assert all(math.isfinite(s) and 1 < s < len(ev.corpus.vocab) for s in scores)
    assert len(set(scores)) == len(scores)  # the architecture tensor changes the network
    assert ev.trainer.train_step.experimental_get_tracing_count() == 1
    assert ev.trainer.eval_step.experimental_get_tracing_count() == 1
    assert ev.better(min(scores), max(scores))

    state = ev.get_state()
    ev.begin_round(1, archs[:2])
    later = ev.evaluate(archs[:2])
    after = [e.score for e in later]
    assert later[0].metadata["supernet_steps"] == 60 and after[0] != scores[0]  # the shared weights trained on

    fresh = LmSharedEvaluator(LmWsConfig(train_steps=30, **SMALL), seed=0)
    fresh.set_state(state)
    np.testing.assert_allclose([e.score for e in fresh.evaluate(archs)], scores, rtol=1e-5)
    assert fresh.pool == archs
    fresh.begin_round(1, archs[:2])
    np.testing.assert_allclose([e.score for e in fresh.evaluate(archs[:2])], after, rtol=1e-5)


def test_child_training_evaluator_scores_validation_perplexity():
    ev = LmChildEvaluator(LmChildConfig(max_steps=25, **SMALL), seed=0)
    arch = nao_tf.resolve("PTB-NAONet")
    (res,) = ev.evaluate([arch])
    assert res.metadata["steps"] == 25 and not res.metadata["diverged"]
    assert res.score == pytest.approx(res.metadata["valid_ppl"])
    assert 1 < res.score < len(ev.corpus.vocab)
    assert ev.config()["mode"] == "min" and ev.config()["child"]["hidden"] == 16


def test_toy_nao_search_over_rnn_cells_minimizes_perplexity(tmp_path):
    from nao_tf.search.config import NaoConfig
    from nao_tf.search.loop import Search
    from nao_tf.search.nao import NaoMethod

    settings = NaoConfig(initial_pool=4, per_round=2, top_k=4)
    controller = {"epochs": 10, "hidden_size": 16, "embedding_size": 8, "mlp_hidden": 16, "batch_size": 4,
                  "jit_compile": False}
    evaluator = LmSharedEvaluator(LmWsConfig(train_steps=10, **SMALL), seed=0)
    search = Search(NaoMethod(settings, controller), evaluator, budget=6, seed=0, run_dir=tmp_path / "search")
    result = search.run()
    scores = [e.score for e in result.history]
    assert len(scores) == 6 and len({e.arch for e in result.history}) == 6
    assert all(e.arch.space == "rnn" for e in result.history)
    assert result.best.score == min(scores)  # perplexity: lower is better
    assert result.best_so_far[-1] == min(scores)
    assert (tmp_path / "search" / f"{LmSharedEvaluator.state_prefix}-0002.npz").is_file()
    assert evaluator.total_steps == 20  # two rounds of shared training
    # round 1 scored the round-0 cells again with the newer weights; the controller learns from those scores
    first = result.history[:4]
    assert all(evaluator.current_score(e) == pytest.approx(evaluator.score(e.arch), rel=1e-4) for e in first)
    assert any(evaluator.current_score(e) != e.score for e in first)
    rescored = result.report["rescored_with_final_weights"]
    assert len(rescored) == 5 and rescored[0]["valid_ppl"] <= rescored[-1]["valid_ppl"]
    assert rescored[0]["valid_ppl"] == pytest.approx(evaluator.score(RNN.parse_integers(rescored[0]["integers"])),
                                                     rel=1e-4)


def test_rnn_search_cli_end_to_end_and_resume(cli, tmp_path):
    run = tmp_path / "s"
    toy = ("--lm-hidden", "16", "--lm-ws-steps", "5", "--controller-epochs", "5", "--controller-set",
           "jit_compile=false")
    code, out, err = cli("search", "--space", "rnn", "--budget", "5", "--initial-pool", "4", "--per-round", "1",
                         "--top-k", "4", "--out", run, *toy)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["space"] == "rnn" and summary["queries"] == 5
    config = json.loads((run / "config.json").read_text())
    assert config["evaluator"]["kind"] == "lm-ws"
    assert json.loads((run / "best.json").read_text())["metric_mode"] == "min"
    best = summary["best"]
    assert best["score"] == pytest.approx(best["metadata"]["valid_ppl"])
    assert RNN.parse_integers(best["integers"]).space == "rnn"

    code, out, err = cli("search", "--resume", run, "--budget", "6")
    assert code == 0, err
    assert json.loads(out)["queries"] == 6
    snapshot = sorted(run.glob(f"{LmSharedEvaluator.state_prefix}-*.json"))[-1]
    assert json.loads(snapshot.read_text())["total_steps"] == 15

    code, _, err = cli("search", "--space", "nb201", "--evaluator", "lm-child", "--budget", "2",
                       "--out", tmp_path / "bad")
    assert code == 2 and "--space rnn" in err
