"""Exports of trained nao-tf models (installed as ``nao_tf.export``).

- ``exporter.export_model``: ``nao-tf export``: SavedModel / ONNX / TFLite into ``OUT/NAME/VERSION/``, verified
  against Keras (``verify``) before it is published; ``serving`` holds the one function every format is made of.
- ``predict``: ``nao-tf predict``: images through an export on ONNX Runtime, the SavedModel or TFLite.
- ``benchmark.benchmark_export``: ``nao-tf benchmark export``: latency of Keras, SavedModel and ONNX Runtime.
- ``metadata``: what an export says about itself (also in the ONNX ``metadata_props``).

Nothing in the library proper (``nao_tf``) imports this package.
"""
