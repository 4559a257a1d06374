"""Image datasets for CNN children: loading (CIFAR-10/100, Fashion-MNIST, embedded sample), tf.data pipelines.

* ``DATASETS``: metadata (classes, image shape, class names) of every dataset, usable without loading data.
* ``load_images(name, data_dir=None) -> ImageData``: uint8 NHWC images and int64 labels in memory, plus the
  per-channel mean/std of the training images (0..255 units). Never reaches the network: a missing dataset
  is a one-line ``DataError`` that says how to prepare it.
* ``split_train_valid``: the deterministic train/valid split of the training set used during search.
* ``make_pipeline``: a ``tf.data.Dataset`` of ``(float32 images in 0..255, int64 labels)`` batches, with the
  paper's augmentations (random crop with zero padding, horizontal flip, cutout filled with the mean). The
  images are NOT normalized: models normalize with ``ImageData.mean``/``std`` themselves, so that exported
  models take raw uint8 images.

Where data comes from (see ``load_images``):

* ``embedded`` (the default): 6,000 train + 1,000 test Fashion-MNIST images shipped inside the package
  (``nao_tf/data/embedded/``, made by ``scripts/make_embedded_fashion_mnist.py``; MIT licence beside it).
* ``fashion_mnist``: the four IDX files (``train-images-idx3-ubyte[.gz]`` ...) in ``data_dir``, or Debian's
  ``dataset-fashion-mnist`` location ``/usr/share/datasets/fashion-mnist`` when no ``data_dir`` is given, or a
  tensorflow-datasets copy prepared in ``data_dir``.
* ``cifar10`` / ``cifar100``: in ``data_dir``, the original python archive (``cifar-10-python.tar.gz``,
  ``cifar-100-python.tar.gz``), its extracted folder (``cifar-10-batches-py/``, ``cifar-100-python/``), or a
  tensorflow-datasets copy (``tfds build cifar10 --data_dir D`` on a connected machine), always read with
  ``download=False``. Without ``data_dir``: ``$NAO_TF_DATA_DIR``, then ``$TFDS_DATA_DIR`` or
  ``~/tensorflow_datasets``, if they exist.

Horizontal flips are on for every dataset, Fashion-MNIST included: all ten Fashion-MNIST classes keep their
label when mirrored (a mirrored sneaker is a sneaker), and flips are a common augmentation for Fashion-MNIST.
Pass ``flip=False`` to ``make_pipeline`` to turn them off.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nao_tf.data.image_data import (  # noqa: F401 - re-exported: the public names of image datasets
    _ALIASES,
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    DATASETS,
    FASHION_MNIST_CLASSES,
    ImageData,
    ImageDatasetInfo,
    canonical_name,
    channel_stats,
    dataset_info,
)
from nao_tf.errors import ConfigError, DataError

DEFAULT_DATASET = "embedded"
SPLITS = ("train", "valid", "test", "train_full")


def check_image_shape(data: ImageData | np.ndarray, input_shape: Sequence[int | None]) -> None:
    """Raise a one-line ``DataError`` unless the images of ``data`` fit a model's ``input_shape``.

    ``input_shape`` is (H, W, C) or (batch, H, W, C); ``None`` entries match anything.
    """
    images = data.x_train if isinstance(data, ImageData) else np.asarray(data)
    name = data.name if isinstance(data, ImageData) else "the"
    have = tuple(int(d) for d in images.shape[1:])
    want = tuple(input_shape)[-3:] if len(tuple(input_shape)) >= 3 else tuple(input_shape)
    ok = len(have) == len(want) and all(w is None or int(w) == h for h, w in zip(have, want, strict=True))
    if not ok:
        fmt = "x".join("?" if d is None else str(d) for d in want)
        raise DataError(f"{name} dataset has images of shape {'x'.join(map(str, have))} but the model "
                        f"expects {fmt}; use a model built for this dataset or a dataset with {fmt} images")


def load_images(name: str = DEFAULT_DATASET, data_dir: str | os.PathLike | None = None) -> ImageData:
    """Load dataset ``name`` (``embedded``, ``fashion_mnist``, ``cifar10``, ``cifar100``) into memory.

    ``data_dir`` is a folder holding the data (see the module docstring); it is ignored for ``embedded``.
    Nothing is downloaded: a missing or corrupt dataset raises a one-line ``DataError`` saying how to prepare
    it.
    """
    key = canonical_name(name)
    if data_dir is not None and key != "embedded":
        data_dir = Path(data_dir).expanduser()
        if not data_dir.exists():
            raise DataError(f"data dir {str(data_dir)!r} does not exist; pass the folder that holds the "
                            f"{key} files")
    if key == "embedded":
        from nao_tf.data import fashion_mnist

        return fashion_mnist.load_embedded()
    if key == "fashion_mnist":
        from nao_tf.data import fashion_mnist

        return fashion_mnist.load_fashion_mnist(data_dir)
    from nao_tf.data import cifar

    return cifar.load_cifar(key, data_dir)


def split_train_valid(data: ImageData, valid_size: int, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the training set into (x_train, y_train, x_valid, y_valid), the same for the same ``seed``.

    ``valid_size`` images drawn uniformly at random (NumPy generator ``nao_tf.seeding.rng(seed, 7001)``) form
    the validation part; both parts keep the original order of the training set.
    """
    from nao_tf.seeding import rng

    n = len(data.x_train)
    valid_size = int(valid_size)
    if not 0 < valid_size < n:
        raise ConfigError(f"valid size {valid_size} must be between 1 and {n - 1} for dataset "
                          f"{data.name!r} with {n} training images")
    perm = rng(seed, 7001).permutation(n)
    valid_idx = np.sort(perm[:valid_size])
    train_idx = np.sort(perm[valid_size:])
    return data.x_train[train_idx], data.y_train[train_idx], data.x_train[valid_idx], data.y_train[valid_idx]


def default_padding(height: int) -> int:
    """Zero padding of the random crop: 4 pixels for 32x32 images (the paper), else height/8 rounded."""
    return max(1, int(round(height / 8)))


def make_pipeline(data: ImageData, split: str, batch_size: int, *, augment: bool, cutout: int = 0,
                  valid_size: int = 0, seed: int = 0, repeat: bool = False, drop_remainder: bool = False,
                  shuffle: bool | None = None, flip: bool | None = None, padding: int | None = None):
    """A ``tf.data.Dataset`` of ``(images float32 NHWC in 0..255, labels int64)`` batches.

    ``split``: ``train`` (the training set minus the ``valid_size`` validation images; the whole training set
    when ``valid_size`` is 0), ``valid`` (those ``valid_size`` images), ``test``, ``train_full`` (the whole
    training set). ``augment``: random crop with ``padding`` zero pixels (``default_padding``), horizontal
    flip (``flip``, default from ``DATASETS``) and, when ``cutout > 0``, a ``cutout`` x ``cutout`` square
    (clipped at the borders) filled with the per-channel mean, i.e. zero once the model normalizes.
    ``shuffle`` defaults to true for ``train``/``train_full``. The same ``seed`` gives the same batches and
    augmentations, epoch after epoch (every pass over the dataset draws new ones). Elements are cached,
    batches prefetched.
    """
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    import tensorflow as tf

    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    cutout = int(cutout)
    if cutout < 0:
        raise ConfigError(f"cutout size must be 0 (off) or positive, got {cutout}")
    if split == "test":
        x, y = data.x_test, data.y_test
    elif split == "train_full" or (split == "train" and not valid_size):
        x, y = data.x_train, data.y_train
    elif split == "valid" and not valid_size:
        raise ConfigError("the 'valid' split needs valid_size > 0 (images held out of the training set)")
    else:
        x_tr, y_tr, x_va, y_va = split_train_valid(data, valid_size, seed)
        x, y = (x_tr, y_tr) if split == "train" else (x_va, y_va)
    if shuffle is None:
        shuffle = split in ("train", "train_full")
    if flip is None:
        flip = DATASETS[data.name].flip if data.name in DATASETS else True
    height, width, _ = data.input_shape
    padding = default_padding(height) if padding is None else int(padding)

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    mean = tf.constant(data.mean, tf.float32)

    def to_float(images, labels):
        return tf.cast(images, tf.float32), labels

    if augment:
        # One fresh random seed per batch, drawn anew on every pass (deterministic given `seed`).
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        seeds = seeds.batch(2, drop_remainder=True)
        ds = tf.data.Dataset.zip(ds, seeds)

        def augment_batch(batch, pair):
            images, labels = to_float(*batch)
            s_crop, s_flip, s_cut = tf.unstack(tf.random.experimental.stateless_split(pair, 3))
            images = random_crop(images, padding, s_crop)
            if flip:
                images = random_flip(images, s_flip)
            if cutout:
                images = apply_cutout(images, cutout, mean, s_cut)
            return images, labels

        ds = ds.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def random_crop(images, padding: int, seed):
    """Pad a float NHWC batch with ``padding`` zero pixels on every side, then crop each image back at a
    random offset (stateless, ``seed`` a shape-[2] int tensor)."""
    import tensorflow as tf

    if padding <= 0:
        return images
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    offsets = tf.random.stateless_uniform([n, 2], seed, minval=0, maxval=2 * padding + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(h)[None, :]  # [n, h]
    cols = offsets[:, 1:] + tf.range(w)[None, :]  # [n, w]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def random_flip(images, seed):
    """Mirror each image of a NHWC batch left-right with probability 1/2 (stateless)."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    mask = tf.random.stateless_uniform([n], seed) < 0.5
    return tf.where(mask[:, None, None, None], tf.reverse(images, axis=[2]), images)


def apply_cutout(images, size: int, fill, seed):
    """Cutout (DeVries & Taylor 2017, as in NAO): per image, a ``size`` x ``size`` square centred at a
    uniformly random pixel, clipped at the borders, set to ``fill`` (the per-channel mean)."""
    import tensorflow as tf

    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    cy = tf.random.stateless_uniform([n], seed, minval=0, maxval=h, dtype=tf.int32)
    cx = tf.random.stateless_uniform([n], seed + 1, minval=0, maxval=w, dtype=tf.int32)
    half = size // 2
    rows = tf.range(h)[None, :]
    cols = tf.range(w)[None, :]
    in_rows = (rows >= (cy - half)[:, None]) & (rows < (cy + size - half)[:, None])  # [n, h]
    in_cols = (cols >= (cx - half)[:, None]) & (cols < (cx + size - half)[:, None])  # [n, w]
    mask = in_rows[:, :, None] & in_cols[:, None, :]  # [n, h, w]
    return tf.where(mask[..., None], tf.cast(fill, images.dtype), images)
