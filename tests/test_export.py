"""nao-tf export: verified SavedModel + ONNX of real nao-tf CNNs (both op sets, training models with drop-path
and an auxiliary head) and of a language model; saved_model_cli, metadata round trip, refusal and failure paths.

Tiny networks (16x16 images, N=1, F=4; an LM with hidden 8) keep the file fast on two cores.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import NAO_TF_CMD

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

TOL = 1e-4
SHAPE = (16, 16, 3)
MEAN, STD = [125.3, 123.0, 113.9], [63.0, 62.1, 66.7]


def _scaled_diff(reference: np.ndarray, got: np.ndarray) -> float:
    reference = np.asarray(reference, np.float64)
    return float(np.max(np.abs(reference - np.asarray(got, np.float64))) / max(1.0, np.max(np.abs(reference))))


def _save_cnn(folder: Path, arch: str, with_config: bool = True) -> Path:
    """A real nao-tf training model (aux head, drop-path, dropout) saved as a .keras file."""
    from nao_tf.children.cnn import build_cnn, drop_path_layers

    model = build_cnn(arch, layers=1, channels=4, num_classes=10, input_shape=SHAPE, aux_head=True,
                      drop_path_keep=0.8, dropout_keep=0.7, mean=MEAN, std=STD, total_steps=10)
    assert drop_path_layers(model) and len(model.outputs) == 2  # what a training model has
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.keras"
    model.save(path)
    if with_config:  # what 'nao-tf train' writes beside model.keras (the architecture is not in the model)
        from nao_tf import resolve

        parsed = resolve(arch)
        (folder / "config.json").write_text(json.dumps({
            "kind": "nao-tf-cnn-train", "config": {"arch": arch, "dataset": "cifar10"},
            "architecture": parsed.integers, "space": parsed.space}))
    return path


@pytest.fixture(scope="module")
def cnn_exports(tmp_path_factory):
    """Both op sets exported through the CLI: {op set: (model file, version folder, stdout)}."""
    from nao_tf.cli.main import main

    root = tmp_path_factory.mktemp("export")
    result = {}
    for key, arch in (("ws", "NAONet-B"), ("full", "NAONet-A")):
        model_file = _save_cnn(root / f"model_{key}", arch)
        out = root / "out"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            formats = "savedmodel,onnx" if key == "ws" else "savedmodel,onnx,tflite"
            code = main(["export", str(model_file), "--out", str(out), "--name", key, "--format", formats])
        assert code == 0, buf.getvalue()
        result[key] = (model_file, out / key / "1", buf.getvalue())
    return result


@pytest.mark.parametrize("key", ["ws", "full"])
def test_cnn_export_layout_and_report(cnn_exports, key):
    _, folder, stdout = cnn_exports[key]
    for name in ("saved_model.pb", "variables", "model.onnx", "nao_tf_export.json", "verification.json"):
        assert (folder / name).exists(), name
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left
    report = json.loads((folder / "verification.json").read_text())
    expected = {"savedmodel", "onnxruntime"} | ({"tflite"} if key == "full" else set())
    assert report["passed"] and set(report["formats"]) == expected
    assert (folder / "model.tflite").exists() == (key == "full")
    for fmt in report["formats"].values():
        assert fmt["scaled_diff"] <= TOL
        assert fmt["outputs"]["probabilities"] <= TOL
    assert "max |diff|" in stdout and "verification.json" in stdout


@pytest.mark.parametrize("key", ["ws", "full"])
def test_cnn_parity_onnxruntime_and_savedmodel(cnn_exports, key):
    """Independent of the command's own report: a new batch through ORT, the reloaded SavedModel and Keras."""
    import keras
    import onnxruntime as ort
    import tensorflow as tf

    from nao_tf.children.cnn import inference_model

    model_file, folder, _ = cnn_exports[key]
    images = np.random.default_rng(42).integers(0, 256, size=(3, *SHAPE), dtype=np.uint8)
    net = inference_model(keras.saving.load_model(model_file, compile=False))
    logits = net(images.astype(np.float32), training=False).numpy()
    probs = tf.nn.softmax(logits).numpy()

    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert session.get_inputs()[0].type == "tensor(uint8)"
    assert session.get_inputs()[0].shape == ["batch", *SHAPE]
    assert {o.name for o in session.get_outputs()} == {"logits", "probabilities"}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": images}), strict=True))
    assert _scaled_diff(logits, got["logits"]) <= TOL
    assert np.max(np.abs(probs - got["probabilities"])) <= TOL

    serving = tf.saved_model.load(str(folder)).signatures["serving_default"]
    sm = serving(images=tf.constant(images))
    assert _scaled_diff(logits, sm["logits"].numpy()) <= TOL
    assert np.max(np.abs(probs - sm["probabilities"].numpy())) <= TOL
    one = serving(images=tf.constant(images[:1]))  # dynamic batch
    assert one["logits"].shape == (1, 10)

    if key == "full":  # exported with tflite too
        from nao_tf.export.tflite import TfliteRunner

        lite = TfliteRunner(folder / "model.tflite")
        for batch in (images, images[:1]):
            out = lite({"images": batch})
            ref = net(batch.astype(np.float32), training=False).numpy()
            assert _scaled_diff(ref, out["logits"]) <= TOL


def test_onnx_opset_and_metadata_round_trip(cnn_exports):
    import onnx

    from nao_tf import resolve
    from nao_tf.export.metadata import read_marker
    from nao_tf.export.onnx_export import read_onnx_metadata

    _, folder, _ = cnn_exports["full"]
    model = onnx.load(str(folder / "model.onnx"))
    assert any(op.domain in ("", "ai.onnx") and op.version == 17 for op in model.opset_import)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["architecture"] == resolve("NAONet-A").integers
    assert json.loads(props["normalization"])["mean"] == pytest.approx(MEAN)
    assert json.loads(props["normalization"])["std"] == pytest.approx(STD)
    assert props["dataset"] == "cifar10"
    assert json.loads(props["class_names"])[:2] == ["airplane", "automobile"]
    meta = read_onnx_metadata(folder / "model.onnx")
    assert meta == read_marker(folder)["metadata"]  # same dictionary in the ONNX file and the marker
    sm_meta = json.loads((folder / "assets.extra" / "nao_tf_metadata.json").read_text())
    assert sm_meta == meta
    assert meta["space"] == "nasnet-full" and meta["input_shape"] == list(SHAPE)


def test_saved_model_cli_show_and_run(cnn_exports, tmp_path):
    _, folder, _ = cnn_exports["ws"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    shown = subprocess.run(["saved_model_cli", "show", "--dir", str(folder), "--tag_set", "serve",
                            "--signature_def", "serving_default"], capture_output=True, text=True, env=env,
                           timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "inputs['images']" in shown.stdout and "DT_UINT8" in shown.stdout
    assert "(-1, 16, 16, 3)" in shown.stdout
    assert "outputs['probabilities']" in shown.stdout and "outputs['logits']" in shown.stdout


def test_run_folder_metadata_from_config(tmp_path, cli):
    """A run-folder-like layout: checkpoint of the training model, config.json of 'nao-tf train' one level up."""
    from nao_tf import resolve

    run = tmp_path / "run"
    ckpt = _save_cnn(run / "checkpoints", "NAONet-B", with_config=False)
    ckpt = ckpt.rename(run / "checkpoints" / "epoch-0001.keras")
    (run / "model.keras").write_bytes(ckpt.read_bytes())
    (run / "config.json").write_text(json.dumps({
        "kind": "nao-tf-cnn-train", "config": {"arch": "NAONet-B", "dataset": "cifar10"},
        "architecture": resolve("NAONet-B").integers, "space": "nasnet-ws"}))
    code, out, err = cli("export", ckpt, "--format", "onnx", "--out", tmp_path / "out", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "epoch-0001" and result["formats"] == ["onnx"]
    meta = result["metadata"]
    assert meta["dataset"] == "cifar10" and meta["class_names"][0] == "airplane"
    assert meta["architecture"] == resolve("NAONet-B").integers
    folder = Path(result["path"])
    assert (folder / "model.onnx").exists() and not (folder / "saved_model.pb").exists()


def test_force_replaces_only_nao_tf_exports(cnn_exports, cli, tmp_path):
    model_file, folder, _ = cnn_exports["ws"]
    out = tmp_path / "out"
    shutil.copytree(folder, out / "m" / "1")  # an earlier export of this model
    (out / "m" / "1" / "verification.json").write_text("{}")
    code, _, err = cli("export", model_file, "--format", "onnx", "--out", out, "--name", "m")
    assert code == 2 and "already exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert (out / "m" / "1" / "verification.json").read_text() == "{}"  # untouched
    assert cli("export", model_file, "--format", "onnx", "--out", out, "--name", "m", "--force")[0] == 0
    replaced = out / "m" / "1"
    assert json.loads((replaced / "verification.json").read_text())["passed"]
    assert not (replaced / "saved_model.pb").exists()  # the old export was replaced, not merged

    foreign = out / "m" / "2"
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("not ours")
    code, _, err = cli("export", model_file, "--format", "onnx", "--out", out, "--name", "m", "--version", "2",
                       "--force")
    assert code == 2 and "not written by 'nao-tf export'" in err
    assert (foreign / "precious.txt").read_text() == "not ours"


def test_failed_verification_deletes_partial_export(cnn_exports, cli, tmp_path, monkeypatch):
    from nao_tf.export import onnx_export

    real_call = onnx_export.OnnxRunner.__call__

    def skewed(self, inputs):
        out = real_call(self, inputs)
        out["logits"] = out["logits"] * 1.001  # a converter bug the verification must catch
        return out

    monkeypatch.setattr(onnx_export.OnnxRunner, "__call__", skewed)
    model_file, _, _ = cnn_exports["ws"]
    out = tmp_path / "new_out"
    code, stdout, err = cli("export", model_file, "--format", "onnx", "--out", out, "--name", "bad")
    assert code == 1
    assert "verification failed" in err and "onnxruntime" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # the partial export, and the folders this call created, are gone


def test_lm_export_parity(tmp_path, cli):
    import onnxruntime as ort
    import tensorflow as tf

    from nao_tf import resolve
    from nao_tf.children.lm import build_lm

    run = tmp_path / "lm_run"
    run.mkdir()
    model = build_lm(resolve("PTB-NAONet"), 40, hidden=8, seed=0)
    model.save(run / "model.keras")
    (run / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(40)))
    (run / "config.json").write_text(json.dumps({"kind": "lm", "space": "rnn",
                                                 "architecture": resolve("PTB-NAONet").integers,
                                                 "corpus": {"dataset": "embedded", "vocab_size": 40}}))
    code, out, err = cli("export", run, "--out", tmp_path / "out")
    assert code == 0, err
    folder = tmp_path / "out" / "lm_run" / "1"
    report = json.loads((folder / "verification.json").read_text())
    assert report["passed"] and report["max_abs_diff"] <= TOL
    assert (folder / "vocab.txt").read_text().startswith("w0\n")

    rng = np.random.default_rng(3)
    for batch, time in ((2, 5), (1, 9)):  # dynamic batch and time
        tokens = rng.integers(0, 40, size=(batch, time), dtype=np.int32)
        state = np.tanh(rng.standard_normal((batch, 8))).astype(np.float32)
        logits, new_state = (t.numpy() for t in model.step(tokens, state))
        session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["tokens", "state"]
        assert session.get_inputs()[0].shape == ["batch", "time"]
        got = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {"tokens": tokens, "state": state}), strict=True))
        assert np.max(np.abs(got["logits"] - logits)) <= TOL
        assert np.max(np.abs(got["new_state"] - new_state)) <= TOL
        sm = tf.saved_model.load(str(folder)).signatures["serving_default"]
        res = sm(tokens=tf.constant(tokens), state=tf.constant(state))
        assert np.max(np.abs(res["logits"].numpy() - logits)) <= TOL
        assert np.max(np.abs(res["new_state"].numpy() - new_state)) <= TOL


def test_bad_inputs_one_line_exit_2(cli, tmp_path):
    import keras

    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(plain)
    junk = tmp_path / "junk.keras"
    junk.write_text("junk")
    cases = [
        (("export", plain, "--out", tmp_path / "o"), "not a nao-tf model"),
        (("export", junk, "--out", tmp_path / "o"), "not a nao-tf model"),
        (("export", tmp_path / "missing", "--out", tmp_path / "o"), "no such file"),
        (("export", tmp_path, "--out", tmp_path / "o"), "no model.keras"),
        (("export", plain, "--format", "onnx,pdf"), "unknown export format 'pdf'"),
        (("export", plain, "--version", "0", "--name", "x"), "positive integer"),
        (("export", plain, "--opset", "5", "--name", "x"), "opset 5"),
    ]
    for args, expected in cases:
        code, out, err = cli(*args)
        assert code == 2, (args, err)
        assert expected in err and err.startswith("nao-tf: error:") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_bad_model_subprocess_prints_one_line(tmp_path):
    """Through the real console script: nothing but the one error line on stderr."""
    junk = tmp_path / "junk.keras"
    junk.write_text("junk")
    proc = subprocess.run([*NAO_TF_CMD, "export", str(junk), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"nao-tf: error: {junk}: not a nao-tf model (not a Keras .keras "
                                                "archive)"]


def test_mixed_precision_model_exports_in_float32(tmp_path, cli):
    """float16 rounding differs between eager Keras and graph runtimes by far more than 1e-4: a model trained
    with mixed precision is exported (and verified) in float32, with its own weights."""
    import keras
    import onnxruntime as ort

    from nao_tf.children.cnn import build_cnn

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_cnn("NAONet-B", layers=1, channels=4, input_shape=SHAPE, aux_head=True, drop_path_keep=0.8,
                          mean=MEAN, std=STD)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(tmp_path / "mixed.keras")
    code, out, err = cli("export", tmp_path / "mixed.keras", "--format", "onnx", "--out", tmp_path / "out",
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["metadata"]["precision"] == "float32 (trained with mixed_float16)"
    images = np.random.default_rng(5).integers(0, 256, size=(2, *SHAPE), dtype=np.uint8)
    session = ort.InferenceSession(str(Path(result["path"]) / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"images": images})[0]
    original = np.asarray(model(images.astype(np.float32), training=False)[0], np.float32)
    assert _scaled_diff(original, logits) <= 2e-2  # the same weights: only float16 rounding apart
