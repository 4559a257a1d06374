"""``nao-tf benchmark supernet``: the NAO-WS CNN supernet's seconds per architecture evaluation and images/s.

Same work as the authors' published figures (500 images per evaluation, N=3, F=20, 32x32x3; training batch
64), which are 7.7 s per evaluation and 25.6 training images/s on the reference CPU. Random images and
labels (speed does not depend on them); the first call of each step (tracing / compilation) is reported
separately. Both op-selection modes of the supernet (``switch``, ``onehot``) are measured.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun, Stopwatch

AUTHORS_SECONDS_PER_EVAL = 7.7
AUTHORS_TRAIN_IMAGES_PER_S = 25.6


def benchmark_supernet(layers: int = 3, channels: int = 20, image_size: int = 32, eval_images: int = 500,
                       batch: int = 64, archs: int = 10, train_steps: int = 20, seed: int = 0,
                       modes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Seconds per architecture evaluation (``eval_images`` images, one batch) and training images/s, for each
    op-selection mode in ``modes`` (default: all).

    The training steps cycle over the ``archs`` timed architectures. Why 10 and 20 by default: one step costs
    from 1.0 to 1.7 s with the architecture (measured at the default size), so 5 steps over 5 architectures
    read 47.7 images/s where 20 over 10 read 40.0 on the same idle machine."""
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    import keras
    import tensorflow as tf

    from nao_tf.children.supernet import SELECT_MODES, Supernet, SupernetTrainer
    from nao_tf.seeding import rng as make_rng
    from nao_tf.seeding import set_global_seed
    from nao_tf.spaces import NASNET_WS

    modes = tuple(modes) if modes else SELECT_MODES
    run = BenchmarkRun("supernet", {
        "layers": layers, "channels": channels, "image": [image_size, image_size, 3], "eval_images": eval_images,
        "train_batch": batch, "archs_timed": archs, "train_steps_timed": train_steps, "modes": list(modes),
        "seed": seed})
    set_global_seed(seed)
    gen = make_rng(seed, 11)
    pool = [a.values for a in NASNET_WS.sample(gen, archs + 1)]
    x_eval = gen.normal(size=(eval_images, image_size, image_size, 3)).astype(np.float32)
    y_eval = gen.integers(0, 10, size=eval_images).astype(np.int32)
    x_train = gen.normal(size=(batch, image_size, image_size, 3)).astype(np.float32)
    y_train = gen.integers(0, 10, size=batch).astype(np.int32)
    results: dict[str, Any] = {}
    for mode in modes:
        keras.backend.clear_session()
        model = Supernet(layers, channels, 10, select=mode)
        trainer = SupernetTrainer(model, total_steps=max(1, train_steps),
                                  image_shape=(image_size, image_size, 3))
        with Stopwatch() as compile_eval:
            trainer.score_pool(pool[:1], x_eval, y_eval)
        with Stopwatch() as evals:
            trainer.score_pool(pool[1:], x_eval, y_eval)
        with Stopwatch() as compile_train:
            trainer.train_step(x_train, y_train, tf.constant(pool[0], tf.int32), tf.constant(0.0),
                               tf.constant([seed, 0], tf.int32))
        with Stopwatch() as training:
            for s in range(train_steps):
                arch = tf.constant(pool[1 + s % archs], tf.int32)
                trainer.train_step(x_train, y_train, arch, tf.constant(s / train_steps, tf.float32),
                                   tf.constant([seed, s], tf.int32))
        results[mode] = {
            "seconds_per_arch_eval": round(evals.wall / archs, 3),
            "train_images_per_s": round(batch * train_steps / training.wall, 1),
            "cpu_seconds_per_arch_eval": round(evals.cpu / archs, 3),
            "train_cpu_seconds_per_image": round(training.cpu / (batch * train_steps), 4),
            "compile_eval_s": round(compile_eval.wall, 1),
            "compile_train_s": round(compile_train.wall, 1),
            "params": int(sum(int(np.prod(v.shape)) for v in model.trainable_variables)),
        }
    best = min(results, key=lambda m: results[m]["seconds_per_arch_eval"])
    switch = results.get("switch")
    return run.finish({
        "modes": results,
        "default_mode": "switch",
        "fastest_mode": best,
        "authors": {"seconds_per_arch_eval": AUTHORS_SECONDS_PER_EVAL,
                    "train_images_per_s": AUTHORS_TRAIN_IMAGES_PER_S},
        "eval_speedup_vs_authors": round(AUTHORS_SECONDS_PER_EVAL / switch["seconds_per_arch_eval"], 2)
        if switch else None,
        "train_speedup_vs_authors": round(switch["train_images_per_s"] / AUTHORS_TRAIN_IMAGES_PER_S, 2)
        if switch else None,
        "targets": {"seconds_per_arch_eval_max": 2.5, "train_speedup_min": 2.0},
    })
