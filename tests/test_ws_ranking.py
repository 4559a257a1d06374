"""``nao-tf benchmark ws-ranking``: rank statistics, the stand-alone cache, and the whole benchmark at toy size."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nao_tf.benchmarks.ws_ranking import distribution, kendall_tau, percentile_of, spearman_rho, top_k_overlap

# a toy version of the default preset: tiny data split, 1-step epochs, a few architectures
TOY = ["--set", "valid_size=200", "--set", "eval_images=64", "--set", "channels=4", "--set", "rerank_epochs=1",
       "--set", "child_steps=2", "--set", "warmup_epochs=0.05", "--set", "epochs_per_round=0.05",
       "--set", "initial_pool=3", "--set", "per_round=2", "--set", "budget=5", "--set", "pool_size=4"]


def test_rank_statistics_match_their_definitions():
    a = [0.1, 0.4, 0.3, 0.9, 0.5]
    assert kendall_tau(a, a) == pytest.approx(1.0)
    assert kendall_tau(a, [-v for v in a]) == pytest.approx(-1.0)
    # one discordant pair of 10: (10 - 2 * 1) / 10
    assert kendall_tau([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.8)
    assert spearman_rho([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)
    # ties: tau-b and average ranks
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / np.sqrt(2 * 3))
    assert top_k_overlap([5, 4, 3, 2, 1], [5, 1, 4, 2, 3], 2) == pytest.approx(0.5)
    d = distribution([0.1, 0.2, 0.3, 0.4, 0.5])
    assert (d["median"], d["q1"], d["q3"], d["mean"]) == (0.3, 0.2, 0.4, 0.3)
    assert percentile_of(0.45, [0.1, 0.2, 0.3, 0.4, 0.5]) == 80.0


def test_scipy_agrees_when_available():
    stats = pytest.importorskip("scipy.stats")
    gen = np.random.default_rng(0)
    a, b = gen.normal(size=20), gen.normal(size=20)
    b[3] = b[4]
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b)[0])
    assert spearman_rho(a, b) == pytest.approx(stats.spearmanr(a, b)[0])


def test_ws_ranking_end_to_end_and_cache(cli, tmp_path, monkeypatch):
    cache, out = tmp_path / "standalone.json", tmp_path / "out"
    code, stdout, err = cli("benchmark", "ws-ranking", "--archs", 2, "--cache", cache, "--out", out, "--quiet",
                            *TOY)
    assert code == 0, err
    result = json.loads(stdout)
    assert set(result) == {"benchmark", "settings", "machine", "results"}
    res = result["results"]
    assert -1.0 <= res["ranking"]["kendall_tau"] <= 1.0 and -1.0 <= res["ranking"]["spearman_rho"] <= 1.0
    assert res["random_standalone"]["n"] == 2
    assert res["supernet"]["supernet_steps"] > 0
    rows = res["architectures"]
    assert len(rows) == 2 and all(0.0 <= r["standalone_accuracy"] <= 1.0 for r in rows)
    assert all(0.0 <= r["shared_accuracy"] <= 1.0 for r in rows)
    assert (out / "ws-ranking.png").stat().st_size > 0
    assert json.loads((out / "ws-ranking.json").read_text())["results"]["ranking"] == res["ranking"]
    recipes = json.loads(cache.read_text())["recipes"]
    assert sum(len(v["seeds"]["0"]) for v in recipes.values()) == 2
    # a second run reuses the cache: training anything now would fail
    import nao_tf.children.train_cnn as train_cnn

    def no_training(*args, **kwargs):
        raise AssertionError("a cached architecture was trained again")

    monkeypatch.setattr(train_cnn, "train_child", no_training)
    code, stdout, err = cli("benchmark", "ws-ranking", "--archs", 2, "--cache", cache, "--out", out, "--quiet",
                            "--standalone-only", *TOY)
    assert code == 0, err
    second = json.loads(stdout)["results"]
    assert [r["standalone_accuracy"] for r in second["architectures"]] == [r["standalone_accuracy"] for r in rows]
    assert "ranking" not in second
    # supernet levers (its learning rate, uniform sampling) leave the stand-alone recipe, hence the cache, alone
    code, stdout, err = cli("benchmark", "ws-ranking", "--archs", 2, "--cache", cache, "--out", out, "--quiet",
                            *TOY, "--set", "ws_lr=0.1", "--set", "ws_train_on=uniform")
    assert code == 0, err
    third = json.loads(stdout)
    assert {k: third["settings"]["overrides"][k] for k in ("ws_lr", "ws_train_on")} == {"ws_lr": 0.1,
                                                                                       "ws_train_on": "uniform"}
    assert third["settings"]["standalone_recipe"]["ws_lr"] == 0.025  # the re-ranking's --rerank-lr
    third = third["results"]
    assert [r["standalone_accuracy"] for r in third["architectures"]] == [r["standalone_accuracy"] for r in rows]
    assert -1.0 <= third["ranking"]["kendall_tau"] <= 1.0


def test_uniform_training_draws_fresh_architectures():
    """``train_on='uniform'`` trains a new random architecture each step, ``pool`` only the pool's."""
    import numpy as np

    from nao_tf.search.config import WsConfig
    from nao_tf.search.weight_sharing import WeightSharingEvaluator
    from nao_tf.spaces import get_space

    pool = get_space("nasnet-ws").sample(np.random.default_rng(3), 1)
    seen = {}
    for mode in ("pool", "uniform"):
        ev = WeightSharingEvaluator(WsConfig(valid_size=200, eval_images=64, channels=4, batch_size=16,
                                             warmup_epochs=0.0, epochs_per_round=0.0, train_on=mode))
        trainer = ev.trainer
        archs = []
        # record the drawn architecture instead of running the step (no trace needed to see what is drawn)
        trainer.train_step = lambda x, y, a, p, s, _archs=archs: (_archs.append(tuple(a.numpy())), (0.0, 0.0))[1]
        ev.pool = list(pool)
        ev.train(6)
        seen[mode] = set(archs)
    assert seen["pool"] == {tuple(pool[0].values)}
    assert len(seen["uniform"]) == 6 and tuple(pool[0].values) not in seen["uniform"]


def test_ws_ranking_bad_input_is_one_line(cli, tmp_path):
    code, _, err = cli("benchmark", "ws-ranking", "--set", "no_such_key=1", "--cache", tmp_path / "c.json")
    assert code != 0 and "unknown search setting 'no_such_key'" in err and "Traceback" not in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = cli("benchmark", "ws-ranking", "--cache", bad, *TOY)
    assert code != 0 and "cannot read the stand-alone cache" in err and "Traceback" not in err
    assert bad.read_text() == "{not json"
    code, _, err = cli("benchmark", "ws-ranking", "--preset", "paper-full", "--cache", tmp_path / "c.json")
    assert code != 0 and "weight sharing" in err
