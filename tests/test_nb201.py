"""`nao-tf search` / `nao-tf benchmark nb201|controller-quality` end to end, and one-line bad-input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_search import write_table

from nao_tf.spaces import NB201

pytest.importorskip("tensorflow")

TOY = ["--initial-pool", "8", "--per-round", "4", "--top-k", "6", "--controller-epochs", "4",
       "--controller-set", "hidden_size=16", "--controller-set", "embedding_size=8",
       "--controller-set", "mlp_layers=1", "--controller-set", "mlp_hidden=16",
       "--controller-set", "jit_compile=false", "--controller-set", "generate_jit=false",
       "--controller-set", "batch_size=32"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    from conftest import SHARED_NB201

    if SHARED_NB201.exists():
        return SHARED_NB201
    return write_table(tmp_path_factory.mktemp("nb201") / "nb201.csv")


def test_toy_nb201_search_end_to_end(cli, table, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("search", "--space", "nb201", "--table", table, "--budget", 16, "--seed", 0,
                         "--out", run, *TOY)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["queries"] == 16 and summary["status"] == "done" and summary["method"] == "nao"
    for name in ("config.json", "evaluations.json", "state.json", "best.json", "progress.png", "controller.keras"):
        assert (run / name).is_file(), name
    records = json.loads((run / "evaluations.json").read_text())
    assert [r["query"] for r in records] == list(range(1, 17))
    assert len({tuple(r["arch"]) for r in records}) == 16
    best = json.loads((run / "best.json").read_text())
    assert best["score"] == max(r["score"] for r in records) == summary["best"]["score"]
    assert "cifar10-test_regret" in best["report"]
    config = json.loads((run / "config.json").read_text())
    assert config["method"]["nao"]["initial_pool"] == 8 and config["evaluator"]["metric"] == "cifar10-val"
    assert (run / "progress.png").read_bytes()[:4] == b"\x89PNG"

    # the saved controller reloads through nao_tf.load_model, for its space
    import nao_tf

    model = nao_tf.load_model(run / "controller.keras")
    assert model.space_name == "nb201"

    # resume with a larger budget continues the same run
    code, out, err = cli("search", "--resume", run, "--budget", 20)
    assert code == 0, err
    assert json.loads(out)["queries"] == 20
    assert len(json.loads((run / "evaluations.json").read_text())) == 20

    # SemiNAS runs with its own tuned generation settings from the preset; a flag still wins over them
    code, out, err = cli("search", "--space", "nb201", "--table", table, "--budget", 12, "--method", "seminas",
                         "--pseudo-labels", 20, "--out", tmp_path / "semi", *TOY)
    assert code == 0, err
    config = json.loads((tmp_path / "semi" / "config.json").read_text())["method"]
    assert (config["name"], config["nao"]["candidates_factor"], config["nao"]["top_k"]) == ("seminas", 2.0, 6)
    sources = {r["source"] for r in json.loads((tmp_path / "semi" / "evaluations.json").read_text())}
    assert "random" in sources and any(src.startswith("screened") for src in sources), sources

    # same seed, same search (here with regularized evolution, cheap)
    outs = []
    for name in ("re1", "re2"):
        code, out, err = cli("search", "--table", table, "--budget", 25, "--seed", 7, "--method", "re",
                             "--out", tmp_path / name)
        assert code == 0, err
        outs.append(json.loads((tmp_path / name / "evaluations.json").read_text()))
    assert outs[0] == outs[1]


def _one_line_error(code, out, err, match):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nao-tf: error:") and match in lines[0], err


def test_bad_input_is_one_line_and_leaves_no_run_folder(cli, table, tmp_path):
    run = tmp_path / "run"
    _one_line_error(*cli("search", "--table", tmp_path / "nope.csv", "--budget", 5, "--out", run), "does not exist")
    bad_cols = write_table(tmp_path / "cols.csv", columns=("index", "cellstr", "acc", "test"))
    _one_line_error(*cli("search", "--table", bad_cols, "--budget", 5, "--out", run), "no column 'cifar10-val'")
    _one_line_error(*cli("search", "--table", table, "--budget", 0, "--out", run), "--budget must be at least 1")
    _one_line_error(*cli("search", "--evaluator", "table", "--budget", 5, "--out", run), "--table PATH is required")
    _one_line_error(*cli("search", "--space", "nb201", "--budget", 5, "--out", run), "--table PATH is required")
    small = write_table(tmp_path / "small.csv", rows=NB201.sample(np.random.default_rng(0), 3))
    _one_line_error(*cli("search", "--table", small, "--budget", 10, "--method", "rs", "--out", run),
                    "is not in table")
    assert not run.exists()

    # a controller checkpoint of another space
    from nao_tf.controller.config import ControllerConfig
    from nao_tf.controller.training import build_controller, save_controller
    from nao_tf.spaces import NASNET_WS

    ckpt = save_controller(build_controller(NASNET_WS, ControllerConfig.preset("ws", hidden_size=16)),
                           tmp_path / "ws.keras")
    _one_line_error(*cli("search", "--table", table, "--budget", 10, "--out", run, "--controller", ckpt, *TOY),
                    "trained for space 'nasnet-ws', not 'nb201'")
    assert not run.exists()

    # an existing run folder is never overwritten; resuming something that is not a run is refused
    run.mkdir()
    (run / "keep.txt").write_text("x")
    _one_line_error(*cli("search", "--table", table, "--budget", 5, "--out", run), "already exists")
    _one_line_error(*cli("search", "--resume", run), "has no config.json")
    _one_line_error(*cli("search", "--resume", tmp_path / "missing"), "does not exist")
    assert sorted(p.name for p in run.iterdir()) == ["keep.txt"]


def test_benchmark_nb201_and_controller_quality_toy(cli, table, tmp_path, monkeypatch):
    from nao_tf.search import presets

    tiny_preset = {"space": "nb201", "evaluator": {"kind": "table"},
                   "method": {"nao": {"initial_pool": 6, "per_round": 4, "top_k": 5},
                              "seminas": {"pseudo_labels": 30}},
                   "controller": {"epochs": 3, "hidden_size": 16, "embedding_size": 8, "mlp_layers": 1,
                                  "mlp_hidden": 16, "jit_compile": False, "generate_jit": False}}
    monkeypatch.setitem(presets.PRESETS, "nb201", tiny_preset)
    code, out, err = cli("benchmark", "nb201", "--table", table, "--budgets", "6,12", "--seeds", 2,
                         "--out", tmp_path / "bench", "--quiet")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["benchmark"] == "nb201" and summary["settings"]["budgets"] == [6, 12]
    results = summary["results"]
    methods = ("nao", "seminas", "re", "re-10-3", "rs")
    assert set(results["by_budget"]) == {"6", "12"} and summary["settings"]["methods"] == list(methods)
    assert summary["settings"]["method_settings"]["re-10-3"] == {"method": "re", "population": 10, "sample_size": 3}
    for q in ("6", "12"):
        row = results["by_budget"][q]
        paired = row["paired"]["regret_of_other_minus_best"]
        assert row["paired"]["best_nao_family"] in ("nao", "seminas")
        assert set(paired) == set(methods) - {row["paired"]["best_nao_family"]}
        assert all(0 <= t["wilcoxon_p"] <= 1 and t["n"] == 2 for t in paired.values())
    assert set(results["query_sources"]["nao"]) <= {"random", "gradient"}
    assert results["query_sources"]["rs"] == {"random": 1.0}
    assert json.loads((tmp_path / "bench" / "summary.json").read_text()) == summary
    curves = json.loads((tmp_path / "bench" / "curves.json").read_text())["curves"]
    assert all(len(c) == 2 and all(len(run) == 12 for run in c) for c in curves.values())
    assert (tmp_path / "bench" / "nb201_benchmark.png").read_bytes()[:4] == b"\x89PNG"
    _one_line_error(*cli("benchmark", "nb201", "--table", table, "--tune", "--seeds", 3, "--tune-first-seed", 1),
                    "tuning seeds overlap the reported seeds")

    code, out, err = cli("benchmark", "controller-quality", "--table", table, "--train", 40, "--test", 20,
                         "--epochs", 3, "--controller-set", "hidden_size=16", "--controller-set", "jit_compile=false",
                         "--controller-set", "generate_jit=false")
    assert code == 0, err
    quality = json.loads(out)["results"]
    assert quality["train_archs"] == 40 and quality["test_archs"] == 20
    assert 0 <= quality["pairwise_accuracy_test"] <= 1 and 0 <= quality["reconstruction_accuracy_train"] <= 1
    proposals = quality["proposals"]
    assert proposals["seeds"] == 10 and 0 <= proposals["predictor_top50_mean_percentile"] <= 100
    mutation = proposals["mutation"]  # regularized evolution's operator: exactly one edge from a seed
    assert mutation["n"] == 30 and mutation["edges_changed_histogram"] == [0, 30, 0, 0, 0, 0, 0]
    gradient = proposals["gradient"]
    assert 0 < gradient["n"] <= 30 and sum(gradient["edges_changed_histogram"]) == gradient["n"]
    assert gradient["edges_changed_histogram"][0] == 0  # new cells only: none equals a seed
    assert all(0 <= proposals[k]["mean_percentile"] <= proposals[k]["best_percentile"] <= 100
               for k in ("gradient", "mutation"))

    _one_line_error(*cli("benchmark", "nb201", "--table", table, "--budgets", "x"), "comma-separated integers")
    _one_line_error(*cli("benchmark", "nb201", "--table", table, "--methods", "nao,foo", "--seeds", 1),
                    "unknown method 'foo'")


def test_benchmark_nb201_tune_picks_by_validation_and_reports_with_the_choice(cli, table, tmp_path):
    """--tune runs the whole grid on the tuning seeds, chooses by the search metric only, and reports with it."""
    from nao_tf.benchmarks.nb201 import TUNING_GRIDS

    args = ("benchmark", "nb201", "--table", table, "--methods", "re,rs", "--budgets", "10,20", "--seeds", 2,
            "--tune", "--tune-seeds", 2, "--tune-first-seed", 50, "--out", tmp_path / "bench", "--quiet")
    code, out, err = cli(*args)
    assert code == 0, err
    summary = json.loads(out)
    log = tmp_path / "bench" / "searches.jsonl"
    assert len(log.read_text().splitlines()) == len(TUNING_GRIDS["re"]) * 2 + 2 * 2  # the grid, then re and rs
    code, again, err = cli(*args)  # every search, tuning included, comes from the log: same answer, none added
    assert code == 0, err
    assert json.loads(again)["results"]["tuning"] == summary["results"]["tuning"]
    assert len(log.read_text().splitlines()) == len(TUNING_GRIDS["re"]) * 2 + 2 * 2
    tuning = summary["results"]["tuning"]
    assert tuning["seeds"] == [50, 51] and set(tuning["methods"]) == {"re"}
    rows = tuning["methods"]["re"]["grid"]
    assert [r["settings"] for r in rows] == TUNING_GRIDS["re"]
    for row in rows:  # the criterion is the mean of the search metric at each budget, never the report metric
        assert row["criterion"] == pytest.approx(np.mean(list(row["search_metric_at_q"].values())), abs=1e-3)
        assert set(row["search_metric_at_q"]) == {"10", "20"}
    chosen = max(rows, key=lambda r: r["criterion"])["settings"]
    assert tuning["methods"]["re"]["chosen"] == chosen
    assert summary["settings"]["method_settings"]["re"] == {"method": "re", **chosen}
    assert summary["settings"]["tuned"] is True


def test_benchmark_controller_refuses_threads_once_tensorflow_runs(cli):
    """TensorFlow's thread pools exist once it has run an op: another --threads-per-op is one clear line."""
    import tensorflow as tf

    tf.constant(1.0) + 1.0
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    code, out, err = cli("benchmark", "controller", "--threads-per-op", threads + 3, "--epochs", 1)
    assert code != 0 and out == ""
    assert err.strip().count("\n") == 0 and "before it runs its first op" in err and "Traceback" not in err


@pytest.mark.slow
def test_benchmark_controller_with_one_thread_per_op():
    """In a fresh process (its first TensorFlow op comes after the setting) the benchmark runs one thread per op."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "nao_tf.cli.main", "benchmark", "controller", "--threads-per-op",
                           "1", "--epochs", "1", "--rounds", "1", "--warm-epochs", "1", "--repeats", "1"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["settings"]["threads_per_op"] == 1 and report["settings"]["controller"]["towers"] == 2
    assert report["results"]["training"]["archs_per_s"] > 0


@pytest.mark.slow
def test_benchmark_controller_speed_runs(cli):
    code, out, err = cli("benchmark", "controller", "--epochs", 1, "--rounds", 1, "--warm-epochs", 1,
                         "--repeats", 1)
    assert code == 0, err
    report = json.loads(out)
    result = report["results"]
    assert result["training"]["archs_per_s"] > 0 and result["training"]["baseline_archs_per_s"] > 0
    assert result["parameters"] == 279_533 and report["settings"]["baseline"]["steps_per_call"] == 1
    training = result["training"]  # like for like: through the baseline's rate on the reference machine
    assert training["speedup_vs_reference_like_for_like"] == pytest.approx(  # from the unrounded ratio
        float(np.median(training["speedup_vs_baseline_per_round"])) * 869 / 806, abs=0.011)
    assert set(result["generation"]) == {"graph", "xla"}
    work = result["work"]  # the authors' sizes as the fused trainer runs them: 2.175 GFLOP per step of 100
    assert work["matmul_gflop_per_step"] == 2.175 and set(work["gemm_gflops"]) == {"encoder", "decoder"}
    assert work["achieved_gflops"] > 0 and work["share_of_gemm"] > 0
    assert work["gflops_for_3x_reference"] == round(3 * 806 / 100 * 2.175412416, 1)


def test_benchmark_nb201_continues_from_its_search_log(cli, table, tmp_path):
    """A stopped or extended run reuses the finished searches of OUT/searches.jsonl and gives the summary a fresh
    run gives; a partial last line (a search killed while being written) is dropped, any other bad line refused."""
    def bench(out, seeds, methods="re,rs"):
        code, text, err = cli("benchmark", "nb201", "--table", table, "--methods", methods, "--budgets", "10,20",
                              "--seeds", seeds, "--out", out, "--quiet")
        assert code == 0, err
        return json.loads(text)["results"]

    log = tmp_path / "resumed" / "searches.jsonl"
    bench(tmp_path / "resumed", 2)
    assert len(log.read_text().splitlines()) == 4
    with open(log, "a") as handle:
        handle.write('{"key": "killed while wri')
    resumed = bench(tmp_path / "resumed", 3, "re,rs,re-10-3")
    lines = log.read_text().splitlines()
    assert len(lines) == 4 + 1 + 1 + 3 and all(json.loads(line)["key"] for line in lines)  # only the new ones
    fresh = bench(tmp_path / "fresh", 3, "re,rs,re-10-3")
    assert resumed["by_budget"] == fresh["by_budget"] and resumed["seeds_done"] == {"re": 3, "rs": 3, "re-10-3": 3}

    other = tmp_path / "other-columns"  # searching another column is another search: nothing reused
    other.mkdir()
    other.joinpath("searches.jsonl").write_text(log.read_text())
    code, _, err = cli("benchmark", "nb201", "--table", table, "--methods", "re", "--budgets", "10,20", "--seeds", 1,
                       "--metric", "cifar10-test", "--report-metric", "cifar10-val", "--out", other)
    assert code == 0 and f"{len(lines)} finished searches in" in err and "from searches.jsonl" not in err
    assert len(other.joinpath("searches.jsonl").read_text().splitlines()) == len(lines) + 1
    code, _, err = cli("benchmark", "nb201", "--table", table, "--methods", "rs", "--budgets", "10,20", "--seeds", 1,
                       "--out", tmp_path / "resumed")
    assert code == 0 and "seed 0 rs: cifar10-test" in err and "from searches.jsonl)" in err
    lines.insert(2, "not a record")
    log.write_text("\n".join(lines) + "\n")
    _one_line_error(*cli("benchmark", "nb201", "--table", table, "--methods", "re", "--seeds", 1, "--out",
                         tmp_path / "resumed"), "searches.jsonl line 3 is not a nao-tf search record")


def test_search_key_follows_the_table_bytes_and_the_settings_not_the_path(tmp_path):
    from nao_tf.benchmarks.nb201 import ENTRIES, _base_config, _search_tree
    from nao_tf.benchmarks.search_log import search_key, table_fingerprint

    first = write_table(tmp_path / "a.csv")
    copy = tmp_path / "b.csv"
    copy.write_bytes(first.read_bytes())

    def key(table, label="re", seed=0, settings=None):
        name, base = ENTRIES[label]
        job = {"config": _base_config(str(table), "cifar10-val", "cifar10-test", 20), "label": label, "name": name,
               "settings": {**base, **(settings or {})}}
        return search_key(table_fingerprint(table), _search_tree(job, seed))

    assert key(first) == key(copy)
    assert len({key(first), key(first, seed=1), key(first, "re-10-3"), key(first, settings={"population": 20}),
                key(first, "rs")}) == 5
    copy.write_text(first.read_text().replace("8", "7", 1))
    assert key(copy) != key(first)
