"""Hostile input through the CLI, TensorFlow-free: architectures, numbers and paths on the command line, and the
top-level guard of ``nao-tf`` (one line, exit codes, ``--debug``, broken pipe).

Every bad input must give exit code != 0, exactly one line on stderr and no traceback (docs/robustness.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import NAO_TF_CMD

NB201_OK = "1 2 3 4 0 1"


def assert_one_line(code: int, err: str, *words: str) -> str:
    """The contract of every bad input: non-zero exit, one stderr line, no traceback."""
    lines = err.strip().splitlines()
    assert code != 0, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("nao-tf"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# ----- architectures: strings on the command line ---------------------------------------------------------------
ARCH_STRINGS = [
    ("1 2 3 4 0 \u00b2", "not an integer"),  # superscript two: isdigit() but not int()
    ("1 2 3 4 0 \u0663", "not an integer"),  # Arabic-Indic three: int() takes it, we do not
    ("\u00b2", "expected 40"),
    ("1 2 3 4 0 1.5", "not an integer"),
    ("1 2 3 4 0 " + "9" * 5000, "not an integer"),  # beyond Python's int() digit limit
    ("1 2 3 4 0 99999999999999999999", "not an integer"),
    ("-1 -1 -1 -1 -1 -1", "position 0"),
    ("1 2 3 4 5", "expected 40"),
    (" ".join(["1"] * 5000), "expected 40"),
    ('{"space":"nb201","integers":[2.7,1,2,3,0,1]}', "value 0 is 2.7"),
    ('{"space":"nb201","integers":[true,1,2,3,0,1]}', "value 0 is True"),
    ('{"integers":[true,1,2,3,0,1]}', "value 0 is True"),
    ('{"space":"nb201","integers":[Infinity,1,2,3,0,1]}', "Infinity"),
    ('{"space":"nb201","integers":NaN}', "NaN"),
    ('{"space":"nb201","integers":5}', "list of 6 integers"),
    ('{"space":"nb201","integers":{"a":1}}', "list of 6 integers"),
    ('{"space":"nb201","integers":[1e400,1,2,3,0,1]}', "not an integer"),
    ('{"space":"nb201","integers":["1",2,3,4,0,1]}', "not an integer"),
    ('{"space":["x"]}', "'space' must be a name"),
    ('{"space":5}', "'space' must be a name"),
    ('{"space":"nope","integers":[1]}', "unknown search space"),
    ('{"integers":7}', "'integers' must be a list"),
    ('{"space":"nb201"', "malformed"),
    ("{\"a\":" * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
    ('{"space":"nb201","integers":' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ("NAONet-Z", "cannot tell the space"),
    ("", "empty architecture"),
]


@pytest.mark.parametrize("text, words", ARCH_STRINGS, ids=[f"arch-{i}" for i in range(len(ARCH_STRINGS))])
def test_bad_architecture_strings(cli, text, words):
    code, out, err = cli("arch", "validate", text)
    assert_one_line(code, err, words)
    assert code == 2 and out == ""


# ----- architectures: files ------------------------------------------------------------------------------------
def _self_named(tmp_path):
    path = tmp_path / "self.txt"
    return _write(path, str(path))


def _pair(tmp_path):
    _write(tmp_path / "b.txt", str(tmp_path / "a.txt"))
    return _write(tmp_path / "a.txt", str(tmp_path / "b.txt"))


def _chain(tmp_path):
    for i in range(12):
        _write(tmp_path / f"c{i}.txt", str(tmp_path / f"c{i + 1}.txt"))
    _write(tmp_path / "c12.txt", NB201_OK)
    return tmp_path / "c0.txt"


def _directory(tmp_path):
    path = tmp_path / "folder.json"
    path.mkdir()
    return path


ARCH_FILES = {
    "names-itself": (_self_named, "names itself"),
    "cycle-of-two": (_pair, "names itself"),
    "chain-too-long": (_chain, "more than 8 files"),
    "directory": (_directory, "is a directory"),
    "missing": (lambda t: t / "missing.json", "does not exist"),
    "binary": (lambda t: _write(t / "bin.json", b"\xff\xfe\x00\x81garbage"), "cannot read"),
    "infinity": (lambda t: _write(t / "inf.json", '{"space":"nb201","integers":[Infinity,1,2,3,0,1]}'), "Infinity"),
    "deep": (lambda t: _write(t / "deep.json", "[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "huge-int": (lambda t: _write(t / "big.json", '{"space":"nb201","integers":[' + "9" * 5000 + ",1,2,3,0,1]}"),
                 "not usable"),
    "list-not-object": (lambda t: _write(t / "list.json", "[1, 2]"), "must be an object"),
    "null": (lambda t: _write(t / "null.json", "null"), "got null"),
    "empty-txt": (lambda t: _write(t / "empty.txt", "   \n"), "empty architecture"),
    "too-large": (lambda t: _write(t / "large.txt", "1 " * (600 * 1024)), "larger than 1 MiB"),
    "float-in-file": (lambda t: _write(t / "float.json", '{"space":"nb201","integers":[2.7,1,2,3,0,1]}'),
                      "value 0 is 2.7"),
}


@pytest.mark.parametrize("case", sorted(ARCH_FILES))
def test_bad_architecture_files(cli, tmp_path, case):
    make, words = ARCH_FILES[case]
    path = make(tmp_path)
    code, out, err = cli("arch", "show", str(path))
    assert_one_line(code, err, words)
    assert code == 2


def test_a_chain_of_files_within_the_limit_still_resolves(cli, tmp_path):
    for i in range(3):
        _write(tmp_path / f"c{i}.txt", str(tmp_path / f"c{i + 1}.txt"))
    _write(tmp_path / "c3.txt", NB201_OK)
    code, out, err = cli("arch", "validate", str(tmp_path / "c0.txt"))
    assert code == 0 and "nb201" in out, err


# ----- numbers and paths on the command line -------------------------------------------------------------------
def _file(tmp_path):
    return _write(tmp_path / "plain-file", "x")


CLI_NUMBERS = [
    (["arch", "sample", "--space", "nb201", "--seed", "-5"], "at least 0"),
    (["arch", "sample", "--space", "nb201", "--seed", "99999999999999999999999"], "expected an integer"),
    (["arch", "sample", "--space", "nb201", "--seed", str(2**32)], "at most"),
    (["arch", "sample", "--space", "nb201", "--seed", "1.5"], "expected an integer"),
    (["arch", "sample", "--space", "nb201", "--seed", "\u00b3"], "expected an integer"),
    (["arch", "sample", "--space", "nb201", "--n", "0"], "at least 1"),
    (["arch", "sample", "--space", "nb201", "--n", "100000000000"], "at most"),
    (["arch", "show", "NAONet-A", "--params", "--layers", "-3"], "at least 1"),
    (["worker", "--connect-timeout", "inf", "--port", "5000"], "finite"),
    (["worker", "--connect-timeout", "nan", "--port", "5000"], "finite"),
    (["worker", "--connect-timeout", "-1", "--port", "5000"], "above 0"),
    (["worker", "--connect-timeout", "1e9", "--port", "5000"], "at most"),
    (["worker", "--port", "-5"], "at least 1"),
    (["worker", "--port", "0"], "at least 1"),
    (["worker", "--port", "70000"], "at most 65535"),
    (["worker", "--port", "http"], "expected an integer"),
    (["train", "NAONet-B", "--lr", "nan"], "finite"),
    (["train", "NAONet-B", "--lr", "0"], "above 0"),
    (["train", "NAONet-B", "--weight-decay=-inf"], "finite"),
    (["train", "NAONet-B", "--drop-path-keep", "1.5"], "keep probability"),
    (["train", "NAONet-B", "--seed", "-1"], "at least 0"),
    (["evaluate", "somewhere", "--batch-size", "0"], "at least 1"),
    (["predict", "exports", "img.png", "--top", "0"], "at least 1"),
    (["export", "run", "--tolerance", "nan"], "finite"),
    (["export", "run", "--version", "-2"], "at least 0"),
]


@pytest.mark.parametrize("argv, words", CLI_NUMBERS, ids=[" ".join(a[:2] + a[-2:]) for a, _ in CLI_NUMBERS])
def test_bad_numbers_on_the_command_line(cli, argv, words):
    code, out, err = cli(*argv)
    assert_one_line(code, err, words)
    assert code == 2


@pytest.mark.parametrize("argv", [
    ["arch", "render", "NAONet-A", "-o", "{file}/cell.png"],
    ["train", "NAONet-B", "--out", "{file}/run"],
    ["export", "run", "--out", "{file}/exports"],
    ["train", "NAONet-B", "--out", ""],
], ids=["render", "train", "export", "empty"])
def test_out_under_a_file_is_refused_before_any_work(cli, tmp_path, argv):
    blocker = _file(tmp_path)
    code, out, err = cli(*[a.format(file=blocker) for a in argv])
    assert_one_line(code, err)
    assert code == 2 and blocker.read_text() == "x"


def test_worker_port_from_the_environment_is_checked(cli, monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "-5")
    code, out, err = cli("worker", "--connect-timeout", "1")
    assert_one_line(code, err, "chief port", "at least 1")


# ----- the top-level guard -------------------------------------------------------------------------------------
def _boom(args):
    raise RuntimeError("something\nbroke deep inside")


def test_an_unexpected_exception_is_one_line_exit_1(cli, monkeypatch):
    from nao_tf.cli import arch

    monkeypatch.setattr(arch, "_zoo", _boom)
    code, out, err = cli("arch", "zoo")
    line = assert_one_line(code, err, "RuntimeError: something broke deep inside", "--debug")
    assert code == 1 and line.endswith("(run with --debug for the traceback)")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(cli, monkeypatch, how):
    from nao_tf.cli import arch

    monkeypatch.setattr(arch, "_zoo", _boom)
    if how == "env":
        monkeypatch.setenv("NAO_TF_DEBUG", "1")
    code, out, err = cli(*(["--debug"] if how == "flag" else []), "arch", "zoo")
    assert code == 1
    assert "Traceback" in err and "_boom" in err
    assert err.strip().splitlines()[-1] == "nao-tf: error: RuntimeError: something broke deep inside"


def test_a_user_error_is_exit_2_and_a_debug_traceback_on_request(cli):
    code, out, err = cli("arch", "validate", "1 2 3")
    assert_one_line(code, err, "expected 40")
    assert code == 2
    code, out, err = cli("--debug", "arch", "validate", "1 2 3")
    assert code == 2 and "Traceback" in err and "ArchitectureError" in err
    code, out, err = cli("arch", "validate", "1 2 3", "--debug")  # where the hint makes people put it
    assert code == 2 and "Traceback" in err and "ArchitectureError" in err


def test_broken_pipe_exits_quietly():
    """``nao-tf arch show NAONet-A --json | head -1``: stdout closed early, no traceback, nothing on stderr."""
    proc = subprocess.Popen([*NAO_TF_CMD, "arch", "sample", "--space", "nasnet-full", "--n", "20000",
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert json.loads(first)["space"] == "nasnet-full"
    assert err == "", err
    assert proc.returncode == 141


def test_broken_pipe_through_a_shell_pipe():
    if sys.platform == "win32":  # pragma: no cover
        pytest.skip("POSIX shell")
    cmd = " ".join(NAO_TF_CMD) + " arch show NAONet-A --json | head -1"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.stdout == "{\n" and proc.stderr == "", proc.stderr
