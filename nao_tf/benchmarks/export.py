"""``nao-tf benchmark export``: inference latency of one network in Keras, the SavedModel and ONNX Runtime.

The network is NAONet-B at N=3, F=20 on 32x32x3 images (10 classes) by default, with seeded random weights
(latency does not depend on the weights) and batch-norm statistics calibrated on one random batch. It is
exported with ``export_model`` (so the export is verified, and the verification figures are part of the
result), then each runtime is timed on the same uint8 batch at each batch size: a few warm-up calls (tracing,
graph optimization), then single calls of each runtime in turns; the median and the 10th/90th percentile of
their wall-clock times are reported, in milliseconds.

Runtimes: ``keras`` is the eager call ``model(x, training=False)`` (what ``model(x)`` costs a user);
``keras_predict_on_batch`` is Keras's compiled predict function; ``savedmodel`` is the reloaded
``serving_default`` signature; ``onnxruntime`` is an ONNX Runtime CPU session. Ratios compare runtimes
measured in this one run, which is what is comparable across machines.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.benchmarks.report import BenchmarkRun
from nao_tf.errors import ConfigError


def _time_interleaved(fns: dict[str, Callable[[], Any]], warmup: int, repeats: int) -> dict[str, dict[str, float]]:
    """Warm every runtime up, then time them in turns (one call of each per round), so that whatever else the
    machine does at that moment slows all runtimes alike instead of whichever happened to run then."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000.0)
    out = {}
    for name, values in times.items():
        arr = np.asarray(values)
        out[name] = {"median_ms": round(float(np.median(arr)), 4), "p10_ms": round(float(np.percentile(arr, 10)), 4),
                     "p90_ms": round(float(np.percentile(arr, 90)), 4), "calls": int(repeats)}
    return out


def _calibrate_batch_norm(net: Any, images: np.ndarray) -> None:
    """Set every BatchNormalization's moving statistics to those of one batch (momentum 0 for one training-mode
    pass). A freshly initialized network's unit statistics let activations grow cell after cell, to logits in
    the thousands; calibrated, its outputs have the scale of a trained network's, so the verification
    figures reported with the latencies mean what they would for a real export. Latency does not change."""
    import keras

    layers = [la for la in net._flatten_layers(include_self=False) if isinstance(la, keras.layers.BatchNormalization)]
    saved = [la.momentum for la in layers]
    for layer in layers:
        layer.momentum = 0.0
    try:
        net(images, training=True)
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum


def benchmark_export(arch: str = "NAONet-B", layers: int = 3, channels: int = 20, image_size: int = 32,
                     num_classes: int = 10, batch_sizes: Sequence[int] = (1, 64), repeats: int = 30,
                     warmup: int = 3, seed: int = 0, ort_threads: int = 0) -> dict[str, Any]:
    """Latency of Keras, SavedModel and ONNX Runtime on one network; returns the JSON-able result."""
    if repeats < 1 or warmup < 0 or not batch_sizes or min(batch_sizes) < 1:
        raise ConfigError("benchmark export needs repeats >= 1, warmup >= 0 and batch sizes >= 1")
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    import tensorflow as tf

    from nao_tf import resolve
    from nao_tf.children.cnn import build_cnn, inference_model, keras_param_count
    from nao_tf.export.exporter import export_model
    from nao_tf.export.onnx_export import OnnxRunner
    from nao_tf.export.savedmodel import SavedModelRunner
    from nao_tf.seeding import rng, set_global_seed

    bench = BenchmarkRun("export", {
        "architecture": arch, "layers": layers, "channels": channels, "image_size": image_size,
        "num_classes": num_classes, "batch_sizes": [int(b) for b in batch_sizes], "repeats": repeats,
        "warmup": warmup, "seed": seed, "onnxruntime_threads": ort_threads or "default (all cores)",
        "weights": "seeded random, batch-norm statistics calibrated on one random batch"})
    set_global_seed(seed)
    parsed = resolve(arch)
    shape = (int(image_size), int(image_size), 3)
    model = build_cnn(parsed, layers=layers, channels=channels, num_classes=num_classes, input_shape=shape,
                      mean=[125.3, 123.0, 113.9], std=[63.0, 62.1, 66.7])
    net = inference_model(model)
    gen = rng(seed, 11)
    _calibrate_batch_norm(net, gen.integers(0, 256, size=(32, *shape)).astype(np.float32))
    result: dict[str, Any] = {
        "model": {"architecture": parsed.integers, "name": arch, "space": parsed.space, "layers": layers,
                  "channels": channels, "input_shape": list(shape), "num_classes": num_classes,
                  "params": keras_param_count(net)},
        "runtimes": {},
    }
    with tempfile.TemporaryDirectory(prefix="nao_tf_bench_") as tmp:
        run = Path(tmp) / "model"
        run.mkdir()
        net.save(run / "model.keras")
        summary = export_model(run, Path(tmp) / "out", ("savedmodel", "onnx"), name="bench",
                               log=lambda _line: None)
        folder = Path(summary["path"])
        result["verification"] = {name: {"max_abs_diff": f["max_abs_diff"], "passed": f["passed"]}
                                  for name, f in summary["verification"]["formats"].items()}
        saved = SavedModelRunner(folder)
        ort = OnnxRunner(folder / "model.onnx", threads=ort_threads)
        for batch in batch_sizes:
            images = gen.integers(0, 256, size=(batch, *shape), dtype=np.uint8)
            floats = tf.constant(images.astype(np.float32))
            uint8 = {"images": images}
            runs = {
                "keras": lambda x=floats: net(x, training=False).numpy(),
                "keras_predict_on_batch": lambda x=floats: net.predict_on_batch(x),
                "savedmodel": lambda x=uint8: saved(x),
                "onnxruntime": lambda x=uint8: ort(x),
            }
            reps = repeats if batch <= 8 else max(3, repeats // 4)
            for name, timing in _time_interleaved(runs, warmup, reps).items():
                result["runtimes"].setdefault(name, {})[str(batch)] = timing
    ratios = {}
    for batch in map(str, batch_sizes):
        keras_ms = result["runtimes"]["keras"][batch]["median_ms"]
        for name in ("keras_predict_on_batch", "savedmodel", "onnxruntime"):
            ratios[f"{name}_over_keras_batch{batch}"] = round(
                result["runtimes"][name][batch]["median_ms"] / keras_ms, 4)
    result["ratios"] = ratios
    if "1" in result["runtimes"]["keras"]:
        result["target"] = {"onnxruntime_batch1_at_most_half_of_keras": bool(
            ratios["onnxruntime_over_keras_batch1"] <= 0.5)}
    return bench.finish(result)
