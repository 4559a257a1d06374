"""Distributed child training on keras-tuner's engine: the NAO loop as a ``keras_tuner.Oracle``.

Chief (``nao-tf search --evaluator child --workers N``): the search loop runs as usual, but its evaluator is a
``ChiefEvaluator`` that puts each proposed architecture into a ``NaoOracle`` served over keras-tuner's gRPC
service (``keras_tuner``'s ``OracleServicer``) and waits for the results. Proposals come from the NAO
controller; results feed it back through ``Search.record``.

Workers (``nao-tf worker``, or any process with keras-tuner's ``KERASTUNER_TUNER_ID`` /
``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT``): a keras-tuner ``BaseTuner`` whose ``run_trial`` trains
the trial's architecture as a child network (the chief sends the evaluator settings with every trial) under
``MirroredStrategy`` over the worker's own GPUs, and reports ``val_accuracy``.

No result is lost: every finished child is journaled in the chief's run folder at once; a worker sends a
heartbeat every ``HEARTBEAT_S`` seconds while it trains, and a trial whose worker has been silent for
``trial_timeout`` seconds (killed, crashed, unplugged) goes back to the queue for another worker; a worker
restarted with the same ``KERASTUNER_TUNER_ID`` gets its unfinished trial again. A duplicate result (a slow
worker finishing after its trial was re-issued) is ignored.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.spaces import Architecture

OBJECTIVE = "val_accuracy"
HEARTBEAT_S = 2.0
IDLE_WAIT_S = 0.5


def _keras_tuner() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras_tuner

    return keras_tuner


def make_oracle(trial_timeout: float = 60.0) -> Any:
    """A ``NaoOracle`` instance (the class is defined lazily: keras-tuner imports TensorFlow)."""
    kt = _keras_tuner()
    from keras_tuner.engine import trial as trial_module

    class NaoOracle(kt.Oracle):
        """Hands out queued architectures as trials; collects their ``val_accuracy``."""

        def __init__(self) -> None:
            super().__init__(objective=kt.Objective(OBJECTIVE, "max"), max_trials=None, max_retries_per_trial=2,
                             max_consecutive_failed_trials=10**9, seed=1)
            self.hyperparameters.Fixed("arch", "")
            self.hyperparameters.Fixed("evaluator", "{}")
            self.queue: list[str] = []
            self.results: dict[str, tuple[float, dict[str, Any]]] = {}
            self.trial_arch: dict[str, str] = {}
            self.last_seen: dict[str, float] = {}
            self.evaluator_config = "{}"
            self.closing = False
            self.trial_timeout = float(trial_timeout)
            self.cond = threading.Condition()
            self._display.verbose = 0

        # the server side: called by workers through gRPC -----------------------------------------------
        def populate_space(self, trial_id: str) -> dict[str, Any]:
            with self.cond:
                self._expire()
                while self.queue:
                    arch = self.queue.pop(0)
                    if arch in self.results:
                        continue
                    self.trial_arch[trial_id] = arch
                    self.last_seen[trial_id] = time.monotonic()
                    return {"status": trial_module.TrialStatus.RUNNING,
                            "values": {"arch": arch, "evaluator": self.evaluator_config}}
                if self.closing:
                    return {"status": trial_module.TrialStatus.STOPPED, "values": None}
                return {"status": trial_module.TrialStatus.IDLE, "values": None}

        def get_trial(self, trial_id: str) -> Any:
            with self.cond:
                self.last_seen[trial_id] = time.monotonic()  # a worker's heartbeat
            return super().get_trial(trial_id)

        def end_trial(self, trial: Any) -> None:
            super().end_trial(trial)
            ended = self.trials[trial.trial_id]
            with self.cond:
                arch = self.trial_arch.get(trial.trial_id) or ended.hyperparameters.values.get("arch")
                self.last_seen.pop(trial.trial_id, None)
                if arch and arch not in self.results:
                    if ended.status == trial_module.TrialStatus.COMPLETED:
                        meta = {}
                        for name in ("params", "seconds", "final_valid_accuracy"):
                            if ended.metrics.exists(name):
                                meta[name] = ended.metrics.get_last_value(name)
                        meta["worker_trial"] = trial.trial_id
                        self.results[arch] = (float(ended.score), meta)
                    elif ended.status == trial_module.TrialStatus.FAILED:
                        self.results[arch] = (0.0, {"failed": True, "message": (ended.message or "")[-300:]})
                self.cond.notify_all()

        # the chief side -----------------------------------------------------------------------------------
        def _expire(self) -> None:
            """Re-queue the architectures of trials whose worker has been silent too long (under ``cond``)."""
            now = time.monotonic()
            for trial_id, seen in list(self.last_seen.items()):
                if now - seen <= self.trial_timeout:
                    continue
                self.last_seen.pop(trial_id)
                arch = self.trial_arch.get(trial_id)
                if arch and arch not in self.results and arch not in self.queue:
                    self.queue.insert(0, arch)
                for tuner_id, ongoing in list(self.ongoing_trials.items()):
                    if ongoing.trial_id == trial_id:
                        self.ongoing_trials.pop(tuner_id)

        def submit(self, archs: Sequence[str]) -> None:
            with self.cond:
                for a in archs:
                    if a not in self.results and a not in self.queue:
                        self.queue.append(a)

        def wait(self, archs: Sequence[str], timeout: float = 1.0) -> int:
            """Block up to ``timeout`` s for results; returns how many of ``archs`` are done."""
            with self.cond:
                self.cond.wait(timeout)
                self._expire()
                return sum(a in self.results for a in archs)

    return NaoOracle()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ChiefEvaluator(Evaluator):
    """The search loop's evaluator on the chief: trials are trained by ``nao-tf worker`` processes."""

    def __init__(self, inner: Any, run_dir: str | Path, host: str = "127.0.0.1", port: int = 0,
                 trial_timeout: float = 60.0, progress: Any = None) -> None:
        super().__init__(inner.space, inner.mode)
        self.inner = inner
        self.name = inner.name
        self.progress = progress
        self.host = host
        self.run_dir = Path(run_dir)
        _keras_tuner()
        from concurrent import futures

        import grpc
        from keras_tuner.src import protos
        from keras_tuner.src.distribute.oracle_chief import OracleServicer

        self.oracle = make_oracle(trial_timeout)
        self.oracle._set_project_dir(str(self.run_dir), "tuner")
        self.oracle.evaluator_config = json.dumps(inner.config())

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        protos.get_service_grpc().add_OracleServicer_to_server(OracleServicer(self.oracle), self.server)
        try:
            bound = self.server.add_insecure_port(f"{host}:{int(port)}")
        except RuntimeError:
            bound = 0
        if not bound:
            raise ConfigError(f"cannot listen on {host}:{port} for workers (port in use?); pick another --port "
                              "or leave it out to use a free one")
        self.port = int(bound)
        self.address = f"{host}:{self.port}"
        self.server.start()

    def allowed(self, arch: Architecture) -> bool | str:
        return self.inner.allowed(arch)

    def config(self) -> dict[str, Any]:
        return self.inner.config()

    def attach_run_dir(self, run_dir: Path) -> None:
        self.inner.attach_run_dir(run_dir)

    def get_state(self) -> dict[str, Any]:
        return self.inner.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self.inner.set_state(state)

    def report(self, evaluation: Evaluation) -> dict[str, Any]:
        return self.inner.report(evaluation)

    def evaluate(self, archs: Sequence[Architecture]) -> list[Evaluation]:
        journal = getattr(self.inner, "journal", {})
        keys = [a.integers for a in archs]
        todo = [k for k in keys if k not in journal]
        self.oracle.submit(todo)
        bar = self.bar("child training (workers)", len(archs))
        done = len(keys) - len(todo)
        bar.update(done)
        while done < len(keys):
            now_done = len(keys) - len(todo) + self.oracle.wait(todo)
            if now_done > done:
                self._journal(todo)
                bar.update(now_done - done)
                done = now_done
        bar.close()
        self._journal(todo)
        out = []
        for arch, key in zip(archs, keys, strict=True):
            rec = journal.get(key) if journal else None
            if rec is None:
                score, meta = self.oracle.results[key]
                rec = {"valid_accuracy": score, **meta}
            out.append(Evaluation(arch, float(rec["valid_accuracy"]),
                                  {k: v for k, v in rec.items() if k not in ("integers", "valid_accuracy")}))
        return out

    def _journal(self, keys: Sequence[str]) -> None:
        """Write finished children into the inner evaluator's journal (``children.json``) at once."""
        journal = getattr(self.inner, "journal", None)
        if journal is None:
            return
        changed = False
        with self.oracle.cond:
            for k in keys:
                if k in self.oracle.results and k not in journal:
                    score, meta = self.oracle.results[k]
                    journal[k] = {"integers": k, "valid_accuracy": score, **meta}
                    changed = True
        if changed and getattr(self.inner, "journal_dir", None) is not None:
            from nao_tf.runio import atomic_write_json
            from nao_tf.search.child_eval import JOURNAL

            atomic_write_json(self.inner.journal_dir / JOURNAL, list(journal.values()))

    def close(self, grace: float = 5.0) -> None:
        """Tell idle workers to stop (their next request gets STOPPED), then stop the server."""
        with self.oracle.cond:
            self.oracle.closing = True
            self.oracle.queue.clear()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.oracle.tuner_ids:
            time.sleep(0.2)
        self.server.stop(1.0).wait(3.0)


# ----- the worker ---------------------------------------------------------------------------------------------
def check_reachable(host: str, port: int, timeout: float) -> None:
    import grpc

    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise ConfigError(f"cannot reach the chief at {host}:{port} within {timeout:g} s; start 'nao-tf search "
                          "--evaluator child --workers N' first and pass its address (--host/--port or "
                          "KERASTUNER_ORACLE_IP/KERASTUNER_ORACLE_PORT)") from None
    finally:
        channel.close()


def run_worker(host: str, port: int, tuner_id: str, connect_timeout: float = 30.0,
               directory: str | None = None, on_trial: Any = None) -> dict[str, Any]:
    """Train trials from the chief until it says stop; returns ``{"trials": n, "tuner_id": ...}``.
    ``on_trial(trial_id, arch, score)`` is called after every finished trial (the CLI prints a line)."""
    import tempfile

    os.environ["KERASTUNER_ORACLE_IP"] = host
    os.environ["KERASTUNER_ORACLE_PORT"] = str(port)
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id
    if "chief" in tuner_id:
        raise ConfigError(f"worker id {tuner_id!r} must not contain 'chief' (keras-tuner reserves it)")
    check_reachable(host, port, connect_timeout)
    kt = _keras_tuner()
    import grpc
    from keras_tuner.engine import base_tuner
    from keras_tuner.src.distribute import oracle_client  # no public name for the client's gRPC timeout

    oracle_client.TIMEOUT = max(60, int(connect_timeout))  # a chief that vanished: fail, do not hang an hour
    evaluators: dict[str, Any] = {}
    count = {"trials": 0}

    class WorkerTuner(base_tuner.BaseTuner):
        def run_trial(self, trial: Any) -> dict[str, float]:
            from nao_tf.children.train_cnn import make_strategy
            from nao_tf.search.child_eval import ChildTrainingEvaluator

            values = trial.hyperparameters.values
            cfg_text = values["evaluator"]
            if cfg_text not in evaluators:
                evaluators[cfg_text] = ChildTrainingEvaluator.from_config(json.loads(cfg_text))
            evaluator = evaluators[cfg_text]
            arch = evaluator.space.parse_integers(values["arch"])
            stop = threading.Event()
            beat = threading.Thread(target=self._heartbeat, args=(trial.trial_id, stop), daemon=True)
            beat.start()
            try:
                with make_strategy().scope():
                    ev = evaluator.train_one(arch)
            finally:
                stop.set()
            count["trials"] += 1
            if on_trial is not None:
                on_trial(trial.trial_id, values["arch"], float(ev.score))
            out = {OBJECTIVE: float(ev.score)}
            for name in ("params", "seconds", "final_valid_accuracy"):
                if isinstance(ev.metadata.get(name), int | float):
                    out[name] = float(ev.metadata[name])
            return out

        def _heartbeat(self, trial_id: str, stop: threading.Event) -> None:
            while not stop.wait(HEARTBEAT_S):
                try:
                    self.oracle.get_trial(trial_id)
                except grpc.RpcError:
                    return

    class _Polite:
        """Wait a little when the chief has nothing to hand out (keras-tuner would ask again at once)."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def create_trial(self, tuner_id: str) -> Any:
            trial = self._inner.create_trial(tuner_id)
            if trial.status == "IDLE":
                time.sleep(IDLE_WAIT_S)
            return trial

    local = kt.Oracle(objective=kt.Objective(OBJECTIVE, "max"), max_trials=None)
    local.hyperparameters.Fixed("arch", "")
    local.hyperparameters.Fixed("evaluator", "{}")
    workdir = directory or tempfile.mkdtemp(prefix="nao-tf-worker-")
    tuner = WorkerTuner(local, directory=workdir, project_name=f"worker-{tuner_id}", overwrite=True)
    tuner.oracle = _Polite(tuner.oracle)
    try:
        tuner.search()
    except grpc.RpcError as exc:
        code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
        raise ConfigError(f"lost the chief at {host}:{port} ({code}); {count['trials']} trials finished "
                          "and were reported") from None
    return {"tuner_id": tuner_id, "trials": count["trials"]}
