"""The configuration tree of a search (``nao_tf.search.config``) through the CLI and the Python API: precedence
(preset < --config file < flags), unknown keys, bad types and ranges as one-line errors naming the key,
config.json round trips for every evaluator, and refused resumes of damaged run folders."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_search import write_table

from nao_tf.errors import ConfigError, RunFolderError
from nao_tf.search import Callbacks, SearchConfig, resolve, resume, run
from nao_tf.search.config import EVALUATOR_KINDS, flag_specs, load_saved, save, validate
from nao_tf.spaces import NB201


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    from conftest import SHARED_NB201

    if SHARED_NB201.exists():
        return SHARED_NB201
    return write_table(tmp_path_factory.mktemp("nb201") / "nb201.csv")


def _one_line(cli_result, *needles):
    code, out, err = cli_result
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nao-tf: error:"), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ----- precedence ----------------------------------------------------------------------------------------------
def test_preset_then_file_then_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: paper-ws\nchannels: 16\nlayers: 2\nevaluator:\n  rerank_top: 1\n"
                   "method:\n  nao: {top_k: 7}\n")
    s = resolve(config_file=cfg, overrides={"--layers": "4"})
    assert s.preset == "paper-ws" and s.data.dataset == "cifar10"  # from the preset
    assert s.evaluator.channels == 16 and s.evaluator.rerank_top == 1 and s.method.nao.top_k == 7  # the file
    assert s.evaluator.layers == 4  # the flag
    assert s.method.nao.initial_pool == 600 and s.controller.epochs == 1000  # the preset where nothing else spoke
    assert s.evaluator.lr == 0.025  # the tree's default (the one place it is written)
    # a preset named by a flag beats the file's
    assert resolve(config_file=cfg, overrides={"--preset": "default"}).preset == "default"


def test_implicit_presets_and_evaluator_choice(tmp_path):
    bare = resolve()
    assert (bare.preset, bare.evaluator.kind, bare.space, bare.budget) == ("default", "ws", "nasnet-ws", 75)
    nb = resolve(overrides={"--table": "t.csv", "--budget": "10"})
    assert (nb.preset, nb.evaluator.kind, nb.space) == ("nb201", "table", "nb201")
    assert nb.method.nao.initial_pool == 20 and nb.controller.steps == 150
    # controller epochs given explicitly win over the preset's fixed step count
    assert resolve(overrides={"--table": "t", "--controller-epochs": "4"}).controller_overrides()["steps"] == 0
    rnn = resolve(overrides={"--space": "rnn", "--budget": "3"})
    assert (rnn.preset, rnn.evaluator.kind) == (None, "lm-ws") and rnn.method.nao.initial_pool == 100
    child = resolve(overrides={"--evaluator": "child"})
    assert child.space == "nasnet-full" and child.method.nao.initial_pool == 30  # default preset, child's space
    assert resolve(overrides={"--preset": "paper-full", "--space": "nasnet-ws"}).evaluator.kind == "child"


def test_a_preset_carries_a_methods_own_values_below_file_and_flags(tmp_path):
    """nb201's tuned SemiNAS top-k / candidates factor apply when SemiNAS runs (chosen by a flag or a file),
    live in the shared nao section, and yield to a file or a flag like any preset value."""
    def nao(config=None, **flags):
        s = resolve(config_file=config, overrides={"--table": "t.csv", "--budget": "10", **flags})
        return s.method.name, s.method.nao.top_k, s.method.nao.candidates_factor

    assert nao() == ("nao", 5, 1.0) and nao(**{"--method": "re"}) == ("re", 5, 1.0)
    assert nao(**{"--method": "seminas"}) == ("seminas", 10, 2.0)
    assert nao(**{"--method": "seminas", "--top-k": "7"}) == ("seminas", 7, 2.0)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("method:\n  name: seminas\n  nao: {candidates_factor: 4}\n")
    assert nao(cfg) == ("seminas", 10, 4.0)
    assert nao(cfg, **{"--method": "nao"}) == ("nao", 5, 4.0)
    assert "for_method" not in resolve(overrides={"--table": "t", "--method": "seminas"}).to_json()


def test_flags_are_generated_from_the_tree():
    specs = {s.flag: s for s in flag_specs()}
    assert "(default 0.025)" in specs["--ws-lr"].help and "(default 10)" in specs["--population"].help
    assert specs["--child-steps"].paths == {"ws": ("evaluator", "rerank_steps"),
                                            "child": ("evaluator", "steps_per_epoch")}
    assert specs["--method"].choices == ("nao", "nao+mutation", "seminas", "re", "rs")


# ----- bad input: one line naming the key -----------------------------------------------------------------------
@pytest.mark.parametrize("text, needles", [
    ("channels: 4.5\n", ["--channels", "evaluator.channels", "must be an integer", "4.5"]),
    ("layers: abc\n", ["--layers", "must be an integer", "'abc'"]),
    ("budget: ten\n", ["--budget", "must be an integer"]),
    ("channels: [4]\n", ["--channels", "must be an integer", "[4]"]),
    ("ws-lr: .nan\n", ["--ws-lr", "must be a finite number"]),
    ("drop-path-keep: 1.5\n", ["--drop-path-keep", "at most 1"]),
    ("round-fraction: -0.5\n", ["--round-fraction"]),
    ("evaluator: child\nport: 70000\n", ["--port", "at most 65535"]),
    ("evaluator: child\nworkers: -1\n", ["--workers", "must be a positive number or 0"]),
    ("population: 2\nsample-size: 5\n", ["sample_size 5 must not exceed population 2"]),
    ("aux-head: maybe\nevaluator: child\n", ["--aux-head", "true or false"]),
    ("method: {name: nao, nao: {top_kk: 3}}\n", ["method.nao.top_kk"]),
    ("learning_rat: 0.1\n", ["unknown key 'learning_rat'", "max-params"]),
    ("controller-set: [hiden=1]\n", ["hiden"]),
    ("- 1\n- 2\n", ["must be a mapping"]),
    ("evaluator: warp\n", ["unknown evaluator 'warp'"]),
    ("evaluator: table\nwarmup-epochs: 1\n", ["--warmup-epochs", "does not apply to the table evaluator"]),
])
def test_bad_config_file_is_one_line_naming_the_key(cli, tmp_path, text, needles):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    run_dir = tmp_path / "run"
    _one_line(cli("search", "--config", cfg, "--out", run_dir), *needles)
    assert not run_dir.exists()


def test_binary_or_missing_config_file(cli, tmp_path):
    blob = tmp_path / "weights.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    _one_line(cli("search", "--config", blob), "is not a text (YAML) file")
    _one_line(cli("search", "--config", tmp_path / "nope.yaml"), "does not exist")


@pytest.mark.parametrize("flags, needles", [
    (["--channels", "4.5"], ["--channels", "must be an integer"]),
    (["--budget", "0"], ["--budget must be at least 1"]),
    (["--seed", "-3"], ["--seed"]),
    (["--eval-images", "900", "--valid-size", "800"], ["--valid-size 800 must hold the --eval-images 900"]),
    (["--space", "mars"], ["unknown search space 'mars'"]),
    (["--evaluator", "lm-child", "--space", "nb201"], ["--space rnn"]),
    (["--controller-set", "trade_off=3"], ["trade_off must be in [0, 1]"]),
    (["--controller-set", "hidden_size"], ["KEY=VALUE"]),
])
def test_bad_flags_are_one_line(cli, tmp_path, flags, needles):
    run_dir = tmp_path / "run"
    _one_line(cli("search", "--out", run_dir, *flags), *needles)
    assert not run_dir.exists()


def test_python_api_validates_too():
    with pytest.raises(ConfigError, match=r"--layers \(config key evaluator.layers\) must be an integer"):
        validate({"evaluator": {"kind": "ws", "layers": "abc"}})
    with pytest.raises(ConfigError, match="unknown setting 'evaluator.foo'"):
        validate({"evaluator": {"kind": "child", "foo": 1}})
    with pytest.raises(ConfigError, match="must be a mapping"):
        validate(None)
    config = SearchConfig(budget=5, evaluator={"kind": "table", "table": "t.csv"})
    assert config.space == "nb201" and config.evaluator.report_metrics == ["cifar10-test"]
    with pytest.raises(ValueError):
        config.evaluator.port = 1  # the table evaluator has no port: the models refuse unknown fields
    with pytest.raises(ValueError):
        config.budget = math.inf  # assignments are validated as well


# ----- config.json: written once, reloaded by the same code ----------------------------------------------------------
@pytest.mark.parametrize("kind", EVALUATOR_KINDS)
def test_config_json_round_trip_for_every_evaluator(tmp_path, kind):
    overrides = {"--evaluator": kind, "--budget": "7", "--seed": "3", "--controller-set": ["hidden_size=32"]}
    if kind == "table":
        overrides["--table"] = "t.csv"
    config = resolve(overrides=overrides)
    save(config, tmp_path / "config.json")
    again = load_saved(tmp_path / "config.json")
    assert again == config and again.evaluator.kind == kind and again.controller.hidden_size == 32
    # a run's config.json is a valid --config file: the same tree comes back
    assert resolve(config_file=tmp_path / "config.json") == config


def test_table_search_writes_its_config_and_resumes_through_the_api(cli, table, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = cli("search", "--table", table, "--budget", 6, "--method", "re", "--population", 4,
                         "--sample-size", 2, "--seed", 5, "--out", run_dir)
    assert code == 0, err
    saved = load_saved(run_dir / "config.json")
    assert saved.method.name == "re" and saved.method.re.population == 4 and saved.budget == 6
    assert saved.evaluator.table == str(table) and saved.seed == 5
    result = resume(run_dir, budget=9)
    assert len(result.history) == 9 and result.status == "done"
    fresh = run(saved.model_copy(update={"budget": 9, "out": str(tmp_path / "fresh")}))
    assert [e.arch for e in fresh.history] == [e.arch for e in result.history]


def test_api_run_calls_back_and_never_prints(table, tmp_path, capsys):
    steps = []

    class Record(Callbacks):
        def on_step(self, info):
            steps.append((info.step, info.queries, info.budget))

    config = resolve(overrides={"--table": str(table), "--budget": "4", "--method": "rs",
                                "--out": str(tmp_path / "r")})
    result = run(config, Record())
    assert steps == [(0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 4, 4)]
    assert result.run_dir == tmp_path / "r" and result.best.score == max(e.score for e in result.history)
    assert capsys.readouterr() == ("", "")


# ----- failed starts and damaged run folders -----------------------------------------------------------------------
def test_failed_starts_leave_no_run_folder(cli, table, tmp_path):
    run_dir = tmp_path / "run"
    small = write_table(tmp_path / "small.csv", rows=NB201.sample(np.random.default_rng(0), 3))
    _one_line(cli("search", "--table", small, "--budget", 10, "--method", "rs", "--out", run_dir), "is not in table")
    assert not run_dir.exists()
    run_dir.mkdir()  # an empty folder given as --out stays, empty
    _one_line(cli("search", "--table", small, "--budget", 10, "--method", "rs", "--out", run_dir), "is not in table")
    assert list(run_dir.iterdir()) == []


def test_port_in_use_leaves_no_run_folder(cli, tmp_path):
    import socket

    run_dir = tmp_path / "run"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        _one_line(cli("search", "--evaluator", "child", "--method", "rs", "--budget", 2, "--workers", 1,
                      "--port", port, "--valid-size", 100, "--out", run_dir), "cannot listen on 127.0.0.1")
    assert not run_dir.exists()


@pytest.fixture
def finished_run(cli, table, tmp_path):
    run_dir = tmp_path / "run"
    code, _, err = cli("search", "--table", table, "--budget", 4, "--method", "rs", "--out", run_dir)
    assert code == 0, err
    return run_dir


@pytest.mark.parametrize("name, content, needle", [
    ("config.json", "{}", "config.json"),
    ("config.json", "null", "config.json"),
    ("config.json", {"budget": "many"}, "--budget (config key budget) must be an integer"),
    ("config.json", {"evaluator": {"kind": "table", "table": 3}}, "evaluator.table) must be a string"),
    ("state.json", {"method_state": []}, "'method_state' must be an object"),
    ("config.json", "\x00\x01binary", "config.json"),
    ("state.json", "{}", "state.json: 'step' must be a non-negative integer"),
    ("state.json", "null", "state.json must hold a JSON object"),
    ("state.json", '{"step": "2", "n_evaluations": 2}', "state.json: 'step'"),
    ("state.json", '{"step": 1, "n_evaluations": 99}', "evaluations.json holds 4"),
    ("evaluations.json", "{}", "evaluations.json must hold a JSON list"),
    ("evaluations.json", "null", "evaluations.json must hold a JSON list"),
    ("evaluations.json", '[{"step": 0, "arch": "abc", "score": 1}]', "evaluations.json: record 1"),
    ("evaluations.json", '[{"step": 0, "arch": [0, 0, 0, 0, 0, 9], "score": 1}]', "not valid in space 'nb201'"),
    ("evaluations.json", '[{"step": 0, "arch": [0, 0, 0, 0, 0, 0], "score": "high"}]', "has score 'high'"),
])
def test_resume_refuses_damaged_files(cli, finished_run, name, content, needle):
    if isinstance(content, dict):  # one field of the real file changed
        content = json.dumps({**json.loads((finished_run / name).read_text()), **content})
    (finished_run / name).write_text(content)
    before = {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()}
    _one_line(cli("search", "--resume", finished_run, "--budget", 6), needle)
    assert {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()} == before  # nothing rewritten


def test_resume_takes_only_budget_data_dir_and_quiet(cli, finished_run):
    _one_line(cli("search", "--resume", finished_run, "--channels", 4), "--channels cannot change them")
    with pytest.raises(RunFolderError, match="does not exist"):
        resume(finished_run / "nope")
    (finished_run / "config.json").unlink()
    with pytest.raises(RunFolderError, match="has no config.json"):
        resume(finished_run)
