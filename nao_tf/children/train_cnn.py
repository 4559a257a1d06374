"""Training and evaluation of CNN children (docs/method.md section 7): the loop behind ``nao-tf train`` / ``evaluate``.

* ``TrainConfig``: every knob, defaults = the paper's CIFAR-10 final-training recipe (SGD momentum 0.9, cosine lr
  0.025 -> 0, L2 weight decay 3e-4 coupled as in PyTorch, aux weight 0.4, drop-path keep 0.8, dropout keep 0.6,
  cutout 16, global grad-norm clip 5, batch 128, N=6, F=36, 600 epochs).
* ``train_run(config, run_dir, resume=False)``: trains under ``tf.distribute.MirroredStrategy`` (all visible
  GPUs, or all logical CPUs when more than one is configured), optional mixed precision and XLA, into a run
  folder: ``config.json``, ``state.json`` (last finished epoch, history), ``checkpoints/epoch-NNNN.keras``
  (full training model + optimizer, one kept), ``metrics.csv``, ``curve.png``, ``tensorboard/``, and at the end
  ``model.keras`` (the logits-only inference model). Every file is written atomically. A NaN loss stops with
  ``TrainingDivergedError`` and keeps the last good checkpoint.
* ``train_child(arch, data, ...)``: the in-memory child training of full NAO search (best valid accuracy,
  parameter count, seconds), releasing memory afterwards.
* ``evaluate(model_or_run, data)``: test accuracy.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nao_tf._tf import import_tf_quietly

import_tf_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nao_tf.architectures import resolve  # noqa: E402
from nao_tf.children import distribute, run_files  # noqa: E402
from nao_tf.children.cnn import DropPathStep, build_cnn, inference_model, keras_param_count  # noqa: E402
from nao_tf.children.distribute import ClusterRole  # noqa: E402
from nao_tf.children.params import AUX_WEIGHT, count_params, nasnet_space  # noqa: E402
from nao_tf.errors import ConfigError, DataError, RunFolderError, TrainingDivergedError, WorkerLostError  # noqa: E402
from nao_tf.runio import atomic_save_keras, atomic_write_bytes, atomic_write_json, atomic_write_text  # noqa: E402
from nao_tf.spaces import Architecture  # noqa: E402
from nao_tf.timing import estimate_line, untraced_epoch_seconds  # noqa: E402

RUN_KIND = "nao-tf-cnn-train"
CHECKPOINTS = "checkpoints"


# ----- optimizer ---------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="nao_tf")
class L2SGD(keras.optimizers.SGD):
    """SGD with PyTorch-style (coupled) weight decay: ``grad + l2 * w`` before momentum, on every variable.

    Keras' own ``weight_decay`` is decoupled (AdamW style); the authors' recipe uses ``torch.optim.SGD``'s
    ``weight_decay``, which adds ``l2 * w`` to the (clipped) gradient.
    """

    def __init__(self, *args: Any, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.l2 = float(l2)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if self.l2:
            gradient = keras.ops.cast(gradient, variable.dtype) + self.l2 * variable
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "l2": self.l2}


# ----- configuration -----------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Everything a training run depends on (written to ``config.json``)."""

    arch: str = "NAONet-B"
    dataset: str = "embedded"
    data_dir: str | None = None
    epochs: int = 600
    batch_size: int = 128
    layers: int = 6
    channels: int = 36
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    aux_head: bool = True
    aux_weight: float = AUX_WEIGHT
    drop_path_keep: float = 0.8
    dropout_keep: float = 0.6
    augment: bool = True
    cutout: int | None = None  # None: 16 for 32x32 images, scaled to the image size otherwise
    valid_size: int = 0  # > 0: hold out that many training images and validate on them; 0: validate on test
    seed: int = 0
    mixed_precision: bool = False
    xla: bool = False
    steps_per_epoch: int | None = None  # limit (for quick runs); None = the whole training split
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        positive = {"epochs": self.epochs, "batch size": self.batch_size, "layers": self.layers}
        for name, value in positive.items():
            if int(value) < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if int(self.channels) < 2:
            raise ConfigError(f"channels must be >= 2, got {self.channels}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ConfigError(f"learning rate must be a positive number, got {self.lr}")
        for name in ("drop_path_keep", "dropout_keep"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} is a keep probability in (0, 1], got {value}")
        if self.weight_decay < 0 or self.grad_clip < 0 or self.aux_weight < 0 or self.momentum < 0:
            raise ConfigError("weight decay, grad clip, aux weight and momentum must be >= 0")
        if self.cutout is not None and self.cutout < 0:
            raise ConfigError(f"cutout must be >= 0, got {self.cutout}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(f"steps per epoch must be >= 1, got {self.steps_per_epoch}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def default_cutout(height: int) -> int:
    return int(round(16 * height / 32))


# ----- devices and strategy ----------------------------------------------------------------------------------
def configure_cpu_replicas(count: int) -> None:
    """Split the CPU into ``count`` logical devices (before TensorFlow initializes its runtime)."""
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        current = len(tf.config.list_logical_devices("CPU"))
        if current != count:
            raise ConfigError(
                f"cannot split the CPU into {count} devices: TensorFlow already started with {current}"
            ) from None


def make_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over all GPUs, else over all logical CPUs if more than one, else the default."""
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy(
            [d.name for d in cpus], cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    return tf.distribute.get_strategy()


# ----- building a compiled model -----------------------------------------------------------------------------
def _policy(mixed: bool) -> str:
    if not mixed:
        return "float32"
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


def compile_model(arch: Architecture, config: TrainConfig, data_info: dict[str, Any], total_steps: int,
                  strategy: tf.distribute.Strategy) -> keras.Model:
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(_policy(config.mixed_precision))
    try:
        with strategy.scope():
            model = build_cnn(
                arch, layers=config.layers, channels=config.channels, num_classes=data_info["num_classes"],
                input_shape=tuple(data_info["input_shape"]), aux_head=config.aux_head,
                drop_path_keep=config.drop_path_keep, dropout_keep=config.dropout_keep,
                mean=data_info["mean"], std=data_info["std"], total_steps=total_steps,
            )
            schedule = keras.optimizers.schedules.CosineDecay(
                config.lr, decay_steps=max(1, total_steps), alpha=config.lr_min / config.lr
            )
            optimizer = L2SGD(learning_rate=schedule, momentum=config.momentum, l2=config.weight_decay,
                              global_clipnorm=config.grad_clip or None)
            ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            if config.aux_head:
                model.compile(optimizer=optimizer, loss=[ce, ce], loss_weights=[1.0, config.aux_weight],
                              metrics=[[keras.metrics.SparseCategoricalAccuracy(name="accuracy")], []],
                              jit_compile=bool(config.xla))
            else:
                model.compile(optimizer=optimizer, loss=ce,
                              metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                              jit_compile=bool(config.xla))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def _accuracy(logs: dict[str, Any], prefix: str = "") -> float | None:
    for key, value in logs.items():
        if key.startswith(prefix) and key.endswith("accuracy") and "aux" not in key:
            rest = key[len(prefix):]
            if prefix or not rest.startswith("val_"):
                return float(value)
    return None


def _data_info(data: Any) -> dict[str, Any]:
    return {"name": data.name, "num_classes": int(data.num_classes), "input_shape": list(data.input_shape),
            "mean": list(data.mean), "std": list(data.std)}


def _pipelines(data: Any, config: TrainConfig, steps: int | None) -> tuple[Any, Any, int]:
    from nao_tf.data.images import make_pipeline

    cutout = default_cutout(data.input_shape[0]) if config.cutout is None else config.cutout
    train = make_pipeline(data, "train", config.batch_size, augment=config.augment,
                          cutout=cutout if config.augment else 0, valid_size=config.valid_size,
                          seed=config.seed, repeat=True, drop_remainder=True)
    valid_split = "valid" if config.valid_size else "test"
    valid = make_pipeline(data, valid_split, max(config.batch_size, 256), augment=False,
                          valid_size=config.valid_size, seed=config.seed)
    n_train = len(data.x_train) - (config.valid_size or 0)
    if n_train < config.batch_size:
        raise ConfigError(
            f"batch size {config.batch_size} is larger than the {n_train} training images; lower --batch-size"
        )
    per_epoch = n_train // config.batch_size
    if steps is not None:
        per_epoch = min(per_epoch, steps)
    if config.aux_head:
        train = train.map(lambda x, y: (x, (y, y)))
        valid = valid.map(lambda x, y: (x, (y, y)))
    return train, valid, per_epoch


# ----- callbacks ---------------------------------------------------------------------------------------------
class _NanGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss; ``diverged`` then says where."""

    def __init__(self) -> None:
        super().__init__()
        self.diverged: str | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = f"epoch {self.epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True


class _SyncMovingStats(keras.callbacks.Callback):
    """Multi-worker: average the batch-norm moving statistics over the workers before validating and before
    each checkpoint (``distribute.average_across_workers`` says why), so every worker holds the same model."""

    def __init__(self, strategy: tf.distribute.Strategy) -> None:
        super().__init__()
        self.strategy = strategy
        self.stale = False

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.stale = True

    def _sync(self) -> None:
        if self.stale:
            distribute.average_across_workers(self.strategy, self.model.non_trainable_weights)
            self.stale = False

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._sync()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._sync()


class _RunFolderWriter(keras.callbacks.Callback):
    """After each good epoch: checkpoint, state.json, metrics.csv, curve.png (all atomic)."""

    def __init__(self, run: Path, history: list[dict[str, Any]], guard: _NanGuard, started: float) -> None:
        super().__init__()
        self.run = run
        self.history = history
        self.guard = guard
        self.started = started
        self.epoch_started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.guard.diverged:
            return
        logs = dict(logs or {})
        lr = self.model.optimizer.learning_rate
        row = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", float("nan"))),
            "accuracy": _accuracy(logs),
            "val_loss": float(logs["val_loss"]) if "val_loss" in logs else None,
            "val_accuracy": _accuracy(logs, "val_"),
            "lr": float(np.asarray(lr)),
            "seconds": round(time.perf_counter() - self.epoch_started, 3),
        }
        self.history.append(row)
        save_checkpoint(self.run, self.model, epoch + 1, self.history)


class _TimeEstimate(keras.callbacks.Callback):
    """After the first epoch of this ``fit``: how long the whole run will take, through ``log`` (the CLI prints
    it), so nobody waits 70 hours for a run they expected to take minutes.

    The pace is the first epoch without its first step (which traces the training step; scaled back to a whole
    epoch), plus its validation: a first epoch of a small network is about half tracing."""

    def __init__(self, log: Callable[[str], Any], guard: _NanGuard, epochs: int) -> None:
        super().__init__()
        self.log, self.guard, self.epochs = log, guard, int(epochs)
        self.started = time.perf_counter()
        self.first: int | None = None
        self.epoch_started = self.started
        self.first_step: tuple[int, float] | None = None  # (batch index, time at its end)
        self.last_step: tuple[int, float] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.first is None:
            self.last_step = (int(batch), time.perf_counter())
            self.first_step = self.first_step or self.last_step

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.first is not None or self.guard.diverged:
            return
        self.first = epoch
        now = time.perf_counter()
        total = self.epochs - epoch  # epochs of this invocation (a resumed run starts at ``epoch``)
        self.log(estimate_line(now - self.started, now - self.epoch_started, 1, total, epoch=epoch + 1,
                               later_seconds=self._later_epoch(now)))

    def _later_epoch(self, now: float) -> float | None:
        """Seconds of an epoch without tracing (None before two steps have ended)."""
        if self.first_step is None or self.last_step is None:
            return None
        (b0, t0), (b1, t1) = self.first_step, self.last_step
        return untraced_epoch_seconds(t0, t1, b1 - b0 + 1, now)


def save_checkpoint(run: Path, model: keras.Model, epoch: int, history: list[dict[str, Any]]) -> None:
    folder = run / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{epoch:04d}.keras"
    atomic_save_keras(model, folder / name)
    state = {"kind": RUN_KIND, "epoch": epoch, "checkpoint": f"{CHECKPOINTS}/{name}", "history": history}
    atomic_write_json(run / "state.json", state)  # the commit point: state names the good checkpoint
    for old in folder.glob("epoch-*.keras"):
        if old.name != name:
            old.unlink(missing_ok=True)
    write_metrics(run, history)


def write_metrics(run: Path, history: list[dict[str, Any]]) -> None:
    if not history:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run / "metrics.csv", buf.getvalue())
    write_curve(run / "curve.png", history)


def write_curve(path: Path, history: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, [h["loss"] for h in history], label="train")
    if any(h["val_loss"] is not None for h in history):
        ax1.plot(epochs, [h["val_loss"] for h in history], label="valid")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(epochs, [h["accuracy"] for h in history], label="train")
    if any(h["val_accuracy"] is not None for h in history):
        ax2.plot(epochs, [h["val_accuracy"] for h in history], label="valid")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    atomic_write_bytes(path, buf.getvalue())


# ----- run folders -------------------------------------------------------------------------------------------
def read_run_config(run: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The run's settings, checked against the schema in ``run_files`` (one line naming the file if off)."""
    data = run_files.read_config(run, RUN_KIND)
    return TrainConfig.from_json(data["config"]), data


def read_state(run: Path) -> dict[str, Any] | None:
    """The last finished epoch (validated, its checkpoint checked), or None when no epoch has finished."""
    return run_files.read_cnn_state(run)


def _load_checkpoint_weights(model: keras.Model, path: Path) -> None:
    if not path.is_file():
        raise RunFolderError(f"checkpoint {path} is missing; the run folder is incomplete, start a new run")
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunFolderError(
            f"checkpoint {path} does not fit this network (another architecture or size?): {msg[:160]}"
        ) from None


def _restore_outside_strategy(model: keras.Model, path: Path, arch: Architecture, config: TrainConfig,
                              info: dict[str, Any], total_steps: int) -> None:
    """Load a checkpoint into a plain copy of ``model``, then copy the values over.

    Why: Keras creates helper variables while loading a ``.keras`` file; under ``MultiWorkerMirroredStrategy``
    each variable creation is a broadcast that the other workers (who load nothing) would never join.
    """
    plain = compile_model(arch, config, info, total_steps, tf.distribute.get_strategy())
    _load_checkpoint_weights(plain, path)
    targets = model.weights + model.optimizer.variables
    for target, source in zip(targets, plain.weights + plain.optimizer.variables, strict=True):
        target.assign(source.value)


def train_run(config: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = False, verbose: int = 1,
              data: Any = None, cluster: ClusterRole | None = None,
              log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Train ``config`` into ``run_dir`` (new, or ``resume=True`` to continue it); returns the summary dict.

    ``cluster`` (from ``distribute.cluster_role``): train as that worker of a ``TF_CONFIG`` cluster under
    ``MultiWorkerMirroredStrategy``. The chief's ``run_dir`` is the job's backup: when it already holds this
    run, every worker continues from its last finished epoch (a restart after a lost worker). Other workers
    write into a temporary folder, deleted at the end. ``log(text)`` gets the time estimate after the first
    epoch (the library never prints).
    """
    if cluster is None:
        return _train_run(config, Path(run_dir), resume=resume, verbose=verbose, data=data, log=log)
    config.check()
    strategy = distribute.make_strategy()  # before any other TensorFlow work of this process
    run = Path(run_dir)
    with distribute.WorkerFolder(run, cluster) as folder:
        resume = cluster.is_chief and (resume or (run / "config.json").is_file())
        summary = _train_run(config, folder, resume=resume, verbose=verbose, data=data, strategy=strategy,
                             cluster=cluster, log=log)
    summary.update(run=str(run), worker=cluster.name, chief=cluster.is_chief, workers=cluster.tasks)
    if not cluster.is_chief:
        summary["model"] = None  # written by the chief only
    return summary


def _train_run(config: TrainConfig, run: Path, *, resume: bool, verbose: int, data: Any,
               strategy: tf.distribute.Strategy | None = None, cluster: ClusterRole | None = None,
               log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    from nao_tf.data.images import load_images

    config.check()
    arch = resolve(config.arch)
    nasnet_space(arch)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    state = None
    if resume:
        saved, _ = read_run_config(run)
        saved_arch = resolve(saved.arch)
        if saved_arch != arch:
            raise RunFolderError(
                f"{run} trains architecture '{saved_arch}', not '{arch}'; resume with the same architecture "
                "or start a new run with --out"
            )
        for key in ("layers", "channels", "dataset", "aux_head"):
            if getattr(saved, key) != getattr(config, key):
                raise RunFolderError(f"{run} was trained with {key}={getattr(saved, key)!r}, not "
                                     f"{getattr(config, key)!r}; resume with the same {key}")
        state = read_state(run)
        if state is not None:
            start_epoch = int(state["epoch"])
            history = list(state.get("history", []))
    elif run.exists() and (run / "config.json").exists():
        raise RunFolderError(f"{run} already holds a run; use --resume {run} to continue it or another --out")

    if data is None:
        data = load_images(config.dataset, config.data_dir)
    info = _data_info(data)
    strategy = strategy or make_strategy()
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ConfigError(f"batch size {config.batch_size} must be a multiple of the {replicas} replicas")
    if cluster is not None:  # the chief's run folder decides where every worker starts
        start_epoch = int(distribute.broadcast_from_chief(strategy, [start_epoch])[0])
    train_ds, valid_ds, per_epoch = _pipelines(data, config, config.steps_per_epoch)
    total_steps = per_epoch * config.epochs
    keras.utils.set_random_seed(config.seed + start_epoch)
    model = compile_model(arch, config, info, total_steps, strategy)
    params = count_params(arch, config.layers, config.channels, info["num_classes"], info["input_shape"][-1])
    built_params = keras_param_count(model)
    if built_params != params:  # the builder and the TF-free count follow one plan: a mismatch is a bug
        raise AssertionError(f"parameter count mismatch: built {built_params}, counted {params}")

    run.mkdir(parents=True, exist_ok=True)
    if resume and state is not None and cluster is None:
        with strategy.scope():
            _load_checkpoint_weights(model, run / state["checkpoint"])
    elif start_epoch:  # multi-worker restart: the chief reads its checkpoint, every worker gets its values
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
        if cluster.is_chief:
            _restore_outside_strategy(model, run / state["checkpoint"], arch, config, info, total_steps)
        distribute.sync_variables_from_chief(strategy, model.weights + model.optimizer.variables)
    # written on resume too: it records the settings of the latest attempt (architecture and size are checked)
    atomic_write_json(run / "config.json", {
        "kind": RUN_KIND, "config": config.to_json(), "architecture": resolve(arch).integers,
        "space": arch.space, "params": params, "data": data.summary() if hasattr(data, "summary") else info,
        "replicas": replicas, "steps_per_epoch": per_epoch, "total_steps": total_steps,
    })
    summary = {"run": str(run), "architecture": arch.integers, "params": params, "replicas": replicas}
    if start_epoch >= config.epochs:
        summary.update(_finish(run, model, history, start_epoch, 0.0))
        return summary

    guard = _NanGuard()
    started = time.perf_counter()
    callbacks = [
        DropPathStep(model),
        guard,
        *([_SyncMovingStats(strategy)] if cluster is not None else []),
        _RunFolderWriter(run, history, guard, started),
        keras.callbacks.TensorBoard(log_dir=str(run / "tensorboard"), update_freq="epoch", profile_batch=0),
        *([_TimeEstimate(log, guard, config.epochs)] if log is not None else []),
    ]
    try:
        with distribute.keras_fit_scope(model, strategy):
            model.fit(train_ds, epochs=config.epochs, initial_epoch=start_epoch, steps_per_epoch=per_epoch,
                      validation_data=valid_ds, callbacks=callbacks, verbose=verbose, shuffle=False)
    except Exception as exc:
        if cluster is None or not distribute.is_peer_failure(exc):
            raise
        last = read_state(run) if cluster.is_chief else None
        kept = f"the run folder keeps epoch {last['epoch']}" if last else "the chief's run folder keeps its last epoch"
        raise WorkerLostError(
            f"{cluster.name}: another worker was lost ({type(exc).__name__}); {kept}: restart every worker with "
            "the same command to continue from there") from None
    seconds = time.perf_counter() - started
    if guard.diverged:
        last = read_state(run)
        kept = f"the last good checkpoint (epoch {last['epoch']}) is kept" if last else "no epoch finished"
        raise TrainingDivergedError(
            f"loss became NaN/inf at {guard.diverged}; {kept} in {run}; lower --lr or --grad-clip and "
            f"--resume {run}" if last else f"loss became NaN/inf at {guard.diverged}; {kept}; lower --lr"
        )
    summary.update(_finish(run, model, history, config.epochs, seconds))
    if cluster is not None:
        summary["weights_digest"] = distribute.weights_digest(model.weights)
    return summary


def _finish(run: Path, model: keras.Model, history: list[dict[str, Any]], epoch: int,
            seconds: float) -> dict[str, Any]:
    atomic_save_keras(inference_model(model), run / "model.keras")
    last = history[-1] if history else {}
    vals = [h["val_accuracy"] for h in history if h.get("val_accuracy") is not None]
    out = {"epochs": epoch, "seconds": round(seconds, 2), "final_val_accuracy": last.get("val_accuracy"),
           "best_val_accuracy": max(vals) if vals else None, "model": str(run / "model.keras")}
    atomic_write_json(run / "summary.json", out)
    return out


# ----- child training for full NAO search --------------------------------------------------------------------
def train_child(arch: Architecture | str, data: Any, *, epochs: int = 25, layers: int = 3, channels: int = 32,
                batch_size: int = 128, lr: float = 0.024, weight_decay: float = 3e-4, drop_path_keep: float = 0.7,
                dropout_keep: float = 1.0, aux_head: bool = True, cutout: int | None = 0,
                valid_size: int | None = None, seed: int = 0, steps_per_epoch: int | None = None,
                xla: bool = False, verbose: int = 0) -> dict[str, Any]:
    """Train one child (docs/method.md section 5 search recipe) on ``data`` (an ``ImageData``) and score it.

    Validates on ``valid_size`` held-out training images (default: 10% of the training set, at most 5000)
    after every epoch. Returns ``{"valid_accuracy": best, "final_valid_accuracy", "params", "seconds",
    "history"}``; clears the Keras session afterwards so a long search does not accumulate graphs.
    """
    n = len(data.x_train)
    if valid_size is None:
        valid_size = min(5000, max(1, n // 10))
    config = TrainConfig(arch=resolve(arch).integers, dataset=data.name, epochs=epochs, batch_size=batch_size,
                         layers=layers, channels=channels, lr=lr, weight_decay=weight_decay,
                         aux_head=aux_head, drop_path_keep=drop_path_keep, dropout_keep=dropout_keep,
                         cutout=cutout, valid_size=valid_size, seed=seed, xla=xla,
                         steps_per_epoch=steps_per_epoch)
    config.check()
    arch = resolve(arch)
    info = _data_info(data)
    started = time.perf_counter()
    try:
        keras.utils.set_random_seed(seed)
        train_ds, valid_ds, per_epoch = _pipelines(data, config, steps_per_epoch)
        strategy = tf.distribute.get_strategy()
        model = compile_model(arch, config, info, per_epoch * epochs, strategy)
        guard = _NanGuard()
        hist = model.fit(train_ds, epochs=epochs, steps_per_epoch=per_epoch, validation_data=valid_ds,
                         callbacks=[DropPathStep(model), guard], verbose=verbose, shuffle=False)
        history = []
        for i in range(len(hist.history.get("loss", []))):
            logs = {k: v[i] for k, v in hist.history.items() if i < len(v)}
            history.append({"epoch": i + 1, "loss": float(logs["loss"]), "val_accuracy": _accuracy(logs, "val_")})
        vals = [h["val_accuracy"] for h in history if h["val_accuracy"] is not None and not guard.diverged]
        best = max(vals) if vals else 0.0
        return {"valid_accuracy": float(best), "final_valid_accuracy": vals[-1] if vals else 0.0,
                "params": count_params(arch, layers, channels, info["num_classes"], info["input_shape"][-1]),
                "seconds": round(time.perf_counter() - started, 2), "diverged": guard.diverged,
                "history": history}
    finally:
        keras.backend.clear_session()


# ----- evaluation --------------------------------------------------------------------------------------------
def load_model_file(path: str | os.PathLike) -> tuple[keras.Model, dict[str, Any]]:
    """Load a run folder's ``model.keras`` (or a ``.keras`` file); returns the model and the run config."""
    path = Path(path)
    meta: dict[str, Any] = {}
    if path.is_dir():
        _, meta = read_run_config(path)
        path = path / "model.keras"
        if not path.is_file():
            raise RunFolderError(f"{path.parent} has no model.keras yet (training unfinished); "
                                 f"finish it with 'nao-tf train --resume {path.parent}'")
    elif not path.is_file():
        raise RunFolderError(f"{path} is neither a run folder nor a .keras model file")
    elif path.suffix != ".keras":
        raise RunFolderError(f"{path} is not a .keras model file")
    elif (path.parent / "config.json").is_file():  # a model inside a run folder: use the run's dataset
        try:
            _, meta = read_run_config(path.parent)
        except RunFolderError:
            meta = {}
    from nao_tf.keras_objects import load_model

    run_files.check_archive(path, ("config.json",), hint="train it again or restore the file")
    try:
        model = load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  a corrupt/foreign file is a user error here
        msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise RunFolderError(f"cannot load {path}: {msg}") from None
    if not isinstance(model, keras.Model) or not getattr(model, "outputs", None):
        raise RunFolderError(f"{path} is a {type(model).__name__}, not a nao-tf CNN; language models evaluate from "
                             "their run folder (it holds vocab.txt)")
    return inference_model(model), meta


def evaluate(model_or_run: str | os.PathLike | keras.Model, data: Any, *, batch_size: int = 500,
             split: str = "test") -> dict[str, Any]:
    """Accuracy and loss of a model on ``data``'s test split."""
    from nao_tf.data.images import check_image_shape, make_pipeline

    model = model_or_run if isinstance(model_or_run, keras.Model) else load_model_file(model_or_run)[0]
    model = inference_model(model)
    check_image_shape(data, model.inputs[0].shape[1:])
    classes = int(model.outputs[0].shape[-1])
    if classes != data.num_classes:
        raise DataError(f"the model predicts {classes} classes, dataset {data.name!r} has {data.num_classes}; "
                        "evaluate on the dataset the model was trained for")
    ds = make_pipeline(data, split, batch_size, augment=False)
    correct = total = 0
    loss_sum = 0.0
    predict = tf.function(lambda x: model(x, training=False))
    for images, labels in ds:
        logits = predict(images)
        labels64 = tf.cast(labels, tf.int64)
        correct += int(tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == labels64, tf.int32)))
        loss_sum += float(tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels64, logits=tf.cast(logits, tf.float32))))
        total += int(labels.shape[0])
    return {"dataset": data.name, "split": split, "images": total, "accuracy": correct / max(1, total),
            "loss": loss_sum / max(1, total)}

