"""Datasets prepared by tensorflow-datasets in a local data dir, read with ``download=False``.

Nothing here may reach the network. tensorflow-datasets is only imported once the prepared files are known
to be on disk (``<data_dir>/<name>/<version>/dataset_info.json``, the layout ``tfds build NAME --data_dir D``
writes); otherwise callers raise a one-line ``DataError`` at once (``tfds.load`` on a missing dataset can
spend minutes trying to reach Google Cloud Storage on an offline machine).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nao_tf.data.image_data import DATASETS, ImageData
from nao_tf.errors import DataError


def _version_key(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (-1,)


def prepared_version(data_dir: str | os.PathLike, name: str) -> str | None:
    """The newest version of tfds dataset ``name`` prepared in ``data_dir`` (has ``dataset_info.json``)."""
    root = Path(data_dir) / name
    if not root.is_dir():
        return None
    versions = [p.name for p in root.iterdir()
                if p.is_dir() and _version_key(p.name) != (-1,) and (p / "dataset_info.json").is_file()]
    return max(versions, key=_version_key) if versions else None


def check_info(path: Path, name: str) -> None:
    """``dataset_info.json`` is what tfds wrote for ``name`` (checked before tfds parses it: tfds raises
    protobuf errors, or worse, on a file that is not its own)."""
    import json

    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DataError(f"{path} is not a tensorflow-datasets dataset_info.json ({type(exc).__name__}); "
                        f"rebuild it with `tfds build {name}`") from None
    if not isinstance(info, dict):
        info = {}
    # tfds writes the name and version on every dataset_info.json; the split list only once records exist
    # (a folder of metadata alone fails later, when tfds finds no records, with the rebuild hint too).
    splits = info.get("splits")
    names = {s.get("name") for s in splits if isinstance(s, dict)} if isinstance(splits, list) else set()
    splits_ok = "splits" not in info or {"train", "test"} <= names
    if info.get("name") != name or str(info.get("version")) != path.parent.name or not splits_ok:
        raise DataError(f"{path} does not describe a prepared {name} with train and test splits; rebuild it with "
                        f"`tfds build {name}`")


def import_tfds():
    """``tensorflow_datasets``, imported with TensorFlow's start-up chatter silenced."""
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    import tensorflow_datasets as tfds

    return tfds


def load_tfds(name: str, data_dir: str | os.PathLike) -> ImageData:
    """Read tfds dataset ``name`` (``cifar10``, ``cifar100``, ``fashion_mnist``) prepared in ``data_dir``.

    Uses ``tfds.builder(name:version, data_dir=...)`` and ``as_dataset`` only: never ``download_and_prepare``,
    so nothing is downloaded (equivalent to ``tfds.load(..., download=False)``).
    """
    version = prepared_version(data_dir, name)
    if version is None:
        raise DataError(f"no tensorflow-datasets copy of {name} in {str(data_dir)!r}; prepare it on a "
                        f"connected machine with `tfds build {name} --data_dir {data_dir}` and copy it over")
    where = Path(data_dir) / name / version
    check_info(where / "dataset_info.json", name)
    tfds = import_tfds()
    import tensorflow as tf

    info = DATASETS[name]
    try:
        builder = tfds.builder(f"{name}:{version}", data_dir=str(data_dir))
        arrays = {}
        for split in ("train", "test"):
            # Batched iteration rather than batch_size=-1 (which aborts the process under tfds.testing.mock_data).
            batches = list(tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True).batch(10000)))
            if not batches:
                raise ValueError(f"the {split} split is empty")
            arrays[split] = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    except (tf.errors.OpError, AssertionError, ValueError, KeyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"the tensorflow-datasets copy of {name} in {str(where)!r} is incomplete or corrupt "
                        f"({first}); rebuild it with `tfds build {name} --data_dir {data_dir}`") from None
    for split, (images, _) in arrays.items():
        if images.dtype != np.uint8 or images.shape[1:] != info.shape:
            raise DataError(f"the tensorflow-datasets copy of {name} in {str(where)!r} has {split} images of "
                            f"{images.dtype} {images.shape[1:]}, expected uint8 {info.shape}; rebuild it")
    return ImageData(name, arrays["train"][0], arrays["train"][1], arrays["test"][0], arrays["test"][1],
                     list(info.class_names), info.num_classes, source=f"tfds:{where}")
