"""nao-tf predict: PNG/JPEG files through an export on ONNX Runtime and on the SavedModel, top-5 classes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

SHAPE = (8, 8, 3)
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(export root, Keras inference model) for a tiny NAONet-B on 8x8 RGB images, labelled as CIFAR-10."""
    import keras

    from nao_tf import resolve
    from nao_tf.children.cnn import build_cnn, inference_model
    from nao_tf.export.exporter import export_model

    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("predict")
    run = root / "run"
    run.mkdir()
    model = build_cnn("NAONet-B", layers=1, channels=4, num_classes=10, input_shape=SHAPE, aux_head=True,
                      drop_path_keep=0.8, mean=[120.0, 120.0, 110.0], std=[60.0, 60.0, 65.0])
    model.save(run / "model.keras")
    (run / "config.json").write_text(json.dumps({"kind": "nao-tf-cnn-train", "config": {"dataset": "cifar10"},
                                                 "architecture": resolve("NAONet-B").integers,
                                                 "space": "nasnet-ws"}))
    export_model(run, root / "out", name="tiny", log=lambda _line: None)
    return root / "out", inference_model(model)


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    from PIL import Image

    Image.fromarray(array, mode=mode).save(path)
    return path


def _image(seed: int, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _keras_probs(net, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    return tf.nn.softmax(net(images.astype(np.float32), training=False)).numpy()


@pytest.mark.parametrize("backend", ["onnx", "savedmodel"])
def test_predict_png_top5_matches_keras(exported, cli, tmp_path, backend):
    out, net = exported
    arrays = [_image(1), _image(2)]
    files = [_png(tmp_path / f"img{i}.png", a) for i, a in enumerate(arrays)]
    code, stdout, err = cli("predict", out / "tiny", *files, "--backend", backend, "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["backend"] == backend and result["export"].endswith(str(Path("tiny") / "1"))
    expected = _keras_probs(net, np.stack(arrays))
    for pred, probs in zip(result["predictions"], expected, strict=True):
        top = pred["top"]
        assert len(top) == 5 and top[0]["index"] == int(np.argmax(probs))
        assert [t["class"] for t in top] == [CIFAR10[t["index"]] for t in top]
        for t in top:
            assert abs(t["probability"] - probs[t["index"]]) <= 1e-4
        # Keras's ranking, up to near-ties (untrained logits push the tail to ~0, where order is noise).
        shown = [t["index"] for t in top]
        assert all(probs[a] >= probs[b] - 1e-4 for a, b in zip(shown, shown[1:], strict=False))
        left_out = [i for i in range(10) if i not in shown]
        assert all(probs[i] <= probs[shown[-1]] + 1e-4 for i in left_out)


def test_predict_text_output_and_export_forms(exported, cli, tmp_path):
    out, net = exported
    img = _png(tmp_path / "cat.png", _image(5))
    code, stdout, err = cli("predict", out, img)  # OUT holding one model: its highest version
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert lines[0] == str(img) and len(lines) == 6 and lines[1].lstrip().startswith("1. ")
    best = CIFAR10[int(np.argmax(_keras_probs(net, _image(5)[None])[0]))]
    assert lines[1].split()[1] == best

    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(out / "tiny" / "1" / "model.onnx", alone / "model.onnx")  # metadata travels inside the file
    code, stdout2, err = cli("predict", alone / "model.onnx", img, "--top", "3")
    assert code == 0, err
    assert stdout2.strip().splitlines()[1].split() == lines[1].split() and len(stdout2.strip().splitlines()) == 4


def test_predict_converts_modes_and_jpeg(exported, cli, tmp_path):
    out, _ = exported
    gray = _png(tmp_path / "gray.png", _image(7, SHAPE[:2]), mode="L")
    rgba = tmp_path / "rgba.png"
    _png(rgba, np.dstack([_image(8), np.full(SHAPE[:2], 255, np.uint8)]), mode="RGBA")
    from PIL import Image

    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(_image(9)).save(jpeg, quality=95)
    code, stdout, err = cli("predict", out / "tiny" / "1", gray, rgba, jpeg, "--json")
    assert code == 0, err
    assert [p["image"] for p in json.loads(stdout)["predictions"]] == [str(gray), str(rgba), str(jpeg)]


def test_wrong_size_refused_unless_resize(exported, cli, tmp_path):
    out, net = exported
    big = _png(tmp_path / "big.png", _image(11, (16, 12, 3)))
    code, stdout, err = cli("predict", out / "tiny", big)
    assert code == 2 and "12x16" in err and "8x8" in err and "--resize" in err
    assert len(err.strip().splitlines()) == 1 and stdout == ""
    code, stdout, err = cli("predict", out / "tiny", big, "--resize", "--json")
    assert code == 0, err
    from PIL import Image

    resized = np.asarray(Image.open(big).convert("RGB").resize((8, 8), Image.Resampling.BILINEAR))
    probs = _keras_probs(net, resized[None])[0]
    assert json.loads(stdout)["predictions"][0]["top"][0]["index"] == int(np.argmax(probs))


def test_predict_bad_input_one_line_exit_2(exported, cli, tmp_path):
    out, _ = exported
    good = _png(tmp_path / "ok.png", _image(1))
    notimg = tmp_path / "notes.png"
    notimg.write_text("hello")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    cases = [
        (("predict", out / "tiny", notimg), "not a PNG or JPEG"),
        (("predict", out / "tiny", tmp_path / "missing.png"), "no such image file"),
        (("predict", tmp_path / "nowhere", good), "no such file or folder"),
        (("predict", empty, good), "no export here"),
        (("predict", good, good), "not an export"),
        (("predict", out / "tiny", good, "--top", "0"), "--top"),
    ]
    for args, expected in cases:
        code, stdout, err = cli(*args)
        assert code == 2, (args, err)
        assert expected in err and len(err.strip().splitlines()) == 1, err


def test_predict_onnx_loads_no_tensorflow(exported, tmp_path):
    """``nao-tf predict --backend onnx`` runs on ONNX Runtime alone: TensorFlow and Keras stay unloaded."""
    from test_fast_import import run_commands

    out, _ = exported
    img = _png(tmp_path / "a.png", _image(5))
    codes, loaded = run_commands(tmp_path, ["predict", out / "tiny", img, "--backend", "onnx", "--json"],
                                 ["predict", out / "tiny", img])
    assert codes == [0, 0] and loaded == []
