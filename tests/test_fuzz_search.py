"""Hostile input to ``nao-tf search``: config files and flags (validated by the typed configuration tree) and run
folders given to ``--resume``. Each case: exit code != 0, one stderr line, no traceback; resume cases also leave
every file of the run folder unchanged (checksums). All cases fail before any search work starts."""

from __future__ import annotations

import json

import pytest
from test_fuzz_inputs import assert_one_line
from test_fuzz_runs import checksums

CONFIG_FILES = {
    "binary": (b"\x00\xff\xfe binary", "not a text"),
    "list": ("- a\n- b\n", "must be a mapping"),
    "layers-abc": ("layers: abc\n", "must be an integer"),
    "budget-ten": ("budget: ten\n", "must be an integer"),
    "channels-list": ("channels: [4]\n", "must be an integer"),
    "channels-float": ("channels: 4.5\n", "must be an integer"),
    "ws-lr-negative": ("ws-lr: -1\n", "ws-lr"),
    "workers-negative": ("evaluator: child\nworkers: -2\n", "workers"),
    "port-negative": ("evaluator: child\nport: -5\n", "port"),
    "unknown-key": ("no-such-setting: 3\n", "no-such-setting"),
    "yaml-syntax": ("budget: [1, 2\n", "config"),
    "python-object": ("budget: !!python/object/apply:os.system ['true']\n", "config"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_FILES))
def test_bad_search_config_files(cli, tmp_path, case):
    content, words = CONFIG_FILES[case]
    path = tmp_path / "config.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code, out, err = cli("search", "--config", str(path), "--out", str(tmp_path / "run"))
    assert_one_line(code, err, words)
    assert code == 2 and not (tmp_path / "run").exists()


SEARCH_FLAGS = [
    (["--budget", "0"], "--budget"),
    (["--budget", "nan"], "--budget"),
    (["--seed", "-5"], "--seed"),
    (["--evaluator", "child", "--workers", "1", "--port", "-5"], "--port"),
    (["--evaluator", "child", "--workers", "1", "--port", "70000"], "--port"),
    (["--config", "{missing}"], "does not exist"),
]


@pytest.mark.parametrize("argv, words", SEARCH_FLAGS, ids=[" ".join(a) for a, _ in SEARCH_FLAGS])
def test_bad_search_flags(cli, tmp_path, argv, words):
    argv = [a.format(missing=tmp_path / "nothing.yaml") for a in argv]
    code, out, err = cli("search", *argv, "--out", str(tmp_path / "run"))
    assert_one_line(code, err, words)
    assert code == 2 and not (tmp_path / "run").exists()


RESUME_FILES = {
    "config-null": ("config.json", "null"),
    "config-empty": ("config.json", "{}"),
    "config-garbage": ("config.json", "{garbage"),
    "config-list": ("config.json", "[1, 2]"),
}


@pytest.mark.parametrize("case", sorted(RESUME_FILES))
def test_resume_of_a_broken_search_run(cli, tmp_path, case):
    name, content = RESUME_FILES[case]
    run = tmp_path / "run"
    run.mkdir()
    (run / name).write_text(content)
    (run / "evaluations.json").write_text(json.dumps([]))
    before = checksums(run)
    code, out, err = cli("search", "--resume", str(run))
    assert_one_line(code, err)
    assert code == 2 and checksums(run) == before
