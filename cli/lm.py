"""Command-line options and output of the language-model commands (``nao-tf train`` / ``nao-tf evaluate`` for
architectures of the rnn space). The library part (``LmConfig``, ``train_lm``, ``evaluate_lm``) lives in
``nao_tf.children.train_lm``; this module only parses flags and prints.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError


def print_result(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


# ----- command-line options (used by ``nao-tf train`` / ``nao-tf evaluate`` for architectures of the rnn space)
# (flag, dest, type, help); the LmConfig default is shown in --help.
_LM_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--hidden", "hidden", int, "LM: embedding = hidden size"),
    ("--bptt", "bptt", int, "LM: BPTT length (mean of the variable lengths)"),
    ("--eval-batch-size", "eval_batch_size", int, "LM: batch size of validation/test"),
    ("--clip", "clip", float, "LM: gradient-norm clip"),
    ("--weight-decay", "weight_decay", float, "LM: L2 weight decay"),
    ("--ar", "ar", float, "LM: activation regularization (alpha)"),
    ("--tar", "tar", float, "LM: temporal activation regularization (beta)"),
    ("--nonmono", "nonmono", int, "LM: switch to averaged SGD after this many non-improving evaluations"),
    ("--max-steps", "max_steps", int, "LM: stop after this many training steps in total"),
    ("--embed-dropout", "embed_dropout", float, "LM: embedding (whole-word) dropout"),
    ("--input-dropout", "input_dropout", float, "LM: locked dropout on the embedded input"),
    ("--x-dropout", "x_dropout", float, "LM: locked dropout on the cell input x"),
    ("--hidden-dropout", "hidden_dropout", float, "LM: dropout on the cell's recurrent state"),
    ("--output-dropout", "output_dropout", float, "LM: locked dropout on the RNN output"),
    ("--log-every", "log_every", int, "LM: progress line every N steps"),
)
# Options the LM shares with other children; when another command module defines them first their value
# counts only if the user changed it from that module's default (otherwise the LM recipe default applies).
_SHARED_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--epochs", "epochs", int, "epochs (LM default 3000)"),
    ("--batch-size", "batch_size", int, "batch size (LM default 64)"),
    ("--lr", "lr", float, "learning rate (LM default 20, plain SGD)"),
    ("--seed", "seed", int, "random seed (default 0)"),
)


# LM option -> a flag of another module that means the same thing (used instead of adding a second flag).
_ALIASES = {"clip": "--grad-clip"}


def add_lm_arguments(parser: Any) -> None:
    """Add the LM flags to a ``train`` parser, skipping any flag another module already defined."""
    from nao_tf.children.train_lm import LmConfig

    existing = getattr(parser, "_option_string_actions", {})
    defaults = LmConfig()
    group = parser.add_argument_group(
        "language models (architectures of the rnn space; defaults = PTB recipe)",
        "For rnn architectures the shared flags default to the LM recipe: --epochs 3000, --batch-size 64, --lr 20 "
        "(plain SGD), --grad-clip 0.25, --weight-decay 8e-7, --seed 0.")
    taken: dict[str, Any] = {}
    for flag, dest, kind, text in _SHARED_FLAGS + _LM_FLAGS:
        alias = _ALIASES.get(dest)
        if flag in existing or (alias is not None and alias in existing):
            action = existing.get(flag) or existing[alias]
            taken[dest] = (action.dest, parser.get_default(action.dest))
            continue
        group.add_argument(flag, dest=dest, type=kind, default=None,
                           help=f"{text} (default {getattr(defaults, dest)})")
    for flag, dest, text in (("--no-tie-weights", "no_tie_weights", "LM: separate decoder weights"),
                             ("--fixed-bptt", "fixed_bptt", "LM: constant BPTT length in training")):
        if flag not in existing:
            group.add_argument(flag, dest=dest, action="store_true", help=text)
    parser.set_defaults(lm_taken_defaults=taken)


def lm_config_from_args(args: Any, arch: str) -> Any:
    """``LmConfig`` from parsed ``train`` flags: unset flags keep the paper's recipe."""
    from nao_tf.children.train_lm import LmConfig

    cfg = LmConfig(arch=arch)
    taken = getattr(args, "lm_taken_defaults", {}) or {}
    for _, dest, _, _ in _SHARED_FLAGS + _LM_FLAGS:
        if dest in taken:  # defined by another module: counts only when changed from its default
            other, default = taken[dest]
            value = getattr(args, other, None)
            if value is None or value == default:
                continue
        else:
            value = getattr(args, dest, None)
            if value is None:
                continue
        setattr(cfg, dest, value)
    dataset = getattr(args, "dataset", None)
    if dataset:
        from nao_tf.data.text import canonical_dataset

        cfg.dataset = canonical_dataset(dataset)
    cfg.data_dir = str(args.data_dir) if getattr(args, "data_dir", None) else None
    cfg.tie_weights = not getattr(args, "no_tie_weights", False)
    cfg.variable_bptt = not getattr(args, "fixed_bptt", False)
    cfg.jit_compile = bool(getattr(args, "xla", False) or getattr(args, "jit_compile", False))
    return cfg


def train(args: Any) -> int:
    """``nao-tf train`` for an rnn-space architecture (registered in ``nao_tf.cli.train.SPACE_TRAINERS``)."""
    from nao_tf.children.train_lm import train_lm

    quiet = bool(getattr(args, "quiet", False))
    if getattr(args, "resume", None):
        output = Path(args.resume)
        cfg = lm_config_from_args(args, args.arch or "PTB-NAONet")
        result = train_lm(cfg, output, resume=True, quiet=quiet, log=_print_line)
    else:
        cfg = lm_config_from_args(args, args.arch)
        output = Path(args.out) if getattr(args, "out", None) else Path("runs") / time.strftime(
            "train-%Y%m%d-%H%M%S")
        result = train_lm(cfg, output, resume=False, quiet=quiet, log=_print_line)
    if getattr(args, "json", False):
        print_result(result)
    else:
        print(f"trained {result['epochs']} epochs into {result['run_dir']}: valid perplexity "
              f"{result['best_valid_ppl']:.2f}, test perplexity {result['test_ppl']:.2f} (unigram baseline "
              f"{result['unigram_test_ppl']:.2f}); model: {Path(result['run_dir']) / 'model.keras'}")
    return 0


def add_lm_evaluate_arguments(parser: Any) -> None:
    """Flags ``nao-tf evaluate`` needs for language models."""
    existing = getattr(parser, "_option_string_actions", {})
    group = parser.add_argument_group("language models", "For LM runs --batch-size defaults to 10 (streams).")
    if "--bptt" not in existing:
        group.add_argument("--bptt", type=int, default=35, help="LM: evaluation window (default 35)")
    if "--split" not in existing:
        group.add_argument("--split", default="test", choices=("train", "valid", "test"),
                           help="LM: split to evaluate (default test)")
    if "--batch-size" in existing:
        parser.set_defaults(lm_batch_default=parser.get_default("batch_size"))


def evaluate(args: Any) -> int:
    """``nao-tf evaluate RUN`` for a language-model run folder: perplexity on the test split."""
    from nao_tf.children.train_lm import LmConfig, evaluate_lm

    batch = getattr(args, "batch_size", None)
    if batch is None or batch == getattr(args, "lm_batch_default", None):
        batch = LmConfig.eval_batch_size
    if batch < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch}")
    result = evaluate_lm(args.model, getattr(args, "dataset", None), getattr(args, "data_dir", None),
                         split=getattr(args, "split", "test"), batch_size=batch, bptt=getattr(args, "bptt", 35))
    result["model"] = str(args.model)
    if getattr(args, "json", False):
        print_result(result)
    else:
        print(f"{args.model}: {result['split']} perplexity {result['perplexity']:.2f} on {result['tokens']} "
              f"{result['dataset']} tokens ({result['oov_tokens']} out-of-vocabulary tokens mapped to <unk>)")
    return 0


def _print_line(text: str) -> None:
    print(text, flush=True)
