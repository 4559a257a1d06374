"""CIFAR (and Fashion-MNIST) through tensorflow-datasets, offline.

* ``tfds.testing.mock_data``: with no ``data_dir`` it looks for metadata in tfds's own ``testing/metadata`` folder,
  which the pip wheel does not ship, and falls back to a non-existent data dir; nao-tf checks that a prepared
  copy is on disk before touching tfds (so that an offline machine fails at once), so the test first writes the
  dataset's real metadata (``dataset_info.json``, ``features.json``, from the builder's code: no network) into a
  local data dir, then mocks with ``MockPolicy.USE_FILES`` and that ``data_dir``. Reading then goes through
  ``tfds.builder(..., data_dir=D).as_dataset`` exactly as with real data.
* A real prepared copy: ``tfds``'s own CIFAR-10 builder run on a small ``cifar-10-batches-bin`` folder the test
  writes (the download step is patched to return that folder), giving genuine TFRecords to read back.
"""

from __future__ import annotations

import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from nao_tf.data import DATASETS, load_images
from nao_tf.data.tfds_source import import_tfds, prepared_version
from nao_tf.errors import DataError

tfds = import_tfds()


def write_metadata(data_dir: Path, name: str) -> Path:
    builder = tfds.builder(name, data_dir=str(data_dir))
    folder = Path(builder.data_dir)
    folder.mkdir(parents=True)
    builder.info.write_to_directory(str(folder))
    return folder


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "fashion_mnist"])
def test_from_tfds_mock_data(tmp_path, name):
    folder = write_metadata(tmp_path, name)
    assert prepared_version(tmp_path, name) == folder.name
    with tfds.testing.mock_data(num_examples=12, data_dir=str(tmp_path), policy=tfds.testing.MockPolicy.USE_FILES):
        data = load_images(name, tmp_path)
    shape = DATASETS[name].shape
    assert data.x_train.shape == (12, *shape) and data.x_test.shape == (12, *shape)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.num_classes == DATASETS[name].num_classes and data.y_train.max() < data.num_classes
    assert data.source.startswith("tfds:") and len(data.mean) == shape[-1]
    # Outside the mock, the same folder holds metadata but no records: a one-line DataError, at once.
    start = time.perf_counter()
    with pytest.raises(DataError, match=f"tfds build {name}") as info:
        load_images(name, tmp_path)
    assert time.perf_counter() - start < 1.0 and "\n" not in str(info.value)


def _prepare_real_cifar10(data_dir: Path, source: Path) -> dict[str, list[tuple[bytes, int]]]:
    """Run tfds's CIFAR-10 builder offline on a tiny binary-format copy; return the (image, label) pairs."""
    folder = source / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    (folder / "batches.meta.txt").write_text("\n".join(DATASETS["cifar10"].class_names) + "\n")
    r = np.random.default_rng(0)
    pairs: dict[str, list[tuple[bytes, int]]] = {"train": [], "test": []}
    for member in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = r.integers(0, 10, 3).astype(np.uint8)
        planes = r.integers(0, 256, (3, 3072), dtype=np.uint8)
        (folder / member).write_bytes(np.concatenate([labels[:, None], planes], axis=1).tobytes())
        images = planes.reshape(3, 3, 32, 32).transpose(0, 2, 3, 1)
        split = "test" if member.startswith("test") else "train"
        pairs[split] += [(img.tobytes(), int(lab)) for img, lab in zip(images, labels, strict=True)]
    config = tfds.download.DownloadConfig(compute_stats=tfds.download.ComputeStatsMode.SKIP)
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract", return_value=str(source)):
        tfds.builder("cifar10", data_dir=str(data_dir)).download_and_prepare(download_config=config)
    return pairs


def test_cifar10_from_a_real_tfds_copy(tmp_path):
    pairs = _prepare_real_cifar10(tmp_path / "tfds", tmp_path / "src")
    data = load_images("cifar10", tmp_path / "tfds")
    assert data.source.startswith("tfds:")
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        got = sorted((img.tobytes(), int(lab)) for img, lab in zip(x, y, strict=True))
        assert got == sorted(pairs[split])  # tfds shuffles the order; every image keeps its label
    records = list((tmp_path / "tfds" / "cifar10" / "3.0.2").glob("cifar10-train.tfrecord*"))
    assert records
    for record in records:
        record.unlink()
    with pytest.raises(DataError, match="incomplete or corrupt") as info:
        load_images("cifar10", tmp_path / "tfds")
    assert "\n" not in str(info.value)
