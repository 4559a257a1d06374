"""Benchmarks: one module per ``nao-tf benchmark`` subcommand, each a function that returns a JSON-able dict.

- ``controller``: controller training archs/s and generation time (``controller_speed``).
- ``controller_quality``: predictor ranking and reconstruction accuracy on NB201 cells (``controller_quality``).
- ``nb201``: NAO vs regularized evolution vs random search on a NAS-Bench-201 table (``nb201_benchmark``).
- ``supernet``: NAO-WS supernet evaluation and training speed (``benchmark_supernet``).
- ``child``: CNN child training and evaluation images/s (``run_child_benchmark``).
- ``lm``: RNN language model training and evaluation tokens/s (``benchmark_lm``).
- ``export``: inference latency of Keras, SavedModel and ONNX Runtime (``benchmark_export``).

Every result has the same envelope (``nao_tf.benchmarks.report``): ``benchmark`` (the name), ``settings``
(what was measured, everything needed to rerun it), ``machine`` (where) and ``results`` (the measurements).

Why a package of its own: a benchmark exercises a whole layer and compares it with others (the controller on
NB201 needs the search's table; the export benchmark needs children and ``nao_tf.export``), so benchmarks sit
at the top of the dependency graph, beside the CLI. They may import anything in ``nao_tf`` (including
``nao_tf.export``, which never imports them back); nothing but ``nao_tf.cli`` imports them. Submodules are
imported on demand, so importing this package costs nothing.
"""
