"""What an image dataset is, without loading one: ``DATASETS`` metadata, name aliases, and ``ImageData`` (a
whole dataset in memory, checked on construction). The loaders (``cifar``, ``fashion_mnist``, ``tfds_source``)
build ``ImageData``; ``nao_tf.data.images`` dispatches to them and re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nao_tf.errors import DataError

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl",
    "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair",
    "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin",
    "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp",
    "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
    "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television",
    "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf",
    "woman", "worm",
)


@dataclass(frozen=True)
class ImageDatasetInfo:
    """What is known about a dataset name without loading it."""

    name: str
    num_classes: int
    shape: tuple[int, int, int]  # (height, width, channels) of one image
    class_names: tuple[str, ...]
    train_size: int  # number of training images of the full dataset
    test_size: int
    description: str
    flip: bool = True  # default of make_pipeline's horizontal flip


DATASETS: dict[str, ImageDatasetInfo] = {
    "embedded": ImageDatasetInfo(
        "embedded", 10, (28, 28, 1), FASHION_MNIST_CLASSES, 6000, 1000,
        "class-balanced sample of Fashion-MNIST shipped inside nao-tf (no download)"),
    "fashion_mnist": ImageDatasetInfo(
        "fashion_mnist", 10, (28, 28, 1), FASHION_MNIST_CLASSES, 60000, 10000,
        "Fashion-MNIST from its IDX files (Debian: dataset-fashion-mnist) or tensorflow-datasets"),
    "cifar10": ImageDatasetInfo(
        "cifar10", 10, (32, 32, 3), CIFAR10_CLASSES, 50000, 10000,
        "CIFAR-10 from cifar-10-python.tar.gz, its extracted folder, or tensorflow-datasets"),
    "cifar100": ImageDatasetInfo(
        "cifar100", 100, (32, 32, 3), CIFAR100_CLASSES, 50000, 10000,
        "CIFAR-100 (fine labels) from cifar-100-python.tar.gz, its extracted folder, or tensorflow-datasets"),
}

_ALIASES = {"fashion-mnist": "fashion_mnist", "fmnist": "fashion_mnist", "cifar-10": "cifar10",
            "cifar-100": "cifar100"}


def dataset_info(name: str) -> ImageDatasetInfo:
    """The metadata of dataset ``name`` (aliases such as ``fashion-mnist`` accepted); DataError if unknown."""
    return DATASETS[canonical_name(name)]


def canonical_name(name: str) -> str:
    """``name`` as a key of ``DATASETS``; ``DataError`` listing the valid names if it is not one."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    return key


@dataclass
class ImageData:
    """A whole image dataset in memory.

    Images are uint8 NHWC arrays, labels int64 vectors in ``0..num_classes-1``. ``mean``/``std`` are
    per-channel statistics of ``x_train`` in 0..255 units (computed when not given); models normalize with
    them.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    num_classes: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    source: str = field(default="", compare=False)  # where the data was read from (for run configs and logs)

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            x = np.asarray(x)
            y = np.asarray(y)
            if x.ndim == 3:  # grayscale without a channel axis
                x = x[..., None]
            if x.ndim != 4 or x.dtype != np.uint8:
                raise DataError(f"dataset {self.name!r}: {part} images must be uint8 NHWC, "
                                f"got {x.dtype} of shape {x.shape}")
            if y.ndim != 1 or len(y) != len(x):
                raise DataError(f"dataset {self.name!r}: {len(x)} {part} images but labels of shape "
                                f"{y.shape}")
            y = y.astype(np.int64, copy=False)
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise DataError(f"dataset {self.name!r}: {part} labels outside 0..{self.num_classes - 1} "
                                f"(found {y.min()}..{y.max()}); the data is corrupt")
            setattr(self, f"x_{part}", x)
            setattr(self, f"y_{part}", y)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"dataset {self.name!r}: train images {self.x_train.shape[1:]} and test images "
                            f"{self.x_test.shape[1:]} differ in shape; the data is corrupt")
        for part in ("train", "test"):  # an empty split trains nothing or reports an accuracy of nothing
            if len(getattr(self, f"x_{part}")) == 0:
                where = f" in {self.source}" if self.source else ""
                raise DataError(f"dataset {self.name!r}{where} has no {part} images; the files are empty or "
                                "truncated, copy them again")
        self.class_names = [str(c) for c in self.class_names]
        if len(self.class_names) != self.num_classes:
            raise DataError(f"dataset {self.name!r}: {len(self.class_names)} class names for "
                            f"{self.num_classes} classes")
        if self.mean is None or self.std is None:
            mean, std = channel_stats(self.x_train)
            self.mean = self.mean if self.mean is not None else mean
            self.std = self.std if self.std is not None else std
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one image."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[-1])

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (for run configs)."""
        return {"name": self.name, "source": self.source, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "train_size": len(self.x_train),
                "test_size": len(self.x_test), "mean": list(self.mean), "std": list(self.std)}


def channel_stats(images: np.ndarray, chunk: int = 2048) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of uint8 NHWC ``images`` in 0..255 units.

    Computed exactly from per-channel histograms (one ``bincount`` per chunk; no float copy of the images)."""
    c = images.shape[-1]
    offsets = (np.arange(c, dtype=np.uint16) * 256)[None, :]
    hist = np.zeros(256 * c, np.int64)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].reshape(-1, c).astype(np.uint16)
        hist += np.bincount((block + offsets).ravel(), minlength=256 * c)
    hist = hist.reshape(c, 256).astype(np.float64)
    values = np.arange(256, dtype=np.float64)
    count = hist.sum(axis=1)
    mean = (hist * values).sum(axis=1) / count
    var = (hist * np.square(values[None, :] - mean[:, None])).sum(axis=1) / count
    std = np.where(var > 0, np.sqrt(var), 1.0)  # constant channel: avoid dividing by zero when normalizing
    return tuple(float(m) for m in mean), tuple(float(v) for v in std)
