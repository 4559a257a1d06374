"""What ``nao-tf export`` takes: a ``.keras`` file or a run folder, loaded and checked to be a nao-tf model.

A run folder (``nao-tf train``'s output) holds ``model.keras`` and ``config.json``; the config gives the
architecture, the dataset and so the class names (the model itself holds its normalization). A ``.keras`` file
uses the run's ``config.json`` when it sits in a run folder (or its ``checkpoints/``); without one, the
architecture and dataset are unknown (``null``).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nao_tf.export.metadata import METADATA_VERSION, ExportError, class_names_for


@dataclass
class Source:
    """A loaded model ready to export: ``net`` is the Keras model every format is traced from."""

    kind: str  # "cnn" or "lm"
    path: Path  # what the user gave
    model_file: Path
    model: Any  # the model as loaded (a CNN's training model: aux head, drop-path)
    net: Any  # what is exported: a CNN's inference model (logits only); an LM's model
    meta: dict[str, Any]
    input_shape: tuple[int, ...] = ()  # CNN: (H, W, C)
    vocab_size: int = 0  # LM
    state_names: tuple[str, ...] = ()  # LM: the recurrent state tensors ([batch, size] each)
    state_sizes: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def default_name(self) -> str:
        stem = self.path.name if self.path.is_dir() else self.path.stem
        cleaned = "".join(c if (c.isalnum() or c in "._-") else "_" for c in stem).strip("._")
        return cleaned or "nao_tf_model"

    def reference(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The Keras model's own outputs on NumPy inputs (the ground truth of verification)."""
        import tensorflow as tf

        if self.kind == "cnn":
            logits = self.net(tf.constant(inputs["images"].astype(np.float32)), training=False)
            logits = np.asarray(tf.cast(logits, tf.float32).numpy())
            return {"logits": logits, "probabilities": softmax(logits)}
        from nao_tf.export.lm import call_lm

        states = [tf.constant(inputs[name]) for name in self.state_names]
        logits, new_states = call_lm(self.net, tf.constant(inputs["tokens"]), states)
        out = {"logits": np.asarray(tf.cast(logits, tf.float32).numpy())}
        out.update({f"new_{name}": np.asarray(tf.cast(s, tf.float32).numpy())
                    for name, s in zip(self.state_names, new_states, strict=True)})
        return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def find_model_file(path: Path) -> tuple[Path, Path | None]:
    """``(model file, config.json or None)`` for a run folder or a ``.keras`` file."""
    if not path.exists():
        raise ExportError(f"{path}: no such file or folder; give a nao-tf .keras model or a run folder")
    if path.is_dir():
        if (path / "model.keras").is_file():
            config = path / "config.json"
            return path / "model.keras", (config if config.is_file() else None)
        raise ExportError(f"{path}: no model.keras in this folder; it is not a nao-tf run folder "
                          "(train one with 'nao-tf train')")
    if path.suffix != ".keras":
        raise ExportError(f"{path}: not a nao-tf model; expected a .keras file or a run folder")
    # A run's config sits beside model.keras, or one level up for checkpoints/epoch-NNNN.keras.
    for folder in (path.parent, path.parent.parent):
        if (folder / "config.json").is_file() and (folder / "model.keras").is_file():
            return path, folder / "config.json"
    return path, None


def check_keras_archive(model_file: Path) -> None:
    """A fast, TensorFlow-free check that ``model_file`` is a Keras archive holding nao-tf layers: a wrong file
    fails with one line before TensorFlow starts (and prints its own start-up lines)."""
    try:
        with zipfile.ZipFile(model_file) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ExportError(f"{model_file}: not a nao-tf model (not a Keras .keras archive)") from None

    def has_nao_layer(node: Any) -> bool:
        if isinstance(node, dict):
            name = node.get("registered_name")
            if isinstance(name, str) and name.startswith("nao_tf>"):
                return True
            return any(has_nao_layer(v) for v in node.values())
        if isinstance(node, list):
            return any(has_nao_layer(v) for v in node)
        return False

    if not has_nao_layer(config):
        raise ExportError(f"{model_file}: not a nao-tf model (none of its layers is a nao-tf layer); "
                          "export models made by 'nao-tf train'")


def _read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable config ({exc}); fix or remove it") from None
    return data if isinstance(data, dict) else {}


def _load_keras(model_file: Path) -> Any:
    from nao_tf.keras_objects import load_model

    try:
        return load_model(model_file, compile=False, safe_mode=True)
    except Exception as exc:  # a user's file that is not a loadable Keras model: any loader error
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ExportError(f"{model_file}: not a nao-tf model (Keras cannot load it: {first})") from None


def load_source(path: str | Path) -> Source:
    """Load and check the model to export; ``ExportError`` (one line) when it is not a nao-tf model."""
    path = Path(path)
    model_file, config_file = find_model_file(path)
    config = _read_config(config_file)
    check_keras_archive(model_file)
    model = _load_keras(model_file)
    from nao_tf.children.lm import RnnLanguageModel

    if isinstance(model, RnnLanguageModel):
        return lm_source(path, model_file, model, config)
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) == 1 and len(inputs[0].shape) == 4:
        return _cnn_source(path, model_file, model, config)
    raise ExportError(f"{model_file}: a nao-tf model that is neither an image classifier (one image input) "
                      "nor a language model; export the models 'nao-tf train' writes")


def _first(config: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = config
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def base_meta(kind: str, config: dict[str, Any], arch: Any, space: Any) -> dict[str, Any]:
    """Fields every export has; the architecture in integer and readable form when it parses."""
    from nao_tf import __version__
    from nao_tf.architectures import resolve
    from nao_tf.errors import ArchitectureError
    from nao_tf.spaces import get_space

    readable = None
    if arch is not None:
        try:
            parsed = resolve(arch if not isinstance(arch, list | tuple) else " ".join(map(str, arch)), space)
            arch, space = parsed.integers, parsed.space
            readable = get_space(space).format_readable(parsed)
        except ArchitectureError:  # a run config from another version: keep what it says
            arch = str(arch)
    return {
        "metadata_version": METADATA_VERSION,
        "producer": f"nao-tf {__version__}",
        "kind": kind,
        "architecture": arch,
        "architecture_readable": readable,
        "space": space,
        "dataset": _first(config, "dataset", "config.dataset", "data.name", "corpus.dataset"),
    }


def _float32_model(model: Any) -> tuple[Any, str | None]:
    """``(model in float32, the policy it was trained with or None)``: a mixed-precision model is rebuilt with
    float32 layers and the same weights (variables are float32 under a mixed policy anyway). Exports compute in
    float32: float16 rounding differs between eager Keras and graph runtimes by far more than the tolerance,
    and CPU runtimes gain nothing from it."""
    import keras

    policies = {layer.dtype_policy.name for layer in model._flatten_layers(include_self=False, recursive=True)}
    mixed = sorted(p for p in policies if p != "float32")
    if not mixed:
        return model, None

    def float32_layer(layer: Any) -> Any:
        config = layer.get_config()
        config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=float32_layer)
    clone.set_weights(model.get_weights())
    return clone, ",".join(mixed)


def _cnn_source(path: Path, model_file: Path, model: Any, config: dict[str, Any]) -> Source:
    from nao_tf.children import cnn
    from nao_tf.children.ops import Normalize

    model, trained_policy = _float32_model(model)
    net = cnn.inference_model(model)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:] if d is not None)
    if len(shape) != 3:
        raise ExportError(f"{model_file}: the model's input has no fixed image size ({model.inputs[0].shape}); "
                          "export models made by 'nao-tf train'")
    norm = [layer for layer in net._flatten_layers(include_self=False) if isinstance(layer, Normalize)]
    normalization = ({"mean": list(norm[0].mean), "std": list(norm[0].std), "input_range": [0, 255]}
                     if norm else None)
    arch = _first(config, "architecture", "arch", "config.arch")
    space = _first(config, "space")
    num_classes = int(net.outputs[0].shape[-1])
    meta = base_meta("cnn", config, arch, space)
    meta.update({
        "input": {"name": "images", "dtype": "uint8", "shape": ["batch", *shape], "range": [0, 255]},
        "input_shape": list(shape),
        "num_classes": num_classes,
        "class_names": class_names_for(meta["dataset"], num_classes, _first(config, "class_names",
                                                                            "data.class_names")),
        "normalization": normalization,
        "outputs": ["logits", "probabilities"],
        "precision": "float32" + (f" (trained with {trained_policy})" if trained_policy else ""),
    })
    return Source("cnn", path, model_file, model, net, meta, input_shape=shape)


def lm_source(path: Path, model_file: Path, model: Any, config: dict[str, Any]) -> Any:
    """The LM branch of ``load_source``: the export metadata of a trained NAO language model."""
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
