"""``nao-tf evaluate RUN_OR_MODEL``: test accuracy of a trained network (run folder or ``.keras`` file).

CNN models evaluate on an image dataset; other model kinds plug in through ``EVALUATORS`` (run kind or model
kind -> handler) and ``ARGUMENT_GROUPS``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nao_tf.cli.argtypes import positive_int

EVALUATORS: dict[str, Callable[[argparse.Namespace], int]] = {}
ARGUMENT_GROUPS: list[Callable[[argparse.ArgumentParser], None]] = []


def register(sub: Any) -> None:
    parser = sub.add_parser("evaluate", help="test accuracy of a trained network (run folder or .keras file)")
    parser.add_argument("model", metavar="RUN_OR_MODEL", help="run folder of 'nao-tf train' or a .keras file")
    parser.add_argument("--dataset", default=None,
                        help="dataset (default: the run's dataset, else embedded); e.g. cifar10, fashion_mnist")
    parser.add_argument("--data-dir", default=None, help="folder holding the dataset files")
    parser.add_argument("--batch-size", type=positive_int, default=500, help="evaluation batch size (default 500)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    for add in ARGUMENT_GROUPS:
        add(parser)
    parser.set_defaults(func=_evaluate)


def run_kind(path: Path) -> str | None:
    """The ``kind`` of a run folder's config.json, or None for a model file / unknown folder."""
    from nao_tf.runio import read_json

    config = path / "config.json"
    if path.is_dir() and config.is_file():
        try:
            data = read_json(config)
        except (OSError, ValueError, RecursionError):
            return None
        return data.get("kind") if isinstance(data, dict) and isinstance(data.get("kind"), str) else None
    return None


def _evaluate(args: argparse.Namespace) -> int:
    from nao_tf.errors import ConfigError

    path = Path(args.model)
    kind = run_kind(path)
    if kind is None and path.is_file():  # a model file inside a run folder evaluates like its run
        kind = run_kind(path.parent) or ("lm" if (path.parent / "vocab.txt").is_file() else None)
    if kind in EVALUATORS:
        return EVALUATORS[kind](args)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    from nao_tf.children import train_cnn
    from nao_tf.data.images import load_images

    model, meta = train_cnn.load_model_file(path)
    dataset = args.dataset
    data_dir = args.data_dir
    if dataset is None:
        saved = meta.get("config", {})
        dataset = saved.get("dataset", "embedded")
        data_dir = data_dir or saved.get("data_dir")
    data = load_images(dataset, data_dir)
    result = train_cnn.evaluate(model, data, batch_size=args.batch_size)
    result["model"] = str(path)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{path}: test accuracy {result['accuracy']:.4f} on {result['images']} {result['dataset']} images "
              f"(loss {result['loss']:.4f})")
    return 0


def _register_language_models() -> None:
    """Run folders of language models (kind ``lm``) report perplexity (``nao_tf.children.train_lm``)."""
    from nao_tf.cli import lm

    EVALUATORS["lm"] = lm.evaluate
    ARGUMENT_GROUPS.append(lm.add_lm_evaluate_arguments)


_register_language_models()
