"""The benchmarks package: one envelope for every result, and its place at the top of the import graph."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

ENVELOPE = {"benchmark", "settings", "machine", "results"}
BENCHMARKS = ("nb201", "controller", "controller-quality", "supernet", "ws-ranking", "child", "lm", "export")


def _imports(path: Path) -> set[str]:
    """Every module a source file imports (absolute names), at any depth (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((REPO / folder).rglob("*.py"))]


def test_only_the_cli_imports_benchmarks():
    offenders = [str(p.relative_to(REPO)) for p in _sources("nao_tf", "export")
                 if "benchmarks" not in p.parts and any(n.startswith("nao_tf.benchmarks") for n in _imports(p))]
    assert offenders == []


def test_lower_layers_never_import_search_or_benchmarks():
    """spaces <- controller <- search and spaces <- children <- search/export: no arrow back up."""
    offenders = []
    for p in _sources("nao_tf/spaces", "nao_tf/controller", "nao_tf/children"):
        bad = sorted(n for n in _imports(p) if n.startswith(("nao_tf.search", "nao_tf.benchmarks", "nao_tf.cli",
                                                             "nao_tf.export")))
        if bad:
            offenders.append(f"{p.relative_to(REPO)}: {', '.join(bad)}")
    assert offenders == []


def test_every_benchmark_subcommand_has_its_module(cli):
    code, out, _ = cli("benchmark", "--help")
    assert code == 0
    for name in BENCHMARKS:
        assert name in out
        assert (REPO / "nao_tf" / "benchmarks" / f"{name.replace('-', '_')}.py").is_file(), name


def test_envelope_and_stopwatch():
    from nao_tf.benchmarks.report import BenchmarkRun, Stopwatch

    with Stopwatch() as sw:
        sum(i * i for i in range(20000))
    assert sw.wall > 0 and sw.cpu >= 0
    result = BenchmarkRun("demo", {"seed": 3}).finish({"rate": 1.0})
    assert set(result) == ENVELOPE and result["benchmark"] == "demo" and result["settings"] == {"seed": 3}
    assert result["machine"]["cpus"] >= 1 and set(result["machine"]["load_average_1min"]) == {"start", "end"}
    json.dumps(result)


@pytest.mark.slow
def test_benchmark_supernet_tiny(cli):
    code, out, err = cli("benchmark", "supernet", "--layers", 1, "--channels", 4, "--image-size", 8,
                         "--eval-images", 8, "--batch", 4, "--archs", 1, "--steps", 1, "--mode", "switch")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == ENVELOPE and result["settings"]["modes"] == ["switch"]
    switch = result["results"]["modes"]["switch"]
    assert switch["seconds_per_arch_eval"] > 0 and switch["train_images_per_s"] > 0 and switch["params"] > 0
    assert result["results"]["fastest_mode"] == "switch"


def _graph_matmul_flops(graph) -> int:
    """2 x M x K x N summed over every matrix multiply of a traced graph (shapes read off the graph)."""
    total = 0
    for op in graph.get_operations():
        if op.type == "MatMul":
            a, b = (list(t.shape) for t in op.inputs[:2])
            m, k = a[::-1] if op.get_attr("transpose_a") else a
            n = b[0] if op.get_attr("transpose_b") else b[1]
            total += 2 * m * k * n
        elif op.type == "BatchMatMulV2":
            a, b = (list(t.shape) for t in op.inputs[:2])
            m, k = a[-1:-3:-1] if op.get_attr("adj_x") else a[-2:]
            n = b[-2] if op.get_attr("adj_y") else b[-1]
            total += 2 * int(np.prod(a[:-2])) * m * k * n
        elif op.type == "BlockLSTM":  # every step multiplies [x_t, h] by w: [T, B, X] and [X + H, 4H]
            (steps, batch, _), (rows, cols) = (list(op.inputs[i].shape) for i in (1, 4))
            total += 2 * steps * batch * rows * cols
    return total


class _Trainer:
    """Reconstructs its architectures only in epochs ``good`` (a loss spike outside them)."""

    def __init__(self, good: range) -> None:
        self.good, self.epochs = good, 0

    def fit(self, pool, targets, epochs, seed, reset) -> None:
        assert not reset
        self.epochs += epochs

    def reconstruct(self, archs):
        return list(archs) if self.epochs in self.good else [None] * len(archs)


@pytest.mark.parametrize("good, trained", [(range(0, 10**6), 300), (range(400, 10**6), 400),
                                           (range(350, 360), 350), (range(0, 0), 600)])
def test_controller_benchmark_times_generation_on_a_controller_that_reconstructs(good, trained):
    """After ``warm_epochs`` the controller trains on in chunks of 50 while it does not reconstruct 99% of
    its architectures, at most ``warm_epochs`` more: generation is timed on a trained controller."""
    from nao_tf.benchmarks.controller import _warm

    trainer = _Trainer(good)
    epochs, accuracy = _warm(trainer, list(range(5)), [0.0] * 5, 300, seed=0)
    assert epochs == trained == trainer.epochs and accuracy == (1.0 if trained in good else 0.0)


@pytest.mark.parametrize("fused, encoder_dropout", [(False, 0.0), (True, 0.0), (True, 0.3)])
def test_controller_step_flops_match_the_traced_forward_pass(fused, encoder_dropout):
    """The benchmark's analytic count of a training step's multiplies is three times the forward pass's, counted
    op by op in the traced training graph, for sizes where every term differs: unrolled LSTMs on embeddings, or
    the one-op kernels on one-hot tokens with token tables (what the default trainer runs; fewer multiplies),
    or, with dropout on the encoder's embeddings, the encoder on embeddings and the decoder on tables."""
    from nao_tf.benchmarks.controller import gemm_gflops, step_flops
    from nao_tf.controller.config import ControllerConfig
    from nao_tf.controller.model import tf
    from nao_tf.controller.training import build_controller
    from nao_tf.spaces import NASNET_WS

    cfg = ControllerConfig.preset("ws", embedding_size=6, hidden_size=10, mlp_layers=2, mlp_hidden=7, batch_size=3,
                                  fused_lstm=fused, encoder_dropout=encoder_dropout)
    controller = build_controller(NASNET_WS, cfg)
    forward = tf.function(lambda tokens: controller(tokens, training=True, seed=tf.constant([1, 2]), fused=fused))
    graph = forward.get_concrete_function(tf.TensorSpec((3, NASNET_WS.length), tf.int32)).graph
    assert step_flops(cfg, NASNET_WS.length, NASNET_WS.vocab_size) == 3 * _graph_matmul_flops(graph)
    rates = gemm_gflops(cfg, NASNET_WS.vocab_size, reps=5, repeats=1)
    assert set(rates) == {"encoder", "decoder"} and all(np.isfinite(v) and v > 0 for v in rates.values())
