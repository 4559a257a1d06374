"""nao-tf benchmark export through the CLI, on a tiny network (the real one is NAONet-B N=3 F=20)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")


def test_benchmark_export_json(cli):
    code, out, err = cli("benchmark", "export", "--layers", "1", "--channels", "4", "--image-size", "8",
                         "--batch-sizes", "1,3", "--repeats", "2", "--warmup", "1")
    assert code == 0, err
    envelope = json.loads(out)
    assert envelope["benchmark"] == "export" and envelope["settings"]["batch_sizes"] == [1, 3]
    result = envelope["results"]
    assert result["model"]["name"] == "NAONet-B" and result["model"]["input_shape"] == [8, 8, 3]
    assert set(result["runtimes"]) == {"keras", "keras_predict_on_batch", "savedmodel", "onnxruntime"}
    for runtime in result["runtimes"].values():
        assert set(runtime) == {"1", "3"}
        assert all(r["median_ms"] > 0 and r["p10_ms"] <= r["p90_ms"] for r in runtime.values())
    assert all(v["passed"] and v["max_abs_diff"] <= 1e-4 for v in result["verification"].values())
    ratio = result["ratios"]["onnxruntime_over_keras_batch1"]
    expected = result["runtimes"]["onnxruntime"]["1"]["median_ms"] / result["runtimes"]["keras"]["1"]["median_ms"]
    assert ratio == pytest.approx(expected, rel=1e-3, abs=1e-4)
    assert result["target"]["onnxruntime_batch1_at_most_half_of_keras"] == (ratio <= 0.5)


def test_benchmark_export_bad_batch_sizes(cli):
    code, _, err = cli("benchmark", "export", "--batch-sizes", "1,x")
    assert code == 2 and "--batch-sizes" in err and len(err.strip().splitlines()) == 1
