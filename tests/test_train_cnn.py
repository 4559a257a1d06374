"""CNN training: `nao-tf train` / `evaluate` on the embedded Fashion-MNIST sample, resume, NaN handling, bad
input, two-replica MirroredStrategy on logical CPUs, train_child, the coupled-L2 SGD."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import nao_tf  # noqa: F401
from nao_tf.cli.main import main

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from conftest import NAO_TF_CMD  # noqa: E402

from nao_tf.children import train_cnn  # noqa: E402

SMALL = ["--layers", "1", "--channels", "8", "--no-aux-head", "--drop-path-keep", "1", "--dropout-keep", "1",
         "--no-augment", "--batch-size", "64", "--steps-per-epoch", "30", "--quiet"]


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_embedded_sample_trains_resumes_survives_nan_and_evaluates(tmp_path, capsys):
    run = tmp_path / "run"
    # 1 epoch, then a resumed epoch whose huge learning rate makes the loss NaN: exit 2, one line, the
    # epoch-1 checkpoint kept; then a sane resume continues from epoch 1.
    assert main(["train", "NAONet-B", "--epochs", "1", "--lr", "0.05", "--out", str(run), *SMALL]) == 0
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    first = _rows(run)
    assert len(first) == 1
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--lr", "1e30", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "NaN" in err and "epoch 1" in err
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and (run / state["checkpoint"]).is_file()
    assert _rows(run) == first
    assert main(["train", "--resume", str(run), "--epochs", "2", "--lr", "0.05", "--quiet"]) == 0
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[0] == first[0]
    assert not list((run / "checkpoints").glob(".tmp*")) and len(list((run / "checkpoints").iterdir())) == 1
    for name in ("config.json", "model.keras", "curve.png", "summary.json"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("*tfevents*"))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 1000
    assert result["accuracy"] > 0.2, result  # chance is 0.1
    assert main(["evaluate", str(run / "model.keras"), "--json"]) == 0  # the model file alone: same dataset
    assert json.loads(capsys.readouterr().out)["accuracy"] == result["accuracy"]
    # resuming with another architecture: one line, exit 2, nothing written
    before = (run / "state.json").read_text()
    assert main(["train", "NAONet-A", "--resume", str(run), "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "architecture" in err
    assert (run / "state.json").read_text() == before


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    from nao_tf.children.cnn import build_cnn

    config = train_cnn.TrainConfig(arch="NAONet-B", layers=1, channels=4, aux_head=False)
    model = build_cnn("NAONet-WS", layers=1, channels=4, input_shape=(8, 8, 1), aux_head=False)
    model.compile(optimizer=train_cnn.L2SGD(0.1), loss="mse")
    model.save(tmp_path / "ws.keras")
    other = build_cnn(config.arch, layers=1, channels=4, input_shape=(8, 8, 1), aux_head=False)
    other.compile(optimizer=train_cnn.L2SGD(0.1), loss="mse")
    with pytest.raises(nao_tf.NaoError, match="does not fit"):
        train_cnn._load_checkpoint_weights(other, tmp_path / "ws.keras")


@pytest.mark.parametrize("argv, words", [
    (["train", "NAONet-B", "--dataset", "mnist-nope"], "unknown dataset"),
    (["train", "PTB-NAONet-WS-nope"], "cannot tell"),
    (["train", "NAONet-B", "--drop-path-keep", "1.5", "--epochs", "1"], "keep probability"),
    (["train", "--resume", "/nonexistent/run"], "does not exist"),
    (["train"], "give an architecture"),
    (["train", "NAONet-B", "--layers", "zero"], "expected an integer"),
    (["evaluate", "/nonexistent/model.keras"], "neither a run folder"),
])
def test_bad_input_exits_2_with_one_line(argv, words, capsys, tmp_path):
    if "--epochs" in argv:
        argv = [*argv, "--out", str(tmp_path / "r")]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err, err
    assert not (tmp_path / "r").exists()


def test_evaluate_rejects_images_of_the_wrong_shape(tmp_path):
    from nao_tf.children.cnn import build_cnn
    from nao_tf.data.images import ImageData
    from nao_tf.errors import DataError

    model = build_cnn("NAONet-B", layers=1, channels=4, input_shape=(8, 8, 1), num_classes=2)
    x = np.zeros((4, 16, 16, 3), np.uint8)
    data = ImageData("toy", x, np.array([0, 1, 0, 1]), x, np.array([0, 1, 0, 1]), ["a", "b"], 2)
    with pytest.raises(DataError, match="shape"):
        train_cnn.evaluate(model, data)


def test_l2_sgd_matches_pytorch_coupled_weight_decay():
    var = keras.Variable(np.array([1.0, -2.0], "float32"))
    opt = train_cnn.L2SGD(learning_rate=0.1, momentum=0.9, l2=0.5)
    grad = np.array([0.2, 0.4], "float32")
    w, v = np.array([1.0, -2.0]), np.zeros(2)
    for _ in range(3):
        opt.apply_gradients([(tf.constant(grad), var)])
        v = 0.9 * v + (grad + 0.5 * w)  # torch.optim.SGD(momentum=0.9, weight_decay=0.5)
        w = w - 0.1 * v
    np.testing.assert_allclose(var.numpy(), w, rtol=1e-5)


def test_train_child_returns_best_valid_accuracy():
    from nao_tf.data.images import load_images

    data = load_images("embedded")
    out = train_cnn.train_child("NAONet-B", data, epochs=1, layers=1, channels=4, batch_size=32,
                                steps_per_epoch=3, aux_head=True, valid_size=200)
    assert 0.0 <= out["valid_accuracy"] <= 1.0
    assert out["params"] > 0 and out["seconds"] > 0 and len(out["history"]) == 1
    assert out["diverged"] is None


def test_two_replica_mirrored_strategy_on_logical_cpus(tmp_path):
    run = tmp_path / "mirrored"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [*NAO_TF_CMD, "train", "NAONet-B", "--cpu-replicas", "2", "--layers", "1",
         "--channels", "4", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16", "--quiet",
         "--json", "--out", str(run)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["replicas"] == 2
    assert json.loads((run / "config.json").read_text())["replicas"] == 2
    assert (run / "model.keras").is_file()


@pytest.mark.slow
def test_benchmark_child_prints_json(capsys):
    assert main(["benchmark", "child", "--steps", "1", "--eval-steps", "1", "--warmup", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("search_child_train", "search_child_eval", "final_train"):
        assert out["results"][key]["images_per_s"] > 0
    assert out["results"]["final_train"]["params"] == 2_921_302
