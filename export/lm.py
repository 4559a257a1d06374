"""Language-model exports: ``tokens`` and ``state`` in, ``logits`` and ``new_state`` out.

The model is ``nao_tf.children.lm.RnnLanguageModel`` (embedding, NAO RNN cell in ``keras.layers.RNN``, tied
decoder). Both formats take any batch size and any sequence length; run a long text window by window and feed
the returned ``new_state`` into the next call as ``state`` (zeros for the first). The run folder's
``vocab.txt`` is copied into the export so that token ids can be mapped back to words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nao_tf.export.metadata import ExportError


def call_lm(net: Any, tokens: Any, states: list[Any]) -> tuple[Any, list[Any]]:
    """One inference step of the LM on a window: ``(logits [batch, time, vocab], [new state])``."""
    logits, new_state = net.step(tokens, states[0])
    return logits, [new_state]


def lm_source(path: Path, model_file: Path, model: Any, config: dict[str, Any]) -> Any:
    from nao_tf.export.source import Source, base_meta

    if model.shared:
        raise ExportError(f"{model_file}: a weight-sharing search LM has no single architecture; export the LM "
                          "that 'nao-tf train' trained for one cell")
    vocab_file = model_file.parent / "vocab.txt"
    meta = base_meta("lm", config, model.arch, "rnn")
    meta.update({
        "inputs": {"tokens": {"dtype": "int32", "shape": ["batch", "time"]},
                   "state": {"dtype": "float32", "shape": ["batch", model.hidden]}},
        "outputs": ["logits", "new_state"],
        "vocab_size": int(model.vocab_size),
        "hidden": int(model.hidden),
        "state_shapes": {"state": ["batch", int(model.hidden)]},
        "vocab_file": "vocab.txt" if vocab_file.is_file() else None,
    })
    source = Source("lm", path, model_file, model, model, meta, vocab_size=int(model.vocab_size),
                    state_names=("state",), state_sizes=(int(model.hidden),))
    if vocab_file.is_file():
        source.extra["vocab_file"] = vocab_file
    return source
