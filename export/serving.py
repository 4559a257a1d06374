"""The serving function every format is made from.

CNN: ``images`` (uint8, ``[batch, H, W, C]``, pixel values 0..255) in; the model's own normalization runs
inside; ``logits`` and ``probabilities`` (float32, ``[batch, classes]``) out.

LM: ``tokens`` (int32, ``[batch, time]``) and ``state`` (float32, ``[batch, hidden]``; zeros to start) in;
``logits`` (float32, ``[batch, time, vocab]``) and ``new_state`` out (feed it back as ``state`` with the next
window; ONNX forbids an output named like an input, so the name differs in both formats alike).

The function is registered as the ``serve`` endpoint of a ``keras.export.ExportArchive`` (Keras's own
SavedModel writer, which becomes ``serving_default``). A plain ``tf.Module`` holding a Keras 3 model saves
too, but its variables are then missing when the SavedModel is loaded as a TF1 graph, which is what
``saved_model_cli run`` and TF Serving do (keras-team/keras#20095). The SavedModel and the ONNX graph are both
traced from this one tf.function, so the two formats cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from nao_tf._tf import import_tf_quietly

ENDPOINT = "serve"


class Serving:
    """``archive``: the ExportArchive to write; ``serve``: the traced tf.function (dict of outputs)."""

    def __init__(self, archive: Any, serve: Any) -> None:
        self.archive = archive
        self.serve = serve


def make_serving(source: Any) -> Serving:
    """The serving endpoint of ``source`` with its input signature fixed but for the batch (and time)."""
    import_tf_quietly()
    import keras
    import tensorflow as tf

    net = source.net
    if source.kind == "cnn":
        signature = [tf.TensorSpec([None, *source.input_shape], tf.uint8, name="images")]

        def serve(images):
            logits = tf.cast(net(tf.cast(images, tf.float32), training=False), tf.float32)
            return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    elif source.kind == "lm":
        from nao_tf.export.lm import call_lm

        signature = [tf.TensorSpec([None, None], tf.int32, name="tokens")]
        signature += [tf.TensorSpec([None, size], tf.float32, name=name)
                      for name, size in zip(source.state_names, source.state_sizes, strict=True)]
        names = list(source.state_names)

        def serve(tokens, *states):
            logits, new_states = call_lm(net, tokens, list(states))
            out = {"logits": tf.cast(logits, tf.float32)}
            out.update({f"new_{name}": tf.cast(s, tf.float32)
                        for name, s in zip(names, new_states, strict=True)})
            return out

    else:
        raise ValueError(f"unknown model kind {source.kind!r}")  # a bug: Source.kind is checked when loading

    archive = keras.export.ExportArchive()
    archive.track(net)
    fn = archive.add_endpoint(ENDPOINT, serve, input_signature=signature)
    return Serving(archive, fn)
