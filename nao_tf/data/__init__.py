"""Datasets and tf.data pipelines.

Images (CNN children): ``load_images`` -> ``ImageData``, ``make_pipeline``, ``split_train_valid``,
``DATASETS`` (see ``nao_tf.data.images``).
"""

from __future__ import annotations

from nao_tf.data.images import (
    DATASETS,
    DEFAULT_DATASET,
    SPLITS,
    ImageData,
    ImageDatasetInfo,
    canonical_name,
    channel_stats,
    check_image_shape,
    dataset_info,
    default_padding,
    load_images,
    make_pipeline,
    split_train_valid,
)

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "SPLITS",
    "ImageData",
    "ImageDatasetInfo",
    "canonical_name",
    "channel_stats",
    "check_image_shape",
    "dataset_info",
    "default_padding",
    "load_images",
    "make_pipeline",
    "split_train_valid",
]
