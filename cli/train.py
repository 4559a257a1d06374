"""``nao-tf train ARCH``: train a network built from an architecture into a run folder.

CNN architectures (``nasnet-ws`` / ``nasnet-full``) train with ``nao_tf.children.train_cnn``. Other spaces plug
in through ``SPACE_TRAINERS`` (space name -> handler taking the parsed args) and ``ARGUMENT_GROUPS`` (functions
that add their own argument group to the parser), e.g. the RNN language models.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nao_tf.cli.argtypes import (
    finite_float,
    keep_probability,
    nonnegative_float,
    nonnegative_int,
    output_path,
    positive_int,
    seed,
)
from nao_tf.errors import ConfigError

ARCH_HELP = "architecture: zoo name (e.g. NAONet-B), integer form, readable form or JSON file"

# Extension points (other spaces): handler per space, and extra argument groups.
SPACE_TRAINERS: dict[str, Callable[[argparse.Namespace], int]] = {}
ARGUMENT_GROUPS: list[Callable[[argparse.ArgumentParser], None]] = []


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", default=None,
                       help="embedded (default: Fashion-MNIST sample shipped with nao-tf), fashion_mnist, cifar10, "
                            "cifar100")
    group.add_argument("--data-dir", default=None, help="folder holding the dataset files (never downloads)")


def add_cnn_arguments(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("CNN network (the authors' macro: stem, 3 stages of N cells, channels F/2F/4F)")
    net.add_argument("--layers", type=positive_int, help="cells per stage N (default 6)")
    net.add_argument("--channels", type=positive_int, help="filters F of the first stage (default 36)")
    net.add_argument("--no-aux-head", dest="aux_head", action="store_false", default=None,
                     help="no auxiliary head")
    net.add_argument("--drop-path-keep", type=keep_probability, help="drop-path keep probability (default 0.8)")
    net.add_argument("--dropout-keep", type=keep_probability,
                     help="dropout keep probability before the classifier (0.6)")
    rec = parser.add_argument_group("CNN recipe (defaults: the paper's CIFAR-10 NAONet-A-36 recipe)")
    rec.add_argument("--epochs", type=positive_int, help="epochs (default 600)")
    rec.add_argument("--batch-size", type=positive_int, help="global batch size (default 128)")
    rec.add_argument("--lr", type=finite_float(0.0, open_min=True),
                     help="initial learning rate, cosine to --lr-min (default 0.025)")
    rec.add_argument("--lr-min", type=nonnegative_float, help="final learning rate (default 0)")
    rec.add_argument("--momentum", type=nonnegative_float, help="SGD momentum (default 0.9)")
    rec.add_argument("--weight-decay", type=nonnegative_float, help="L2 weight decay (default 3e-4)")
    rec.add_argument("--grad-clip", type=nonnegative_float, help="global gradient-norm clip, 0 = off (default 5)")
    rec.add_argument("--aux-weight", type=nonnegative_float, help="auxiliary loss weight (default 0.4)")
    rec.add_argument("--cutout", type=nonnegative_int, help="cutout size, 0 = off (default 16 for 32x32 images)")
    rec.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                     help="no random crop / flip / cutout")
    rec.add_argument("--valid-size", type=nonnegative_int,
                     help="hold out this many training images for validation (default 0: validate on test)")
    rec.add_argument("--steps-per-epoch", type=positive_int, help="at most this many batches per epoch")


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    dev = parser.add_argument_group("devices")
    dev.add_argument("--mixed-precision", action="store_true", default=None,
                     help="float16 compute on GPU (bfloat16 on CPU)")
    dev.add_argument("--xla", action="store_true", default=None, help="compile train/eval steps with XLA")
    dev.add_argument("--cpu-replicas", type=positive_int, default=1,
                     help="split the CPU into K logical devices and mirror over them (testing tf.distribute)")
    dev.add_argument("--multi-worker", action="store_true",
                     help="train across machines (MultiWorkerMirroredStrategy): run the same command on every "
                          "machine with TF_CONFIG naming the cluster; also on whenever TF_CONFIG is set "
                          "(docs/deployment.md)")


def register(sub: Any) -> None:
    parser = sub.add_parser("train", help="train a network built from an architecture (run folder, resume)")
    parser.add_argument("arch", nargs="?", help=ARCH_HELP + " (optional with --resume)")
    add_data_arguments(parser)
    add_cnn_arguments(parser)
    add_device_arguments(parser)
    run = parser.add_argument_group("run folder")
    run.add_argument("--out", type=output_path, help="new run folder (default runs/train-<time>)")
    run.add_argument("--resume", metavar="RUN", help="continue RUN from its last finished epoch")
    run.add_argument("--seed", type=seed, default=None, help="random seed (default 0)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    for add in ARGUMENT_GROUPS:
        add(parser)
    parser.set_defaults(func=_train)


CNN_KEYS = ("dataset", "data_dir", "epochs", "batch_size", "layers", "channels", "lr", "lr_min", "momentum",
            "weight_decay", "grad_clip", "aux_head", "aux_weight", "drop_path_keep", "dropout_keep", "augment",
            "cutout", "valid_size", "seed", "mixed_precision", "xla", "steps_per_epoch")


def _train(args: argparse.Namespace) -> int:
    from nao_tf.architectures import resolve

    if args.arch is None and args.resume is None:
        raise ConfigError("give an architecture to train (e.g. 'nao-tf train NAONet-B') or --resume RUN")
    multi_worker = getattr(args, "multi_worker", False) or bool(os.environ.get("TF_CONFIG", "").strip())
    if multi_worker and args.resume:
        raise ConfigError("with --multi-worker or TF_CONFIG, rerun the original command (ARCH ... --out RUN) on "
                          "every worker: the chief continues RUN from its last finished epoch")
    space = None
    if args.arch is not None:
        space = resolve(args.arch).space
    elif args.resume is not None:
        space = _run_space(Path(args.resume))
    if space in SPACE_TRAINERS:
        if multi_worker:
            raise ConfigError(f"architectures of space {space!r} train on one machine only (--multi-worker and "
                              "TF_CONFIG are for CNNs; see docs/deployment.md); drop the flag / unset TF_CONFIG")
        return _train_guarded(args, SPACE_TRAINERS[space])
    if space not in ("nasnet-ws", "nasnet-full"):
        raise ConfigError(f"nao-tf train has no trainer for architectures of space {space!r} yet")
    if multi_worker:  # every worker reruns the same command into RUN and the chief continues it: no guard
        return _train_cnn(args)
    return _train_guarded(args, _train_cnn)


def _run_space(run: Path) -> str:
    """The space of a run to resume, after checking every file the resume will read (before TensorFlow loads,
    so a broken run folder is refused at once and left untouched)."""
    from nao_tf.children.run_files import check_resumable

    return check_resumable(run)


def _train_guarded(args: argparse.Namespace, trainer: Callable[[argparse.Namespace], int]) -> int:
    """A new run folder that fails before its first epoch is committed is removed again (see rollback_new_run)."""
    if args.resume:
        return trainer(args)
    from nao_tf.runio import rollback_new_run

    if not args.out:
        args.out = str(Path("runs") / time.strftime("train-%Y%m%d-%H%M%S"))
    out = Path(args.out)
    if (out / "config.json").exists():
        from nao_tf.errors import RunFolderError

        raise RunFolderError(f"{out} already holds a run; use --resume {out} to continue it or another --out")
    with rollback_new_run(out, lambda run: (run / "state.json").exists()):
        return trainer(args)


def _train_cnn(args: argparse.Namespace) -> int:
    from nao_tf.children import distribute

    cluster = distribute.cluster_role(args.multi_worker)
    if cluster is not None:
        _check_multi_worker_args(args)
    from nao_tf.children import train_cnn

    if cluster is None:
        train_cnn.configure_cpu_replicas(args.cpu_replicas)
    given = {k: getattr(args, k) for k in CNN_KEYS if getattr(args, k, None) is not None}
    if args.resume:
        run = Path(args.resume)
        config, _ = train_cnn.read_run_config(run)
        config.arch = args.arch or config.arch
        for key, value in given.items():
            setattr(config, key, value)
    else:
        config = train_cnn.TrainConfig(arch=args.arch, **given)
        run = Path(args.out) if args.out else Path("runs") / time.strftime("train-%Y%m%d-%H%M%S")
    summary = train_cnn.train_run(config, run, resume=bool(args.resume), verbose=0 if args.quiet else 1,
                                  cluster=cluster, log=None if args.quiet else _stderr_line)
    if args.json:
        print(json.dumps(summary, indent=2))
    elif cluster is not None and not cluster.is_chief:
        print(f"{cluster.name}: trained {summary['epochs']} epochs with the chief, weights "
              f"{summary['weights_digest'][:16]}; the chief writes the run folder {summary['run']}")
    else:
        acc = summary.get("final_val_accuracy")
        acc_text = "n/a" if acc is None else f"{acc:.4f}"
        print(f"trained {summary['epochs']} epochs into {summary['run']}: validation accuracy {acc_text}, "
              f"{summary['params']} parameters; model: {summary['model']}")
    return 0


def _stderr_line(text: str) -> None:
    """Messages of the library (the time estimate after the first epoch) go to stderr, beside the progress bar."""
    import sys

    print(text, file=sys.stderr, flush=True)


def _check_multi_worker_args(args: argparse.Namespace) -> None:
    """Every worker runs the same command, and a restart must find the same run folder: ARCH and --out."""
    if args.arch is None or not args.out:
        raise ConfigError("--multi-worker needs the architecture and --out RUN (the same on every worker)")
    if args.cpu_replicas > 1:
        raise ConfigError("--cpu-replicas does not combine with --multi-worker; each worker uses its own devices")


def _register_language_models() -> None:
    """Architectures of the rnn space train as language models (``nao_tf.children.train_lm``)."""
    from nao_tf.cli import lm

    SPACE_TRAINERS["rnn"] = lm.train
    ARGUMENT_GROUPS.append(lm.add_lm_arguments)


_register_language_models()
