"""A first search shows whether it beat random picking and what to run next: the ``baseline`` section (shipped
fallback, corrupt cache, no match, the child evaluator), the sizing of the next ``nao-tf train``, and the training
time estimate after the first epoch (CNN and language model). The whole default search at toy size, with its
printed next commands run as printed, is in tests/test_ws_search.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nao_tf.cli.main import main
from nao_tf.search.baseline import SHIPPED, baseline_section, recipe_key, search_recipe
from nao_tf.search.config import resolve


def test_default_recipe_falls_back_to_the_shipped_distribution(tmp_path):
    config = resolve(overrides={"--baseline-cache": str(tmp_path / "none.json")})
    shipped = json.loads(SHIPPED.read_text())
    rec = search_recipe(config)
    assert recipe_key(rec) in shipped["recipes"], "refresh the shipped file: python scripts/ship_baseline.py"
    n = sum(len(v) for v in shipped["recipes"][recipe_key(rec)]["seeds"].values())
    high = baseline_section(config, 0.99)
    assert high["available"] and high["n"] == n >= 15 and high["sources"] == ["shipped with nao-tf"]
    assert high["verdict"] == "top quartile" and high["percentile"] == 100.0
    assert baseline_section(config, 0.01)["verdict"] == "below median"
    # the benchmark that fills the cache uses the very same recipe (one definition, in nao_tf.search.baseline)
    from nao_tf.benchmarks.ws_ranking import preset_settings

    assert preset_settings("default")["recipe"] == rec
    # a corrupt cache is reported, never fatal at the end of a search; the shipped data still answers
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    section = baseline_section(resolve(overrides={"--baseline-cache": str(bad)}), 0.7)
    assert section["available"] and "cannot read the stand-alone cache" in section["problems"][0]
    # another recipe and no cache for it: not available, and the command measures exactly that recipe
    other = resolve(overrides={"--rerank-epochs": "3", "--baseline-cache": str(tmp_path / "none.json")})
    section = baseline_section(other, 0.7)
    assert not section["available"] and section["command"] == (
        f"nao-tf benchmark ws-ranking --preset default --standalone-only --set rerank_epochs=3 "
        f"--cache {tmp_path / 'none.json'}")
    # the child evaluator: its own training is the recipe when it trains like the re-ranking
    child = resolve(overrides={"--evaluator": "child", "--child-epochs": "2",
                               "--baseline-cache": str(tmp_path / "none.json")})
    command = baseline_section(child, 0.7)["command"]
    assert command.endswith(f"--set rerank_lr=0.024 --cache {tmp_path / 'none.json'}"), command
    child = resolve(overrides={"--evaluator": "child", "--aux-head": True})
    assert not baseline_section(child, 0.7)["available"]


def test_next_steps_fit_the_machine_and_cifar_gets_the_paper_recipe():
    from types import SimpleNamespace

    from nao_tf.search.next_steps import MAX_EPOCHS, MIN_EPOCHS, STARTUP_SECONDS, _fit, plan_training
    from nao_tf.spaces.nasnet import NASNET_WS

    def cost(n, f):  # seconds per epoch, growing with the network
        return 2.0 * n * f

    # plenty of time: the largest candidate that still trains >= MIN_EPOCHS
    n, f, e = _fit(cost, 1, 8, 600.0)
    assert MIN_EPOCHS <= e <= MAX_EPOCHS and STARTUP_SECONDS + e * cost(n, f) <= 600.0
    assert cost(n, f) == max(cost(a, b) for a in (1, 2) for b in (8, 16, 24, 32)
                             if (600.0 - STARTUP_SECONDS) // cost(a, b) >= MIN_EPOCHS)
    # little time: the measured size, as many epochs as fit, at least one
    assert _fit(cost, 1, 8, STARTUP_SECONDS + 100.0) == (1, 8, 6)
    assert _fit(cost, 1, 8, 10.0) == (1, 8, 1)

    # CIFAR (no CIFAR files here: the search's evaluator and its timings stand in): the paper's recipe
    arch = NASNET_WS.sample(np.random.default_rng(0), 1)[0]
    config = resolve(overrides={"--dataset": "cifar10", "--data-dir": "/data/c 10"})
    data = SimpleNamespace(x_train=np.empty((50000, 1, 1, 3), np.uint8), x_test=np.empty((10000, 1, 1, 3)),
                           num_classes=10)
    evaluator = SimpleNamespace(name="ws", split=SimpleNamespace(data=data), settings=config.evaluator,
                                rerank_layers=1, rerank_channels=8, rerank_epochs=2)
    final = {"integers": arch.integers, "reranked": [{"seconds": 600.0, "params": 60000, "epochs": 2}]}
    plan = plan_training(config, final, SimpleNamespace(space=NASNET_WS, history=[]), evaluator, Path("runs/r"))
    train = plan["train"]
    assert (train["recipe"], train["layers"], train["channels"], train["epochs"]) == ("paper", 6, 36, 600)
    assert train["command"] == ("nao-tf train runs/r/final_arch.json --dataset cifar10 --data-dir '/data/c 10' "
                                "--seed 0 --out runs/r/final")
    assert "needs a GPU" in train["note"] and "on this machine" in train["note"]
    assert train["estimate_seconds"] > 24 * 3600  # 600 epochs of 50,000 images on the machine that took 300 s/epoch


def test_cnn_training_prints_a_time_estimate_after_the_first_epoch(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "NAONet-B", "--layers", "1", "--channels", "4", "--no-aux-head", "--no-augment",
                 "--batch-size", "64", "--steps-per-epoch", "2", "--epochs", "2", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("time estimate:")]
    assert len(lines) == 1 and "epoch 1 took" in lines[0] and "2 epochs take about" in lines[0], err
    assert "for the 1 left" in lines[0] and "later epochs about" in lines[0], lines


def test_time_estimate_paces_the_epochs_left_without_the_first_epochs_tracing():
    from nao_tf.timing import estimate_line

    # measured on a 2-core CPU: epoch 1 took 42 s (21 s of it the first, tracing step), later ones about 19 s;
    # the run's 10 epochs took 3 min 54 s, where the first epoch's pace says 7 min
    line = estimate_line(42.0, 42.0, 1, 10, later_seconds=19.0)
    assert line == ("time estimate: epoch 1 took 42 s (later epochs about 19 s: no tracing); 10 epochs take about "
                    "4 min in all (3 min for the 9 left)")
    assert "7 min in all" in estimate_line(42.0, 42.0, 1, 10)  # without a measured pace: the first epoch's


def test_untraced_epoch_pace_scales_the_steps_after_the_first():
    from nao_tf.timing import untraced_epoch_seconds

    # first step ended at 21 s, the 10th at 40 s, validation until 42 s: 9 steps took 19 s, so 10 take 21.1 s
    assert abs(untraced_epoch_seconds(21.0, 40.0, 10, 42.0) - (19.0 * 10 / 9 + 2.0)) < 1e-9
    assert untraced_epoch_seconds(21.0, 21.0, 1, 22.0) is None  # a single step: no pace without tracing
