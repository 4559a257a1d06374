"""The NAO loop as a keras-tuner Oracle: trials over gRPC on 127.0.0.1, a silent worker's trial re-run,
duplicates ignored, workers told to stop, unreachable chief -> one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import NAO_TF_CMD

from nao_tf.cli.main import main
from nao_tf.search.evaluator import Evaluator
from nao_tf.spaces.nasnet import NASNET_WS

pytest.importorskip("keras_tuner")


class FakeChild(Evaluator):
    """Stands in for the child evaluator on the chief (the workers do the training)."""

    name = "child"

    def __init__(self, run_dir: Path) -> None:
        super().__init__(NASNET_WS, "max")
        self.journal: dict = {}
        self.journal_dir = run_dir

    def evaluate(self, archs):  # pragma: no cover - the chief never trains
        raise AssertionError("the chief must not train")

    def config(self):
        return {"name": "child", "space": "nasnet-ws", "note": "fake"}


def _client(port: int, tuner_id: str, monkeypatch):
    import keras_tuner as kt
    from keras_tuner.src.distribute import oracle_client

    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", tuner_id)
    local = kt.Oracle(objective=kt.Objective("val_accuracy", "max"), max_trials=None)
    return oracle_client.OracleClient(local)


def _next_trial(client, tuner_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trial = client.create_trial(tuner_id)
        if trial.status != "IDLE":
            return trial
        time.sleep(0.05)
    raise AssertionError("no trial handed out")


def test_silent_worker_trial_is_rerun_and_results_come_back(tmp_path, monkeypatch):
    from nao_tf.search.oracle import ChiefEvaluator

    for var in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(var, raising=False)
    chief = ChiefEvaluator(FakeChild(tmp_path), tmp_path, port=0, trial_timeout=1.0)
    archs = NASNET_WS.sample(np.random.default_rng(0), 3)
    results = {}
    try:
        runner = threading.Thread(target=lambda: results.update(evals=chief.evaluate(archs)), daemon=True)
        runner.start()
        dead = _client(chief.port, "worker-dead", monkeypatch)
        lost = _next_trial(dead, "worker-dead")  # takes a trial, then goes silent (no heartbeat, no result)
        lost_arch = lost.hyperparameters.values["arch"]
        assert json.loads(lost.hyperparameters.values["evaluator"])["note"] == "fake"
        alive = _client(chief.port, "worker-alive", monkeypatch)
        done = []
        while len(done) < 3:
            trial = _next_trial(alive, "worker-alive")
            arch = trial.hyperparameters.values["arch"]
            score = 0.1 + 0.1 * [a.integers for a in archs].index(arch)
            alive.update_trial(trial.trial_id, {"val_accuracy": score, "params": 1000.0})
            trial.status = "COMPLETED"
            alive.end_trial(trial)
            done.append(arch)
        assert lost_arch in done  # the silent worker's architecture was re-run by another worker
        runner.join(30)
        evals = results["evals"]
        assert [e.arch for e in evals] == list(archs)
        assert [round(e.score, 6) for e in evals] == [0.1, 0.2, 0.3]
        assert all(e.metadata["params"] == 1000.0 for e in evals)
        # journaled at once in the run folder: a restarted chief retrains nothing
        journal = json.loads((tmp_path / "children.json").read_text())
        assert sorted(r["integers"] for r in journal) == sorted(a.integers for a in archs)
        # the late result of the "dead" worker is ignored
        dead.update_trial(lost.trial_id, {"val_accuracy": 0.99})
        lost.status = "COMPLETED"
        dead.end_trial(lost)
        assert chief.oracle.results[lost_arch][0] != 0.99
        # once the search is over, workers are told to stop
        stopper = threading.Thread(target=chief.close, kwargs={"grace": 3.0})
        stopper.start()
        assert _next_trial(alive, "worker-alive").status == "STOPPED"
        stopper.join(10)
    finally:
        chief.server.stop(0)


def test_worker_without_chief_is_one_line_error(capsys, monkeypatch):
    from nao_tf.search.oracle import free_port

    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
    assert main(["worker", "--connect-timeout", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the chief at 127.0.0.1:" in err[0], err
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT")
    assert main(["worker"]) == 2
    assert "no chief port" in capsys.readouterr().err


def test_chief_port_in_use_is_one_line_error(tmp_path):
    import socket

    from nao_tf.errors import ConfigError
    from nao_tf.search.oracle import ChiefEvaluator

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1"):
            ChiefEvaluator(FakeChild(tmp_path), tmp_path, port=port)


TOY = ["--evaluator", "child", "--space", "nasnet-ws", "--layers", "1", "--channels", "4", "--batch-size", "32",
       "--valid-size", "100", "--child-epochs", "1", "--child-steps", "2", "--budget", "4", "--initial-pool", "3",
       "--per-round", "1", "--top-k", "3", "--controller-epochs", "2", "--controller-set", "jit_compile=false",
       "--quiet", "--trial-timeout", "8"]


@pytest.mark.slow
def test_chief_and_two_workers_on_localhost(tmp_path):
    """A real chief and two real workers; one worker is killed (-9) inside its first trial."""
    from nao_tf.search.oracle import free_port

    port = free_port()
    run = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    nao = list(NAO_TF_CMD)
    chief = subprocess.Popen([*nao, "search", "--out", str(run), "--workers", "2", "--port", str(port), *TOY],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = {}
    try:
        for wid in ("w1", "w2"):
            workers[wid] = subprocess.Popen([*nao, "worker", "--port", str(port), "--id", wid,
                                             "--connect-timeout", "300"], env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)
        # kill w1 once it holds a trial
        deadline = time.monotonic() + 600
        killed = None
        while killed is None and time.monotonic() < deadline:
            state = run / "tuner" / "oracle.json"
            if state.is_file():
                try:
                    ongoing = json.loads(state.read_text()).get("ongoing_trials", {})
                except ValueError:
                    ongoing = {}
                if "w1" in ongoing:
                    workers["w1"].kill()
                    killed = ongoing["w1"]
            time.sleep(0.2)
        assert killed is not None, "w1 never got a trial"
        out, err = chief.communicate(timeout=1200)
        assert chief.returncode == 0, err[-2000:]
        w2_out, _ = workers["w2"].communicate(timeout=120)
        assert workers["w2"].returncode == 0
        records = json.loads((run / "evaluations.json").read_text())
        assert len(records) == 4 and len({tuple(r["arch"]) for r in records}) == 4
        assert all(0.0 <= r["score"] <= 1.0 for r in records)
        journal = json.loads((run / "children.json").read_text())
        assert len(journal) == 4
        assert json.loads(w2_out.strip().splitlines()[-1])["trials"] >= 3
        assert "best architecture" in out
    finally:
        for p in [chief, *workers.values()]:
            if p.poll() is None:
                p.kill()
                p.wait()
