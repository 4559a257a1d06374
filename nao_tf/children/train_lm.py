"""Training and evaluating NAO RNN language models (the paper's PTB recipe, docs/method.md section 7).

Recipe (defaults of ``LmConfig``): plain SGD, lr 20, gradient-norm clip 0.25, weight decay 8e-7 (added to the
clipped gradient, as PyTorch's SGD does), the learning rate scaled by ``seq_len / bptt`` for variable-length
windows, temporal activation regularization (TAR) 1e-3 on the raw RNN outputs and activation regularization
(AR, default 0) on the dropped outputs, batch 64, BPTT 35 (variable lengths as AWD-LSTM), evaluation batch
10. After each epoch the validation perplexity is measured; when it is worse than the best of all but the
last ``nonmono`` (5) evaluations the trainer switches to averaged SGD: from then on it keeps the running mean
of the weights after every step (PyTorch ``ASGD(t0=0, lambd=0)``), evaluates and saves the averaged weights.

Run folder (``--output``; every file written atomically):

* ``config.json`` the full configuration, the architecture and the corpus summary; ``vocab.txt``;
* ``model.keras`` the best model so far (averaged weights once ASGD is on), reloadable with ``import nao_tf``;
* ``state.npz`` + ``state.json`` the training state after the last completed epoch (raw and averaged
  weights, history), what ``--resume`` continues from; ``history.jsonl`` one line per epoch;
  ``tb/`` TensorBoard scalars; ``result.json`` the final numbers (best valid and test perplexity).

A NaN or infinite loss stops training with ``TrainingDivergedError``; the files above still hold the last good
epoch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.errors import ConfigError, DataError, RunFolderError, TrainingDivergedError
from nao_tf.runio import atomic_save_keras, atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from nao_tf.timing import estimate_line, untraced_epoch_seconds

DEFAULT_EPOCHS = 3000


@dataclass
class LmConfig:
    arch: str = "PTB-NAONet"
    dataset: str = "embedded"
    data_dir: str | None = None
    hidden: int = 850
    batch_size: int = 64
    eval_batch_size: int = 10
    bptt: int = 35
    variable_bptt: bool = True
    lr: float = 20.0
    clip: float = 0.25
    weight_decay: float = 8e-7
    ar: float = 0.0
    tar: float = 1e-3
    nonmono: int = 5
    epochs: int = DEFAULT_EPOCHS
    max_steps: int | None = None
    embed_dropout: float = 0.1
    input_dropout: float = 0.2
    x_dropout: float = 0.75
    hidden_dropout: float = 0.25
    output_dropout: float = 0.75
    tie_weights: bool = True
    seed: int = 0
    jit_compile: bool = False
    log_every: int = 50

    def validate(self) -> None:
        for name in ("hidden", "batch_size", "eval_batch_size", "bptt", "epochs", "nonmono", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"--max-steps must be at least 1, got {self.max_steps}")
        for name in ("lr", "clip", "weight_decay", "ar", "tar"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        for name in ("embed_dropout", "input_dropout", "x_dropout", "hidden_dropout", "output_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")

    def dropouts(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("embed_dropout", "input_dropout", "x_dropout", "hidden_dropout",
                                              "output_dropout")}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LmConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _silent(text: str) -> None:
    return None


def _ppl(loss: float) -> float:
    return float(math.exp(min(loss, 700.0)))


class LmTrainer:
    """Holds the corpus, the model, the compiled steps and the ASGD average; ``run()`` trains."""

    def __init__(self, config: LmConfig, output: str | Path | None = None, quiet: bool = False,
                 corpus: Any = None, shared: bool = False, log: Any = None) -> None:
        from nao_tf._tf import import_tf_quietly

        import_tf_quietly()
        import tensorflow as tf

        from nao_tf.architectures import resolve
        from nao_tf.children.lm import build_lm, build_shared_lm
        from nao_tf.data.text import load_corpus
        from nao_tf.data.text_batches import batchify, check_bptt
        from nao_tf.seeding import set_global_seed

        config.validate()
        self.config = config
        self.quiet = quiet
        # progress lines go to the caller's ``log(text)`` (the CLI prints them); the library never prints
        self.log = _silent if quiet or log is None else log
        self.output = Path(output) if output is not None else None
        self.arch = resolve(config.arch, "rnn")
        self.corpus = corpus if corpus is not None else load_corpus(config.dataset, config.data_dir)
        self.train_data = batchify(self.corpus.train, config.batch_size, "train")
        self.valid_data = batchify(self.corpus.valid, config.eval_batch_size, "valid")
        self.test_data = batchify(self.corpus.test, config.eval_batch_size, "test")
        check_bptt(self.train_data, config.bptt, "train")
        check_bptt(self.valid_data, config.bptt, "valid")
        check_bptt(self.test_data, config.bptt, "test")
        set_global_seed(config.seed)
        if shared:  # weight-sharing supernet: ``self.model.cell.set_arch`` picks the architecture
            self.model = build_shared_lm(len(self.corpus.vocab), config.hidden, seed=config.seed,
                                         tie_weights=config.tie_weights, **config.dropouts())
            self.model.cell.set_arch(self.arch)
        else:
            self.model = build_lm(self.arch, len(self.corpus.vocab), config.hidden, seed=config.seed,
                                  tie_weights=config.tie_weights, **config.dropouts())
        self.vars = list(self.model.trainable_variables)
        self.avg = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.vars]
        self.avg_count = tf.Variable(0.0, trainable=False)
        self.averaging = tf.Variable(False, trainable=False)
        self.state = tf.Variable(tf.zeros((config.batch_size, config.hidden)), trainable=False)
        self._make_steps(tf)
        self.epoch = 0
        self.steps = 0
        self.history: list[dict[str, Any]] = []
        self.best_valid: float = float("inf")

    # ----- compiled steps -------------------------------------------------------------------------------
    def _make_steps(self, tf: Any) -> None:
        cfg, model = self.config, self.model
        spec = tf.TensorSpec([cfg.batch_size, None], tf.int32)

        @tf.function(input_signature=[spec, spec, tf.TensorSpec([], tf.float32)], jit_compile=cfg.jit_compile,
                     autograph=False)
        def train_step(x, y, lr):
            with tf.GradientTape() as tape:
                logits, new_state, raw, dropped = model.forward(x, self.state, training=True)
                ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
                loss = ce
                if cfg.ar > 0:
                    loss += cfg.ar * tf.reduce_mean(tf.square(dropped))
                if cfg.tar > 0:
                    loss += cfg.tar * tf.reduce_mean(tf.square(raw[:, 1:] - raw[:, :-1]))
            grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, self.vars)]
            grads, _ = tf.clip_by_global_norm(grads, cfg.clip)
            for v, g in zip(self.vars, grads, strict=True):
                v.assign_sub(lr * (g + cfg.weight_decay * v))
            self.state.assign(new_state)

            def average():
                self.avg_count.assign_add(1.0)
                for a, v in zip(self.avg, self.vars, strict=True):
                    a.assign_add((v - a) / self.avg_count)
                return tf.constant(True)

            tf.cond(self.averaging, average, lambda: tf.constant(False))
            return ce

        espec = tf.TensorSpec([None, None], tf.int32)

        @tf.function(input_signature=[espec, espec, tf.TensorSpec([None, cfg.hidden], tf.float32)],
                     jit_compile=cfg.jit_compile, autograph=False)
        def eval_step(x, y, state):
            logits, new_state = model.step(x, state)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            return tf.reduce_sum(ce), new_state

        self.train_step = train_step
        self.eval_step = eval_step

    # ----- evaluation -----------------------------------------------------------------------------------
    def evaluate(self, streams: np.ndarray) -> float:
        """Perplexity of ``streams`` with the evaluation weights (averaged ones once ASGD is on)."""
        with self._eval_weights():
            return evaluate_streams(self.eval_step, streams, self.config.bptt, self.config.hidden)

    def _eval_weights(self):
        trainer = self

        class _Swap:
            def __enter__(self):
                self.saved = None
                if bool(trainer.averaging.numpy()) and float(trainer.avg_count.numpy()) > 0:
                    self.saved = [v.numpy() for v in trainer.vars]
                    for v, a in zip(trainer.vars, trainer.avg, strict=True):
                        v.assign(a)

            def __exit__(self, *exc):
                if self.saved is not None:
                    for v, s in zip(trainer.vars, self.saved, strict=True):
                        v.assign(s)
                return False

        return _Swap()

    # ----- run folder -----------------------------------------------------------------------------------
    def _save_best(self) -> None:
        if self.output is None:
            return
        with self._eval_weights():
            atomic_save_keras(self.model, self.output / "model.keras")

    def _save_state(self) -> None:
        if self.output is None:
            return
        arrays = {f"w{i}": v.numpy() for i, v in enumerate(self.vars)}
        arrays.update({f"a{i}": a.numpy() for i, a in enumerate(self.avg)})
        # dropout seed-generator states, so that a resumed run draws the masks an uninterrupted one would
        arrays.update({f"n{i}": v.numpy() for i, v in enumerate(self.model.non_trainable_variables)})
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self.output / "state.npz", buf.getvalue())
        atomic_write_json(self.output / "state.json", {
            "epoch": self.epoch, "steps": self.steps, "best_valid_ppl": self.best_valid,
            "averaging": bool(self.averaging.numpy()), "avg_count": float(self.avg_count.numpy()),
            "history": self.history,
        })
        atomic_write_text(self.output / "history.jsonl", "".join(json.dumps(h) + "\n" for h in self.history))

    def restore(self) -> None:
        """Continue from ``state.npz`` / ``state.json`` of the output folder."""
        assert self.output is not None
        try:
            meta = read_json(self.output / "state.json")
            with np.load(self.output / "state.npz") as data:
                weights = [data[f"w{i}"] for i in range(len(self.vars))]
                avgs = [data[f"a{i}"] for i in range(len(self.avg))]
                extra = [data[f"n{i}"] for i in range(len(self.model.non_trainable_variables))
                         if f"n{i}" in data]
        except (OSError, KeyError, ValueError) as exc:
            raise RunFolderError(f"cannot resume from {self.output}: training state unreadable ({exc}); "
                                 "start a new run with another --output") from None
        for v, w in zip(self.vars, weights, strict=True):
            if tuple(v.shape) != w.shape:
                raise RunFolderError(f"cannot resume from {self.output}: saved weights do not fit the model")
            v.assign(w)
        for a, w in zip(self.avg, avgs, strict=True):
            a.assign(w)
        for v, w in zip(self.model.non_trainable_variables, extra, strict=False):
            v.assign(w)
        self.epoch = int(meta["epoch"])
        self.steps = int(meta["steps"])
        self.best_valid = float(meta["best_valid_ppl"])
        self.history = list(meta["history"])
        self.averaging.assign(bool(meta["averaging"]))
        self.avg_count.assign(float(meta["avg_count"]))

    # ----- training -------------------------------------------------------------------------------------
    def run(self, test: bool = True) -> dict[str, Any]:
        """Train up to ``epochs`` / ``max_steps``; ``test=False`` skips the test-split evaluation."""
        import tensorflow as tf

        from nao_tf.data.text_batches import bptt_windows, count_windows
        from nao_tf.seeding import rng

        cfg = self.config
        writer = tf.summary.create_file_writer(str(self.output / "tb")) if self.output is not None else None
        per_epoch = count_windows(self.train_data, cfg.bptt)
        start = time.perf_counter()
        stop = cfg.max_steps is not None and self.steps >= cfg.max_steps
        first_epoch = self.epoch  # where this invocation starts (for the time estimate)
        while self.epoch < cfg.epochs and not stop:
            epoch = self.epoch + 1
            self.state.assign(tf.zeros_like(self.state))
            gen = rng(cfg.seed, 6, epoch)
            total, count, tokens, t0 = 0.0, 0, 0, time.perf_counter()
            pending, i, first_step = [], -1, t0
            for i, (pos, seq_len) in enumerate(bptt_windows(self.train_data, cfg.bptt, gen, cfg.variable_bptt)):
                x = self.train_data[:, pos:pos + seq_len]
                y = self.train_data[:, pos + 1:pos + 1 + seq_len]
                lr = cfg.lr * seq_len / cfg.bptt
                pending.append(self.train_step(x, y, tf.constant(lr, tf.float32)))
                if epoch == first_epoch + 1 and i == 0:  # the step that traces: the estimate's pace leaves it out
                    float(pending[-1])
                    first_step = time.perf_counter()
                tokens += x.size
                self.steps += 1
                last = cfg.max_steps is not None and self.steps >= cfg.max_steps
                if len(pending) >= cfg.log_every or last:
                    losses = [float(p) for p in pending]
                    pending = []
                    if not all(math.isfinite(v) for v in losses):
                        self._diverged(epoch, i + 1)
                    total += sum(losses)
                    count += len(losses)
                    rate = tokens / max(time.perf_counter() - t0, 1e-9)
                    self.log(f"epoch {epoch} step {i + 1}/~{per_epoch} | lr {cfg.lr:.3g} | "
                                     f"loss {total / count:.3f} | ppl {_ppl(total / count):.1f} | "
                                     f"{rate:.0f} tok/s")
                if last:
                    stop = True
                    break
            if pending:
                losses = [float(p) for p in pending]
                if not all(math.isfinite(v) for v in losses):
                    self._diverged(epoch, per_epoch)
                total += sum(losses)
                count += len(losses)
            train_loss = total / max(count, 1)
            steps_done, train_end = i + 1, time.perf_counter()
            valid_ppl = self.evaluate(self.valid_data)
            if not math.isfinite(valid_ppl):
                self._diverged(epoch, per_epoch)
            self.epoch = epoch
            improved = valid_ppl < self.best_valid
            switched = False
            if improved:
                self.best_valid = valid_ppl
                self._save_best()
            previous = [h["valid_ppl"] for h in self.history]
            # AWD-LSTM's rule (ties count as no improvement): not better than the best evaluation before
            # the last ``nonmono`` ones.
            if (not bool(self.averaging.numpy()) and len(previous) > cfg.nonmono
                    and valid_ppl >= min(previous[:-cfg.nonmono])):
                self.averaging.assign(True)
                self.avg_count.assign(0.0)
                switched = True
            entry = {"epoch": epoch, "steps": self.steps, "train_ppl": _ppl(train_loss), "valid_ppl": valid_ppl,
                     "averaging": bool(self.averaging.numpy()), "seconds": round(time.perf_counter() - start, 2)}
            self.history.append(entry)
            self._save_state()
            if writer is not None:
                with writer.as_default(step=self.steps):
                    tf.summary.scalar("train/ppl", entry["train_ppl"])
                    tf.summary.scalar("valid/ppl", valid_ppl)
                writer.flush()
            self.log(f"epoch {epoch} | train ppl {entry['train_ppl']:.2f} | valid ppl {valid_ppl:.2f}"
                             f"{' (best)' if improved else ''}"
                             f"{' | switching to averaged SGD' if switched else ''}")
            if epoch == first_epoch + 1 and not stop:
                now = time.perf_counter()
                later = untraced_epoch_seconds(first_step, train_end, steps_done, now)
                self.log(self._estimate(now - start, now - t0, first_epoch, per_epoch, later))
        return self._finish(test)

    def _estimate(self, elapsed: float, epoch_seconds: float, first_epoch: int, per_epoch: int,
                  later: float | None) -> str:
        """The time-estimate line after this invocation's first epoch: the epochs left (fewer when
        ``max_steps`` ends training earlier) at the pace of the first epoch without its tracing step
        (``later``; the whole first epoch's when it had a single step)."""
        cfg = self.config
        total = cfg.epochs - first_epoch
        if cfg.max_steps is not None:
            left_steps = max(0, cfg.max_steps - self.steps)
            total = min(total, 1 + math.ceil(left_steps / max(1, per_epoch)))
        return estimate_line(elapsed, epoch_seconds, 1, total, epoch=self.epoch, later_seconds=later)

    def _diverged(self, epoch: int, step: int) -> None:
        where = f" in {self.output}" if self.output is not None else ""
        kept = (f"the last good epoch ({self.epoch}) is kept{where}" if self.epoch
                else "no epoch completed, nothing was saved")
        raise TrainingDivergedError(
            f"loss became NaN or infinite at epoch {epoch} step {step}; {kept}; lower --lr or --clip")

    def _finish(self, test: bool = True) -> dict[str, Any]:
        from nao_tf.data.text import unigram_perplexity

        if self.output is not None and (self.output / "model.keras").exists():
            from nao_tf.keras_objects import load_model

            best = load_model(self.output / "model.keras")
            for v, b in zip(self.vars, best.trainable_variables, strict=True):
                v.assign(b)
            self.averaging.assign(False)
        test_ppl = self.evaluate(self.test_data) if test else float("nan")
        result = {
            "architecture": self.arch.integers,
            "dataset": self.corpus.name,
            "vocab_size": len(self.corpus.vocab),
            "hidden": self.config.hidden,
            "epochs": self.epoch,
            "steps": self.steps,
            "best_valid_ppl": round(self.best_valid, 3),
            "test_ppl": round(test_ppl, 3) if test else None,
            "unigram_valid_ppl": round(unigram_perplexity(self.corpus, "valid"), 3),
            "unigram_test_ppl": round(unigram_perplexity(self.corpus, "test"), 3),
            "averaged": any(h["averaging"] for h in self.history),
            "valid_oov_tokens": int(self.corpus.oov["valid"]),
            "test_oov_tokens": int(self.corpus.oov["test"]),
        }
        if self.output is not None:
            result["run_dir"] = str(self.output)
            atomic_write_json(self.output / "result.json", result)
        return result


def evaluate_streams(eval_step: Any, streams: np.ndarray, bptt: int, hidden: int) -> float:
    """Perplexity over ``streams`` (state carried across windows, as in stateful evaluation)."""
    from nao_tf.data.text_batches import windows_array

    state = np.zeros((streams.shape[0], hidden), np.float32)
    total, n = 0.0, 0
    for x, y in windows_array(streams, bptt):
        loss, state = eval_step(x, y, state)
        total += float(loss)
        n += y.size
    return _ppl(total / max(n, 1))


# ----- entry points -------------------------------------------------------------------------------------
def train_lm(config: LmConfig, output: str | Path | None = None, resume: bool = False,
             quiet: bool = False, log: Any = None) -> dict[str, Any]:
    """Train (or with ``resume`` continue) an LM; returns the result dict (also ``result.json``).
    ``log(text)`` receives the progress lines (none when ``quiet``)."""
    from nao_tf.children import run_files

    out = Path(output) if output is not None else None
    state = None
    if resume:
        if out is None:
            raise RunFolderError("cannot resume without a run folder; give the folder of an earlier 'nao-tf train'")
        saved = run_files.read_config(out, run_files.LM_KIND)
        state = run_files.read_lm_state(out)  # every file a resume reads, checked before any is trusted
        base = LmConfig.from_dict(saved["config"])
        for name in ("epochs", "max_steps", "lr"):
            override = getattr(config, name)
            if override is not None and override != getattr(LmConfig, name, None):
                setattr(base, name, override)
        config = base
    elif out is not None and (out / "state.json").exists():
        raise RunFolderError(f"{out} already holds a training run; pass --resume to continue it or choose "
                             "another --output")
    trainer = LmTrainer(config, out, quiet=quiet, log=log)
    if resume and out is not None and (out / "vocab.txt").is_file():
        _check_vocabulary(out / "vocab.txt", trainer.corpus.vocab)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if resume and state is not None:
            trainer.restore()
            trainer.log(f"resuming {out} after epoch {trainer.epoch} ({trainer.steps} steps)")
        elif not resume:
            atomic_write_json(out / "config.json", {"kind": "lm", "space": "rnn", "config": config.to_dict(),
                                                    "architecture": trainer.arch.integers,
                                                    "corpus": trainer.corpus.summary()})
            atomic_write_text(out / "vocab.txt", trainer.corpus.vocab.to_text())
    return trainer.run()


def _check_vocabulary(path: Path, vocab: Any) -> None:
    """A resumed run must map words to the ids its weights were trained with: the corpus of today must give the
    vocabulary the run saved, word for word."""
    saved = path.read_text(encoding="utf-8")
    if saved != vocab.to_text():
        count = len(saved.splitlines())
        raise RunFolderError(f"{path} ({count} words) is not the vocabulary of the corpus this run trains on "
                             f"({len(vocab)} words); resume with the run's dataset and --data-dir, or restore the "
                             "file")


def load_lm(path: str | Path):
    """``(model, vocab)`` from a run folder or a ``model.keras`` file with ``vocab.txt`` beside it."""
    from nao_tf.data.text import Vocabulary

    path = Path(path)
    model_path = path / "model.keras" if path.is_dir() else path
    if not model_path.is_file():
        raise RunFolderError(f"no model at {model_path}; give a run folder of 'nao-tf train' or its model.keras")
    vocab_path = model_path.parent / "vocab.txt"
    if not vocab_path.is_file():
        raise RunFolderError(f"{vocab_path} is missing; the language model needs the vocabulary it was "
                             "trained with")
    from nao_tf.children.lm import RnnLanguageModel
    from nao_tf.children.run_files import check_archive
    from nao_tf.keras_objects import load_model

    check_archive(model_path, ("config.json",), hint="train it again or restore the file")
    try:
        model = load_model(model_path)
    except Exception as exc:  # noqa: BLE001  a truncated or foreign file is the user's, not a bug
        msg = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise RunFolderError(f"cannot load {model_path}: {msg}") from None
    if not isinstance(model, RnnLanguageModel):
        raise RunFolderError(f"{model_path} is not a nao-tf language model")
    try:
        vocab = Vocabulary.from_text(vocab_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{vocab_path} is unreadable ({type(exc).__name__})") from None
    if len(vocab) != model.vocab_size:
        raise RunFolderError(f"{vocab_path} has {len(vocab)} words but {model_path} was trained on "
                             f"{model.vocab_size}; restore the run's own vocab.txt")
    return model, vocab


def evaluate_lm(path: str | Path, dataset: str | None = None, data_dir: str | None = None,
                split: str = "test", batch_size: int = 10, bptt: int = 35) -> dict[str, Any]:
    """Perplexity of a trained LM on a split; unseen words map to the model's ``<unk>`` and are counted."""
    import tensorflow as tf

    from nao_tf.data.text import load_corpus
    from nao_tf.data.text_batches import batchify, check_bptt

    model, vocab = load_lm(path)
    run_dir = Path(path) if Path(path).is_dir() else Path(path).parent
    if dataset is None or data_dir is None:
        from nao_tf.children import run_files

        cfg_path = run_dir / "config.json"
        saved = run_files.read_config(run_dir, run_files.LM_KIND)["config"] if cfg_path.is_file() else {}
        dataset = dataset or saved.get("dataset", "embedded")
        data_dir = data_dir or saved.get("data_dir")
    if split not in ("train", "valid", "test"):
        raise DataError(f"unknown split {split!r}; expected train, valid or test")
    corpus = load_corpus(dataset, data_dir, vocab=vocab)
    streams = batchify(corpus.splits[split], batch_size, split)
    check_bptt(streams, bptt, split)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None, model.hidden], tf.float32)])
    def eval_step(x, y, state):
        logits, new_state = model.step(x, state)
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)), new_state

    ppl = evaluate_streams(eval_step, streams, bptt, model.hidden)
    return {"dataset": corpus.name, "split": split, "perplexity": round(ppl, 3),
            "tokens": int(streams.size), "oov_tokens": int(corpus.oov[split]),
            "architecture": " ".join(map(str, model.arch.values)) if model.arch else None}
