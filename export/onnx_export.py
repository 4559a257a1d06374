"""ONNX export through tf2onnx, from the same serving function as the SavedModel.

tf2onnx 1.17's ``from_keras`` does not understand Keras 3 models, and ``from_function`` turns constants that a
Keras 3 layer captured (the normalization's mean and std, for instance) into extra graph inputs. So the serving
function's concrete function is frozen first (``convert_variables_to_constants_v2`` inlines variables and
captured tensors alike) and the frozen GraphDef is converted with ``from_graph_def``. The graph's inputs and
outputs are then renamed to the signature's names (``images``; ``logits``, ``probabilities``), the batch (and
time) dimensions are named ``batch`` (and ``time``), and the metadata goes into ``metadata_props``.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from nao_tf._tf import import_tf_quietly
from nao_tf.export.metadata import ExportError, from_onnx_props, to_onnx_props

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 13, 18


@contextlib.contextmanager
def _quiet_converters():
    """tf2onnx and TensorFlow's graph utilities log deprecation notes and progress at INFO/WARNING."""
    names = ("tf2onnx", "tensorflow")
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


def check_opset(opset: int) -> int:
    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise ExportError(f"ONNX opset {opset} is not supported; use {MIN_OPSET}..{MAX_OPSET} (default 17)")
    return int(opset)


def convert(serving: Any, meta: dict[str, Any], opset: int = DEFAULT_OPSET) -> Any:
    """The serving endpoint as an ``onnx.ModelProto`` with named, batch-dynamic inputs/outputs and metadata."""
    import_tf_quietly()
    import onnx
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    with _quiet_converters():
        import tf2onnx

        concrete = serving.serve.get_concrete_function()
        # lower_control_flow=False keeps an RNN loop a functional While, which tf2onnx turns into an ONNX Loop.
        frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
        graph_def = frozen.graph.as_graph_def()
        input_names = [t.name for t in frozen.inputs]
        output_names = [t.name for t in frozen.outputs]
        model_proto, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=input_names, output_names=output_names, opset=check_opset(opset)
        )

    # Map the frozen graph's tensor names ("images:0", "Identity:0") to the signature's names.
    signature_inputs = [spec.name for spec in tf.nest.flatten(concrete.structured_input_signature)]
    # The frozen function's outputs are the signature's dict outputs flattened (sorted keys).
    out_keys = tf.nest.flatten({k: k for k in concrete.structured_outputs})
    mapping = dict(zip(input_names, signature_inputs, strict=True))
    mapping.update(dict(zip(output_names, out_keys, strict=True)))
    _rename_tensors(model_proto.graph, mapping)
    _name_dynamic_dims(model_proto.graph, meta.get("kind", "cnn"))

    model_proto.producer_name = "nao-tf"
    model_proto.producer_version = str(meta.get("producer", ""))
    model_proto.doc_string = f"nao-tf {meta.get('kind', 'cnn')} export of architecture {meta.get('architecture')}"
    onnx.helper.set_model_props(model_proto, to_onnx_props(meta))
    onnx.checker.check_model(model_proto)
    return model_proto


def write_onnx(serving: Any, path: Path, meta: dict[str, Any], opset: int = DEFAULT_OPSET) -> Path:
    import onnx

    model_proto = convert(serving, meta, opset)
    path = Path(path)
    onnx.save_model(model_proto, str(path))
    return path


def _rename_tensors(graph: Any, mapping: dict[str, str]) -> None:
    """Rename tensors everywhere they are referenced (graph inputs/outputs, node inputs/outputs, value_info)."""
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name in mapping:
            value.name = mapping[value.name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]


def _name_dynamic_dims(graph: Any, kind: str) -> None:
    """tf2onnx names unknown dimensions ``unk__N``; name them ``batch`` (dim 0) and ``time`` (dim 1 of LM
    tokens and logits) so that users see what may vary."""
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        for axis, dim in enumerate(dims):
            if dim.HasField("dim_value"):
                continue
            if axis == 0:
                dim.dim_param = "batch"
            elif axis == 1 and kind == "lm" and value.name in ("tokens", "logits"):
                dim.dim_param = "time"


def read_onnx_metadata(path: Path) -> dict[str, Any]:
    """The nao-tf metadata stored in an ONNX file's ``metadata_props``."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return from_onnx_props({p.key: p.value for p in model.metadata_props})


class OnnxRunner:
    """An ONNX Runtime session (CPU) called with NumPy inputs by name, NumPy outputs by name."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        values = self.session.run(self.output_names, {k: inputs[k] for k in self.input_names})
        return dict(zip(self.output_names, values, strict=True))
