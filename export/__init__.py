"""Exports of trained nao-tf models (installed as ``nao_tf.export``).

- ``exporter.export_model``: ``nao-tf export``: SavedModel / ONNX / TFLite into ``OUT/NAME/VERSION/``, verified
  against Keras (``verify``) before it is published; ``serving`` holds the one function every format is made of.
- ``predict``: ``nao-tf predict``: images through an export on ONNX Runtime, the SavedModel or TFLite.
- ``metadata``: what an export says about itself (also in the ONNX ``metadata_props``).

Nothing in the library proper imports this package; only the top layer does: ``nao_tf.benchmarks.export``
(``nao-tf benchmark export``) and the CLI.
"""
