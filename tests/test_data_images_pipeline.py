"""tf.data pipelines of image datasets: shapes, dtypes, splits, and the augmentations (crop, flip, cutout)."""

from __future__ import annotations

import numpy as np
import pytest

from nao_tf.data import ImageData, default_padding, load_images, make_pipeline
from nao_tf.errors import ConfigError


def _data(n=40, shape=(8, 8, 3), classes=4, images=None, mean=None, std=None):
    r = np.random.default_rng(1)
    x = r.integers(1, 256, (n, *shape), dtype=np.uint8) if images is None else images
    return ImageData("small", x, np.arange(n) % classes, x[:10].copy(), np.arange(10) % classes,
                     [f"c{i}" for i in range(classes)], classes, mean=mean, std=std)


def _collect(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def test_embedded_pipelines_shapes_and_dtypes():
    data = load_images("embedded")
    ds = make_pipeline(data, "train", 64, augment=True, cutout=16, valid_size=1000, seed=0)
    x, y = next(iter(ds))
    assert x.shape == (64, 28, 28, 1) and x.dtype.name == "float32" and y.dtype.name == "int64"
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 255.0
    spec = make_pipeline(data, "test", 500, augment=False, drop_remainder=True).element_spec
    assert tuple(spec[0].shape) == (500, 28, 28, 1)
    sizes = {split: sum(int(b[1].shape[0]) for b in make_pipeline(data, split, 500, augment=False,
                                                                   valid_size=1000))
             for split in ("train", "valid", "test", "train_full")}
    assert sizes == {"train": 5000, "valid": 1000, "test": 1000, "train_full": 6000}


def test_split_sizes_and_remainder():
    data = _data(n=40)
    assert _collect(make_pipeline(data, "train", 7, augment=False, valid_size=10))[0].shape[0] == 30
    dropped = make_pipeline(data, "train", 7, augment=False, valid_size=10, drop_remainder=True)
    assert _collect(dropped)[0].shape[0] == 28
    assert _collect(make_pipeline(data, "train", 7, augment=False))[0].shape[0] == 40  # no valid_size: all
    repeated = make_pipeline(data, "train_full", 16, augment=True, repeat=True, drop_remainder=True)
    assert sum(1 for _ in repeated.take(6)) == 6  # 96 images > 40: repeats


def test_valid_and_test_are_exact_and_ordered():
    data = _data(n=40)
    x, y = _collect(make_pipeline(data, "test", 3, augment=False))
    np.testing.assert_array_equal(x, data.x_test.astype(np.float32))
    np.testing.assert_array_equal(y, data.y_test)
    from nao_tf.data import split_train_valid

    _, _, x_va, y_va = split_train_valid(data, 10, seed=5)
    x, y = _collect(make_pipeline(data, "valid", 4, augment=False, valid_size=10, seed=5))
    np.testing.assert_array_equal(x, x_va.astype(np.float32))
    np.testing.assert_array_equal(y, y_va)


def test_shuffled_train_keeps_labels_with_images():
    n = 40
    images = np.repeat((np.arange(n, dtype=np.uint8) * 5 + 3)[:, None, None, None], 8 * 8 * 3).reshape(n, 8, 8, 3)
    data = ImageData("small", images, np.arange(n) % 4, images[:10], np.arange(10) % 4, list("abcd"), 4)
    x, y = _collect(make_pipeline(data, "train_full", 8, augment=True, padding=0, seed=2))
    index = (x[:, 0, 0, 0].astype(int) - 3) // 5
    np.testing.assert_array_equal(y, index % 4)
    assert sorted(index.tolist()) == list(range(n)) and index.tolist() != list(range(n))  # a permutation


def test_augmentation_is_deterministic_with_a_seed_and_varies_by_epoch():
    data = _data(n=40)

    def epochs(seed, count=2):
        ds = make_pipeline(data, "train", 16, augment=True, cutout=4, valid_size=8, seed=seed)
        return [_collect(ds) for _ in range(count)]

    a, b, c = epochs(7), epochs(7), epochs(8)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    assert not np.array_equal(a[0][0], a[1][0])  # the second pass draws new shuffles and augmentations


def _shifts(original, augmented, padding):
    """The (dy, dx) such that augmented is original shifted with zero fill, or None."""
    h, w = original.shape[:2]
    padded = np.pad(original, ((padding, padding), (padding, padding), (0, 0)))
    for oy in range(2 * padding + 1):
        for ox in range(2 * padding + 1):
            if np.array_equal(padded[oy:oy + h, ox:ox + w], augmented):
                return oy - padding, ox - padding
    return None


def test_random_crop_is_a_zero_padded_shift():
    data = _data(n=32, shape=(8, 8, 3))
    x, _ = _collect(make_pipeline(data, "test", 10, augment=True, flip=False, padding=2, seed=3))
    shifts = [_shifts(data.x_test[i].astype(np.float32), x[i], 2) for i in range(10)]
    assert all(s is not None for s in shifts), shifts
    assert len(set(shifts)) > 1


def test_flip_mirrors_about_half_the_images():
    data = _data(n=64, shape=(6, 6, 1))
    x, _ = _collect(make_pipeline(data, "train_full", 64, augment=True, padding=0, shuffle=False, seed=4))
    originals = data.x_train.astype(np.float32)
    same = [np.array_equal(x[i], originals[i]) for i in range(64)]
    mirrored = [np.array_equal(x[i], originals[i][:, ::-1]) for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert 10 < sum(mirrored) < 54
    x, _ = _collect(make_pipeline(data, "train_full", 64, augment=True, padding=0, flip=False, shuffle=False))
    np.testing.assert_array_equal(x, originals)


def test_cutout_fills_a_clipped_square_with_the_mean():
    images = np.full((48, 10, 10, 3), 255, np.uint8)
    mean = (10.0, 20.0, 30.0)
    data = _data(n=48, images=images, mean=mean, std=(1.0, 1.0, 1.0))
    x, _ = _collect(make_pipeline(data, "train_full", 16, augment=True, cutout=4, padding=0, flip=False, seed=5))
    sizes = set()
    for img in x:
        filled = np.all(img == np.array(mean, np.float32), axis=-1)
        assert np.all(filled | np.all(img == 255.0, axis=-1))  # every pixel is either untouched or the mean
        rows, cols = np.flatnonzero(filled.any(axis=1)), np.flatnonzero(filled.any(axis=0))
        assert filled[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one rectangle
        assert 2 <= len(rows) <= 4 and 2 <= len(cols) <= 4
        sizes.add(int(filled.sum()))
    assert 16 in sizes and min(sizes) < 16  # whole squares inside, clipped ones at the borders
    normalized = (x - np.array(mean, np.float32)) / 1.0
    assert np.any(normalized == 0.0)


def test_default_padding_and_bad_arguments():
    assert default_padding(32) == 4 and default_padding(28) == 4 and default_padding(8) == 1
    data = _data()
    with pytest.raises(ConfigError, match="valid_size"):
        make_pipeline(data, "valid", 8, augment=False)
    with pytest.raises(ConfigError, match="unknown split"):
        make_pipeline(data, "validation", 8, augment=False)
    with pytest.raises(ConfigError):
        make_pipeline(data, "train", 0, augment=False)
