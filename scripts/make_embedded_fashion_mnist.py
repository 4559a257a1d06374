#!/usr/bin/env python
"""Make the Fashion-MNIST sample embedded in nao-tf (``nao_tf/data/embedded/fashion_mnist_sample.npz``).

From the four standard IDX files (default: Debian's ``dataset-fashion-mnist`` location), draw a class-balanced
sample with a fixed seed: ``--train-per-class`` (600) training and ``--test-per-class`` (100) test images of
each of the 10 classes, kept in their original order. The output is a compressed ``.npz`` (``x_train`` uint8
N x 28 x 28 x 1, ``y_train`` int64, ``x_test``, ``y_test``, and ``train_index``/``test_index``: the positions
of the chosen images in the original files). The zip entries carry a fixed timestamp, so the same inputs and
seed give a byte-identical file; ``--check`` verifies that the committed file is what this script makes.

Fashion-MNIST is (c) 2017 Zalando SE, MIT licence: ``nao_tf/data/embedded/LICENSE-fashion-mnist``.

    python scripts/make_embedded_fashion_mnist.py [--idx-dir /usr/share/datasets/fashion-mnist] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nao_tf.data.fashion_mnist import DEBIAN_DIR, EMBEDDED_FILE, load_fashion_mnist  # noqa: E402
from nao_tf.runio import atomic_write_bytes  # noqa: E402
from nao_tf.seeding import rng  # noqa: E402

DEFAULT_OUT = REPO / "nao_tf" / "data" / "embedded" / EMBEDDED_FILE


def balanced_indices(labels: np.ndarray, per_class: int, generator: np.random.Generator) -> np.ndarray:
    """``per_class`` positions of each class drawn without replacement, returned sorted."""
    chosen = []
    for cls in range(int(labels.max()) + 1):
        where = np.flatnonzero(labels == cls)
        if len(where) < per_class:
            raise SystemExit(f"class {cls} has only {len(where)} images, fewer than {per_class}")
        chosen.append(generator.choice(where, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A deflated ``.npz`` readable by ``np.load``, byte-identical for identical arrays (fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def make_sample(idx_dir: Path, train_per_class: int, test_per_class: int, seed: int) -> bytes:
    data = load_fashion_mnist(idx_dir)
    train_idx = balanced_indices(data.y_train, train_per_class, rng(seed, 0))
    test_idx = balanced_indices(data.y_test, test_per_class, rng(seed, 1))
    return npz_bytes({
        "x_train": data.x_train[train_idx],
        "y_train": data.y_train[train_idx].astype(np.int64),
        "x_test": data.x_test[test_idx],
        "y_test": data.y_test[test_idx].astype(np.int64),
        "train_index": train_idx.astype(np.int32),
        "test_index": test_idx.astype(np.int32),
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idx-dir", type=Path, default=DEBIAN_DIR, help="folder with the four IDX files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 unless --out already holds exactly what would be written")
    args = parser.parse_args(argv)
    payload = make_sample(args.idx_dir, args.train_per_class, args.test_per_class, args.seed)
    digest = hashlib.sha256(payload).hexdigest()
    if args.check:
        current = args.out.read_bytes() if args.out.is_file() else b""
        same = current == payload
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from a fresh build'} (sha256 {digest})")
        return 0 if same else 1
    atomic_write_bytes(args.out, payload)
    print(f"wrote {args.out} ({len(payload)} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
