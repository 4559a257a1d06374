"""Batching of token streams for truncated back-propagation through time (AWD-LSTM style).

``batchify`` cuts a 1-D id stream into ``batch_size`` contiguous streams (batch-major: row ``b`` is one stream,
so the hidden state of row ``b`` carries over from one window to the next). ``bptt_windows`` walks the
streams in windows; in training the window length varies as in AWD-LSTM: the base length is ``bptt`` with
probability 0.95 and ``bptt / 2`` otherwise, the length is drawn from N(base, 5), at least 5 and at most
``bptt + 20``. ``lm_dataset`` wraps the windows in a ``tf.data.Dataset`` of ``(inputs, targets)``, both int32
``[batch, time]`` with a dynamic time axis, so one traced training step serves every length.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nao_tf.errors import DataError

MIN_SEQ_LEN = 5
MAX_SEQ_LEN_DELTA = 20


def batchify(ids: np.ndarray, batch_size: int, split: str = "data") -> np.ndarray:
    """``[batch_size, n]`` int32 streams (the tail that does not fill a row is dropped)."""
    if batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    ids = np.asarray(ids, dtype=np.int32).reshape(-1)
    per_stream = ids.size // batch_size
    if per_stream < 2:
        raise DataError(
            f"the {split} split has {ids.size} tokens, too few for {batch_size} streams of at least 2 tokens; "
            "lower the batch size or use a larger corpus"
        )
    return ids[: per_stream * batch_size].reshape(batch_size, per_stream)


def check_bptt(streams: np.ndarray, bptt: int, split: str = "data") -> None:
    """A BPTT window must fit in a stream (inputs and the targets shifted by one)."""
    if bptt < 1:
        raise DataError(f"BPTT length must be at least 1, got {bptt}")
    per_stream = streams.shape[1]
    if bptt > per_stream - 1:
        raise DataError(
            f"BPTT length {bptt} is larger than the {per_stream - 1} steps each of the {streams.shape[0]} "
            f"streams of the {split} split holds; lower --bptt or --batch-size"
        )


def bptt_windows(streams: np.ndarray, bptt: int, rng: np.random.Generator | None = None,
                 variable: bool = False) -> Iterator[tuple[int, int]]:
    """``(start, length)`` of each window; ``variable`` draws AWD-LSTM lengths from ``rng``."""
    total = streams.shape[1] - 1
    i = 0
    while i < total:
        if variable:
            assert rng is not None
            base = bptt if rng.random() < 0.95 else bptt / 2.0
            seq_len = max(MIN_SEQ_LEN, int(rng.normal(base, 5)))
            seq_len = min(seq_len, bptt + MAX_SEQ_LEN_DELTA)
        else:
            seq_len = bptt
        seq_len = min(seq_len, total - i)
        yield i, seq_len
        i += seq_len


def windows_array(streams: np.ndarray, bptt: int, rng: np.random.Generator | None = None,
                  variable: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(inputs, targets)`` NumPy pairs of every window."""
    for start, length in bptt_windows(streams, bptt, rng, variable):
        yield streams[:, start:start + length], streams[:, start + 1:start + 1 + length]


def count_windows(streams: np.ndarray, bptt: int) -> int:
    return -(-(streams.shape[1] - 1) // bptt)


def lm_dataset(streams: np.ndarray, bptt: int, seed: int | None = None, variable: bool = False):
    """``tf.data.Dataset`` of ``(inputs, targets)`` windows (one pass; variable lengths drawn from ``seed``)."""
    import tensorflow as tf

    batch = streams.shape[0]

    def gen():
        rng = np.random.default_rng(seed) if variable else None
        yield from windows_array(streams, bptt, rng, variable)

    spec = tf.TensorSpec([batch, None], tf.int32)
    return tf.data.Dataset.from_generator(gen, output_signature=(spec, spec)).prefetch(2)
