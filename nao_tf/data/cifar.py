"""CIFAR-10 / CIFAR-100 from the original python archives, their extracted folders, or tensorflow-datasets.

The python version of CIFAR (https://www.cs.toronto.edu/~kriz/cifar.html) stores pickled dicts: ``data`` a
uint8 ``N x 3072`` array (1024 red, 1024 green, 1024 blue values, rows of 32 pixels), ``labels``
(CIFAR-10) or ``fine_labels`` (CIFAR-100) a list of ints. The pickles are read with an unpickler that only
builds NumPy arrays, so a crafted archive cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nao_tf.data.image_data import DATASETS, ImageData
from nao_tf.errors import DataError


@dataclass(frozen=True)
class CifarLayout:
    name: str
    title: str
    archive: str
    folder: str
    train: tuple[str, ...]
    test: str
    label_key: str


LAYOUTS = {
    "cifar10": CifarLayout("cifar10", "CIFAR-10", "cifar-10-python.tar.gz", "cifar-10-batches-py",
                           tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "labels"),
    "cifar100": CifarLayout("cifar100", "CIFAR-100", "cifar-100-python.tar.gz", "cifar-100-python",
                            ("train",), "test", "fine_labels"),
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _how(layout: CifarLayout, data_dir) -> str:
    where = str(data_dir) if data_dir is not None else "D"
    return (f"put {layout.archive} (from https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted "
            f"{layout.folder}/ folder in {where}, or prepare it on a connected machine with "
            f"`tfds build {layout.name} --data_dir {where}` and copy the folder over")


def _unpickle(payload: bytes, what: str) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            ImportError, UnicodeDecodeError, OverflowError) as exc:  # what corrupt pickles raise
        raise DataError(f"cannot unpickle {what} ({type(exc).__name__}: {exc}); the file is corrupt, "
                        f"copy it again") from None
    if not isinstance(obj, dict):
        raise DataError(f"{what} is not a CIFAR batch (a pickled dict); the file is corrupt")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _parse_batch(payload: bytes, what: str, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(payload, what)
    if "data" not in batch or label_key not in batch:
        raise DataError(f"{what} lacks the 'data' or {label_key!r} entry of a CIFAR batch; the file is "
                        f"corrupt or from another dataset")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{what}: 'data' is {data.dtype} of shape {data.shape}, expected uint8 N x 3072; "
                        f"the file is corrupt")
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{what}: {len(data)} images but labels of shape {labels.shape}; the file is corrupt")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{what}: labels outside 0..{num_classes - 1} (found {labels.min()}..{labels.max()}); "
                        f"the file is corrupt or from another dataset")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _assemble(layout: CifarLayout, payloads: dict[str, bytes], where: str) -> ImageData:
    info = DATASETS[layout.name]
    parts = {}
    for split, members in (("train", layout.train), ("test", (layout.test,))):
        batches = [_parse_batch(payloads[m], f"{where}/{m}", layout.label_key, info.num_classes) for m in members]
        parts[split] = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    return ImageData(layout.name, parts["train"][0], parts["train"][1], parts["test"][0], parts["test"][1],
                     list(info.class_names), info.num_classes, source=where)


def read_folder(layout: CifarLayout, folder: Path) -> ImageData:
    """CIFAR from an extracted ``cifar-10-batches-py`` / ``cifar-100-python`` folder."""
    wanted = (*layout.train, layout.test)
    missing = [m for m in wanted if not (folder / m).is_file()]
    if missing:
        raise DataError(f"{layout.title} folder {str(folder)!r} is incomplete: {', '.join(missing)} missing; "
                        f"extract {layout.archive} again")
    payloads = {}
    for member in wanted:
        try:
            payloads[member] = (folder / member).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {str(folder / member)!r} ({exc})") from None
    return _assemble(layout, payloads, str(folder))


def read_archive(layout: CifarLayout, archive: Path) -> ImageData:
    """CIFAR from the original ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``, not extracted."""
    wanted = set((*layout.train, layout.test))
    payloads: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                base = member.name.rstrip("/").rsplit("/", 1)[-1]
                if member.isfile() and base in wanted and base not in payloads:
                    handle = tar.extractfile(member)
                    payloads[base] = handle.read() if handle is not None else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"cannot read {layout.title} archive {str(archive)!r} ({type(exc).__name__}: {exc}); "
                        f"it is truncated or corrupt, download {layout.archive} again") from None
    missing = sorted(wanted - set(payloads))
    if missing:
        raise DataError(f"{layout.title} archive {str(archive)!r} lacks {', '.join(missing)}; it is "
                        f"truncated or not {layout.archive}, download it again")
    return _assemble(layout, payloads, str(archive))


def default_dirs() -> list[Path]:
    """Folders searched when no data dir is given: ``$NAO_TF_DATA_DIR``, then tfds's default data dir."""
    dirs = []
    if os.environ.get("NAO_TF_DATA_DIR"):
        dirs.append(Path(os.environ["NAO_TF_DATA_DIR"]).expanduser())
    dirs.append(Path(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser())
    return [d for d in dirs if d.is_dir()]


def find_cifar(layout: CifarLayout, data_dir: Path):
    """A loader for ``layout`` found in ``data_dir`` (a callable returning ImageData), or None."""
    from nao_tf.data import tfds_source

    if data_dir.is_file():
        if data_dir.name.endswith((".tar.gz", ".tgz", ".tar")):
            return lambda: read_archive(layout, data_dir)
        return None
    for folder in (data_dir / layout.folder, data_dir):
        if (folder / layout.test).is_file() or (folder / layout.train[0]).is_file():
            return lambda folder=folder: read_folder(layout, folder)
    if (data_dir / layout.archive).is_file():
        return lambda: read_archive(layout, data_dir / layout.archive)
    if tfds_source.prepared_version(data_dir, layout.name) is not None:
        return lambda: tfds_source.load_tfds(layout.name, data_dir)
    return None


def load_cifar(name: str, data_dir: Path | None) -> ImageData:
    """CIFAR-10 or CIFAR-100 (fine labels) from ``data_dir``; never downloads."""
    layout = LAYOUTS[name]
    if data_dir is not None:
        loader = find_cifar(layout, data_dir)
        if loader is None:
            raise DataError(f"no {layout.title} data in {str(data_dir)!r}; {_how(layout, data_dir)}")
        return loader()
    for candidate in default_dirs():
        loader = find_cifar(layout, candidate)
        if loader is not None:
            return loader()
    raise DataError(f"{layout.title} is not downloaded automatically and no data dir was given; "
                    f"{_how(layout, None)}, then pass D as the data dir (--data-dir D) "
                    f"or set NAO_TF_DATA_DIR=D")
