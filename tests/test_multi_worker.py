"""``nao-tf train --multi-worker``: two worker processes on 127.0.0.1 (CPU) under MultiWorkerMirroredStrategy.

The workers must end bit-identical, equal a one-process run with the same global batch and replica count, write
only into the chief's run folder, and survive a SIGKILLed worker (restart -> continue from the last epoch).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import NAO_TF_CMD

from nao_tf.children.distribute import ClusterRole, cluster_role, read_tf_config
from nao_tf.errors import ConfigError

# Toy size: N=1, F=4, 28x28 embedded sample; no randomness inside the step (dropout, drop-path, augmentation
# off) so two strategies can be compared weight for weight.
TOY = ["--layers", "1", "--channels", "4", "--batch-size", "8", "--steps-per-epoch", "2", "--valid-size", "16",
       "--no-augment", "--drop-path-keep", "1", "--dropout-keep", "1", "--seed", "3", "--quiet", "--json"]
TIMEOUT = 1200  # two TensorFlow processes sharing two busy cores start slowly


def _ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _start(args: list[str], tmp: Path, name: str, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", **env_extra}
    env.pop("TF_CONFIG", None) if "TF_CONFIG" not in env_extra else None
    (tmp / f"{name}-tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp / f"{name}-tmp")
    out = open(tmp / f"{name}.out", "w")  # noqa: SIM115  closed with the process by _finish
    err = open(tmp / f"{name}.err", "w")  # noqa: SIM115
    proc = subprocess.Popen([*NAO_TF_CMD, *args], stdout=out, stderr=err, env=env, cwd=tmp)
    proc.files = (out, err)  # type: ignore[attr-defined]
    return proc


def _finish(proc: subprocess.Popen, tmp: Path, name: str) -> tuple[int, str, str]:
    try:
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in proc.files:  # type: ignore[attr-defined]
            f.close()
    return code, (tmp / f"{name}.out").read_text(), (tmp / f"{name}.err").read_text()


def _workers(tmp: Path, args: list[str], tag: str = "") -> list[subprocess.Popen]:
    ports = _ports(2)
    return [_start(args, tmp, f"worker{i}{tag}", {"TF_CONFIG": _tf_config(ports, i)}) for i in range(2)]


def _trainable(path: Path) -> list:
    import numpy as np

    from nao_tf import load_model

    model = load_model(path, compile=False)
    return [np.asarray(w) for w in model.trainable_weights]


def test_two_workers_are_identical_and_equal_one_process(tmp_path):
    import numpy as np

    run = tmp_path / "run"
    args = ["train", "NAONet-B", *TOY, "--epochs", "2", "--out", str(run)]
    procs = _workers(tmp_path, args)
    results = [_finish(p, tmp_path, f"worker{i}") for i, p in enumerate(procs)]
    for code, _, err in results:
        assert code == 0, err[-3000:]
    summaries = [json.loads(out) for _, out, _ in results]
    chief, other = summaries
    assert chief["chief"] and not other["chief"] and chief["workers"] == 2 and chief["replicas"] == 2
    assert chief["weights_digest"] == other["weights_digest"]  # bit-identical, batch-norm statistics included
    assert other["model"] is None and chief["model"] == str(run / "model.keras")
    # The other worker wrote nothing shared, and cleaned its private folder.
    assert list((tmp_path / "worker1-tmp").iterdir()) == []
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]

    # One process, the same global batch split over the same number of replicas (2 logical CPUs).
    single = tmp_path / "single"
    code, out, err = _finish(_start(["train", "NAONet-B", *TOY, "--epochs", "2", "--cpu-replicas", "2",
                                     "--out", str(single)], tmp_path, "single", {}), tmp_path, "single")
    assert code == 0, err[-3000:]
    for a, b in zip(_trainable(run / "model.keras"), _trainable(single / "model.keras"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    losses = [h["loss"] for h in json.loads((single / "state.json").read_text())["history"]]
    np.testing.assert_allclose([h["loss"] for h in state["history"]], losses, rtol=1e-4)


@pytest.mark.slow
def test_killed_worker_restarts_and_the_job_continues(tmp_path):
    run = tmp_path / "run"
    args = ["train", "NAONet-B", *TOY, "--epochs", "3", "--out", str(run)]
    procs = _workers(tmp_path, args)
    deadline = time.time() + TIMEOUT
    state = run / "state.json"
    while not (state.is_file() and json.loads(state.read_text())["epoch"] >= 1):
        assert time.time() < deadline and all(p.poll() is None for p in procs), "no epoch finished"
        time.sleep(0.5)
    procs[1].send_signal(signal.SIGKILL)
    _finish(procs[1], tmp_path, "worker1")
    code, _, err = _finish(procs[0], tmp_path, "worker0")
    assert code == 75, err[-3000:]  # WorkerLostError: restart me
    assert "another worker was lost" in err and "restart every worker" in err
    before = json.loads(state.read_text())
    kept = before["epoch"]
    assert 1 <= kept < 3 and (run / before["checkpoint"]).is_file()

    # A supervisor restarts both with the very same command: the chief's run folder continues.
    procs = _workers(tmp_path, args, tag="-again")
    results = [_finish(p, tmp_path, f"worker{i}-again") for i, p in enumerate(procs)]
    for code, _, err in results:
        assert code == 0, err[-3000:]
    chief, other = (json.loads(out) for _, out, _ in results)
    assert chief["weights_digest"] == other["weights_digest"]
    after = json.loads(state.read_text())
    assert [h["epoch"] for h in after["history"]] == [1, 2, 3]
    assert after["history"][:kept] == before["history"]  # nothing lost, nothing trained twice
    assert (run / "model.keras").is_file()


# ----- the TF_CONFIG contract and the CLI's one-line errors (no TensorFlow) ------------------------------------
def test_tf_config_roles():
    workers = {"worker": ["a:1", "b:1"]}
    assert read_tf_config({}) is None
    assert read_tf_config({"TF_CONFIG": json.dumps({"cluster": workers, "task": {"type": "worker", "index": 0}})}) \
        == ClusterRole("worker", 0, 2)
    role = read_tf_config({"TF_CONFIG": json.dumps({"cluster": workers, "task": {"type": "worker", "index": 1}})})
    assert not role.is_chief and role.name == "worker:1"
    with_chief = {"chief": ["c:1"], **workers}
    chief = read_tf_config({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "chief"}})})
    worker0 = read_tf_config({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "worker"}})})
    assert chief.is_chief and chief.tasks == 3 and not worker0.is_chief


@pytest.mark.parametrize("value, message", [
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["a:1"]}}', 'needs "cluster" and "task"'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "out of range"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker"}}', "not used by multi-worker"),
    ('{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker"}}', "host:port"),
])
def test_bad_tf_config_is_one_line(value, message):
    with pytest.raises(ConfigError, match=message):
        read_tf_config({"TF_CONFIG": value})


def test_multi_worker_flag_needs_tf_config():
    with pytest.raises(ConfigError, match="needs TF_CONFIG"):
        cluster_role(True, {})
    assert cluster_role(False, {}) is None


@pytest.mark.parametrize("args, message", [
    (["train", "NAONet-B", "--multi-worker", "--out", "r"], "needs TF_CONFIG"),
    (["train", "NAONet-B", "--multi-worker"], "--out RUN"),
    (["train", "--resume", "r", "--multi-worker"], "rerun the original command"),
    (["train", "NAONet-B", "--multi-worker", "--out", "r", "--cpu-replicas", "2"], "does not combine"),
    (["train", "PTB-NAONet", "--multi-worker", "--out", "r"], "one machine only"),
])
def test_cli_errors(cli, monkeypatch, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    if message != "needs TF_CONFIG":
        monkeypatch.setenv("TF_CONFIG", _tf_config([1, 2], 0))
    else:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    code, out, err = cli(*args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()
