"""Training one network on several machines: ``tf.distribute.MultiWorkerMirroredStrategy`` from ``TF_CONFIG``.

Every worker runs the same command; ``TF_CONFIG`` (JSON, the TensorFlow standard) names the cluster and this
process's place in it. Synchronous data parallelism: each step every replica of every worker computes
gradients on its slice of the global batch and an all-reduce sums them, so the weights stay identical
everywhere and the run equals a one-machine run with the same global batch and replica count.

Why these helpers exist rather than plain Keras callbacks:

* ``ClusterRole``: who is the chief. Only the chief writes into the run folder; the others run the same code
  (saving is not collective in Keras 3, but keeping the workers symmetric means no worker ever waits on a
  collective that another one skips) into a private temporary folder that is deleted afterwards.
* ``broadcast_from_chief``: the chief's run folder is the job's backup (Keras's ``BackupAndRestore`` writes
  one folder per worker and expects a shared file system to restore from; machines in a cluster often share
  none). On a restart the chief reads its last checkpoint and sends the epoch and every weight to the others
  through the same all-reduce the training uses.
* ``weights_digest``: one hash of all weights, so workers can show they ended identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError

ENV = "TF_CONFIG"
DOCS = "docs/deployment.md"
# The errors a collective raises when a peer disappears (killed, preempted, network gone).
PEER_FAILURES = ("UnavailableError", "DeadlineExceededError", "CancelledError", "AbortedError", "InternalError")


@dataclass(frozen=True)
class ClusterRole:
    """This process's place in a ``TF_CONFIG`` cluster."""

    task_type: str
    index: int
    tasks: int  # chief + workers: the processes taking part in training

    has_chief: bool = False  # a "chief" task exists; otherwise worker 0 is the chief

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.index == 0 and not self.has_chief)

    @property
    def name(self) -> str:
        return f"{self.task_type}:{self.index}"


def read_tf_config(environ: Mapping[str, str] | None = None) -> ClusterRole | None:
    """The role described by ``TF_CONFIG``, or ``None`` when it is unset or empty; one-line errors otherwise."""
    raw = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV} is not valid JSON ({exc}); see {DOCS} for an example") from None
    cluster = data.get("cluster") if isinstance(data, dict) else None
    task = data.get("task") if isinstance(data, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(f'{ENV} needs "cluster" and "task" objects, e.g. {{"cluster": {{"worker": '
                          f'["host1:12345", "host2:12345"]}}, "task": {{"type": "worker", "index": 0}}}}')
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise ConfigError(f'{ENV}: cluster["{kind}"] must be a list of "host:port" strings')
    unsupported = set(cluster) - {"chief", "worker"}
    if unsupported:
        raise ConfigError(f"{ENV}: task types {sorted(unsupported)} are not used by multi-worker training; "
                          'list the machines as "worker" (and at most one "chief")')
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError(f'{ENV}: at most one "chief" address, got {len(cluster["chief"])}')
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in cluster:
        raise ConfigError(f'{ENV}: task type {kind!r} is not in the cluster ({", ".join(sorted(cluster))})')
    if not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ConfigError(f'{ENV}: task index {index!r} is out of range for the {len(cluster[kind])} '
                          f'"{kind}" address(es)')
    tasks = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    return ClusterRole(task_type=kind, index=index, tasks=tasks, has_chief="chief" in cluster)


def cluster_role(multi_worker: bool, environ: Mapping[str, str] | None = None) -> ClusterRole | None:
    """The role when multi-worker training is asked for (``multi_worker`` or ``TF_CONFIG`` set), else None."""
    role = read_tf_config(environ)
    if multi_worker and role is None:
        raise ConfigError(f"--multi-worker needs {ENV} in the environment (the cluster's addresses and this "
                          f"worker's index); see {DOCS}")
    return role


def make_strategy() -> Any:
    """``MultiWorkerMirroredStrategy`` over the ``TF_CONFIG`` cluster; call before any other TensorFlow work.

    Collectives use NCCL when every worker has GPUs and ring all-reduce over gRPC otherwise (AUTO).
    """
    from nao_tf._tf import import_tf_quietly

    import_tf_quietly()
    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as exc:
        raise ConfigError(f"cannot start multi-worker training: {str(exc).splitlines()[0]}") from None


class WorkerFolder:
    """Where a worker writes: the run folder on the chief, a private temporary folder elsewhere."""

    def __init__(self, run: Path, role: ClusterRole) -> None:
        self.run = Path(run)
        self.role = role
        self._temp: Path | None = None

    def __enter__(self) -> Path:
        if self.role.is_chief:
            return self.run
        self._temp = Path(tempfile.mkdtemp(prefix=f"nao-tf-{self.role.task_type}{self.role.index}-"))
        return self._temp

    def __exit__(self, *exc: object) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)


def _is_chief_replica(strategy: Any) -> Any:
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    return tf.equal(ctx.replica_id_in_sync_group, 0)  # replica 0 lives on the chief (task 0)


def broadcast_from_chief(strategy: Any, values: Sequence[Any]) -> list[Any]:
    """The chief's ``values`` (tensors or arrays) on every worker: an all-reduce sum where only replica 0 adds.

    ``x + 0 == x`` exactly in floating point, so the copies are bit-identical. Integers travel as float64
    (exact below 2**53: epochs and step counters).
    """
    import tensorflow as tf

    tensors = [tf.convert_to_tensor(v) for v in values]
    dtypes = [t.dtype for t in tensors]
    wire = [tf.cast(t, tf.float64) if t.dtype.is_integer else t for t in tensors]

    def step(*xs: Any) -> list[Any]:
        ctx = tf.distribute.get_replica_context()
        first = _is_chief_replica(strategy)
        own = [tf.where(first, x, tf.zeros_like(x)) for x in xs]
        out: list[Any] = [None] * len(own)
        # One all-reduce per dtype (a batched all-reduce packs its tensors into one), in a fixed order.
        for dtype in sorted({x.dtype for x in own}, key=lambda d: d.name):
            picked = [i for i, x in enumerate(own) if x.dtype == dtype]
            for i, value in zip(picked, ctx.all_reduce(tf.distribute.ReduceOp.SUM, [own[i] for i in picked]),
                                strict=True):
                out[i] = value
        return out

    result = strategy.run(tf.function(step), args=tuple(wire))
    if not isinstance(result, (list, tuple)):
        result = [result]
    local = [strategy.experimental_local_results(r)[0] for r in result]
    return [tf.cast(t, d) if d.is_integer else t for t, d in zip(local, dtypes, strict=True)]


def sync_variables_from_chief(strategy: Any, variables: Sequence[Any]) -> None:
    """Give every worker the chief's values of ``variables`` (Keras variables of a model built in scope)."""
    if not variables:
        return
    values = broadcast_from_chief(strategy, [v.value for v in variables])
    for var, value in zip(variables, values, strict=True):
        var.assign(value)


def average_across_workers(strategy: Any, variables: Sequence[Any]) -> None:
    """Replace each float variable by its mean over all replicas of all workers.

    Why: Keras 3 updates batch-norm moving statistics on each replica from its own slice of the batch and
    never all-reduces them, so the workers' copies drift apart while the trainable weights stay identical.
    The moving averages are linear in the batch statistics, so averaging the copies at an epoch boundary
    gives exactly what averaging every step would have given.
    """
    import tensorflow as tf

    floats = [v for v in variables if "float" in str(v.dtype)]
    if not floats:
        return

    @tf.function
    def step() -> list[Any]:
        ctx = tf.distribute.get_replica_context()
        return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in floats])

    result = strategy.run(step)
    for var, value in zip(floats, result, strict=True):
        var.assign(strategy.experimental_local_results(value)[0])


def weights_digest(variables: Sequence[Any]) -> str:
    """SHA-256 over the bytes of ``variables`` in order: equal digests mean bit-identical weights."""
    import numpy as np

    digest = hashlib.sha256()
    for var in variables:
        digest.update(np.ascontiguousarray(np.asarray(var.value if hasattr(var, "value") else var)).tobytes())
    return digest.hexdigest()


def is_peer_failure(exc: BaseException) -> bool:
    """True for the errors collectives raise when another worker is gone."""
    return type(exc).__name__ in PEER_FAILURES


@contextmanager
def keras_fit_scope(model: Any, strategy: Any) -> Iterator[None]:
    """Run ``model.fit`` under ``strategy`` taken from the scope rather than from the model.

    Why: Keras 3 (``TensorFlowTrainer._maybe_symbolic_build``) pulls one batch from the training iterator
    and reduces it across replicas to build the model symbolically whenever the model remembers a strategy.
    Under ``MultiWorkerMirroredStrategy`` with two or more workers that reduce fails (a ``PerReplica`` is
    converted to a tensor), and under ``MirroredStrategy`` the pulled batch is never trained on. Our models
    are built when they are created, so fit traces its step inside the scope instead, exactly as a model
    without a strategy does; every strategy then sees the same batches.
    """
    from keras.src.backend.tensorflow import trainer as keras_tf_trainer

    saved = getattr(model, "_distribute_strategy", None)
    original = keras_tf_trainer.reduce_per_replica
    model._distribute_strategy = None
    if _is_multi_worker(strategy):
        keras_tf_trainer.reduce_per_replica = _multi_worker_reduce(original)
    try:
        with strategy.scope():
            yield
    finally:
        model._distribute_strategy = saved
        keras_tf_trainer.reduce_per_replica = original


def _is_multi_worker(strategy: Any) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.cluster_resolver is not None \
        and strategy.extended._num_workers > 1


def _multi_worker_reduce(original: Any) -> Any:
    """Keras's step-output reduction with scalar outputs averaged over all workers.

    Why: Keras 3 averages every step output of a multi-worker run with ``strategy.reduce("MEAN", v, axis=0)``,
    which fails on the scalar losses and metrics a training or test step returns. Averaging over replicas
    (``axis=None``) is what it means; metric results are per-replica there, so this is the global value.
    """
    import tensorflow as tf

    def reduce_per_replica(values: Any, strategy: Any, reduction: str = "auto") -> Any:
        if reduction not in ("auto", "mean"):
            return original(values, strategy, reduction)
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)

    return reduce_per_replica
