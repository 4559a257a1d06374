"""Language-model exports: ``tokens`` and ``state`` in, ``logits`` and ``new_state`` out.

The model is ``nao_tf.children.lm.RnnLanguageModel`` (embedding, NAO RNN cell in ``keras.layers.RNN``, tied
decoder). Both formats take any batch size and any sequence length; run a long text window by window and feed
the returned ``new_state`` into the next call as ``state`` (zeros for the first). The run folder's
``vocab.txt`` is copied into the export so that token ids can be mapped back to words.
"""

from __future__ import annotations

from typing import Any


def call_lm(net: Any, tokens: Any, states: list[Any]) -> tuple[Any, list[Any]]:
    """One inference step of the LM on a window: ``(logits [batch, time, vocab], [new state])``."""
    logits, new_state = net.step(tokens, states[0])
    return logits, [new_state]
