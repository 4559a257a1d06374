"""Image data loading: CIFAR archives/folders in the real pickled format, Fashion-MNIST IDX files, the embedded
sample, and the one-line DataErrors for bad input."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from nao_tf.data import DATASETS, ImageData, check_image_shape, cifar, fashion_mnist, load_images, split_train_valid
from nao_tf.errors import ConfigError, DataError

# ---------------------------------------------------------------- writers of the original formats


def _cifar_arrays(n: int, num_classes: int, seed: int) -> tuple[np.ndarray, list[int]]:
    r = np.random.default_rng(seed)
    return r.integers(0, 256, size=(n, 3072), dtype=np.uint8), [int(v) for v in r.integers(0, num_classes, n)]


def _dump(obj) -> bytes:
    # The original archives are Python 2 cPickle files; protocol 2 with bytes keys is what they decode to.
    return pickle.dumps(obj, protocol=2)


def write_cifar(root: Path, name: str, per_batch: int = 6, archive: bool = True) -> dict[str, np.ndarray]:
    """Write CIFAR in its python format (``cifar-10-python.tar.gz`` or the extracted folder) under ``root``.

    Returns the expected ``x_train``/``y_train``/``x_test``/``y_test`` (NHWC), built pixel by pixel from the
    documented layout (value ``data[n, c * 1024 + row * 32 + col]``), independent of the loader's reshape."""
    layout = cifar.LAYOUTS[name]
    classes = DATASETS[name].num_classes
    files: dict[str, bytes] = {}
    parts: dict[str, list] = {"train": [], "test": []}
    for i, member in enumerate((*layout.train, layout.test)):
        data, labels = _cifar_arrays(per_batch, classes, seed=100 + i)
        batch = {b"batch_label": f"batch {i}".encode(), b"data": data,
                 b"filenames": [f"img_{i}_{k}.png".encode() for k in range(per_batch)]}
        if name == "cifar10":
            batch[b"labels"] = labels
        else:
            batch[b"fine_labels"] = labels
            batch[b"coarse_labels"] = [v // 5 for v in labels]
        files[member] = _dump(batch)
        parts["test" if member == layout.test else "train"].append((data, labels))
    if name == "cifar10":
        files["batches.meta"] = _dump({b"label_names": [c.encode() for c in DATASETS[name].class_names],
                                       b"num_cases_per_batch": per_batch, b"num_vis": 3072})
    else:
        files["meta"] = _dump({b"fine_label_names": [c.encode() for c in DATASETS[name].class_names],
                               b"coarse_label_names": [f"super{k}".encode() for k in range(20)]})
    if archive:
        with tarfile.open(root / layout.archive, "w:gz") as tar:
            for member, payload in files.items():
                info = tarfile.TarInfo(f"{layout.folder}/{member}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    else:
        (root / layout.folder).mkdir(parents=True)
        for member, payload in files.items():
            (root / layout.folder / member).write_bytes(payload)
    expected = {}
    for split, batches in parts.items():
        data = np.concatenate([b[0] for b in batches])
        x = np.zeros((len(data), 32, 32, 3), np.uint8)
        for c in range(3):
            for row in range(32):
                x[:, row, :, c] = data[:, c * 1024 + row * 32: c * 1024 + row * 32 + 32]
        expected[f"x_{split}"] = x
        expected[f"y_{split}"] = np.array(sum((b[1] for b in batches), []), np.int64)
    return expected


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion_mnist(folder: Path, n_train: int = 30, n_test: int = 10, gz: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    r = np.random.default_rng(5)
    arrays = {"x_train": r.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "y_train": np.arange(n_train) % 10, "x_test": r.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "y_test": (np.arange(n_test) * 3) % 10}
    for key, base in fashion_mnist.IDX_FILES.items():
        payload = idx_bytes(arrays[key])
        if gz:
            (folder / f"{base}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / base).write_bytes(payload)
    return arrays


def assert_one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert message and "\n" not in message
    return message


# ---------------------------------------------------------------- CIFAR from archives and folders


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("archive", [True, False], ids=["tar.gz", "folder"])
def test_cifar_python_format(tmp_path, name, archive):
    expected = write_cifar(tmp_path, name, archive=archive)
    data = load_images(name, tmp_path)
    n_train = 6 * len(cifar.LAYOUTS[name].train)
    assert data.x_train.shape == (n_train, 32, 32, 3) and data.x_test.shape == (6, 32, 32, 3)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    for key, value in expected.items():
        np.testing.assert_array_equal(getattr(data, key), value, err_msg=key)
    assert data.num_classes == DATASETS[name].num_classes == len(data.class_names)
    assert data.class_names == list(DATASETS[name].class_names)
    flat = expected["x_train"].reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(data.mean, flat.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(data.std, flat.std(axis=0), rtol=1e-9)


def test_cifar_extracted_folder_given_directly_and_archive_path(tmp_path):
    expected = write_cifar(tmp_path, "cifar10", archive=False)
    data = load_images("cifar10", tmp_path / "cifar-10-batches-py")
    np.testing.assert_array_equal(data.x_test, expected["x_test"])
    other = tmp_path / "other"
    other.mkdir()
    expected = write_cifar(other, "cifar10", archive=True)
    data = load_images("cifar-10", other / "cifar-10-python.tar.gz")  # alias and the archive file itself
    np.testing.assert_array_equal(data.y_train, expected["y_train"])


def test_cifar_truncated_archive(tmp_path):
    write_cifar(tmp_path, "cifar10", per_batch=40)
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError) as info:
        load_images("cifar10", tmp_path)
    message = assert_one_line(info)
    assert "cifar-10-python.tar.gz" in message and ("truncated" in message or "corrupt" in message)


def test_cifar_archive_missing_member(tmp_path):
    with tarfile.open(tmp_path / "cifar-100-python.tar.gz", "w:gz") as tar:
        payload = _dump({b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [0]})
        info = tarfile.TarInfo("cifar-100-python/train")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(DataError, match="lacks test") as info:
        load_images("cifar100", tmp_path)
    assert_one_line(info)


@pytest.mark.parametrize("corruption", ["garbage", "wrong_size", "label_count", "bad_label", "code", "missing"])
def test_cifar_corrupt_folder(tmp_path, corruption):
    write_cifar(tmp_path, "cifar10", archive=False)
    target = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    if corruption == "garbage":
        target.write_bytes(b"\x80\x02}q\x00(this is not a pickle")
    elif corruption == "wrong_size":
        target.write_bytes(_dump({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}))
    elif corruption == "label_count":
        target.write_bytes(_dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}))
    elif corruption == "bad_label":
        target.write_bytes(_dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    elif corruption == "code":  # a pickle that would run a command: refused, nothing runs

        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {tmp_path / 'pwned'}",))

        target.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    else:
        target.unlink()
    with pytest.raises(DataError) as info:
        load_images("cifar10", tmp_path)
    message = assert_one_line(info)
    assert "data_batch_3" in message
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_absent_from_data_dir_fails_fast_with_instructions(tmp_path, name):
    (tmp_path / "unrelated.txt").write_text("x")
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_images(name, tmp_path)
    assert time.perf_counter() - start < 1.0
    message = assert_one_line(info)
    layout = cifar.LAYOUTS[name]
    assert str(tmp_path) in message and layout.archive in message and f"tfds build {name}" in message


def test_cifar_without_data_dir_never_downloads(tmp_path, monkeypatch):
    monkeypatch.delenv("NAO_TF_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "nowhere"))
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_images("cifar10")
    assert time.perf_counter() - start < 1.0
    assert "data dir" in assert_one_line(info)
    # ... but $NAO_TF_DATA_DIR is honoured.
    expected = write_cifar(tmp_path, "cifar10", archive=False)
    monkeypatch.setenv("NAO_TF_DATA_DIR", str(tmp_path))
    np.testing.assert_array_equal(load_images("cifar10").x_test, expected["x_test"])


# ---------------------------------------------------------------- Fashion-MNIST IDX files


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
def test_fashion_mnist_idx(tmp_path, gz):
    arrays = write_fashion_mnist(tmp_path / "fashion-mnist", gz=gz)
    data = load_images("fashion_mnist", tmp_path)  # found in the fashion-mnist/ sub-folder
    assert data.x_train.shape == (30, 28, 28, 1) and data.x_test.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(data.x_train[..., 0], arrays["x_train"])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    assert data.class_names == list(DATASETS["fashion_mnist"].class_names)
    assert len(data.mean) == len(data.std) == 1


def test_fashion_mnist_default_location(tmp_path, monkeypatch):
    arrays = write_fashion_mnist(tmp_path / "debian")
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "debian")
    np.testing.assert_array_equal(load_images("fashion-mnist").y_train, arrays["y_train"])
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="dataset-fashion-mnist") as info:
        load_images("fashion_mnist")
    assert_one_line(info)


def _corrupt_idx(folder: Path, kind: str) -> None:
    images = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    if kind == "magic":
        images.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + raw[4:]))
    elif kind == "short_data":
        images.write_bytes(gzip.compress(raw[:-100]))
    elif kind == "truncated_gzip":
        whole = images.read_bytes()
        images.write_bytes(whole[: len(whole) // 2])
    elif kind == "not_gzip":
        images.write_bytes(raw)  # named .gz but not gzipped
    elif kind == "count_mismatch":
        labels = np.arange(29) % 10
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    elif kind == "missing":
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    elif kind == "bad_label":
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.full(30, 12))))


@pytest.mark.parametrize("kind", ["magic", "short_data", "truncated_gzip", "not_gzip", "count_mismatch",
                                  "missing", "bad_label"])
def test_fashion_mnist_corrupt(tmp_path, kind):
    write_fashion_mnist(tmp_path)
    _corrupt_idx(tmp_path, kind)
    with pytest.raises(DataError) as info:
        load_images("fashion_mnist", tmp_path)
    message = assert_one_line(info)
    if kind == "missing":
        assert "t10k-labels-idx1-ubyte" in message
    elif kind not in ("count_mismatch", "bad_label"):
        assert "train-images-idx3-ubyte.gz" in message


def test_fashion_mnist_absent(tmp_path):
    with pytest.raises(DataError, match="no Fashion-MNIST IDX files") as info:
        load_images("fashion_mnist", tmp_path)
    assert_one_line(info)


# ---------------------------------------------------------------- the embedded sample


def test_embedded_sample():
    data = load_images()
    assert data.name == "embedded" == DATASETS["embedded"].name
    assert data.x_train.shape == (6000, 28, 28, 1) and data.x_test.shape == (1000, 28, 28, 1)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.input_shape == DATASETS["embedded"].shape
    np.testing.assert_array_equal(np.bincount(data.y_train), np.full(10, 600))
    np.testing.assert_array_equal(np.bincount(data.y_test), np.full(10, 100))
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert 60 < data.mean[0] < 85 and 80 < data.std[0] < 100  # Fashion-MNIST: mean 72.9, std 90.0
    assert len({data.x_train[i].tobytes() for i in range(0, 6000, 7)}) == len(range(0, 6000, 7))  # real images
    licence = fashion_mnist.embedded_path().parent / "LICENSE-fashion-mnist"
    assert "MIT" in licence.read_text() and "Zalando" in licence.read_text()


@pytest.mark.skipif(not fashion_mnist.DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_embedded_sample_is_taken_from_fashion_mnist():
    with np.load(str(fashion_mnist.embedded_path())) as npz:
        train_index, test_index = npz["train_index"], npz["test_index"]
    data = load_images("embedded")
    x_test = fashion_mnist.read_idx(fashion_mnist.DEBIAN_DIR / "t10k-images-idx3-ubyte.gz", 3)
    y_test = fashion_mnist.read_idx(fashion_mnist.DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz", 1)
    np.testing.assert_array_equal(data.x_test[..., 0], x_test[test_index])
    np.testing.assert_array_equal(data.y_test, y_test[test_index])
    y_train = fashion_mnist.read_idx(fashion_mnist.DEBIAN_DIR / "train-labels-idx1-ubyte.gz", 1)
    np.testing.assert_array_equal(data.y_train, y_train[train_index])


# ---------------------------------------------------------------- names, shapes, splits


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DataError) as info:
        load_images("imagenet")
    message = assert_one_line(info)
    assert "imagenet" in message and all(name in message for name in DATASETS)


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="does not exist") as info:
        load_images("cifar10", tmp_path / "absent")
    assert_one_line(info)


def test_datasets_metadata():
    assert set(DATASETS) == {"embedded", "fashion_mnist", "cifar10", "cifar100"}
    for name, info in DATASETS.items():
        assert info.name == name and len(info.class_names) == info.num_classes
        assert len(set(info.class_names)) == info.num_classes
    assert DATASETS["cifar100"].shape == (32, 32, 3) and DATASETS["cifar100"].class_names[-1] == "worm"


def _small(n=40, shape=(8, 8, 3), classes=4):
    r = np.random.default_rng(0)
    x = r.integers(0, 256, (n, *shape), dtype=np.uint8)
    return ImageData("small", x, np.arange(n) % classes, x[:8], np.arange(8) % classes,
                     [f"c{i}" for i in range(classes)], classes)


def test_check_image_shape():
    data = _small()
    check_image_shape(data, (8, 8, 3))
    check_image_shape(data, (None, 8, 8, 3))
    check_image_shape(data.x_test, (None, None, None, 3))
    with pytest.raises(DataError) as info:
        check_image_shape(data, (None, 32, 32, 3))
    message = assert_one_line(info)
    assert "8x8x3" in message and "32x32x3" in message


def test_image_data_validation():
    x = np.zeros((4, 8, 8, 3), np.uint8)
    with pytest.raises(DataError, match="uint8"):
        ImageData("bad", x.astype(np.float32), np.zeros(4), x, np.zeros(4), ["a"], 1)
    with pytest.raises(DataError, match="labels"):
        ImageData("bad", x, np.zeros(3), x, np.zeros(4), ["a"], 1)
    with pytest.raises(DataError, match="outside"):
        ImageData("bad", x, np.array([0, 1, 2, 3]), x, np.zeros(4), ["a", "b"], 2)


def test_split_train_valid_deterministic():
    data = _small(n=40)
    a = split_train_valid(data, 10, seed=3)
    b = split_train_valid(data, 10, seed=3)
    c = split_train_valid(data, 10, seed=4)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[2], c[2])
    assert len(a[0]) == 30 and len(a[2]) == 10
    rows = {r.tobytes() for r in data.x_train}
    train_rows, valid_rows = {r.tobytes() for r in a[0]}, {r.tobytes() for r in a[2]}
    assert not train_rows & valid_rows and train_rows | valid_rows == rows
    for bad in (0, 40, -1):
        with pytest.raises(ConfigError):
            split_train_valid(data, bad, seed=0)


def test_embedded_sample_script_is_reproducible_and_balanced(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "make_embedded_fashion_mnist.py"
    spec = importlib.util.spec_from_file_location("make_embedded_fashion_mnist", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    arrays = write_fashion_mnist(tmp_path / "idx", n_train=50, n_test=20)
    payload = script.make_sample(tmp_path / "idx", train_per_class=3, test_per_class=1, seed=0)
    assert payload == script.make_sample(tmp_path / "idx", train_per_class=3, test_per_class=1, seed=0)
    assert payload != script.make_sample(tmp_path / "idx", train_per_class=3, test_per_class=1, seed=1)
    (tmp_path / "sample.npz").write_bytes(payload)
    with np.load(tmp_path / "sample.npz") as npz:
        assert npz["x_train"].shape == (30, 28, 28, 1) and npz["x_test"].shape == (10, 28, 28, 1)
        np.testing.assert_array_equal(np.bincount(npz["y_train"]), np.full(10, 3))
        np.testing.assert_array_equal(npz["x_train"][..., 0], arrays["x_train"][npz["train_index"]])
        np.testing.assert_array_equal(npz["y_test"], arrays["y_test"][npz["test_index"]])
    out = tmp_path / "written.npz"
    assert script.main(["--idx-dir", str(tmp_path / "idx"), "--out", str(out), "--train-per-class", "3",
                        "--test-per-class", "1"]) == 0
    assert out.read_bytes() == payload
    assert script.main(["--idx-dir", str(tmp_path / "idx"), "--out", str(out), "--train-per-class", "3",
                        "--test-per-class", "1", "--check"]) == 0
