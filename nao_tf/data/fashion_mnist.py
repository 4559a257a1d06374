"""Fashion-MNIST: the standard IDX files (gzipped or not) and the sample embedded in the package.

IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header ``0, 0, type, ndim`` (type 0x08 = unsigned
byte), then ``ndim`` big-endian uint32 sizes, then the data. Images are ``N x 28 x 28``, labels ``N``.
"""

from __future__ import annotations

import gzip
import importlib.resources
import os
import zlib
from pathlib import Path

import numpy as np

from nao_tf.data.image_data import DATASETS, ImageData
from nao_tf.errors import DataError

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files; the default without a data dir.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
#: Sub-folders of a data dir searched too (ours, tensorflow-datasets-like, torchvision's layout).
SUBDIRS = ("", "fashion-mnist", "fashion_mnist", "FashionMNIST/raw")

EMBEDDED_FILE = "fashion_mnist_sample.npz"

_HOW = ("copy the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into a folder and pass it as the data dir, "
        "or install Debian's dataset-fashion-mnist package (files in /usr/share/datasets/fashion-mnist), "
        "or use the embedded sample (--dataset embedded)")


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (``.gz`` or plain) with ``ndim`` dimensions; DataError if corrupt."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {str(path)!r} ({exc}); the file is corrupt or truncated, "
                        f"copy it again") from None
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"IDX file {str(path)!r} is too short ({len(raw)} bytes) to hold a header; the "
                        f"file is corrupt or truncated, copy it again")
    zero0, zero1, dtype, dims = raw[0], raw[1], raw[2], raw[3]
    if zero0 or zero1 or dtype != 0x08 or dims != ndim:
        raise DataError(f"{str(path)!r} is not an unsigned-byte IDX file with {ndim} dimensions "
                        f"(bad magic number 0x{raw[:4].hex()}); check that the right file is in place")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise DataError(f"IDX file {str(path)!r} holds {len(raw) - offset} data bytes but its header "
                        f"promises {expected} ({'x'.join(map(str, shape))}); the file is truncated or "
                        f"corrupt, copy it again")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(shape).copy()


def find_idx_dir(data_dir: Path) -> tuple[Path | None, dict[str, Path]]:
    """The folder under ``data_dir`` holding Fashion-MNIST IDX files and the files found there."""
    for sub in SUBDIRS:
        folder = data_dir / sub if sub else data_dir
        found = {}
        for key, base in IDX_FILES.items():
            for candidate in (folder / base, folder / f"{base}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if found:
            return folder, found
    return None, {}


def load_fashion_mnist(data_dir: Path | None) -> ImageData:
    """Fashion-MNIST from IDX files in ``data_dir`` (or Debian's location when None), or a tfds copy there."""
    if data_dir is None:
        if not DEBIAN_DIR.is_dir():
            raise DataError(f"Fashion-MNIST not found (no data dir given and {DEBIAN_DIR} does not exist); "
                            f"{_HOW}")
        data_dir = DEBIAN_DIR
    folder, files = find_idx_dir(data_dir)
    if folder is None:
        from nao_tf.data import tfds_source

        if tfds_source.prepared_version(data_dir, "fashion_mnist") is not None:
            return tfds_source.load_tfds("fashion_mnist", data_dir)
        raise DataError(f"no Fashion-MNIST IDX files in {str(data_dir)!r}; {_HOW}")
    missing = [IDX_FILES[k] for k in IDX_FILES if k not in files]
    if missing:
        raise DataError(f"Fashion-MNIST in {str(folder)!r} is incomplete: {', '.join(missing)} (.gz or not) "
                        f"missing; {_HOW}")
    arrays = {key: read_idx(path, 3 if key.startswith("x") else 1) for key, path in files.items()}
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if len(x) != len(y):
            raise DataError(f"Fashion-MNIST in {str(folder)!r}: {len(x)} {part} images but {len(y)} labels; "
                            f"the files do not belong together, copy them again")
        if x.shape[1:] != (28, 28):
            raise DataError(f"Fashion-MNIST in {str(folder)!r}: {part} images are "
                            f"{'x'.join(map(str, x.shape[1:]))}, expected 28x28; check the files")
    info = DATASETS["fashion_mnist"]
    return ImageData("fashion_mnist", arrays["x_train"][..., None], arrays["y_train"],
                     arrays["x_test"][..., None], arrays["y_test"], list(info.class_names), info.num_classes,
                     source=str(folder))


def embedded_path():
    """The embedded sample inside the installed package (an ``importlib.resources`` traversable)."""
    return importlib.resources.files("nao_tf.data").joinpath("embedded", EMBEDDED_FILE)


def load_embedded() -> ImageData:
    """The Fashion-MNIST sample shipped inside nao-tf (see ``scripts/make_embedded_fashion_mnist.py``)."""
    resource = embedded_path()
    try:
        with resource.open("rb") as handle, np.load(handle, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, zlib.error) as exc:
        raise DataError(f"the embedded Fashion-MNIST sample ({resource}) is missing or corrupt ({exc}); "
                        f"reinstall nao-tf or regenerate it with scripts/make_embedded_fashion_mnist.py"
                        ) from None
    info = DATASETS["embedded"]
    return ImageData("embedded", arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                     list(info.class_names), info.num_classes, source=f"embedded:{EMBEDDED_FILE}")
