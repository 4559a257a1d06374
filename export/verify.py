"""Every export is checked against the Keras model before ``nao-tf export`` succeeds.

A fixed batch (seeded, so the same every time) goes through the Keras model (the reference), the reloaded
SavedModel's ``serving_default`` and an ONNX Runtime session; the largest absolute difference of every output
must be within the tolerance (1e-4 by default). The first example is also run alone, to prove that the batch
dimension really is dynamic (for an LM on a shorter window too: the time dimension). The figures go into
``verification.json`` and the command's output.

The tolerance is absolute for outputs within [-1, 1] (probabilities, LM states) and relative to the output's
scale beyond that: ``max|diff| <= tolerance * max(1, max|reference|)``. float32 carries about 7 significant
digits, so logits of an untrained network (BN statistics not yet learnt; |logits| in the hundreds) differ by a
few 1e-5 between two correct runtimes that only sum in a different order; the scaled test accepts those and
still rejects any real difference. The raw max abs difference is what is reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.errors import NaoError
from nao_tf.seeding import rng

DEFAULT_TOLERANCE = 1e-4
VERIFY_BATCH = 5


class ExportVerificationError(NaoError):
    """An exported model predicts differently from the Keras model (exit code 1: not the user's input)."""

    exit_code = 1


def fixed_inputs(source: Any, batch: int = VERIFY_BATCH, seed: int = 0) -> dict[str, np.ndarray]:
    """The verification batch: uint8 images for a CNN; token ids and random states for an LM."""
    gen = rng(seed, 7)
    if source.kind == "cnn":
        return {"images": gen.integers(0, 256, size=(batch, *source.input_shape), dtype=np.uint8)}
    inputs = {"tokens": gen.integers(0, source.vocab_size, size=(batch, 7), dtype=np.int32)}
    for name, size in zip(source.state_names, source.state_sizes, strict=True):
        inputs[name] = np.tanh(gen.standard_normal((batch, size))).astype(np.float32)
    return inputs


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def compare(reference: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-output max abs difference and the same divided by ``max(1, max|reference|)``; a missing output or
    a shape mismatch counts as infinite."""
    diffs, scaled = {}, {}
    for key, ref in reference.items():
        diff = _max_abs(ref, got[key]) if key in got else float("inf")
        scale = max(1.0, float(np.max(np.abs(ref))) if np.size(ref) else 1.0)
        diffs[key] = diff
        scaled[key] = diff / scale
    return {"max_abs_diff": max(diffs.values()), "scaled_diff": max(scaled.values()), "outputs": diffs}


def verify(source: Any, runners: dict[str, Any], tolerance: float = DEFAULT_TOLERANCE,
           batch: int = VERIFY_BATCH) -> dict[str, Any]:
    """Run the fixed batch through every runner (format name -> callable) and compare with Keras."""
    inputs = fixed_inputs(source, batch)
    reference = source.reference(inputs)  # the Keras model itself: eager call, training=False
    # The first example alone (an LM's first 3 tokens): proves the batch (and time) dimension is dynamic.
    single = {k: (v[:1, :3] if k == "tokens" else v[:1]) for k, v in inputs.items()}
    single_ref = source.reference(single)
    report: dict[str, Any] = {
        "tolerance": tolerance,
        "batch": {k: list(v.shape) for k, v in inputs.items()},
        "reference": "keras (eager call, training=False)",
        "criterion": "max|diff| <= tolerance * max(1, max|reference output|), per output",
        "reference_scale": {k: float(np.max(np.abs(v))) for k, v in reference.items()},
        "formats": {},
    }
    for name, runner in runners.items():
        full = compare(reference, runner(inputs))
        alone = compare(single_ref, runner(single))
        scaled = max(full["scaled_diff"], alone["scaled_diff"])
        report["formats"][name] = {
            "max_abs_diff": max(full["max_abs_diff"], alone["max_abs_diff"]),
            "scaled_diff": scaled,
            "outputs": full["outputs"],
            "batch_of_one_max_abs_diff": alone["max_abs_diff"],
            "passed": bool(scaled <= tolerance),
        }
    report["max_abs_diff"] = max((f["max_abs_diff"] for f in report["formats"].values()), default=0.0)
    report["passed"] = all(f["passed"] for f in report["formats"].values())
    return report


def summary_line(report: dict[str, Any]) -> str:
    scale = max(report["reference_scale"].values(), default=1.0)
    parts = [f"{name} max |diff| {f['max_abs_diff']:.2e}" + ("" if f["passed"] else " (FAILED)")
             for name, f in report["formats"].items()]
    if scale > 1.0:
        parts.append(f"outputs up to {scale:.3g} in magnitude, so scaled diffs "
                     + ", ".join(f"{f['scaled_diff']:.1e}" for f in report["formats"].values()))
    shape = next(iter(report["batch"].values()))
    return f"verified against Keras on a fixed batch {shape}: " + ", ".join(parts) + \
        f" (tolerance {report['tolerance']:g})"


def failure_message(report: dict[str, Any], where: Path) -> str:
    bad = [f"{n} {f['max_abs_diff']:.3g} (scaled {f['scaled_diff']:.3g})"
           for n, f in report["formats"].items() if not f["passed"]]
    return (f"export verification failed: max abs diff {', '.join(bad)} exceeds {report['tolerance']:g}; "
            f"the partial export {where} was deleted; please report this as a bug")
