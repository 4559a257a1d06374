"""``nao-tf benchmark child``: training and evaluation throughput of CNN children (images/s).

Three measurements, each on random 32x32x3 images after a warm-up (tracing / compilation not counted):

* ``search_child_train``: NAONet-B, N=3, F=20, batch 64, no auxiliary head, no drop-path (the search-time child);
* ``search_child_eval``: the same network, inference at batch 500;
* ``final_train``: NAONet-B, N=6, F=36, auxiliary head (weight 0.4), drop-path keep 0.8, batch 32.

Training steps are exactly those of ``nao-tf train`` (the same compiled Keras model, coupled-L2 SGD, global
clip 5). The authors' PyTorch code does 26 / 51 / 7.0 images/s on the 2-core reference CPU. On a shared
machine wall-clock rates understate the code's speed: ``images_per_cpu_s`` (images per CPU-second of this
process) and ``per_cpu_s_vs_reference_on_2_cores`` (that rate times 2 cores over the reference) are reported
beside them.
"""

from __future__ import annotations

import os
from typing import Any

from nao_tf._tf import import_tf_quietly

import_tf_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nao_tf.benchmarks.report import BenchmarkRun, Stopwatch  # noqa: E402
from nao_tf.children.cnn import DropPathStep, build_cnn, inference_model  # noqa: E402
from nao_tf.children.params import count_params  # noqa: E402
from nao_tf.children.train_cnn import L2SGD  # noqa: E402
from nao_tf.errors import ConfigError  # noqa: E402

PYTORCH_REFERENCE = {"search_child_train": 26.0, "search_child_eval": 51.0, "final_train": 7.0}


def _compiled(arch: str, layers: int, channels: int, aux: bool, drop_path_keep: float, xla: bool,
              total_steps: int) -> keras.Model:
    model = build_cnn(arch, layers=layers, channels=channels, num_classes=10, input_shape=(32, 32, 3),
                      aux_head=aux, drop_path_keep=drop_path_keep, dropout_keep=1.0, total_steps=total_steps)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = L2SGD(learning_rate=0.025, momentum=0.9, l2=3e-4, global_clipnorm=5.0)
    if aux:
        model.compile(optimizer=optimizer, loss=[ce, ce], loss_weights=[1.0, 0.4], jit_compile=xla)
    else:
        model.compile(optimizer=optimizer, loss=ce, jit_compile=xla)
    return model


def _batches(batch: int, aux: bool, seed: int) -> tf.data.Dataset:
    gen = np.random.default_rng(seed)
    x = gen.uniform(0, 255, (batch, 32, 32, 3)).astype("float32")
    y = gen.integers(0, 10, batch).astype("int64")
    return tf.data.Dataset.from_tensors((x, (y, y) if aux else y)).repeat()


def _train_rate(model: keras.Model, batch: int, aux: bool, steps: int, warmup: int, seed: int) -> dict[str, Any]:
    ds = _batches(batch, aux, seed)
    callbacks = [DropPathStep(model)]
    with Stopwatch() as warm:
        model.fit(ds, epochs=1, steps_per_epoch=warmup, verbose=0, callbacks=callbacks, shuffle=False)
    with Stopwatch() as sw:
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=callbacks, shuffle=False)
    return _rates(steps * batch, sw.wall, sw.cpu, steps, batch, warm.wall)


def _rates(images: int, seconds: float, cpu: float, steps: int, batch: int, warm: float) -> dict[str, Any]:
    """Wall-clock images/s, and images per CPU-second of this process (robust to a shared machine)."""
    return {"images_per_s": round(images / seconds, 2), "images_per_cpu_s": round(images / max(cpu, 1e-9), 2),
            "steps": steps, "batch": batch, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "warmup_seconds": round(warm, 2)}


def _eval_rate(model: keras.Model, batch: int, steps: int, seed: int, xla: bool) -> dict[str, Any]:
    infer = inference_model(model)
    x = tf.constant(np.random.default_rng(seed).uniform(0, 255, (batch, 32, 32, 3)).astype("float32"))
    fn = tf.function(lambda images: infer(images, training=False), jit_compile=xla)
    with Stopwatch() as warm:
        fn(x).numpy()
    with Stopwatch() as sw:
        for _ in range(steps):
            fn(x).numpy()
    return _rates(steps * batch, sw.wall, sw.cpu, steps, batch, warm.wall)


def run_child_benchmark(steps: int = 10, eval_steps: int = 3, warmup: int = 2, xla: bool = False,
                        seed: int = 0, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Measure the three throughputs; returns a JSON-able dict (with ratios to the PyTorch reference)."""
    if steps < 1 or eval_steps < 1 or warmup < 1:
        raise ConfigError("--steps, --eval-steps and --warmup must be >= 1")
    keras.utils.set_random_seed(seed)
    wanted = only or tuple(PYTORCH_REFERENCE)
    run = BenchmarkRun("child", {
        "images": "random 32x32x3 float32", "steps": steps, "eval_steps": eval_steps, "warmup": warmup,
        "xla": xla, "seed": seed, "only": list(wanted), "data_format": "channels_last (NHWC)",
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")})
    results: dict[str, Any] = {}
    if "search_child_train" in wanted or "search_child_eval" in wanted:
        model = _compiled("NAONet-B", 3, 20, False, 1.0, xla, steps + warmup)
        if "search_child_train" in wanted:
            results["search_child_train"] = {
                "arch": "NAONet-B", "layers": 3, "channels": 20, "aux_head": False,
                "params": count_params("NAONet-B", 3, 20),
                **_train_rate(model, 64, False, steps, warmup, seed)}
        if "search_child_eval" in wanted:
            results["search_child_eval"] = {
                "arch": "NAONet-B", "layers": 3, "channels": 20, **_eval_rate(model, 500, eval_steps, seed, xla)}
        del model
        keras.backend.clear_session()
    if "final_train" in wanted:
        model = _compiled("NAONet-B", 6, 36, True, 0.8, xla, steps + warmup)
        results["final_train"] = {
            "arch": "NAONet-B", "layers": 6, "channels": 36, "aux_head": True, "drop_path_keep": 0.8,
            "params": count_params("NAONet-B", 6, 36), **_train_rate(model, 32, True, steps, warmup, seed)}
        del model
        keras.backend.clear_session()
    for key, value in results.items():
        value["vs_pytorch_reference"] = round(value["images_per_s"] / PYTORCH_REFERENCE[key], 2)
        # the reference ran on an idle 2-core machine: at most 2 CPU-seconds per second
        value["per_cpu_s_vs_reference_on_2_cores"] = round(
            value["images_per_cpu_s"] * 2 / PYTORCH_REFERENCE[key], 2)
    return run.finish({"pytorch_reference_images_per_s": PYTORCH_REFERENCE, **results})
