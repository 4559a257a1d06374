"""Hostile run folders, exports, images and datasets through the CLI.

``nao-tf train --resume`` on broken run files, ``nao-tf predict`` on broken exports and images, datasets that are
empty or fake: each must give exit code != 0, one stderr line, no traceback, and leave every file that existed
before byte for byte as it was (checksums compared). Run-folder and export cases do not import TensorFlow (the
checks run before it loads); the dataset and rollback cases do.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from test_fuzz_inputs import assert_one_line

CNN_CONFIG = {
    "kind": "nao-tf-cnn-train",
    "config": {"arch": "NAONet-B", "dataset": "embedded", "data_dir": None, "epochs": 3, "batch_size": 8,
               "layers": 1, "channels": 4, "lr": 0.05, "seed": 0},
    "architecture": "NAONet-B", "space": "nasnet-ws", "params": 1000,
}
HISTORY = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}]
CNN_STATE = {"kind": "nao-tf-cnn-train", "epoch": 2, "checkpoint": "checkpoints/epoch-0002.keras", "history": HISTORY}
LM_CONFIG = {"kind": "lm", "space": "rnn", "architecture": "PTB-NAONet",
             "config": {"arch": "PTB-NAONet", "dataset": "embedded", "data_dir": None, "hidden": 8, "batch_size": 4,
                        "epochs": 3, "seed": 0}}
LM_STATE = {"epoch": 1, "steps": 10, "best_valid_ppl": 300.0, "averaging": False, "avg_count": 0.0,
            "history": [{"epoch": 1, "steps": 10, "valid_ppl": 300.0}]}


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (and the set of names: nothing added, nothing removed)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _zip(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _json(path: Path, data) -> None:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


def cnn_run(root: Path, *, config=CNN_CONFIG, state=CNN_STATE, checkpoint: bytes | None = None) -> Path:
    """A CNN run folder as 'nao-tf train' leaves it after epoch 2 (with a stand-in checkpoint archive)."""
    run = root / "run"
    run.mkdir()
    _json(run / "config.json", config)
    if state is not None:
        _json(run / "state.json", state)
    ckpt = run / "checkpoints" / "epoch-0002.keras"
    _zip(ckpt, {"config.json": b"{}", "model.weights.h5": b"\0" * 256, "metadata.json": b"{}"})
    if checkpoint is not None:
        ckpt.write_bytes(checkpoint)
    (run / "metrics.csv").write_text("epoch,loss\n1,2.0\n2,1.5\n")
    return run


def _with(base: dict, **changes) -> dict:
    out = json.loads(json.dumps(base))
    for key, value in changes.items():
        target = out
        parts = key.split("__")
        for part in parts[:-1]:
            target = target[part]
        if value is _DROP:
            del target[parts[-1]]
        else:
            target[parts[-1]] = value
    return out


_DROP = object()
_TRUNCATED = b"PK\x03\x04" + b"\0" * 40

CNN_CASES = {
    "state-empty-object": (dict(state={}), "state.json"),
    "state-null": (dict(state="null"), "state.json"),
    "state-list": (dict(state="[]"), "state.json"),
    "state-number": (dict(state="3"), "state.json"),
    "state-not-json": (dict(state="{garbage"), "state.json"),
    "state-binary": (dict(state="\x00\x01\x02"), "state.json"),
    "state-epoch-99": (dict(state=_with(CNN_STATE, epoch=99, checkpoint="checkpoints/epoch-0099.keras")),
                       "99 finished epochs"),
    "state-epoch-string": (dict(state=_with(CNN_STATE, epoch="2")), "epoch"),
    "state-epoch-float": (dict(state=_with(CNN_STATE, epoch=2.0)), "epoch"),
    "state-epoch-bool": (dict(state=_with(CNN_STATE, epoch=True)), "epoch"),
    "state-epoch-zero": (dict(state=_with(CNN_STATE, epoch=0, history=[])), "epoch"),
    "state-epoch-negative": (dict(state=_with(CNN_STATE, epoch=-1)), "epoch"),
    "state-history-short": (dict(state=_with(CNN_STATE, history=HISTORY[:1])), "history has 1 rows"),
    "state-history-not-list": (dict(state=_with(CNN_STATE, history={"1": 2})), "history"),
    "state-history-out-of-order": (dict(state=_with(CNN_STATE, history=HISTORY[::-1])), "history"),
    "state-checkpoint-escapes": (dict(state=_with(CNN_STATE, checkpoint="../../elsewhere.keras")), "expected"),
    "state-no-kind": (dict(state=_with(CNN_STATE, kind=_DROP)), "kind is missing"),
    "state-missing-with-checkpoints": (dict(state=None), "state.json is missing"),
    "checkpoint-truncated": (dict(checkpoint=_TRUNCATED), "truncated or corrupt"),
    "checkpoint-empty": (dict(checkpoint=b""), "truncated or corrupt"),
    "checkpoint-not-keras": (dict(checkpoint=b"not a zip at all" * 10), "truncated or corrupt"),
    "config-null": (dict(config="null"), "config.json"),
    "config-empty-object": (dict(config={}), "config.json"),
    "config-not-json": (dict(config="{'kind': 1}"), "config.json"),
    "config-other-kind": (dict(config=_with(CNN_CONFIG, kind="something-else")), "kind"),
    "config-layers-abc": (dict(config=_with(CNN_CONFIG, config__layers="abc")), "config.layers"),
    "config-channels-list": (dict(config=_with(CNN_CONFIG, config__channels=[4])), "config.channels"),
    "config-channels-float": (dict(config=_with(CNN_CONFIG, config__channels=4.5)), "config.channels"),
    "config-lr-negative": (dict(config=_with(CNN_CONFIG, config__lr=-1)), "config.lr"),
    "config-lr-nan": (dict(config=json.dumps(CNN_CONFIG).replace('"lr": 0.05', '"lr": NaN')), "config.lr"),
    "config-epochs-string": (dict(config=_with(CNN_CONFIG, config__epochs="ten")), "config.epochs"),
    "config-no-space": (dict(config=_with(CNN_CONFIG, space=_DROP)), "space is missing"),
    "config-space-list": (dict(config=_with(CNN_CONFIG, space=["nasnet-ws"])), "space"),
}


@pytest.mark.parametrize("case", sorted(CNN_CASES))
def test_resume_of_a_broken_cnn_run_is_refused_and_changes_nothing(cli, tmp_path, case):
    kwargs, words = CNN_CASES[case]
    run = cnn_run(tmp_path, **kwargs)
    before = checksums(run)
    code, out, err = cli("train", "--resume", str(run), "--quiet")
    assert_one_line(code, err, words)
    assert code == 2
    assert checksums(run) == before


def _lm_run(root: Path, state=LM_STATE, npz: bytes | None = None, vocab: str | None = "<unk>\n<eos>\nthe\n",
            config=LM_CONFIG) -> Path:
    run = root / "lm"
    run.mkdir()
    _json(run / "config.json", config)
    if state is not None:
        _json(run / "state.json", state)
    if npz is None:
        _zip(run / "state.npz", {"w0.npy": b"\x93NUMPY"})
    else:
        (run / "state.npz").write_bytes(npz)
    if vocab is not None:
        (run / "vocab.txt").write_text(vocab)
    return run


LM_CASES = {
    "state-empty-object": (dict(state={}), "state.json"),
    "state-null": (dict(state="null"), "state.json"),
    "state-epoch-99": (dict(state=_with(LM_STATE, epoch=99)), "99 finished epochs"),
    "state-steps-string": (dict(state=_with(LM_STATE, steps="10")), "steps"),
    "state-ppl-nan": (dict(state=json.dumps(LM_STATE).replace("300.0,", "NaN,", 1)), "best_valid_ppl"),
    "state-steps-disagree": (dict(state=_with(LM_STATE, steps=99)), "steps"),
    "state-missing-with-weights": (dict(state=None), "state.json is missing"),
    "npz-truncated": (dict(npz=_TRUNCATED), "state.npz"),
    "vocab-missing": (dict(vocab=None), "vocab.txt"),
    "config-hidden-zero": (dict(config=_with(LM_CONFIG, config__hidden=0)), "config.hidden"),
    "config-hidden-string": (dict(config=_with(LM_CONFIG, config__hidden="abc")), "config.hidden"),
}


@pytest.mark.parametrize("case", sorted(LM_CASES))
def test_resume_of_a_broken_language_model_run_is_refused(cli, tmp_path, case):
    kwargs, words = LM_CASES[case]
    run = _lm_run(tmp_path, **kwargs)
    before = checksums(run)
    code, out, err = cli("train", "--resume", str(run), "--quiet")
    assert_one_line(code, err, words)
    assert code == 2
    assert checksums(run) == before


@pytest.mark.parametrize("target", ["missing", "file", "empty-folder"])
def test_resume_of_something_that_is_not_a_run(cli, tmp_path, target):
    path = tmp_path / target
    if target == "file":
        path.write_text("x")
    elif target == "empty-folder":
        path.mkdir()
    code, out, err = cli("train", "--resume", str(path))
    assert_one_line(code, err)
    assert code == 2
    assert not path.exists() or path.is_file() or not any(path.iterdir())


def test_a_new_run_into_a_folder_holding_a_run_is_refused(cli, tmp_path):
    run = cnn_run(tmp_path)
    before = checksums(run)
    code, out, err = cli("train", "NAONet-B", "--out", str(run), "--epochs", "1")
    assert_one_line(code, err, "already holds a run", "--resume")
    assert checksums(run) == before


# ----- exports and images for predict (ONNX Runtime path: TensorFlow-free) ---------------------------------------
META = {"metadata_version": 1, "kind": "cnn", "input_shape": [28, 28, 1], "num_classes": 2, "class_names": ["a", "b"]}


def _export(root: Path, marker=None, onnx: bytes = b"garbage" * 10) -> Path:
    folder = root / "exports" / "model" / "1"
    folder.mkdir(parents=True)
    _json(folder / "nao_tf_export.json",
          {"metadata": META, "formats": ["onnx"], "files": {"onnx": "model.onnx"}} if marker is None else marker)
    (folder / "model.onnx").write_bytes(onnx)
    return folder


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int) -> bytes:
    """A grayscale PNG whose header says ``width`` x ``height``; only small images carry all their rows."""
    rows = b"".join(b"\0" + bytes(min(width, 64)) for _ in range(min(height, 28)))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))


def _noisy_png() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _broken_crc() -> bytes:
    data = bytearray(_noisy_png())
    at = data.find(b"IDAT") + 10
    data[at] ^= 0xFF
    return bytes(data)


IMAGES = {
    "header-100000x100000": (lambda: _png(100000, 100000), "too large"),
    "header-20000x20000": (lambda: _png(20000, 20000), "too large"),
    "header-9000x9000": (lambda: _png(9000, 9000), "more than predict decodes"),
    "header-1x40000": (lambda: _png(1, 40000), "more than predict decodes"),
    "header-0x0": (lambda: _png(0, 0), "not a PNG or JPEG"),
    "broken-crc": (_broken_crc, "image"),
    "truncated": (lambda: _noisy_png()[:120], "image"),
    "text": (lambda: b"hello, not an image", "not a PNG or JPEG"),
    "empty": (lambda: b"", "not a PNG or JPEG"),
    "wrong-size": (lambda: _png(10, 10), "--resize"),
}


@pytest.mark.parametrize("case", sorted(IMAGES))
def test_bad_images_are_refused_before_the_model_loads(cli, tmp_path, case):
    make, words = IMAGES[case]
    export = _export(tmp_path)
    image = tmp_path / "image.png"
    image.write_bytes(make())
    before = checksums(tmp_path)
    code, out, err = cli("predict", str(export), str(image))
    assert_one_line(code, err, words)
    assert code == 2 and "cannot be loaded" not in err  # the image was refused first
    assert checksums(tmp_path) == before


def test_a_directory_as_image(cli, tmp_path):
    export = _export(tmp_path)
    (tmp_path / "dir.png").mkdir()
    code, out, err = cli("predict", str(export), str(tmp_path / "dir.png"))
    assert_one_line(code, err, "directory")


def _good_image(tmp_path: Path) -> Path:
    path = tmp_path / "ok.png"
    path.write_bytes(_noisy_png())
    return path


EXPORTS = {
    "onnx-garbage": (dict(), "ONNX model cannot be loaded"),
    "onnx-empty": (dict(onnx=b""), "ONNX model cannot be loaded"),
    "marker-null": (dict(marker="null"), "nao_tf_export.json"),
    "marker-not-json": (dict(marker="{oops"), "unreadable"),
    "marker-deep": (dict(marker="[" * 100_000 + "]" * 100_000), "unreadable"),
    "marker-no-metadata": (dict(marker={"formats": []}), "not an export marker"),
    "marker-metadata-list": (dict(marker={"metadata": []}), "metadata"),
    "marker-shape-string": (dict(marker={"metadata": {**META, "input_shape": [28, "x", 1]}}), "input_shape"),
    "marker-shape-2d": (dict(marker={"metadata": {**META, "input_shape": [28, 28]}}), "input_shape"),
    "marker-shape-zero": (dict(marker={"metadata": {**META, "input_shape": [0, 28, 1]}}), "input_shape"),
    "marker-classes-mismatch": (dict(marker={"metadata": {**META, "class_names": ["a"]}}), "class_names"),
    "marker-no-version": (dict(marker={"metadata": {k: v for k, v in META.items() if k != "metadata_version"}}),
                          "metadata_version"),
    "marker-file-escapes": (dict(marker={"metadata": META, "files": {"onnx": "../../../etc/passwd"}}),
                            "not a file name inside"),
}


@pytest.mark.parametrize("case", sorted(EXPORTS))
def test_broken_exports_are_one_line_and_unchanged(cli, tmp_path, case):
    kwargs, words = EXPORTS[case]
    export = _export(tmp_path, **kwargs)
    image = _good_image(tmp_path)
    before = checksums(tmp_path)
    code, out, err = cli("predict", str(export), str(image))
    assert_one_line(code, err, words)
    assert code == 2
    assert checksums(tmp_path) == before


def test_a_bare_garbage_onnx_file(cli, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07garbage")
    code, out, err = cli("predict", str(model), str(_good_image(tmp_path)))
    assert_one_line(code, err, "not a readable ONNX model")


def test_export_of_a_garbage_keras_file(cli, tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(_TRUNCATED)
    before = checksums(tmp_path)
    code, out, err = cli("export", str(model), "--out", str(tmp_path / "exports"))
    assert_one_line(code, err, "not a nao-tf model")
    assert checksums(tmp_path) == before and not (tmp_path / "exports").exists()


def test_a_garbage_saved_model_pb(cli, tmp_path):
    """The SavedModel backend loads TensorFlow: the parse error of a garbage saved_model.pb is one line."""
    folder = _export(tmp_path, marker={"metadata": META, "formats": ["savedmodel"], "files": {}})
    (folder / "model.onnx").unlink()
    (folder / "saved_model.pb").write_bytes(b"\x00garbage protobuf")
    image = _good_image(tmp_path)
    before = checksums(tmp_path)
    code, out, err = cli("predict", str(folder), str(image), "--backend", "savedmodel")
    assert_one_line(code, err, "SavedModel cannot be loaded")
    assert checksums(tmp_path) == before


# ----- datasets (TensorFlow loads before the data is read; nothing may be left behind) ---------------------------
def _idx(path: Path, shape: tuple[int, ...]) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    path.write_bytes(header + bytes(int(__import__("math").prod(shape))))


def _fashion(root: Path, test_images: int = 0, train_images: int = 20) -> Path:
    folder = root / "fmnist"
    folder.mkdir()
    _idx(folder / "train-images-idx3-ubyte", (train_images, 28, 28))
    _idx(folder / "train-labels-idx1-ubyte", (train_images,))
    _idx(folder / "t10k-images-idx3-ubyte", (test_images, 28, 28))
    _idx(folder / "t10k-labels-idx1-ubyte", (test_images,))
    return folder


def _fake_tfds(root: Path, info: str) -> Path:
    folder = root / "tfds"
    (folder / "cifar10" / "3.0.2").mkdir(parents=True)
    (folder / "cifar10" / "3.0.2" / "dataset_info.json").write_text(info)
    return folder


DATASETS = {
    "fashion-mnist-0-test-images": (lambda t: ("fashion_mnist", _fashion(t, 0)), "no test images"),
    "fashion-mnist-0-train-images": (lambda t: ("fashion_mnist", _fashion(t, 5, 0)), "no train images"),
    "tfds-info-garbage": (lambda t: ("cifar10", _fake_tfds(t, "{not json")), "dataset_info.json"),
    "tfds-info-wrong-name": (lambda t: ("cifar10", _fake_tfds(t, json.dumps({"name": "mnist", "splits": []}))),
                             "dataset_info.json"),
    "tfds-info-no-splits": (lambda t: ("cifar10", _fake_tfds(t, json.dumps({"name": "cifar10"}))),
                            "dataset_info.json"),
}


@pytest.mark.parametrize("case", sorted(DATASETS))
def test_bad_datasets_are_refused_and_leave_no_run_folder(cli, tmp_path, case):
    make, words = DATASETS[case]
    name, data_dir = make(tmp_path)
    before = checksums(data_dir)
    run = tmp_path / "run"
    code, out, err = cli("train", "NAONet-B", "--dataset", name, "--data-dir", str(data_dir), "--out", str(run),
                         "--epochs", "1", "--layers", "1", "--channels", "4", "--quiet")
    assert_one_line(code, err, words)
    assert code == 2
    assert not run.exists()
    assert checksums(data_dir) == before


# ----- a failed start leaves nothing behind; an LM's vocabulary must fit its model (TensorFlow) -------------------
SMALL = ["--layers", "1", "--channels", "4", "--no-aux-head", "--drop-path-keep", "1", "--dropout-keep", "1",
         "--no-augment", "--batch-size", "64", "--steps-per-epoch", "3", "--quiet"]


@pytest.mark.parametrize("out", ["new", "existing-empty"])
def test_a_run_that_fails_in_its_first_epoch_leaves_nothing(cli, tmp_path, out):
    run = tmp_path / "run"
    if out == "existing-empty":
        run.mkdir()
    code, stdout, err = cli("train", "NAONet-B", "--epochs", "1", "--lr", "1e30", "--out", str(run), *SMALL)
    assert_one_line(code, err, "NaN")
    assert code == 2
    assert (not run.exists()) if out == "new" else (run.is_dir() and not any(run.iterdir()))


def test_a_language_model_whose_vocabulary_does_not_match_is_refused(cli, tmp_path):
    import nao_tf
    from nao_tf.children.lm import build_lm

    run = tmp_path / "lm"
    run.mkdir()
    build_lm(nao_tf.resolve("PTB-NAONet"), vocab_size=40, hidden=8).save(run / "model.keras")
    (run / "vocab.txt").write_text("<unk>\n<eos>\nthe\n")
    _json(run / "config.json", LM_CONFIG)
    before = checksums(run)
    code, out, err = cli("evaluate", str(run))
    assert_one_line(code, err, "vocab.txt has 3 words", "trained on 40")
    assert code == 2 and checksums(run) == before


@pytest.mark.parametrize("where", ["model-file", "run-folder"])
def test_evaluate_a_truncated_keras_model(cli, tmp_path, where):
    """Keras says "File not found" for a truncated archive; nao-tf says what it is."""
    run = cnn_run(tmp_path)
    (run / "model.keras").write_bytes(_TRUNCATED)
    before = checksums(run)
    code, out, err = cli("evaluate", str(run / "model.keras" if where == "model-file" else run))
    assert_one_line(code, err, "model.keras is truncated or corrupt")
    assert code == 2 and checksums(run) == before
